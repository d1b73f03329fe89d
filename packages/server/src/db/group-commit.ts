/**
 * Group commit for SQLite: concurrent transactions share one durable commit.
 *
 * With synchronous=FULL every COMMIT waits for an fsync of the WAL, and better-sqlite3 waits on the
 * event loop's thread, so two commits per payment capped the whole server (bench:payments). Here
 * the writer connection keeps one outer transaction (a "group") open while requests run: each
 * Kysely transaction becomes a savepoint inside it (its rollback undoes only its own work), and each
 * statement outside a transaction that writes runs inside the group too. The group commits — one
 * fsync, durability unchanged — on the next turn of the event loop (setImmediate), so everything
 * that arrived meanwhile rides along. Nobody is answered before their data is durable: a
 * transaction's `execute()` and a plain write resolve only after the group's COMMIT returned; if
 * the COMMIT fails, every member of the group fails with the error.
 *
 * Reads outside a transaction, while a group is open, go to a second connection that sees
 * committed data only (WAL snapshot), so no response can show data of a group that might still
 * fail; with no group open they use the writer, which then holds exactly the committed data. Reads inside a
 * transaction see the group, i.e. the transactions committed before them in the same order the
 * group commits them (the single writer still serialises them). A lease that touched the writer
 * waits for that group even when its transaction rolled back or its statement failed: what it
 * saw there (a unique violation, a conditional update that matched nothing) is committed before
 * the caller reads again through the committed-data connection.
 *
 * Written here because no library offers group commit for better-sqlite3 behind Kysely; it is a
 * Kysely Driver, so the rest of the server is unchanged.
 */
import type SQLite from 'better-sqlite3';
import {
  CompiledQuery,
  type DatabaseConnection,
  type Driver,
  type QueryResult,
  RawNode,
  SelectQueryNode,
  SqliteDialect,
} from 'kysely';

interface Group {
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

class Mutex {
  private held: Promise<void> | undefined;
  private release: (() => void) | undefined;

  async lock(): Promise<void> {
    while (this.held) await this.held;
    this.held = new Promise((resolve) => {
      this.release = resolve;
    });
  }

  unlock(): void {
    const release = this.release;
    this.held = undefined;
    this.release = undefined;
    release?.();
  }
}

function execute(db: SQLite.Database, query: CompiledQuery): QueryResult<unknown> {
  const stmt = db.prepare(query.sql);
  if (stmt.reader) return { rows: stmt.all(query.parameters as unknown[]) };
  const { changes, lastInsertRowid } = stmt.run(query.parameters as unknown[]);
  return {
    numAffectedRows: changes !== undefined && changes !== null ? BigInt(changes) : undefined,
    insertId: lastInsertRowid !== undefined && lastInsertRowid !== null ? BigInt(lastInsertRowid) : undefined,
    rows: [],
  };
}

/** Counters for tests and diagnostics. */
export interface GroupCommitStats {
  /** Durable commits of the writer connection. */
  commits: number;
  /** Transactions (savepoints) committed inside groups. */
  members: number;
}

/** How long a write waits for another connection's write lock before failing (SQLITE_BUSY). */
const write_lock_wait_ms = 5_000;

export class GroupCommitDriver implements Driver {
  readonly stats: GroupCommitStats = { commits: 0, members: 0 };
  private readonly mutex = new Mutex();
  private readonly connection: DatabaseConnection;
  /** The open outer transaction, if any. */
  private group: Group | undefined;
  /** A Kysely transaction (savepoint) is running on the writer. */
  private inMember = false;
  /** The group should commit as soon as the running member ends. */
  private flushWanted = false;
  /** Groups the current lease touched: it is answered once they are durable. */
  private leaseGroups = new Set<Group>();

  constructor(
    private readonly writer: SQLite.Database,
    private readonly reader: SQLite.Database,
  ) {
    // Waits for the write lock happen in beginImmediate, off the event loop.
    writer.pragma('busy_timeout = 0');
    this.connection = {
      executeQuery: async <R>(query: CompiledQuery) => (await this.run(query)) as QueryResult<R>,
      streamQuery: <R>(query: CompiledQuery) => this.stream<R>(query),
    };
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    await this.mutex.lock();
    this.leaseGroups = new Set();
    return this.connection;
  }

  async beginTransaction(): Promise<void> {
    await this.join();
    this.writer.prepare('savepoint zhifu_member').run();
    this.inMember = true;
  }

  async commitTransaction(): Promise<void> {
    this.inMember = false;
    this.writer.prepare('release zhifu_member').run();
    this.stats.members++;
    if (this.flushWanted) this.flush();
  }

  async rollbackTransaction(): Promise<void> {
    this.inMember = false;
    // A failed statement may have ended the whole group (e.g. I/O error): the flush reports it.
    if (this.writer.inTransaction) {
      this.writer.prepare('rollback to zhifu_member').run();
      this.writer.prepare('release zhifu_member').run();
    }
    if (this.flushWanted) this.flush();
  }

  async savepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`savepoint "${name}"`));
  }

  async rollbackToSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`rollback to "${name}"`));
  }

  async releaseSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`release "${name}"`));
  }

  async releaseConnection(): Promise<void> {
    const groups = [...this.leaseGroups];
    this.leaseGroups = new Set();
    this.mutex.unlock();
    for (const g of groups) await g.promise;
  }

  async destroy(): Promise<void> {
    this.flush();
    this.reader.close();
    this.writer.close();
  }

  private async run(query: CompiledQuery): Promise<QueryResult<unknown>> {
    // With no group open the writer holds exactly the committed data, and its page cache is warm
    // (the reader's is dropped whenever the writer commits).
    if (!this.inMember && this.isRead(query)) return execute(this.group ? this.reader : this.writer, query);
    if (!this.inMember) await this.join();
    return execute(this.writer, query);
  }

  /**
   * A query that only reads: a Kysely select, or raw SQL (CompiledQuery.raw, sql`...`) that SQLite
   * itself reports as returning rows without writing. Raw reads used to be taken for writes: the
   * Fraud Shield's one-statement feature snapshot opened a group (BEGIN IMMEDIATE, i.e. the
   * database's write lock) for every assessment, and batch workers contended for that lock with
   * the main thread's writes.
   */
  private isRead(query: CompiledQuery): boolean {
    if (SelectQueryNode.is(query.query)) return true;
    if (!RawNode.is(query.query)) return false;
    const stmt = this.writer.prepare(query.sql);
    return stmt.reader && stmt.readonly;
  }

  private async *stream<R>(query: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    if (!SelectQueryNode.is(query.query)) throw new Error('SQLite streams select queries only');
    const db = this.inMember ? this.writer : this.reader;
    for (const row of db.prepare(query.sql).iterate(query.parameters as unknown[]))
      yield { rows: [row as R] };
  }

  /** Opens a group if none is open and records that the current lease depends on it. */
  private async join(): Promise<void> {
    if (!this.group) {
      await this.beginImmediate();
      let resolve!: () => void;
      let reject!: (error: unknown) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      promise.catch(() => {}); // members see the error; an unwaited group must not crash the process
      this.group = { promise, resolve, reject };
      setImmediate(() => this.flush());
    }
    this.leaseGroups.add(this.group);
  }

  /**
   * BEGIN IMMEDIATE without blocking the event loop while another connection holds the write lock
   * (the Fraud Shield's batch workers store results through their own connections): the writer's
   * busy timeout is 0, and a busy attempt is retried after 1 ms, up to `write_lock_wait_ms`.
   * SQLite's own busy handler sleeps on this thread, 1, 2, 5, 10… ms, overshooting the holder.
   */
  private async beginImmediate(): Promise<void> {
    const deadline = performance.now() + write_lock_wait_ms;
    for (;;) {
      try {
        this.writer.prepare('begin immediate').run();
        return;
      } catch (error) {
        if ((error as { code?: string }).code !== 'SQLITE_BUSY' || performance.now() > deadline) throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  private flush(): void {
    const group = this.group;
    if (!group) return;
    if (this.inMember) {
      this.flushWanted = true;
      return;
    }
    this.flushWanted = false;
    this.group = undefined;
    try {
      if (!this.writer.inTransaction) throw new Error('the group transaction was rolled back by SQLite');
      this.writer.prepare('commit').run();
      this.stats.commits++;
      group.resolve();
    } catch (error) {
      if (this.writer.inTransaction) this.writer.prepare('rollback').run();
      group.reject(error);
    }
  }
}

/** Kysely's SQLite dialect (compiler, adapter, introspector) on the group-commit driver. */
export class GroupCommitSqliteDialect extends SqliteDialect {
  readonly stats: GroupCommitStats = { commits: 0, members: 0 };

  constructor(
    private readonly writer: SQLite.Database,
    private readonly reader: SQLite.Database,
  ) {
    super({ database: writer });
  }

  override createDriver(): Driver {
    const driver = new GroupCommitDriver(this.writer, this.reader);
    Object.defineProperty(driver, 'stats', { value: this.stats });
    return driver;
  }
}
