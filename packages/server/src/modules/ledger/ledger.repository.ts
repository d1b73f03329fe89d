import { sql } from 'kysely';
import type { Executor } from '../../db/database.ts';
import { insertRow, insertRows, prepared } from '../../db/prepared.ts';
import type { AccountsTable } from '../../db/schema.ts';

export function insertAccount(db: Executor, account: AccountsTable) {
  return db.insertInto('accounts').values(account).execute();
}

// Prepared (db/prepared.ts): every metered AI call ensures two accounts.
const insertIfMissing = prepared((db, p: AccountsTable) =>
  db
    .insertInto('accounts')
    .values({
      id: p.id,
      kind: p.kind,
      owner_id: p.owner_id,
      currency: p.currency,
      balance: p.balance,
      floor: p.floor,
      created_at: p.created_at,
    })
    .onConflict((oc) => oc.column('id').doNothing()),
);

export async function insertAccountIfMissing(db: Executor, account: AccountsTable): Promise<void> {
  await insertIfMissing.run(db, account);
}

export function findAccount(db: Executor, id: string) {
  return db.selectFrom('accounts').selectAll().where('id', '=', id).executeTakeFirst();
}

export function findAccounts(db: Executor, ids: string[]) {
  if (ids.length === 0) return Promise.resolve([]);
  return db.selectFrom('accounts').selectAll().where('id', 'in', ids).execute();
}

/**
 * Takes the row lock of an account without changing it (PostgreSQL; SQLite transactions are
 * serialised anyway), so a transaction can lock accounts in the order every other one does.
 */
export async function lockAccount(db: Executor, id: string): Promise<void> {
  await db.updateTable('accounts').set({ balance: sql`balance` }).where('id', '=', id).execute();
}

/**
 * Adds `amount` to a balance only if the result stays at or above the account's floor; the check
 * and the write are one statement, so concurrent postings can never take a balance below it.
 * Returns whether the row was updated.
 */
export async function applyToBalance(db: Executor, accountId: string, amount: number): Promise<boolean> {
  return (await addToBalance.run(db, { id: accountId, amount })) === 1;
}

const addToBalance = prepared((db, p: { id: string; amount: number }) =>
  db
    .updateTable('accounts')
    .set({ balance: sql`balance + ${p.amount}` })
    .where('id', '=', p.id)
    .where((eb) => eb.or([eb('floor', 'is', null), eb(sql`balance + ${p.amount}`, '>=', eb.ref('floor'))])),
);
const insertJournalRow = insertRow('journals');
const insertPostings = insertRows('postings');

export async function insertJournal(
  db: Executor,
  journal: { id: string; kind: string; ref_id: string; created_at: number },
  postings: { account_id: string; amount: number }[],
) {
  await insertJournalRow(db, journal);
  await insertPostings(
    db,
    postings.map((p, seq) => ({
      journal_id: journal.id,
      seq,
      account_id: p.account_id,
      amount: p.amount,
      created_at: journal.created_at,
    })),
  );
}

export function postingsOfJournal(db: Executor, journalId: string) {
  return db.selectFrom('postings').selectAll().where('journal_id', '=', journalId).orderBy('seq').execute();
}

/** Sum of postings per account, for reconciliation against stored balances. */
export function postingSums(db: Executor) {
  return db
    .selectFrom('postings')
    .select(['account_id', (eb) => eb.fn.sum<number>('amount').as('total')])
    .groupBy('account_id')
    .execute();
}

/** Journals whose postings do not sum to zero: must always be empty. */
export function unbalancedJournals(db: Executor) {
  return db
    .selectFrom('postings')
    .select(['journal_id', (eb) => eb.fn.sum<number>('amount').as('total')])
    .groupBy('journal_id')
    .having((eb) => eb.fn.sum('amount'), '!=', 0)
    .execute();
}
