/**
 * SQLite group commit (src/db/group-commit.ts): concurrent transactions share durable commits, a
 * failing transaction undoes only its own work, nothing is visible to reads outside transactions
 * (nor answered) before its group committed, and a unique violation seen inside a group is
 * consistent with what the caller reads next. Under synchronous=FULL the WAL's fsync runs off the
 * event loop: nothing is answered or readable before it returned, and a failed fsync fails its
 * members and every later write; checkpoints run in a worker and the WAL restarts under a
 * continuous stream of transactions (it stays bounded).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { CompiledQuery, Kysely, sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { commitAsynchronously, type DatabaseHandle, openDatabase } from '../src/db/database.ts';
import { isUniqueViolation } from '../src/db/errors.ts';
import { asynchronous_commit_sql, GroupCommitSqliteDialect } from '../src/db/group-commit.ts';
import type { Database } from '../src/db/schema.ts';

/** A smaller WAL than the server's (group-commit.ts restart_frames), so the restart tests stay short. */
const restart_frames = 4_096;

describe('SQLite group commit', () => {
  let dir: string;
  let handle: DatabaseHandle;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'zhifu-gc-'));
    handle = await openDatabase({
      url: `sqlite:${join(dir, 'gc.db')}`,
      sqliteWalRestartFrames: restart_frames,
    });
  });
  afterEach(async () => {
    await handle.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const setting = (key: string) => ({ key, value: `v-${key}` });
  /** Whether a second connection (another process) sees the row: committed, not just in a group. */
  const seenByAnotherConnection = async (key: string) => {
    const other = await openDatabase({
      url: `sqlite:${join(dir, 'gc.db')}`,
      sqliteGroupCommit: false,
      migrate: false,
    });
    try {
      return (
        (await other.db.selectFrom('settings').select('key').where('key', '=', key).execute()).length === 1
      );
    } finally {
      await other.close();
    }
  };
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
    expect(await seenByAnotherConnection('pending')).toBe(true);
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
    expect(await seenByAnotherConnection('plain')).toBe(true);
  });

  it('syncs the WAL off the event loop by default (synchronous=FULL) and restarts it under a continuous stream', async () => {
    await sql`create table blobs (id integer primary key, body blob)`.execute(handle.db);
    const page = 4096;
    const body = Buffer.alloc(4 * page, 7);
    // Sequential transactions, each answered only after its fsync: ~5 pages each, 3× the restart size.
    const n = Math.ceil((3 * restart_frames) / 5);
    for (let i = 0; i < n; i++)
      await handle.db
        .transaction()
        .execute((trx) => sql`insert into blobs (body) values (${body})`.execute(trx));
    const stats = handle.groupCommit!;
    expect(stats.walSyncs).toBe(stats.commits);
    expect(stats.checkpoints).toBeGreaterThan(0);
    expect(stats.walRestarts).toBeGreaterThan(0);
    // Without restarts the WAL would hold every page written (≥ 3 × restart_frames).
    expect(statSync(join(dir, 'gc.db-wal')).size).toBeLessThan(2 * restart_frames * (page + 24));
    expect(stats.checkpointErrors).toEqual([]);
  });

  it('a process with nothing else to do exits normally after closing, its checkpoint worker working (defect: exit 13 while closing; worker broken under --input-type=module)', () => {
    const database = new URL('../src/db/database.ts', import.meta.url).href;
    const script = `
      import { openDatabase } from '${database}';
      import { sql } from 'kysely';
      const h = await openDatabase({ url: 'sqlite:${join(dir, 'child.db')}' });
      await sql\`create table blobs (body blob)\`.execute(h.db);
      for (let i = 0; i < 600; i++)
        await h.db.transaction().execute((t) => sql\`insert into blobs values (\${Buffer.alloc(16384)})\`.execute(t));
      const { checkpoints, checkpointErrors } = h.groupCommit;
      await h.close();
      console.log(JSON.stringify({ checkpoints, checkpointErrors, closed: true }));
    `;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
    });
    const r = JSON.parse(out.trim().split('\n').pop()!) as {
      checkpoints: number;
      checkpointErrors: string[];
    };
    expect(r).toMatchObject({ checkpointErrors: [], closed: true });
    expect(r.checkpoints).toBeGreaterThan(0);
  });
});

describe('SQLite group commit with the WAL fsync off the event loop', () => {
  let dir: string;
  let writer: SQLite.Database;
  let reader: SQLite.Database;
  let db: Kysely<Database>;
  let syncs: { resolve: () => void; reject: (e: Error) => void }[];
  let destroyed: boolean;

  beforeEach(async () => {
    destroyed = false;
    dir = mkdtempSync(join(tmpdir(), 'zhifu-gc-sync-'));
    const path = join(dir, 'gc.db');
    await (await openDatabase({ url: `sqlite:${path}`, sqliteGroupCommit: false })).close();
    writer = new SQLite(path);
    writer.pragma('journal_mode = WAL');
    writer.pragma('synchronous = NORMAL');
    reader = new SQLite(path);
    syncs = [];
    // The test decides when each fsync returns.
    const walSync = () => new Promise<void>((resolve, reject) => syncs.push({ resolve, reject }));
    db = new Kysely<Database>({ dialect: new GroupCommitSqliteDialect(writer, reader, walSync) });
  });
  afterEach(async () => {
    for (const s of syncs) s.resolve();
    if (!destroyed) await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Whether another connection sees the row: committed in the file, not just in a group. */
  const committedInFile = (key: string) => {
    const other = new SQLite(join(dir, 'gc.db'), { readonly: true });
    try {
      return other.prepare('select key from settings where key = ?').all(key).length === 1;
    } finally {
      other.close();
    }
  };
  const keys = async () => (await db.selectFrom('settings').select('key').execute()).map((r) => r.key);
  const until = async (cond: () => boolean) => {
    while (!cond()) await new Promise((r) => setImmediate(r));
  };
  /** `work`, and whether it has been answered yet. */
  const watched = (work: Promise<unknown>) => {
    const w = {
      answered: false,
      done: work.then(() => {
        w.answered = true;
      }),
    };
    return w;
  };
  /** `w` is not answered while `sync` is held (20 ms), and is once `sync` returns. */
  const answeredOnlyAfter = async (sync: { resolve: () => void }, w: ReturnType<typeof watched>) => {
    await new Promise((r) => setTimeout(r, 20));
    expect(w.answered).toBe(false);
    sync.resolve();
    await w.done;
  };

  it('answers and shows a commit only after its fsync returned; transactions meanwhile gather in the next group', async () => {
    const first = watched(db.insertInto('settings').values({ key: 'a', value: '1' }).execute());
    await until(() => syncs.length === 1);
    // Committed in SQLite, fsync in flight: not answered, not visible outside a transaction.
    expect(first.answered).toBe(false);
    expect(await keys()).toEqual([]);
    const second = db.insertInto('settings').values({ key: 'b', value: '2' }).execute();
    const third = db.insertInto('settings').values({ key: 'c', value: '3' }).execute();
    await new Promise((r) => setTimeout(r, 20));
    expect(syncs).toHaveLength(1);
    syncs[0]!.resolve();
    await first.done;
    expect(await keys()).toEqual(['a']);
    await until(() => syncs.length === 2);
    syncs[1]!.resolve();
    await Promise.all([second, third]);
    expect((await keys()).sort()).toEqual(['a', 'b', 'c']);
  });

  /** A transaction that asks to be answered at its COMMIT (db/database.ts commitAsynchronously). */
  const insertAsynchronously = (key: string) =>
    db.transaction().execute(async (trx) => {
      await commitAsynchronously(trx, 'sqlite');
      await trx.insertInto('settings').values({ key, value: key }).execute();
    });

  it('answers an asynchronous commit at its COMMIT, readable at once, and syncs it right after', async () => {
    await insertAsynchronously('a');
    // Answered with its fsync still pending; readable outside a transaction (nothing pinned).
    expect(syncs).toHaveLength(1);
    expect(await keys()).toEqual(['a']);
    expect(committedInFile('a')).toBe(true);
  });

  it('an asynchronous commit does not wait for a durable group’s fsync, which still waits for its own', async () => {
    const durable = watched(db.insertInto('settings').values({ key: 'd', value: 'd' }).execute());
    await until(() => syncs.length === 1);
    // Committed during the durable group's fsync: answered, not readable outside a transaction yet
    // (that reader still shows what was durable before the fsync began) ...
    await insertAsynchronously('a');
    expect(durable.answered).toBe(false);
    expect(await keys()).toEqual([]);
    syncs[0]!.resolve();
    await durable.done;
    expect((await keys()).sort()).toEqual(['a', 'd']);
    // That fsync began before the asynchronous COMMIT: a second one follows without a new write.
    await until(() => syncs.length === 2);
  });

  it('a transaction sees an asynchronous commit that reads outside transactions do not see yet', async () => {
    const durable = db.insertInto('settings').values({ key: 'd', value: 'd' }).execute();
    await until(() => syncs.length === 1);
    await insertAsynchronously('a');
    expect(await keys()).toEqual([]);
    // Its group waits for the fsync in flight, then for its own (it reads; it is not asynchronous).
    const inTransaction = db
      .transaction()
      .execute((trx) => trx.selectFrom('settings').select('key').execute());
    await new Promise((r) => setTimeout(r, 20));
    syncs[0]!.resolve();
    await durable;
    // Its fsync covers the asynchronous commit too: no other follows.
    await until(() => syncs.length === 2);
    syncs[1]!.resolve();
    expect((await inTransaction).map((r) => r.key).sort()).toEqual(['a', 'd']);
    await new Promise((r) => setTimeout(r, 20));
    expect(syncs).toHaveLength(2);
  });

  it('in a group with a durable member, the asynchronous one is answered at the COMMIT, the durable after the fsync', async () => {
    const answered: string[] = [];
    const both = Promise.all([
      insertAsynchronously('a').then(() => answered.push('a')),
      db
        .transaction()
        .execute((trx) => trx.insertInto('settings').values({ key: 'd', value: 'd' }).execute())
        .then(() => answered.push('d')),
    ]);
    await until(() => syncs.length === 1);
    await until(() => answered.includes('a'));
    expect(answered).not.toContain('d');
    // One group, one COMMIT: its rows are readable only after the fsync (the durable member's).
    expect(await keys()).toEqual([]);
    syncs[0]!.resolve();
    await both;
    expect((await keys()).sort()).toEqual(['a', 'd']);
  });

  it('closing waits for the fsync of an asynchronous commit made during another fsync', async () => {
    const durable = db.insertInto('settings').values({ key: 'd', value: 'd' }).execute();
    await until(() => syncs.length === 1);
    await insertAsynchronously('a');
    const closing = watched(db.destroy());
    syncs[0]!.resolve();
    await durable;
    // That fsync began before the asynchronous COMMIT: its own follows, and closing waits for it.
    await until(() => syncs.length === 2);
    await answeredOnlyAfter(syncs[1]!, closing);
    destroyed = true;
    expect(committedInFile('a')).toBe(true);
  });

  it('a durable write arriving during an asynchronous commit’s fsync waits for it, then for its own', async () => {
    await insertAsynchronously('a');
    const durable = watched(db.insertInto('settings').values({ key: 'd', value: 'd' }).execute());
    await new Promise((r) => setTimeout(r, 20));
    expect(syncs).toHaveLength(1);
    syncs[0]!.resolve();
    await until(() => syncs.length === 2);
    await answeredOnlyAfter(syncs[1]!, durable);
  });

  it('a lease that commits a transaction asynchronously, then writes outside it, waits for that write’s fsync', async () => {
    const lease = watched(
      db.connection().execute(async (conn) => {
        await conn.transaction().execute(async (trx) => {
          await commitAsynchronously(trx, 'sqlite');
          await trx.insertInto('settings').values({ key: 'a', value: 'a' }).execute();
        });
        await conn.insertInto('settings').values({ key: 'd', value: 'd' }).execute();
      }),
    );
    await until(() => syncs.length === 1);
    await answeredOnlyAfter(syncs[0]!, lease);
  });

  it('asynchronous commit can be asked only inside a transaction', async () => {
    await expect(sql.raw(asynchronous_commit_sql).execute(db)).rejects.toThrow('only inside a transaction');
  });

  it('keeps the WAL bounded with checkpoints on the event loop when the checkpoint worker fails', async () => {
    for (const s of syncs) s.resolve();
    await db.destroy();
    const path = join(dir, 'gc.db');
    writer = new SQLite(path);
    writer.pragma('synchronous = NORMAL');
    writer.pragma('wal_autocheckpoint = 0');
    reader = new SQLite(path);
    const failing = {
      passive: () => Promise.reject(new Error('worker gone')),
      close: async () => {},
    };
    const dialect = new GroupCommitSqliteDialect(writer, reader, async () => {}, failing, restart_frames);
    db = new Kysely<Database>({ dialect });
    await sql`create table blobs (body blob)`.execute(db);
    const body = Buffer.alloc(4 * 4096, 7);
    for (let i = 0; i < Math.ceil((3 * restart_frames) / 5); i++)
      await db.transaction().execute((trx) => sql`insert into blobs (body) values (${body})`.execute(trx));
    expect(dialect.stats.checkpointErrors).toEqual(['Error: worker gone']);
    expect(dialect.stats.walRestarts).toBeGreaterThan(0);
    expect(statSync(`${path}-wal`).size).toBeLessThan(2 * restart_frames * (4096 + 24));
  });

  it('a failed fsync fails its members and every later write', async () => {
    const first = db.insertInto('settings').values({ key: 'a', value: '1' }).execute();
    await until(() => syncs.length === 1);
    syncs[0]!.reject(new Error('EIO: fdatasync'));
    await expect(first).rejects.toThrow('EIO');
    await expect(db.insertInto('settings').values({ key: 'b', value: '2' }).execute()).rejects.toThrow('EIO');
  });

  it('after a failed fsync the group that gathered meanwhile is never committed, and reads fail too', async () => {
    const first = db.insertInto('settings').values({ key: 'a', value: '1' }).execute();
    await until(() => syncs.length === 1);
    // Joins the next group while the first fsync is in flight.
    const second = db.insertInto('settings').values({ key: 'b', value: '2' }).execute();
    await new Promise((r) => setTimeout(r, 20));
    syncs[0]!.reject(new Error('EIO: fdatasync'));
    await expect(first).rejects.toThrow('EIO');
    await expect(second).rejects.toThrow('EIO');
    // No second fsync was asked for (a later one could report success over lost frames) ...
    expect(syncs).toHaveLength(1);
    // ... 'b' was rolled back, not committed ...
    const other = new SQLite(join(dir, 'gc.db'), { readonly: true });
    try {
      expect(other.prepare("select key from settings where key = 'b'").all()).toEqual([]);
    } finally {
      other.close();
    }
    // ... and the driver answers nothing any more.
    await expect(keys()).rejects.toThrow('EIO');
  });
});
