/**
 * Restricted categories and account freezes (DESIGN.md "Compliance", issue #6 §3).
 *
 * Order descriptions and goods names are screened on every order (detector/): a gambling,
 * cryptocurrency or adult-content hit, or a description that does not fit the merchant's declared
 * category (a "mislabelled transaction", detector/mislabelled.ts), freezes the merchant for 72
 * hours. The freeze, its audit record and a `merchant.frozen` event commit in one transaction, and
 * the order that triggered it is refused.
 *
 * While frozen: creating orders and confirming payments answer ACCOUNT_FROZEN with the unfreeze
 * time; no capture happens (a held payment stays held and can still be released or expire back to
 * the payer); refunds go on (they return money to payers). The capture paths read the freeze with
 * a row lock on the merchant (`FOR SHARE` on PostgreSQL) in their own transaction, and a freeze
 * updates that row, so no payment is captured after a freeze commits.
 */
import { sql } from 'kysely';
import type { Ctx } from '../../context.ts';
import type { Executor } from '../../db/database.ts';
import { prepared } from '../../db/prepared.ts';
import { rfc3339 } from '../../lib/clock.ts';
import { fail } from '../../lib/errors.ts';
import { prefixed } from '../../lib/ids.ts';
import { freeze_duration_ms } from '../../lib/limits.ts';
import * as audit from '../audit/index.ts';
import * as notifications from '../notifications/index.ts';
import { mislabelled, screen } from './detector/index.ts';

export type FreezeReason = 'restricted_category' | 'mislabelled_transaction' | 'operator';

export interface Screened {
  reason: FreezeReason;
  category: string | null;
  evidence: Record<string, unknown>;
}

/** Screens the texts of an order; null when clean. */
export function screenOrderTexts(
  texts: { field: string; text: string }[],
  declaredMcc: string,
): Screened | null {
  for (const { field, text } of texts) {
    const r = screen(text);
    if (r.hit) {
      return {
        reason: 'restricted_category',
        category: r.category,
        evidence: {
          field,
          score: r.score,
          matches: r.matches.map((m) => ({ keyword: m.keyword, original: m.original })),
        },
      };
    }
  }
  const description = texts[0]?.text ?? '';
  const m = mislabelled(description, declaredMcc);
  if (m.mislabelled) {
    return {
      reason: 'mislabelled_transaction',
      category: m.expectedCategory ?? null,
      evidence: { field: texts[0]?.field ?? 'description', reason: m.reason, declared_mcc: declaredMcc },
    };
  }
  return null;
}

const frozen = prepared((db, p: { mchid: string }) =>
  db.selectFrom('merchants').select('frozen_until').where('mchid', '=', p.mchid),
);
const frozenForShare = prepared((db, p: { mchid: string }) =>
  db.selectFrom('merchants').select('frozen_until').where('mchid', '=', p.mchid).forShare(),
);

/** Refuses a frozen merchant, reading its freeze end with a lock that orders it against freezes. */
export async function assertNotFrozen(ctx: Ctx, db: Executor, mchid: string): Promise<void> {
  const row = await (ctx.dialect === 'postgres' ? frozenForShare : frozen).first(db, { mchid });
  assertNotFrozenAt(ctx, mchid, row?.frozen_until ?? null);
}

/**
 * The same check on a `frozen_until` already read without the lock (merchantProfile): a fast
 * refusal before any work; the transaction that moves money checks again under the lock.
 */
export function assertNotFrozenAt(ctx: Ctx, mchid: string, frozenUntil: number | null): void {
  if (frozenUntil !== null && frozenUntil > ctx.clock.now())
    fail('account_frozen', { field: 'mchid', value: mchid, issue: `frozen until ${rfc3339(frozenUntil)}` });
}

/** Freezes (or extends the freeze of) a merchant; audited; emits `merchant.frozen`. Caller commits. */
export async function freeze(
  ctx: Ctx,
  trx: Executor,
  mchid: string,
  s: Screened,
  actor: string,
): Promise<{ freeze_id: string; frozen_until: number; event: notifications.ZhifuEvent }> {
  const now = ctx.clock.now();
  const until = now + freeze_duration_ms;
  const id = prefixed(ctx.ids, 'frz');
  await trx
    .updateTable('merchants')
    .set({
      frozen_until: sql`case when frozen_until is null or frozen_until < ${until} then ${until} else frozen_until end`,
    })
    .where('mchid', '=', mchid)
    .execute();
  await trx
    .insertInto('merchant_freezes')
    .values({
      id,
      mchid,
      status: 'frozen',
      reason: s.reason,
      category: s.category,
      evidence_json: JSON.stringify(s.evidence),
      frozen_at: now,
      frozen_until: until,
      updated_at: now,
    })
    .execute();
  await audit.record(ctx, trx, {
    actor,
    action: 'merchant.freeze',
    target: mchid,
    detail: { freeze_id: id, reason: s.reason, category: s.category },
  });
  const event = await notifications.emit(ctx, trx, mchid, 'merchant.frozen', {
    freeze_id: id,
    reason: s.reason,
    category: s.category,
    frozen_until: rfc3339(until),
  });
  return { freeze_id: id, frozen_until: until, event };
}

export type ReviewAction = 'appeal_approve' | 'extend' | 'uphold';

/** An operator reviews a freeze: approve the appeal (unfreeze), extend it, or uphold it; audited. */
export async function reviewFreeze(
  ctx: Ctx,
  freezeId: string,
  input: { action: ReviewAction; hours?: number; note: string; operator: string },
) {
  return ctx.db.transaction().execute(async (trx) => {
    const f = await trx
      .selectFrom('merchant_freezes')
      .selectAll()
      .where('id', '=', freezeId)
      .executeTakeFirst();
    if (!f) fail('freeze_unknown', { field: 'freeze_id', value: freezeId, location: 'path' });
    const now = ctx.clock.now();
    let until = f.frozen_until;
    let status = f.status;
    if (input.action === 'appeal_approve') {
      until = now;
      status = 'released';
      await trx.updateTable('merchants').set({ frozen_until: null }).where('mchid', '=', f.mchid).execute();
    } else if (input.action === 'extend') {
      until = Math.max(f.frozen_until, now) + (input.hours ?? 72) * 3_600_000;
      status = 'extended';
      await trx.updateTable('merchants').set({ frozen_until: until }).where('mchid', '=', f.mchid).execute();
    }
    await trx
      .updateTable('merchant_freezes')
      .set({ status, frozen_until: until, updated_at: now })
      .where('id', '=', freezeId)
      .execute();
    await audit.record(ctx, trx, {
      actor: input.operator,
      action: `freeze.${input.action}`,
      target: f.mchid,
      detail: { freeze_id: freezeId, note: input.note, frozen_until: until },
    });
    return freezeView({ ...f, status, frozen_until: until });
  });
}

export function freezeView(f: {
  id: string;
  mchid: string;
  status: string;
  reason: string;
  category: string | null;
  evidence_json: string;
  frozen_at: number;
  frozen_until: number;
}) {
  return {
    freeze_id: f.id,
    mchid: f.mchid,
    status: f.status,
    reason: f.reason,
    category: f.category,
    evidence: JSON.parse(f.evidence_json) as unknown,
    frozen_at: rfc3339(f.frozen_at),
    frozen_until: rfc3339(f.frozen_until),
  };
}

export async function listFreezes(ctx: Ctx, mchid?: string) {
  let q = ctx.db.selectFrom('merchant_freezes').selectAll().orderBy('frozen_at', 'desc').limit(100);
  if (mchid) q = q.where('mchid', '=', mchid);
  return { data: (await q.execute()).map(freezeView) };
}
