/**
 * Prepared queries (src/db/prepared.ts): compiled once per database with its own dialect, run with
 * new values each time, constants the query fixes kept, inside transactions too; a prepared insert
 * of a whole placeholder object is refused (it would insert no columns).
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepare } from '../src/db/prepared.ts';
import type { SettingsTable } from '../src/db/schema.ts';
import { dialects, openTestDb, type TestDb } from './harness.ts';

const putSetting = prepare((db, p: SettingsTable) =>
  db.insertInto('settings').values({ key: p.key, value: p.value }),
);
const appendToSetting = prepare((db, p: { key: string; suffix: string }) =>
  db
    .updateTable('settings')
    .set({ value: sql`value || ${p.suffix}` })
    .where('key', '=', p.key)
    .where('value', 'is not', null)
    .where('key', 'like', 'prep:%'),
);
const settingsFrom = prepare((db, p: { from: string }) =>
  db.selectFrom('settings').select(['key', 'value']).where('key', '>=', p.from).orderBy('key').limit(10),
);

describe.each(dialects)('prepared queries (%s)', (dialect) => {
  let t: TestDb;
  beforeAll(async () => {
    t = await openTestDb(dialect);
  });
  afterAll(async () => t?.close());

  it('runs the same compiled query with new values each time, in and out of transactions', async () => {
    const db = t.ctx.db;
    await putSetting(db, { key: 'prep:a', value: '1' });
    await putSetting(db, { key: 'prep:b', value: '2' });
    await db.transaction().execute(async (trx) => {
      await putSetting(trx, { key: 'prep:c', value: '3' });
      expect((await appendToSetting(trx, { key: 'prep:a', suffix: 'x' })).numAffectedRows).toBe(1n);
    });
    expect((await appendToSetting(db, { key: 'prep:none', suffix: 'x' })).numAffectedRows).toBe(0n);
    expect((await settingsFrom(db, { from: 'prep:' })).rows).toEqual([
      { key: 'prep:a', value: '1x' },
      { key: 'prep:b', value: '2' },
      { key: 'prep:c', value: '3' },
    ]);
    expect((await settingsFrom(db, { from: 'prep:b' })).rows.map((r) => r.key)).toEqual(['prep:b', 'prep:c']);
  });

  it('a rolled-back transaction undoes a prepared write', async () => {
    const db = t.ctx.db;
    await expect(
      db.transaction().execute(async (trx) => {
        await putSetting(trx, { key: 'prep:rolled', value: 'x' });
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect((await settingsFrom(db, { from: 'prep:rolled' })).rows).toEqual([]);
  });

  it('refuses a prepared insert of the whole placeholder object (it would name no columns)', async () => {
    const whole = prepare((db, p: SettingsTable) => db.insertInto('settings').values(p));
    await expect(whole(t.ctx.db, { key: 'prep:whole', value: 'x' })).rejects.toThrow(/names each value/);
  });
});
