/**
 * Metering of AI calls (docs/billing.md). A billable unit is metered once, in the transaction that
 * stores what was sold (the assessment, the batch results…), under a unique key naming the unit
 * (`risk:<assessment_id>`, `risk_batch:<batch_id>`, `checkout:<ranking_id>`,
 * `conversation:<id>:<yyyy-mm>`): a replay of the meter call is a no-op, a rejected call never
 * reaches it. The fee is posted at once: the merchant's fees-due account (no floor: a merchant
 * without sales can still owe) → the platform's fee account for that merchant.
 */
import type { Ctx } from '../../context.ts';
import type { Executor } from '../../db/database.ts';
import { getSetting, putSetting } from '../../db/settings.ts';
import { assert } from '../../lib/assert.ts';
import { fail } from '../../lib/errors.ts';
import { prefixed } from '../../lib/ids.ts';
import * as audit from '../audit/index.ts';
import * as ledger from '../ledger/index.ts';
import * as repo from './billing.repository.ts';
import { ensureFeesAccount, ensureFeesDueAccount } from './fees.service.ts';
import { chinaMonth, monthRange } from './periods.ts';
import {
  type ConversationTier,
  conversationUnitPrice,
  default_conversation_tiers,
  tiersProblem,
  type UsageKind,
  unit_price_fen,
  usage_descriptions,
  usage_kinds,
} from './prices.ts';

export interface MeterInput {
  mchid: string;
  kind: UsageKind;
  /** Unique per billable unit, e.g. `risk:ra_…`; the same key is never billed twice. */
  key: string;
  /** What was sold (assessment id, batch id, …), shown in reports. */
  ref: string;
  quantity: number;
  now: number;
}

export interface Metered {
  id: string;
  kind: UsageKind;
  quantity: number;
  unit_price_fen: number;
  amount_fen: number;
}

const tiers_setting = 'billing.conversation_tiers';

const journalIdOf = (usageId: string) => `jnl_ai_${usageId}`;

/**
 * Meters one billable unit in `trx` and posts its fee. Returns undefined when `key` was metered
 * before (nothing is written then).
 */
export async function meter(ctx: Ctx, trx: Executor, m: MeterInput): Promise<Metered | undefined> {
  assert(Number.isSafeInteger(m.quantity) && m.quantity >= 1, `bad quantity ${m.quantity}`);
  assert(m.kind !== 'conversation' || m.quantity === 1, 'a conversation is metered one month at a time');
  const id = prefixed(ctx.ids, 'use');
  const period = chinaMonth(m.now);
  const fixed = m.kind === 'conversation' ? 0 : unit_price_fen[m.kind];
  // A fixed price is known now: the row is inserted priced, with the id its journal will get.
  const fixedJournal = fixed > 0 ? journalIdOf(id) : null;
  const inserted = await repo.insertUsageIfNew(trx, {
    id,
    mchid: m.mchid,
    kind: m.kind,
    usage_key: m.key,
    ref: m.ref,
    period,
    quantity: m.quantity,
    unit_price_fen: fixed,
    amount_fen: fixed * m.quantity,
    journal_id: fixedJournal,
    created_at: m.now,
  });
  if (!inserted) return undefined;
  let unit = fixed;
  if (m.kind === 'conversation') {
    // The counter row serialises a merchant's conversations of a month, so tier boundaries are exact.
    const n = await repo.bumpCounter(trx, m.mchid, m.kind, period, m.quantity);
    unit = conversationUnitPrice(n, await conversationTiers(trx));
  }
  const amount = unit * m.quantity;
  const journalId = amount > 0 ? journalIdOf(id) : null;
  if (journalId) {
    const [due, fees] = [
      await ensureFeesDueAccount(trx, m.mchid, m.now),
      await ensureFeesAccount(trx, m.mchid, m.now),
    ];
    await ledger.post(trx, {
      id: journalId,
      kind: 'ai_fee',
      refId: id,
      postings: [
        { accountId: due, amount: -amount },
        { accountId: fees, amount },
      ],
      now: m.now,
      onInsufficient: 'system_error',
    });
  }
  if (unit !== fixed || journalId !== fixedJournal) await repo.priceUsage(trx, id, unit, amount, journalId);
  return { id, kind: m.kind, quantity: m.quantity, unit_price_fen: unit, amount_fen: amount };
}

export async function conversationTiers(db: Executor): Promise<readonly ConversationTier[]> {
  const value = await getSetting(db, tiers_setting);
  if (value === undefined) return default_conversation_tiers;
  return JSON.parse(value) as ConversationTier[];
}

/**
 * Replaces the conversation tiers (operator API, audited); applies to conversations metered from
 * now on — the ones already metered this month keep their prices and still count towards the tiers.
 */
export async function setConversationTiers(
  ctx: Ctx,
  actor: string,
  tiers: ConversationTier[],
): Promise<void> {
  const problem = tiersProblem(tiers);
  if (problem) fail('invalid_parameter', { field: '/tiers', issue: problem, location: 'body' });
  await ctx.db.transaction().execute(async (trx) => {
    await putSetting(trx, tiers_setting, JSON.stringify(tiers));
    await audit.record(ctx, trx, {
      actor,
      action: 'billing.conversation_tiers.set',
      target: 'billing:conversation_tiers',
      detail: { tiers },
    });
  });
}

export interface UsageLine {
  kind: UsageKind;
  description: string;
  unit_price_fen: number;
  quantity: number;
  amount_fen: number;
}

export interface UsageView {
  mchid: string;
  month: string;
  currency: 'CNY';
  /** Units and amount per kind (every kind listed, zero when unused). */
  kinds: Record<UsageKind, { quantity: number; amount_fen: number }>;
  /** One line per kind and unit price (conversations may span several tiers). */
  lines: UsageLine[];
  total_fen: number;
}

/** A month given by the API: YYYY-MM, not after the current month. */
export function checkMonth(month: string, now: number, field: string, location: 'query' | 'path'): string {
  const range = monthRange(month);
  if (!range || range.start > now)
    fail('invalid_parameter', {
      field,
      value: month,
      issue: 'give a month as YYYY-MM, not after the current month',
      location,
    });
  return month;
}

export async function usageOf(db: Executor, mchid: string, month: string): Promise<UsageView> {
  const rows = await repo.usageLines(db, mchid, month);
  const kinds = Object.fromEntries(usage_kinds.map((k) => [k, { quantity: 0, amount_fen: 0 }])) as Record<
    UsageKind,
    { quantity: number; amount_fen: number }
  >;
  const lines: UsageLine[] = [];
  let total = 0;
  for (const r of rows) {
    const kind = r.kind as UsageKind;
    const line = {
      kind,
      description: usage_descriptions[kind],
      unit_price_fen: Number(r.unit_price_fen),
      quantity: Number(r.quantity),
      amount_fen: Number(r.amount),
    };
    lines.push(line);
    kinds[kind].quantity += line.quantity;
    kinds[kind].amount_fen += line.amount_fen;
    total += line.amount_fen;
  }
  return { mchid, month, currency: 'CNY', kinds, lines, total_fen: total };
}

export const usageByKey = repo.usageByKey;
