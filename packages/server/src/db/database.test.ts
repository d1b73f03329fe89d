import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dialects, openTestDb, type TestDb } from '../../test/harness.ts';
import { commitAsynchronously, type Executor, fixedPlanSql } from './database.ts';

describe('fixedPlanSql', () => {
  it('casts the bound limit and offset Kysely emits, and leaves everything else alone', () => {
    expect(fixedPlanSql('select * from "t" where "a" = ? order by "b" limit ? offset ?')).toBe(
      'select * from "t" where "a" = ? order by "b" limit cast(? as integer) offset cast(? as integer)',
    );
    expect(fixedPlanSql('select * from "t" limit 5')).toBe('select * from "t" limit 5');
    expect(fixedPlanSql('select "limit" from "t" where "x" = ?')).toBe(
      'select "limit" from "t" where "x" = ?',
    );
  });
});

describe.each(dialects)('database on %s', (dialect) => {
  let t: TestDb;
  beforeAll(async () => {
    t = await openTestDb(dialect);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('limit and offset bound as values return the rows they select, on every execution of the cached statement', async () => {
    await t.ctx.db
      .insertInto('settings')
      .values(['a', 'b', 'c', 'd', 'e'].map((k) => ({ key: `limit-test:${k}`, value: k })))
      .execute();
    const page = (limit: number, offset: number) =>
      t.ctx.db
        .selectFrom('settings')
        .select('value')
        .where('key', 'like', 'limit-test:%')
        .orderBy('key')
        .limit(limit)
        .offset(offset)
        .execute();
    expect((await page(2, 1)).map((r) => r.value)).toEqual(['b', 'c']);
    expect((await page(3, 0)).map((r) => r.value)).toEqual(['a', 'b', 'c']);
    expect((await page(10, 4)).map((r) => r.value)).toEqual(['e']);
    expect(await page(0, 0)).toEqual([]);
  });

  it('commitAsynchronously commits the transaction as usual, asynchronously for this transaction only', async () => {
    const setting = (db: Executor) =>
      sql<{ v: string }>`select current_setting('synchronous_commit') as v`.execute(db);
    await t.ctx.db.transaction().execute(async (trx) => {
      await commitAsynchronously(trx, t.ctx.dialect);
      if (dialect === 'postgres') expect((await setting(trx)).rows[0]!.v).toBe('off');
      await trx.insertInto('settings').values({ key: 'async-commit', value: '1' }).execute();
    });
    const row = await t.ctx.db
      .selectFrom('settings')
      .select('value')
      .where('key', '=', 'async-commit')
      .executeTakeFirst();
    expect(row?.value).toBe('1');
    if (dialect === 'postgres') expect((await setting(t.ctx.db)).rows[0]!.v).toBe('on');
  });
});
