import type { Executor } from '../../db/database.ts';
import { prepared } from '../../db/prepared.ts';
import type { MerchantAppsTable, MerchantsTable } from '../../db/schema.ts';
import { cachedRows } from '../../lib/row-cache.ts';

const merchant = prepared((db, p: { mchid: string }) =>
  db.selectFrom('merchants').selectAll().where('mchid', '=', p.mchid),
);

export function findMerchant(db: Executor, mchid: string) {
  return merchant.first(db, { mchid });
}

const profile = prepared((db, p: { mchid: string }) =>
  db
    .selectFrom('merchants')
    .select(['mchid', 'name', 'mcc', 'account_id', 'frozen_until'])
    .where('mchid', '=', p.mchid),
);

/**
 * The merchant's name, MCC, account and freeze end only: the payment path's read. The whole row
 * carries ~6 KB of keys and certificates (SQLite overflow pages) that the authentication cache
 * already holds.
 */
export function merchantProfile(db: Executor, mchid: string) {
  return profile.first(db, { mchid });
}

export function insertMerchant(db: Executor, row: MerchantsTable) {
  return db.insertInto('merchants').values(row).execute();
}

export function insertApp(db: Executor, row: MerchantAppsTable) {
  return db.insertInto('merchant_apps').values(row).execute();
}

/** An appid's binding never changes: reads outside transactions are memoised. */
export const findApp = cachedRows((db, appid) =>
  db.selectFrom('merchant_apps').selectAll().where('appid', '=', appid).executeTakeFirst(),
);

export function appsOf(db: Executor, mchid: string) {
  return db
    .selectFrom('merchant_apps')
    .selectAll()
    .where('mchid', '=', mchid)
    .orderBy('created_at')
    .execute();
}

export function firstMerchant(db: Executor) {
  return db.selectFrom('merchants').selectAll().orderBy('created_at').limit(1).executeTakeFirst();
}
