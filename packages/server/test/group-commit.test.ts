/**
 * SQLite group commit (src/db/group-commit.ts): concurrent transactions share durable commits, a
 * failing transaction undoes only its own work, nothing is visible to reads outside transactions
 * (nor answered) before its group committed, and a unique violation seen inside a group is
 * consistent with what the caller reads next.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { CompiledQuery, sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type DatabaseHandle, openDatabase } from '../src/db/database.ts';
import { isUniqueViolation } from '../src/db/errors.ts';

describe('SQLite group commit', () => {
  let dir: string;
  let handle: DatabaseHandle;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'zhifu-gc-'));
    handle = await openDatabase({ url: `sqlite:${join(dir, 'gc.db')}` });
  });
  afterEach(async () => {
    await handle.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const setting = (key: string) => ({ key, value: `v-${key}` });
  const count = async () =>
    Number(
      (
        await handle.db
          .selectFrom('settings')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );

  it('is on by default for SQLite files', () => {
    expect(handle.groupCommit).toBeDefined();
  });

  it('commits 20 concurrent transactions in fewer commits; a failing one undoes only its own rows', async () => {
    const before = { ...handle.groupCommit! };
    const base = await count();
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) =>
        handle.db.transaction().execute(async (trx) => {
          await trx
            .insertInto('settings')
            .values(setting(`k${i}`))
            .execute();
          await trx
            .insertInto('settings')
            .values(setting(`k${i}b`))
            .execute();
          if (i === 7) throw new Error('member 7 fails');
          return i;
        }),
      ),
    );
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(1);
    expect(await count()).toBe(base + 38);
    const keys = await handle.db.selectFrom('settings').select('key').where('key', 'like', 'k7%').execute();
    expect(keys).toEqual([]);
    const commits = handle.groupCommit!.commits - before.commits;
    expect(handle.groupCommit!.members - before.members).toBe(19);
    expect(commits).toBeGreaterThanOrEqual(1);
    expect(commits).toBeLessThan(19);
  });

  it('answers a transaction only after its group committed; reads outside see committed data only', async () => {
    const seen: number[] = [];
    const commitsBefore = handle.groupCommit!.commits;
    const done = handle.db
      .transaction()
      .execute(async (trx) => {
        await trx.insertInto('settings').values(setting('pending')).execute();
      })
      .then(() => handle.groupCommit!.commits);
    // Runs while the group is still open: the committed-data connection does not see the row.
    const early = handle.db.selectFrom('settings').select('key').where('key', '=', 'pending').execute();
    seen.push((await early).length);
    expect(await done).toBe(commitsBefore + 1);
    seen.push(
      (await handle.db.selectFrom('settings').select('key').where('key', '=', 'pending').execute()).length,
    );
    expect(seen).toEqual([0, 1]);
    // A second connection (another process) sees it too: it is committed, not just in the group.
    const other = await openDatabase({
      url: `sqlite:${join(dir, 'gc.db')}`,
      sqliteGroupCommit: false,
      migrate: false,
    });
    try {
      expect(
        await other.db.selectFrom('settings').select('key').where('key', '=', 'pending').execute(),
      ).toHaveLength(1);
    } finally {
      await other.close();
    }
  });

  it('a unique violation against a row still in the group is followed by a read that sees the row', async () => {
    const first = handle.db.insertInto('settings').values(setting('dup')).execute();
    const second = handle.db
      .insertInto('settings')
      .values(setting('dup'))
      .execute()
      .then(
        () => 'inserted',
        async (error: unknown) => {
          expect(isUniqueViolation(error)).toBe(true);
          const row = await handle.db
            .selectFrom('settings')
            .selectAll()
            .where('key', '=', 'dup')
            .executeTakeFirst();
          return row ? 'winner visible' : 'winner missing';
        },
      );
    await first;
    expect(await second).toBe('winner visible');
  });

  it('raw SQL that only reads takes no write lock (the feature snapshot opened a group per assessment)', async () => {
    await handle.db.insertInto('settings').values(setting('raw')).execute();
    // Another connection holds the database's write lock, as a batch worker storing results does.
    const other = new SQLite(join(dir, 'gc.db'));
    other.exec('begin immediate');
    try {
      const commits = handle.groupCommit!.commits;
      const viaSql = await sql<{ n: number }>`select count(*) as n from settings`.execute(handle.db);
      const viaRaw = await handle.db.executeQuery<{ key: string }>(
        CompiledQuery.raw('select key from settings where key = ?', ['raw']),
      );
      expect([viaSql.rows[0]!.n, viaRaw.rows]).toEqual([1, [{ key: 'raw' }]]);
      expect(handle.groupCommit!.commits).toBe(commits);
    } finally {
      other.exec('rollback');
      other.close();
    }
    // Raw SQL that writes still runs in a group and commits.
    const commits = handle.groupCommit!.commits;
    await sql`insert into settings (key, value) values (${'raw-write'}, ${'v'})`.execute(handle.db);
    expect(handle.groupCommit!.commits).toBe(commits + 1);
    expect(await count()).toBe(2);
  });

  it('a write waits for another connection’s write lock without blocking the event loop', async () => {
    const other = new SQLite(join(dir, 'gc.db'));
    other.exec('begin immediate');
    let released = false;
    // Released from a timer: if the write blocked the thread in SQLite's busy handler, the timer
    // could not run and the write would fail with SQLITE_BUSY after the busy timeout.
    setTimeout(() => {
      other.exec('rollback');
      released = true;
    }, 50);
    try {
      await handle.db.insertInto('settings').values(setting('after-lock')).execute();
      expect(released).toBe(true);
      expect(await count()).toBe(1);
    } finally {
      if (!released) other.exec('rollback');
      other.close();
    }
  });

  it('a plain write is durable (committed) when its await returns', async () => {
    await handle.db.insertInto('settings').values(setting('plain')).execute();
    const other = await openDatabase({
      url: `sqlite:${join(dir, 'gc.db')}`,
      sqliteGroupCommit: false,
      migrate: false,
    });
    try {
      expect(
        await other.db.selectFrom('settings').select('key').where('key', '=', 'plain').execute(),
      ).toHaveLength(1);
    } finally {
      await other.close();
    }
  });
});
