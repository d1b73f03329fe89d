import { sql } from 'kysely';
import type { Executor } from '../../db/database.ts';
import { prepare } from '../../db/prepared.ts';
import type { AccountsTable, JournalsTable } from '../../db/schema.ts';

export function insertAccount(db: Executor, account: AccountsTable) {
  return db.insertInto('accounts').values(account).execute();
}

export function findAccount(db: Executor, id: string) {
  return db.selectFrom('accounts').selectAll().where('id', '=', id).executeTakeFirst();
}

export function findAccounts(db: Executor, ids: string[]) {
  if (ids.length === 0) return Promise.resolve([]);
  return db.selectFrom('accounts').selectAll().where('id', 'in', ids).execute();
}

/**
 * Adds `amount` to a balance only if the result stays at or above the account's floor; the check
 * and the write are one statement, so concurrent postings can never take a balance below it.
 * Returns whether the row was updated.
 */
export async function applyToBalance(db: Executor, accountId: string, amount: number): Promise<boolean> {
  const result = await applyToBalanceQuery(db, { accountId, amount });
  return result.numAffectedRows === 1n;
}

// Prepared (db/prepared.ts): every payment, refund and metered AI call posts a journal.
const applyToBalanceQuery = prepare((db, p: { accountId: string; amount: number }) =>
  db
    .updateTable('accounts')
    .set({ balance: sql`balance + ${p.amount}` })
    .where('id', '=', p.accountId)
    .where((eb) => eb.or([eb('floor', 'is', null), eb(sql`balance + ${p.amount}`, '>=', eb.ref('floor'))])),
);

export async function insertJournal(
  db: Executor,
  journal: { id: string; kind: string; ref_id: string; created_at: number },
  postings: { account_id: string; amount: number }[],
) {
  await insertJournalQuery(db, journal);
  const [a, b] = postings;
  if (postings.length === 2 && a && b)
    await insertTwoPostingsQuery(db, {
      journal_id: journal.id,
      created_at: journal.created_at,
      account_a: a.account_id,
      amount_a: a.amount,
      account_b: b.account_id,
      amount_b: b.amount,
    });
  else
    await db
      .insertInto('postings')
      .values(
        postings.map((p, seq) => ({
          journal_id: journal.id,
          seq,
          account_id: p.account_id,
          amount: p.amount,
          created_at: journal.created_at,
        })),
      )
      .execute();
}

const insertJournalQuery = prepare((db, p: JournalsTable) =>
  db.insertInto('journals').values({ id: p.id, kind: p.kind, ref_id: p.ref_id, created_at: p.created_at }),
);

/** Most journals have two postings; others take the general path. */
const insertTwoPostingsQuery = prepare(
  (
    db,
    p: {
      journal_id: string;
      created_at: number;
      account_a: string;
      amount_a: number;
      account_b: string;
      amount_b: number;
    },
  ) =>
    db.insertInto('postings').values([
      {
        journal_id: p.journal_id,
        seq: 0,
        account_id: p.account_a,
        amount: p.amount_a,
        created_at: p.created_at,
      },
      {
        journal_id: p.journal_id,
        seq: 1,
        account_id: p.account_b,
        amount: p.amount_b,
        created_at: p.created_at,
      },
    ]),
);

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
