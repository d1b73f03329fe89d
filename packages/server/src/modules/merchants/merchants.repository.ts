import type { Executor } from '../../db/database.ts';
import type { MerchantAppsTable, MerchantsTable } from '../../db/schema.ts';

export function findMerchant(db: Executor, mchid: string) {
  return db.selectFrom('merchants').selectAll().where('mchid', '=', mchid).executeTakeFirst();
}

export function insertMerchant(db: Executor, row: MerchantsTable) {
  return db.insertInto('merchants').values(row).execute();
}

export function insertApp(db: Executor, row: MerchantAppsTable) {
  return db.insertInto('merchant_apps').values(row).execute();
}

export function findApp(db: Executor, appid: string) {
  return db.selectFrom('merchant_apps').selectAll().where('appid', '=', appid).executeTakeFirst();
}

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
