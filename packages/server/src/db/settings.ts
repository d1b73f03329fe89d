/**
 * The installation's settings (`settings`: key → text value), read and written by several modules:
 * the OpenID secret (identity), the data key's check value (compliance), conversation price tiers
 * (billing).
 */
import type { Executor } from './database.ts';

export async function getSetting(db: Executor, key: string): Promise<string | undefined> {
  const row = await db.selectFrom('settings').select('value').where('key', '=', key).executeTakeFirst();
  return row?.value;
}

/** Sets `key`, replacing any value it had. */
export async function putSetting(db: Executor, key: string, value: string): Promise<void> {
  await db
    .insertInto('settings')
    .values({ key, value })
    .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
    .execute();
}

/**
 * The value of `key`, recording `make()` first when it has none. Of several processes doing this at
 * once, the first insert wins and every one gets its value.
 */
export async function settingOnce(db: Executor, key: string, make: () => string): Promise<string> {
  const existing = await getSetting(db, key);
  if (existing !== undefined) return existing;
  await db
    .insertInto('settings')
    .values({ key, value: make() })
    .onConflict((oc) => oc.doNothing())
    .execute();
  const value = await getSetting(db, key);
  if (value === undefined) throw new Error(`setting ${key} vanished after its insert`);
  return value;
}
