import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dialects, openTestDb, type TestDb } from '../../test/harness.ts';
import { insertRow, insertRows, pick, prepared, preparedByKeys, setKeys } from './prepared.ts';

const insertSetting = insertRow('settings');
const settingOf = prepared((db, p: { key: string }) =>
  db.selectFrom('settings').selectAll().where('key', '=', p.key),
);
const settingsLike = prepared((db, p: { prefix: string; limit: number }) =>
  db
    .selectFrom('settings')
    .select('key')
    .where('key', 'like', sql<string>`${p.prefix} || '%'`)
    .where('value', '!=', 'constant-kept')
    .orderBy('key')
    .limit(p.limit),
);
const insertPostings = insertRows('postings');
const setRisk = preparedByKeys(
  (params: { where_kind: string; where_key: string; payments?: number; refunds?: number }) => setKeys(params),
  (db, p, keys) =>
    db
      .updateTable('risk_profiles')
      .set(pick(p, keys))
      .where('kind', '=', p.where_kind)
      .where('key', '=', p.where_key),
);

describe.each(dialects)('prepared queries (%s)', (dialect) => {
  let t: TestDb;
  beforeAll(async () => {
    t = await openTestDb(dialect);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('binds each call its own values, keeps constants, and runs in the caller transaction', async () => {
    const db = t.ctx.db;
    expect(await insertSetting(db, { key: 'pq.a', value: '1' })).toBe(1);
    await insertSetting(db, { key: 'pq.b', value: 'constant-kept' });
    await insertSetting(db, { key: 'pq.c', value: '3' });
    expect(await settingOf.first(db, { key: 'pq.a' })).toEqual({ key: 'pq.a', value: '1' });
    expect(await settingOf.first(db, { key: 'pq.c' })).toEqual({ key: 'pq.c', value: '3' });
    expect(await settingOf.first(db, { key: 'pq.none' })).toBeUndefined();
    // The constant in the builder stays a constant; the limit is the call's.
    expect(await settingsLike.all(db, { prefix: 'pq.', limit: 5 })).toEqual([
      { key: 'pq.a' },
      { key: 'pq.c' },
    ]);
    expect(await settingsLike.all(db, { prefix: 'pq.', limit: 1 })).toEqual([{ key: 'pq.a' }]);
    await expect(
      db.transaction().execute(async (trx) => {
        await insertSetting(trx, { key: 'pq.rolled-back', value: 'x' });
        expect(await settingOf.first(trx, { key: 'pq.rolled-back' })).toBeDefined();
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(await settingOf.first(db, { key: 'pq.rolled-back' })).toBeUndefined();
  });

  it('refuses the whole placeholder object as the values of an insert (it would insert no column)', () => {
    const wrong = prepared((db, p: { key: string; value: string }) => db.insertInto('settings').values(p));
    return expect(wrong.run(t.ctx.db, { key: 'pq.whole', value: 'x' })).rejects.toThrow(/names each value/);
  });

  it('inserts several rows in one statement, and compiles one plan per row count', async () => {
    const db = t.ctx.db;
    await db
      .insertInto('accounts')
      .values({
        id: 'acc_pq',
        kind: 'test',
        owner_id: 'o',
        currency: 'CNY',
        balance: 0,
        floor: null,
        created_at: 1,
      })
      .execute();
    await db
      .insertInto('journals')
      .values({ id: 'jnl_pq', kind: 'test', ref_id: 'r', created_at: 1 })
      .execute();
    const row = (seq: number) => ({
      journal_id: 'jnl_pq',
      seq,
      account_id: 'acc_pq',
      amount: seq,
      created_at: 1,
    });
    expect(await insertPostings(db, [row(0), row(1)])).toBe(2);
    expect(await insertPostings(db, [row(2), row(3), row(4)])).toBe(3);
    expect(await insertPostings(db, [])).toBe(0);
    const rows = await db
      .selectFrom('postings')
      .select(['seq', 'amount'])
      .where('journal_id', '=', 'jnl_pq')
      .execute();
    expect(rows.map((r) => Number(r.amount)).sort()).toEqual([0, 1, 2, 3, 4]);
    await expect(
      insertPostings(db, [row(5), { ...row(6), created_at: undefined as unknown as number }]),
    ).rejects.toThrow(/same fields/);
  });

  it('updates only the given columns: one plan per set of keys', async () => {
    const db = t.ctx.db;
    // An undefined field is left out of the insert, so the column default applies (as Kysely does).
    const quasi_cash = undefined as unknown as number;
    await insertRow('risk_profiles')(db, {
      ...{
        kind: 'payer',
        key: 'pq',
        payments: 1,
        refunds: 1,
        mean_log: 0,
        m2_log: 0,
        hour_sin: 0,
        hour_cos: 0,
      },
      quasi_cash,
    });
    const read = () =>
      db
        .selectFrom('risk_profiles')
        .select(['payments', 'refunds', 'quasi_cash'])
        .where('key', '=', 'pq')
        .executeTakeFirstOrThrow();
    expect(Number((await read()).quasi_cash)).toBe(0);
    expect(await setRisk.run(db, { where_kind: 'payer', where_key: 'pq', payments: 5 })).toBe(1);
    expect(await setRisk.run(db, { where_kind: 'payer', where_key: 'pq', refunds: 7 })).toBe(1);
    expect(
      await setRisk.run(db, { where_kind: 'payer', where_key: 'pq', payments: 9, refunds: undefined }),
    ).toBe(1);
    const r = await read();
    expect([Number(r.payments), Number(r.refunds)]).toEqual([9, 7]);
    expect(await setRisk.run(db, { where_kind: 'payer', where_key: 'other', payments: 1 })).toBe(0);
  });
});
