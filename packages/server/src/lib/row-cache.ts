/**
 * A per-database memo for rows that never change once written (an OpenID's binding, an appid's
 * merchant, a payer's row). The payment path read each of them 1–2 times per payment
 * (bench:payments SQL profile). Never use it for rows anything updates (merchants: freezes, mcc). Only found rows are kept — a row created later (e.g. by the
 * CLI) is seen at once — and reads inside a transaction always go to the database. Entries are
 * frozen: callers share them. Written here because it is a few lines around a Map; an LRU library
 * would add a dependency for no gain (the bound only protects memory).
 */
import type { Executor } from '../db/database.ts';

export type RowLoader<V> = (db: Executor, key: string) => Promise<V | undefined>;

export function cachedRows<V extends object>(load: RowLoader<V>, max = 20_000): RowLoader<V> {
  const byDb = new WeakMap<object, Map<string, V>>();
  return async (db, key) => {
    if (db.isTransaction) return load(db, key);
    let rows = byDb.get(db);
    if (!rows) {
      rows = new Map();
      byDb.set(db, rows);
    }
    const hit = rows.get(key);
    if (hit !== undefined) return hit;
    const row = await load(db, key);
    if (row !== undefined) {
      if (rows.size >= max) rows.delete(rows.keys().next().value as string);
      rows.set(key, Object.freeze(row));
    }
    return row;
  };
}
