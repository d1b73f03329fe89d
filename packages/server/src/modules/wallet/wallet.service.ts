/**
 * The sandbox wallet (DESIGN.md §1 "Sandbox wallet"): simulated WeChat users and their
 * instruments. Each instrument is a ledger account whose balance is what it can still pay —
 * money for the wallet balance and debit cards, remaining credit for credit cards and the credit
 * line — funded once from the sandbox issuer account by a normal journal.
 */

import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { Ctx } from '../../context.ts';
import type { Executor } from '../../db/database.ts';
import { isUniqueViolation } from '../../db/errors.ts';
import { assert } from '../../lib/assert.ts';
import { rfc3339 } from '../../lib/clock.ts';
import { fail } from '../../lib/errors.ts';
import { prefixed } from '../../lib/ids.ts';
import * as identity from '../identity/index.ts';
import * as ledger from '../ledger/index.ts';
import { type InstrumentKind, issuer_account_id, type PayerFixture, sandboxPayers } from './fixtures.ts';
import * as repo from './wallet.repository.ts';

export interface InstrumentView {
  id: string;
  kind: InstrumentKind;
  bank_type: string;
  display_name: string;
  last4: string | null;
  available_fen: number;
  per_txn_limit_fen: number | null;
}

type InstrumentRow = Awaited<ReturnType<typeof repo.instrumentsOf>>[number];

/** What names an instrument to its payer, in every answer about it. */
function described(row: Pick<InstrumentRow, 'id' | 'kind' | 'bank_type' | 'display_name' | 'last4'>) {
  return {
    id: row.id,
    kind: row.kind as InstrumentKind,
    bank_type: row.bank_type,
    display_name: row.display_name,
    last4: row.last4,
  };
}

function view(row: InstrumentRow): InstrumentView {
  return { ...described(row), available_fen: row.balance, per_txn_limit_fen: row.per_txn_limit_fen };
}

/** PostgreSQL advisory lock key of the sandbox seeding (any constant no other lock uses). */
const seed_lock_key = 7261121;

/** Creates the issuer account and the fixture payers that are missing; safe to call on every start. */
export async function ensureSandboxPayers(ctx: Ctx): Promise<string[]> {
  const now = ctx.clock.now();
  await ctx.db.transaction().execute(async (trx) => {
    // Nodes starting together on one new PostgreSQL database seed one at a time (each then finds
    // what the first created); SQLite has one writer anyway.
    if (ctx.dialect === 'postgres') await sql`select pg_advisory_xact_lock(${seed_lock_key})`.execute(trx);
    await ensureIssuer(trx, now);
    for (const payer of sandboxPayers) {
      if (!(await repo.findPayer(trx, payer.user_id))) await createPayer(trx, payer, now);
    }
  });
  return sandboxPayers.map((p) => p.user_id);
}

async function ensureIssuer(trx: Executor, now: number): Promise<void> {
  if (
    !(await trx.selectFrom('accounts').select('id').where('id', '=', issuer_account_id).executeTakeFirst())
  ) {
    await ledger.openAccount(trx, {
      id: issuer_account_id,
      kind: 'issuer',
      ownerId: 'sandbox',
      floor: null,
      now,
    });
  }
}

const day_ms = 86_400_000;

/**
 * Inserts a payer and its instruments, each a ledger account funded from the sandbox issuer by a
 * normal journal. Shared by the fixture payers and the simulated payers of `createSimulatedPayer`.
 */
async function createPayer(trx: Executor, payer: PayerFixture, now: number): Promise<void> {
  const opened = now - Math.round(payer.account_age_days * day_ms);
  await repo.insertPayer(trx, {
    user_id: payer.user_id,
    name: payer.name,
    fixture: payer.fixture,
    created_at: opened,
  });
  for (const ins of payer.instruments) {
    const id = `ins_${payer.user_id.slice(4)}_${ins.suffix}`;
    const accountId = `acc_${id}`;
    await ledger.openAccount(trx, { id: accountId, kind: 'instrument', ownerId: id, floor: 0, now });
    await repo.insertInstrument(trx, {
      id,
      user_id: payer.user_id,
      kind: ins.kind,
      bank_type: ins.bank_type,
      display_name: ins.display_name,
      last4: ins.last4,
      per_txn_limit_fen: ins.per_txn_limit_fen,
      always_declined: ins.always_declined ? 1 : 0,
      account_id: accountId,
      created_at: opened,
      closed_at: null,
    });
    // An empty wallet (balance_fen 0) has nothing to fund: a journal cannot post zero.
    if (ins.funds_fen === 0) continue;
    await ledger.post(trx, {
      id: `jnl_fund_${id}`,
      kind: 'funding',
      refId: id,
      postings: [
        { accountId: issuer_account_id, amount: -ins.funds_fen },
        { accountId, amount: ins.funds_fen },
      ],
      now,
      onInsufficient: 'system_error',
    });
  }
}

export interface SimulatedPayerInput {
  /** An existing merchant app (checked by the caller); the payer gets an OpenID under it. */
  appid: string;
  name: string;
  /** Funds of the wallet-balance instrument, in fen. */
  balance_fen: number;
  /** Caller's id for the payer: the same appid + external_ref always gives the same payer. */
  external_ref?: string | undefined;
  /** Age of the account (and its instrument) when created, in days (fractions allowed). */
  account_age_days: number;
}

export interface SimulatedPayer {
  openid: string;
  user_id: string;
  name: string;
  instruments: InstrumentView[];
}

/**
 * `usr_sim_` + 24 hex characters: derived from appid + external_ref when given (so a repeat finds
 * the payer without storing the reference), else random.
 */
export function simulatedPayerId(ctx: Ctx, appid: string, externalRef: string | undefined): string {
  if (externalRef === undefined) return prefixed(ctx.ids, 'usr_sim');
  const digest = createHash('sha256').update(`${appid}\n${externalRef}`).digest('hex');
  return `usr_sim_${digest.slice(0, 24)}`;
}

/**
 * A simulated sandbox payer (for load generators and demos) with one wallet-balance instrument,
 * bound to `appid`. With an `external_ref` it is idempotent: a repeat returns the existing payer
 * (its stored name and instruments; the new name and balance are ignored) and `created: false`.
 */
export async function createSimulatedPayer(
  ctx: Ctx,
  input: SimulatedPayerInput,
): Promise<{ payer: SimulatedPayer; created: boolean }> {
  const userId = simulatedPayerId(ctx, input.appid, input.external_ref);
  const secret = await identity.openidSecret(ctx);
  const fixture: PayerFixture = {
    user_id: userId,
    name: input.name,
    fixture: null,
    account_age_days: input.account_age_days,
    instruments: [
      {
        suffix: 'balance',
        kind: 'balance',
        bank_type: 'OTHERS',
        display_name: '零钱 Wallet balance',
        last4: null,
        funds_fen: input.balance_fen,
        per_txn_limit_fen: null,
      },
    ],
  };
  let created = false;
  try {
    await ctx.db.transaction().execute(async (trx) => {
      if (await repo.findPayer(trx, userId)) return;
      const now = ctx.clock.now();
      await ensureIssuer(trx, now);
      await createPayer(trx, fixture, now);
      await identity.bindPayerToApp(trx, secret, input.appid, userId, now);
      created = true;
    });
  } catch (error) {
    // A concurrent request with the same external_ref won the insert: answer with its payer.
    if (input.external_ref === undefined || !isUniqueViolation(error)) throw error;
    created = false;
  }
  const payer = await repo.findPayer(ctx.db, userId);
  assert(payer, `simulated payer ${userId} missing after its insert`);
  return {
    created,
    payer: {
      openid: identity.deriveOpenid(secret, input.appid, userId),
      user_id: userId,
      name: payer.name,
      instruments: await instrumentsOf(ctx.db, userId),
    },
  };
}

export async function instrumentsOf(db: Executor, userId: string): Promise<InstrumentView[]> {
  return (await repo.instrumentsOf(db, userId)).map(view);
}

export interface Authorization {
  instrumentId: string;
  accountId: string;
  bankType: string;
  kind: InstrumentKind;
  displayName: string;
  last4: string | null;
  createdAt: number;
}

/**
 * Decides which instrument pays and whether its bank accepts: the named instrument, or else the
 * first one (wallet balance first) that has the funds and the per-transaction limit. An instrument
 * is charged `amount` less its promotion discount (`discountOf`, 0 by default). The ledger posting
 * that follows re-checks the balance atomically.
 */
export async function authorize(
  db: Executor,
  userId: string,
  amount: number,
  instrumentId: string | undefined,
  discountOf: (instrument: { kind: string; bankType: string }) => number = () => 0,
): Promise<Authorization> {
  const rows = await repo.instrumentsOf(db, userId);
  const due = (r: InstrumentRow) => amount - discountOf({ kind: r.kind, bankType: r.bank_type });
  let chosen: InstrumentRow | undefined;
  if (instrumentId !== undefined) {
    chosen = rows.find((r) => r.id === instrumentId);
    if (!chosen)
      fail('instrument_unknown', { field: '/instrument_id', location: 'body', value: instrumentId });
  } else {
    chosen =
      rows.find(
        (r) => r.balance >= due(r) && (r.per_txn_limit_fen ?? Infinity) >= due(r) && !r.always_declined,
      ) ?? rows[0];
    if (!chosen) fail('payer_funds_insufficient', undefined, 'The payer has no instruments.');
  }
  if (chosen.always_declined) fail('payer_card_declined');
  if (chosen.per_txn_limit_fen !== null && due(chosen) > chosen.per_txn_limit_fen)
    fail('instrument_over_card_limit');
  if (chosen.balance < due(chosen)) fail('payer_funds_insufficient');
  return {
    instrumentId: chosen.id,
    accountId: chosen.account_id,
    bankType: chosen.bank_type,
    kind: chosen.kind as InstrumentKind,
    displayName: chosen.display_name,
    last4: chosen.last4,
    createdAt: chosen.created_at,
  };
}

export interface ClosedInstrument {
  id: string;
  kind: InstrumentKind;
  bank_type: string;
  display_name: string;
  last4: string | null;
  /** RFC 3339: when the payer closed it (the first close; a repeat changes nothing). */
  closed_at: string;
}

/**
 * The payer closes (cancels) one of their instruments, as a cancelled or frozen bank card in
 * WeChat: it leaves the wallet (no longer listed, ranked or charged), and a refund to it cannot be
 * delivered — it ends ABNORMAL, then CLOSED with the money back with the merchant (refunds
 * module). Its ledger account stays, with its balance, so nothing is lost. Closing is final and
 * idempotent. An unknown OpenID is `payer_unknown`; an instrument that is not this payer's (or does
 * not exist) is `instrument_unknown`, and nothing is written.
 */
export async function closeInstrument(
  ctx: Ctx,
  openid: string,
  instrumentId: string,
): Promise<ClosedInstrument> {
  const who = await identity.resolveOpenid(ctx.db, openid);
  if (!who) fail('payer_unknown', { field: '/openid', value: openid, location: 'body' });
  const row = await repo.findInstrument(ctx.db, instrumentId);
  if (!row || row.user_id !== who.user_id)
    fail('instrument_unknown', { field: 'instrument_id', value: instrumentId, location: 'path' });
  if (row.closed_at === null) await repo.markInstrumentClosed(ctx.db, row.id, ctx.clock.now());
  const closed = await repo.findInstrument(ctx.db, row.id);
  assert(closed && closed.closed_at !== null, `instrument ${row.id} not closed after its close`);
  return { ...described(closed), closed_at: rfc3339(closed.closed_at) };
}

export function payerById(db: Executor, userId: string) {
  return repo.findPayer(db, userId);
}

export async function instrumentById(db: Executor, id: string) {
  return repo.findInstrument(db, id);
}

export { issuer_account_id };
