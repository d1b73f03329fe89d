import type { Executor } from '../../db/database.ts';
import { prepare } from '../../db/prepared.ts';
import type { InstrumentsTable, PayersTable } from '../../db/schema.ts';
import { cachedRows } from '../../lib/row-cache.ts';

/** A payer's row never changes after creation: reads outside transactions are memoised. */
export const findPayer = cachedRows((db, userId) =>
  db.selectFrom('payers').selectAll().where('user_id', '=', userId).executeTakeFirst(),
);

export function allPayers(db: Executor) {
  return db.selectFrom('payers').selectAll().orderBy('created_at').orderBy('user_id').execute();
}

export function insertPayer(db: Executor, row: PayersTable) {
  return db.insertInto('payers').values(row).execute();
}

export function insertInstrument(db: Executor, row: InstrumentsTable) {
  return db.insertInto('instruments').values(row).execute();
}

export function findInstrument(db: Executor, id: string) {
  return db
    .selectFrom('instruments')
    .innerJoin('accounts', 'accounts.id', 'instruments.account_id')
    .selectAll('instruments')
    .select('accounts.balance')
    .where('instruments.id', '=', id)
    .executeTakeFirst();
}

export async function instrumentsOf(db: Executor, userId: string) {
  return (await instrumentsOfQuery(db, { userId })).rows;
}

// Prepared (db/prepared.ts): every Smart Checkout query reads the payer's wallet.
const instrumentsOfQuery = prepare((db, p: { userId: string }) =>
  db
    .selectFrom('instruments')
    .innerJoin('accounts', 'accounts.id', 'instruments.account_id')
    .selectAll('instruments')
    .select('accounts.balance')
    .where('instruments.user_id', '=', p.userId)
    .orderBy('instruments.created_at')
    .orderBy('instruments.id'),
);
