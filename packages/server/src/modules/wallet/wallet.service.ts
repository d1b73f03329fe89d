/**
 * The sandbox wallet (DESIGN.md §1 "Sandbox wallet"): simulated WeChat users and their
 * instruments. Each instrument is a ledger account whose balance is what it can still pay —
 * money for the wallet balance and debit cards, remaining credit for credit cards and the credit
 * line — funded once from the sandbox issuer account by a normal journal.
 */
import type { Ctx } from '../../context.ts';
import type { Executor } from '../../db/database.ts';
import { fail } from '../../lib/errors.ts';
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

function view(row: InstrumentRow): InstrumentView {
  return {
    id: row.id,
    kind: row.kind as InstrumentKind,
    bank_type: row.bank_type,
    display_name: row.display_name,
    last4: row.last4,
    available_fen: row.balance,
    per_txn_limit_fen: row.per_txn_limit_fen,
  };
}

/** Creates the issuer account and the fixture payers that are missing; safe to call on every start. */
export async function ensureSandboxPayers(ctx: Ctx): Promise<string[]> {
  const now = ctx.clock.now();
  await ctx.db.transaction().execute(async (trx) => {
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
    for (const payer of sandboxPayers) {
      if (!(await repo.findPayer(trx, payer.user_id))) await createPayer(trx, payer, now);
    }
  });
  return sandboxPayers.map((p) => p.user_id);
}

const day_ms = 86_400_000;

async function createPayer(trx: Executor, payer: PayerFixture, now: number): Promise<void> {
  const opened = now - payer.account_age_days * day_ms;
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
    });
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
 * first one (wallet balance first) that has the funds and the per-transaction limit. The ledger
 * posting that follows re-checks the balance atomically.
 */
export async function authorize(
  db: Executor,
  userId: string,
  amount: number,
  instrumentId: string | undefined,
): Promise<Authorization> {
  const rows = await repo.instrumentsOf(db, userId);
  let chosen: InstrumentRow | undefined;
  if (instrumentId !== undefined) {
    chosen = rows.find((r) => r.id === instrumentId);
    if (!chosen)
      fail('instrument_unknown', { field: '/instrument_id', location: 'body', value: instrumentId });
  } else {
    chosen =
      rows.find(
        (r) => r.balance >= amount && (r.per_txn_limit_fen ?? Infinity) >= amount && !r.always_declined,
      ) ?? rows[0];
    if (!chosen) fail('payer_funds_insufficient', undefined, 'The payer has no instruments.');
  }
  if (chosen.always_declined) fail('payer_card_declined');
  if (chosen.per_txn_limit_fen !== null && amount > chosen.per_txn_limit_fen)
    fail('instrument_over_card_limit');
  if (chosen.balance < amount) fail('payer_funds_insufficient');
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

export function payerById(db: Executor, userId: string) {
  return repo.findPayer(db, userId);
}

export async function instrumentById(db: Executor, id: string) {
  return repo.findInstrument(db, id);
}

export { issuer_account_id };
