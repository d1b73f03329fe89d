/** lib/row-cache.ts: found rows are memoised per database, misses are not, transactions bypass it. */
import { describe, expect, it } from 'vitest';
import type { Executor } from '../src/db/database.ts';
import { cachedRows } from '../src/lib/row-cache.ts';

describe('cachedRows', () => {
  const dbA = { isTransaction: false } as unknown as Executor;
  const dbB = { isTransaction: false } as unknown as Executor;
  const trx = { isTransaction: true } as unknown as Executor;

  it('memoises found rows per database, never misses, and always reads inside transactions', async () => {
    const table = new Map<string, { v: number }>();
    const loads: string[] = [];
    const find = cachedRows(async (db, key) => {
      loads.push(`${db === dbA ? 'A' : db === dbB ? 'B' : 'T'}:${key}`);
      return table.get(key) ? { ...table.get(key)! } : undefined;
    });
    expect(await find(dbA, 'x')).toBeUndefined();
    table.set('x', { v: 1 });
    expect(await find(dbA, 'x')).toEqual({ v: 1 }); // a miss was not remembered
    expect(await find(dbA, 'x')).toEqual({ v: 1 });
    expect(await find(dbB, 'x')).toEqual({ v: 1 }); // another database has its own memo
    expect(await find(trx, 'x')).toEqual({ v: 1 });
    expect(await find(trx, 'x')).toEqual({ v: 1 });
    expect(loads).toEqual(['A:x', 'A:x', 'B:x', 'T:x', 'T:x']);
    expect(Object.isFrozen(await find(dbA, 'x'))).toBe(true);
  });

  it('stays within its bound', async () => {
    let loads = 0;
    const find = cachedRows(async (_db, key) => {
      loads++;
      return { key };
    }, 2);
    await find(dbA, 'a');
    await find(dbA, 'b');
    await find(dbA, 'c'); // evicts a
    await find(dbA, 'b');
    await find(dbA, 'a');
    expect(loads).toBe(4);
  });
});
