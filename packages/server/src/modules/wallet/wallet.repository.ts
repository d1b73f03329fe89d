import type { Executor } from '../../db/database.ts';
import { prepared } from '../../db/prepared.ts';
import type { InstrumentsTable, PayersTable } from '../../db/schema.ts';
import { cachedRows } from '../../lib/row-cache.ts';

const payer = prepared((db, p: { user_id: string }) =>
  db.selectFrom('payers').selectAll().where('user_id', '=', p.user_id),
);

/** A payer's row never changes after creation: reads outside transactions are memoised. */
export const findPayer = cachedRows((db, userId) => payer.first(db, { user_id: userId }));

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

const instruments = prepared((db, p: { user_id: string }) =>
  db
    .selectFrom('instruments')
    .innerJoin('accounts', 'accounts.id', 'instruments.account_id')
    .selectAll('instruments')
    .select('accounts.balance')
    .where('instruments.user_id', '=', p.user_id)
    // A closed instrument has left the payer's wallet: it is neither listed, ranked nor charged.
    .where('instruments.closed_at', 'is', null)
    .orderBy('instruments.created_at')
    .orderBy('instruments.id'),
);

export function instrumentsOf(db: Executor, userId: string) {
  return instruments.all(db, { user_id: userId });
}

/** Marks an open instrument closed; false if it was already closed. */
export async function markInstrumentClosed(db: Executor, id: string, now: number): Promise<boolean> {
  const r = await db
    .updateTable('instruments')
    .set({ closed_at: now })
    .where('id', '=', id)
    .where('closed_at', 'is', null)
    .executeTakeFirst();
  return r.numUpdatedRows === 1n;
}
