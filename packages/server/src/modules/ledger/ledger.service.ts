/**
 * Double-entry ledger in integer fen (DESIGN.md §2 "Money"). Every money movement is one journal
 * whose postings sum to zero; each account has a floor (0 for payers' instruments and merchants,
 * none for the sandbox issuer) that no posting may cross. Callers pass their open transaction, so a
 * journal commits together with the order or refund that caused it.
 */
import type { Executor } from '../../db/database.ts';
import { assert } from '../../lib/assert.ts';
import { type ErrorReason, fail } from '../../lib/errors.ts';
import { assertFen } from '../../lib/money.ts';
import * as repo from './ledger.repository.ts';

/**
 * `platform_fees`: the platform's fee revenue from one merchant (floor 0: fee returns can never
 * exceed the fees taken); `fees_due`: AI fees a merchant owes (no floor: it goes negative as calls
 * are metered and is settled against the merchant's balance outside the call path, docs/billing.md).
 */
export type AccountKind =
  | 'merchant'
  | 'instrument'
  | 'issuer'
  | 'platform_fees'
  | 'fees_due'
  /** A Smart Checkout promotion's discounts (floor −budget: it owes what its funder pays). */
  | 'promotion'
  /** A merchant's realtime payments held for a decision or a review (payments/decisions.service.ts). */
  | 'hold'
  /**
   * A merchant's refunds that could not reach the payer (status ABNORMAL), held apart from its
   * balance until they are closed back to it (floor 0: it holds only what refunds put in).
   */
  | 'refund_hold';

export interface Posting {
  accountId: string;
  amount: number;
}

export interface JournalInput {
  id: string;
  kind:
    | 'payment'
    | 'refund'
    /** An abnormal refund closed: its held money goes back to the merchant. */
    | 'refund_return'
    | 'funding'
    | 'fee'
    | 'fee_return'
    | 'ai_fee'
    | 'promotion';
  refId: string;
  postings: Posting[];
  now: number;
  /** The outcome to report when a posting would take an account below its floor. */
  onInsufficient: ErrorReason;
}

type AccountInput = { id: string; kind: AccountKind; ownerId: string; floor: number | null; now: number };

const accountRow = (a: AccountInput) => ({
  id: a.id,
  kind: a.kind,
  owner_id: a.ownerId,
  currency: 'CNY',
  balance: 0,
  floor: a.floor,
  created_at: a.now,
});

export async function openAccount(db: Executor, a: AccountInput): Promise<void> {
  await repo.insertAccount(db, accountRow(a));
}

/** Opens the account unless it exists (safe under concurrency: the insert does nothing on conflict). */
export async function ensureAccount(db: Executor, a: AccountInput): Promise<void> {
  await repo.insertAccountIfMissing(db, accountRow(a));
}

export async function post(db: Executor, j: JournalInput): Promise<void> {
  assert(j.postings.length >= 2, 'a journal needs at least two postings');
  let sum = 0;
  for (const p of j.postings) {
    assertFen(p.amount, 'posting amount');
    assert(p.amount !== 0, 'zero posting');
    sum += p.amount;
  }
  assert(sum === 0, `journal ${j.id} does not balance: ${sum}`);
  // Balances are updated in account-id order, the same in every journal, so two transactions that
  // touch the same accounts (a capture and a refund) take their row locks in the same order and
  // cannot deadlock on PostgreSQL. A floor violation anywhere rolls the whole transaction back.
  const ordered = [...j.postings].sort((a, b) =>
    a.accountId < b.accountId ? -1 : a.accountId > b.accountId ? 1 : 0,
  );
  for (const p of ordered) {
    if (!(await repo.applyToBalance(db, p.accountId, p.amount))) {
      const account = await repo.findAccount(db, p.accountId);
      assert(account, `posting to unknown account ${p.accountId}`);
      fail(j.onInsufficient);
    }
  }
  await repo.insertJournal(
    db,
    { id: j.id, kind: j.kind, ref_id: j.refId, created_at: j.now },
    j.postings.map((p) => ({ account_id: p.accountId, amount: p.amount })),
  );
}

/**
 * Account row locks are taken in one order across all money movements: the payer's instrument
 * account, then the merchant's account, then its fee account (what a capture does: its journal
 * posts the instrument before the merchant, its fee journal follows). A transaction that moves
 * money of several journals in another order takes these locks first, with this, so a capture and
 * a refund touching the same instrument cannot deadlock on PostgreSQL.
 */
export async function lockInOrder(db: Executor, accountIds: readonly string[]): Promise<void> {
  for (const id of accountIds) await repo.lockAccount(db, id);
}

export async function balanceOf(db: Executor, accountId: string): Promise<number> {
  const account = await repo.findAccount(db, accountId);
  assert(account, `unknown account ${accountId}`);
  assert(account.floor === null || account.balance >= account.floor, `account ${accountId} below its floor`);
  return account.balance;
}

export async function balancesOf(db: Executor, accountIds: string[]): Promise<Map<string, number>> {
  const rows = await repo.findAccounts(db, accountIds);
  return new Map(rows.map((r) => [r.id, r.balance]));
}

export interface LedgerAudit {
  unbalancedJournals: number;
  /** Accounts whose stored balance differs from the sum of their postings. */
  driftedAccounts: string[];
  /** Accounts below their floor. */
  belowFloor: string[];
}

/** Recomputes every balance from postings: the invariant check used by tests and `zhifu` ops. */
export async function audit(db: Executor): Promise<LedgerAudit> {
  const [unbalanced, sums, accounts] = await Promise.all([
    repo.unbalancedJournals(db),
    repo.postingSums(db),
    db.selectFrom('accounts').selectAll().execute(),
  ]);
  const sumOf = new Map(sums.map((s) => [s.account_id, Number(s.total)]));
  return {
    unbalancedJournals: unbalanced.length,
    driftedAccounts: accounts.filter((a) => (sumOf.get(a.id) ?? 0) !== a.balance).map((a) => a.id),
    belowFloor: accounts.filter((a) => a.floor !== null && a.balance < a.floor).map((a) => a.id),
  };
}
