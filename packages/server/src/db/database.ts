/**
 * Opens the configured database (SQLite file or PostgreSQL URL) behind one Kysely type and runs the
 * migrations. SQLite runs in WAL mode with FULL durability by default: a committed payment survives
 * a power cut (with group commit, the writer commits with synchronous=NORMAL and the driver fsyncs
 * the WAL off the event loop before answering; group-commit.ts). A single writer connection
 * serialises transactions; Kysely's driver queues the rest.
 */
import { chmodSync, closeSync, existsSync, fdatasync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql, type Transaction } from 'kysely';
import pg from 'pg';
import { asynchronous_commit_sql, GroupCommitSqliteDialect, type GroupCommitStats } from './group-commit.ts';
import { migrations } from './migrations.ts';
import type { Database } from './schema.ts';
import { WalCheckpointer } from './wal-checkpointer.ts';

export type Db = Kysely<Database>;
export type Trx = Transaction<Database>;
/** A repository takes either the database or an open transaction (STYLE.md rule 8). */
export type Executor = Db | Trx;

export type Dialect = 'sqlite' | 'postgres';

export interface DatabaseHandle {
  db: Db;
  dialect: Dialect;
  close(): Promise<void>;
  /** SQLite group commit's counters, when it is on. */
  groupCommit?: GroupCommitStats;
}

export interface DatabaseOptions {
  url: string;
  sqliteSynchronous?: 'FULL' | 'NORMAL';
  /** PostgreSQL schema to use (created if missing); tests give each suite its own. */
  pgSchema?: string;
  pgPoolSize?: number;
  /** Run migrations (default true); batch workers open an already-migrated database. */
  migrate?: boolean;
  /**
   * SQLite files: concurrent transactions share one durable commit (db/group-commit.ts; default
   * true). Durability is the same; false commits every transaction on its own.
   */
  sqliteGroupCommit?: boolean;
  /** SQLite group commit: WAL frames past which the WAL restarts (group-commit.ts restart_frames); for tests. */
  sqliteWalRestartFrames?: number;
}

const int8_oid = 20;
const numeric_oid = 1700;

function ownerOnly(path: string): void {
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    if (existsSync(file)) chmodSync(file, 0o600);
  }
}

export async function openDatabase(options: DatabaseOptions): Promise<DatabaseHandle> {
  if (options.url.startsWith('sqlite:')) {
    const path = options.url.slice('sqlite:'.length);
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const sqlite = new SQLite(path);
    // The database holds merchants' keys: owner-only, as the credentials files. SQLite gives the
    // -wal and -shm files it creates the database file's mode.
    if (path !== ':memory:') ownerOnly(path);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma(`synchronous = ${options.sqliteSynchronous ?? 'FULL'}`);
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('busy_timeout = 5000');
    const plain = new Kysely<Database>({
      dialect: new SqliteDialect({ database: cachedStatements(sqlite) }),
    });
    if (options.migrate !== false) await migrate(plain);
    if (path === ':memory:' || options.sqliteGroupCommit === false)
      return { db: plain, dialect: 'sqlite', close: () => plain.destroy() };
    // The committed-data connection for reads outside transactions (see group-commit.ts).
    const reader = new SQLite(path);
    reader.pragma('busy_timeout = 5000');
    reader.pragma('query_only = ON');
    // synchronous=FULL: the driver fsyncs the WAL after each group's COMMIT off the event loop, so
    // the writer's own COMMIT need not (NORMAL); durability is FULL's (group-commit.ts).
    let walSync: (() => Promise<void>) | undefined;
    let walFd: number | undefined;
    if ((options.sqliteSynchronous ?? 'FULL') === 'FULL') {
      // Opened at the first sync: a new database has no WAL file before its first COMMIT.
      walSync = () =>
        new Promise((resolve, reject) => {
          walFd ??= openSync(`${path}-wal`, 'r+');
          fdatasync(walFd, (e) => (e ? reject(e) : resolve()));
        });
      sqlite.pragma('synchronous = NORMAL');
      // Checkpoints run in a worker thread, started by the driver (wal-checkpointer.ts).
      sqlite.pragma('wal_autocheckpoint = 0');
    }
    const dialect = new GroupCommitSqliteDialect(
      cachedStatements(sqlite),
      cachedStatements(reader),
      walSync,
      walSync ? new WalCheckpointer(path) : undefined,
      options.sqliteWalRestartFrames,
    );
    const db = new Kysely<Database>({ dialect });
    const close = async () => {
      await db.destroy();
      if (walFd !== undefined) closeSync(walFd);
    };
    return { db, dialect: 'sqlite', close, groupCommit: dialect.stats };
  }
  const schema = options.pgSchema;
  if (schema !== undefined && !/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`bad schema ${schema}`);
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.pgPoolSize ?? 16,
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === int8_oid || oid === numeric_oid
          ? (v: string) => Number(v)
          : pg.types.getTypeParser(oid, format ?? 'text')) as typeof pg.types.getTypeParser,
    },
  });
  if (schema) await pool.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  if (options.migrate !== false) await migrate(db, schema ?? 'public');
  return { db, dialect: 'postgres', close: () => db.destroy() };
}

/**
 * Lets the open transaction be answered once committed, without waiting for the disk to make it
 * durable: PostgreSQL's `synchronous_commit = off` for this transaction, the same in SQLite's group
 * commit (group-commit.ts). For low-value writes only (a Smart Checkout ranking and its 0.01 CNY
 * metering). Safe from a crash of the Zhifu process; a crash of the machine can lose it if no
 * durable commit followed (on SQLite within two WAL fsyncs; on PostgreSQL within three
 * wal_writer_delay, or a crash of the PostgreSQL server). The WAL is written in order, so a payment
 * that refers to the ranking makes it durable too. Payments and refunds never use it; a fee journal
 * lost with its ranking is one never charged, both of its sides lost together.
 */
export async function commitAsynchronously(trx: Trx, dialect: Dialect): Promise<void> {
  await (dialect === 'postgres'
    ? sql`set local synchronous_commit = off`
    : sql.raw(asynchronous_commit_sql)
  ).execute(trx);
}

const statement_cache_max = 512;

/**
 * SQLite (built with STAT4, as better-sqlite3 ships it) re-prepares a statement at every execution
 * when a bound value may change its plan, and a bare `limit ?` / `offset ?` — what Kysely emits for
 * `.limit(n)` / `.offset(n)` — counts as one: ~7.5 µs per execution of a one-row lookup against ~1 µs
 * (an indexed query on an empty table: 8.7 µs with `limit ?`, 1.2 µs with `limit 16` or
 * `limit cast(? as integer)`). The cast keeps the value bound and the plan fixed. Kysely's callers
 * pass integers, whose cast is themselves.
 */
export function fixedPlanSql(sql: string): string {
  return sql.replace(/ (limit|offset) \?/g, ' $1 cast(? as integer)');
}

/**
 * better-sqlite3 compiles a statement on every `prepare`; Kysely prepares each query it runs, so
 * the hot paths paid ~13% of server CPU recompiling the same SQL (bench:notify profile). Statements
 * are reusable and the single connection runs one query at a time, so a bounded cache by SQL text
 * is safe.
 */
function cachedStatements(sqlite: SQLite.Database): SQLite.Database {
  const cache = new Map<string, SQLite.Statement>();
  return new Proxy(sqlite, {
    get(target, property, receiver) {
      if (property !== 'prepare') return Reflect.get(target, property, receiver);
      return (sql: string) => {
        let stmt = cache.get(sql);
        if (!stmt) {
          stmt = target.prepare(fixedPlanSql(sql));
          if (cache.size >= statement_cache_max) cache.delete(cache.keys().next().value as string);
          cache.set(sql, stmt);
        }
        return stmt;
      };
    },
  });
}

/**
 * `schema` names where the migration bookkeeping lives on PostgreSQL: without it Kysely takes a
 * migration table in any schema as its own, which breaks side-by-side schemas (parallel tests).
 */
async function migrate(db: Db, schema?: string): Promise<void> {
  const { error, results } = await new Migrator({
    db,
    provider: migrations,
    allowUnorderedMigrations: true,
    ...(schema ? { migrationTableSchema: schema } : {}),
  }).migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    throw new Error(`database migration failed at ${failed?.migrationName ?? '?'}: ${String(error)}`);
  }
}
