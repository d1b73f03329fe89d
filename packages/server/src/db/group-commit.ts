/**
 * Group commit for SQLite: concurrent transactions share one durable commit.
 *
 * With synchronous=FULL every COMMIT waits for an fsync of the WAL, and better-sqlite3 waits on the
 * event loop's thread, so two commits per payment capped the whole server (bench:payments). Here
 * the writer connection keeps one outer transaction (a "group") open while requests run: each
 * Kysely transaction becomes a savepoint inside it (its rollback undoes only its own work), and each
 * statement outside a transaction that writes runs inside the group too. The group commits — one
 * fsync, durability unchanged — on the next turn of the event loop (setImmediate), so everything
 * that arrived meanwhile rides along. Nobody is answered before their data is durable (but see
 * asynchronous commit below): a transaction's `execute()` and a plain write resolve only after the
 * group's COMMIT returned; if the COMMIT fails, every member of the group fails with the error.
 *
 * Reads outside a transaction, while a group is open, go to a second connection that sees
 * committed data only (WAL snapshot), so no response can show data of a group that might still
 * fail; with no group open and the reader not pinned (below) they use the writer, which then holds
 * exactly what they may see. Reads inside a transaction see the group, i.e. the transactions
 * committed before them in the same order the group commits them (the single writer still
 * serialises them). A lease that touched the writer waits for that group even when its transaction
 * rolled back or its statement failed: what it saw there (a unique violation, a conditional update
 * that matched nothing) is committed before the caller reads again through the committed-data
 * connection.
 *
 * The WAL's fsync runs off the event loop (`walSync`, synchronous=FULL only). A COMMIT that waits
 * for its fsync blocks the event-loop thread — every request in the process — for the disk's
 * latency (bench:checkout: a commit's p50 1.4 ms and p99 13 ms on a shared disk, most of a Smart
 * Checkout query). With `walSync` the writer runs with synchronous=NORMAL, whose commits do not
 * fsync (checkpoints still do, as under FULL), and the driver fdatasyncs the WAL file in libuv's
 * thread pool after each COMMIT; the group's members are answered only when that returned, so what
 * is answered is on disk, as under FULL. Until then the committed-data connection holds a read
 * snapshot taken just before the COMMIT, so no read outside a transaction shows data that is not
 * yet on disk either. One fsync is in flight at a time; transactions arriving meanwhile gather in
 * the next group. A failed fsync fails its members and every later write (the kernel may have
 * dropped the dirty pages: durability is unknown until a restart recovers from the WAL). A caller
 * still waits for its own fsync — that is the guarantee; what changes is that the process serves
 * other requests meanwhile.
 *
 * Asynchronous commit (PostgreSQL's `synchronous_commit = off`, for low-value writes: a Smart
 * Checkout ranking and its metering). A transaction that runs `asynchronous_commit_sql` is answered
 * once its group's COMMIT returned, not after the fsync. A group made only of such transactions is
 * committed even while another group's fsync is in flight, and without pinning the reader: its rows
 * are readable outside transactions at once, or, when a durable group's fsync was in flight, once
 * that fsync returned (transactions see them at once). A group that also holds a durable member is
 * committed and synced as any other (its asynchronous members are answered at the COMMIT). The
 * fsync that makes them durable follows at once (at most one in flight, so it may come after the
 * one in flight); until it returns they survive a crash of the process (the WAL is in the kernel's
 * page cache) but not of the machine. Every later durable commit covers them too: the WAL is
 * written in order.
 *
 * With `walSync`, checkpoints are the driver's too (SQLite's automatic one is off on the writer):
 * it would run inside a COMMIT, on the event loop, and with the pinned read snapshot it could never
 * let the WAL restart. After each fsync the driver reads the WAL's size (a NOOP checkpoint, ~13 µs)
 * and, past `checkpoint_frames`, has db/wal-checkpointer.ts copy it in a worker thread (PASSIVE:
 * no lock taken from the writer). A copy made while transactions keep coming never catches up with
 * the WAL's end, and SQLite restarts the WAL only when a transaction begins on a fully copied WAL;
 * so past `restart_frames`, once the copy is nearly caught up, the driver holds the connection for
 * one last short copy (queries wait asynchronously; the event loop does not block), and the next
 * transaction restarts the WAL.
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
import { CheckpointSqlError } from './wal-checkpointer.ts';

interface Group {
  /** Settles when the group is durable (its COMMIT and, with `walSync`, the fsync after it). */
  onDisk: Settlement;
  /** Settles at the group's COMMIT: what asynchronous-commit leases wait for. */
  atCommit: Settlement;
  /** A member or plain write wants to be answered only once durable (all but asynchronous ones). */
  durableWanted: boolean;
}

/** Settles both of a group's promises with an error. */
function failGroup(group: Group, error: unknown): void {
  group.atCommit.reject(error);
  group.onDisk.reject(error);
}

/**
 * The statement (db/database.ts `commitAsynchronously`) by which a transaction asks to be answered
 * at its COMMIT, before its fsync. SQLite ignores unknown pragmas, so without this driver it is a
 * no-op; this driver takes it and sends nothing to SQLite.
 */
export const asynchronous_commit_sql = 'pragma zhifu_asynchronous_commit';

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

type Settlement = ReturnType<typeof settlement>;

/** A promise and its settling functions; its rejection is handled (waiters see it). */
function settlement() {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // an unwaited group must not crash the process
  return { promise, resolve, reject };
}

/** Counters for tests and diagnostics. */
export interface GroupCommitStats {
  /** Commits of the writer connection (one per group). */
  commits: number;
  /** Transactions (savepoints) committed inside groups. */
  members: number;
  /** fsyncs of the WAL run off the event loop (`walSync`). */
  walSyncs: number;
  /** Checkpoints run by the worker (`walSync`). */
  checkpoints: number;
  /** Times the driver held the connection for the last copy before a WAL restart. */
  walRestarts: number;
  /** Why the checkpoint worker failed, if it did (checkpoints then run on the event loop). */
  checkpointErrors: string[];
}

/** How long a write waits for another connection's write lock before failing (SQLITE_BUSY). */
const write_lock_wait_ms = 5_000;

/** Makes the WAL's committed frames durable (an fdatasync of the -wal file, off the event loop). */
export type WalSync = () => Promise<void>;

/**
 * WAL frames not yet copied into the database that start a copy in the worker (~4 MB of pages, as
 * SQLite's automatic checkpoint): 256 made the worker's fsyncs of the database file so frequent
 * that the WAL's fsyncs queued behind them (bench/checkout-phases.ts: fsync p50 1.1–1.6 ms).
 */
export const checkpoint_frames = 1_024;
/**
 * WAL frames past which the WAL is restarted (~64 MB at 4 KiB pages): the one moment queries wait
 * for a checkpoint, so rarely (every 1,000–2,500 Smart Checkout queries in bench:checkout). At 4,096
 * frames the restarts were ~0.35% of the queries and a third of those over 2 ms (bench:checkout,
 * alternating runs: p99 1.41–1.63 ms here against 1.57–1.98 ms).
 */
export const restart_frames = 16_384;
/** Checkpoint errors kept in the stats. */
const checkpoint_errors_kept = 10;
/** Frames left to copy below which the restart holds the connection (a short last copy). */
const restart_backlog_frames = 64;

/** Copies the WAL into the database off the event loop (db/wal-checkpointer.ts). */
export interface Checkpointer {
  passive(): Promise<{ log: number; checkpointed: number }>;
  close(): Promise<void>;
}

const emptyStats = (): GroupCommitStats => ({
  commits: 0,
  members: 0,
  walSyncs: 0,
  checkpoints: 0,
  walRestarts: 0,
  checkpointErrors: [],
});

export class GroupCommitDriver implements Driver {
  readonly stats: GroupCommitStats = emptyStats();
  private readonly mutex = new Mutex();
  private readonly connection: DatabaseConnection;
  /** The open outer transaction, if any. */
  private group: Group | undefined;
  /** A Kysely transaction (savepoint) is running on the writer. */
  private inMember = false;
  /** The group should commit as soon as the running member ends. */
  private flushWanted = false;
  /**
   * Groups the current lease touched, and whether it waits for each to be durable (true) or only
   * committed (false: its transaction there asked for asynchronous commit).
   */
  private leaseGroups = new Map<Group, boolean>();
  /** The running member (transaction) asked to be answered at its COMMIT (`asynchronous_commit_sql`). */
  private memberAsynchronous = false;
  /** The WAL fsync in flight (`walSync`). */
  private syncing: Promise<void> | undefined;
  /** Asynchronous commits that no fsync started after them covers yet. */
  private unsynced = false;
  /** A WAL fsync failed: durability is unknown, nothing more is written. */
  private broken: unknown;
  /** A worker checkpoint in flight. */
  private checkpointing: Promise<void> | undefined;
  /** The driver holds (or waits for) the connection to restart the WAL. */
  private restarting = false;

  constructor(
    private readonly writer: SQLite.Database,
    private readonly reader: SQLite.Database,
    private readonly walSync?: WalSync,
    private checkpointer?: Checkpointer,
    /** `restart_frames`; tests use a smaller WAL. */
    private readonly restartFrames = restart_frames,
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
    this.leaseGroups = new Map();
    return this.connection;
  }

  async beginTransaction(): Promise<void> {
    await this.join();
    this.memberAsynchronous = false;
    this.writer.prepare('savepoint zhifu_member').run();
    this.inMember = true;
  }

  async commitTransaction(): Promise<void> {
    this.inMember = false;
    this.endMember();
    this.writer.prepare('release zhifu_member').run();
    this.stats.members++;
    if (this.flushWanted) this.flush();
  }

  async rollbackTransaction(): Promise<void> {
    this.inMember = false;
    this.endMember();
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
    this.leaseGroups = new Map();
    this.mutex.unlock();
    for (const [g, durable] of groups) await (durable ? g.onDisk : g.atCommit).promise;
  }

  /** The ending member is answered once its group is durable, unless it asked otherwise. */
  private endMember(): void {
    if (this.group && !this.memberAsynchronous) this.wantDurable(this.group);
  }

  private wantDurable(group: Group): void {
    group.durableWanted = true;
    this.leaseGroups.set(group, true);
  }

  async destroy(): Promise<void> {
    this.flush();
    // An asynchronous commit's fsync starts with it or after the one in flight (afterSync).
    while (this.syncing || this.group) {
      // A running member (inMember) may wait on a timer or I/O: yield to the loop, do not spin.
      if (this.syncing) await this.syncing.catch(() => {});
      else await new Promise((resolve) => setImmediate(resolve));
      this.flush();
    }
    await this.checkpointing;
    await this.checkpointer?.close();
    this.reader.close();
    this.writer.close();
  }

  private async run(query: CompiledQuery): Promise<QueryResult<unknown>> {
    // After a failed fsync the state on disk is unknown: nothing more is read or written.
    if (this.broken) throw this.broken;
    if (query.sql === asynchronous_commit_sql) {
      if (!this.inMember) throw new Error('asynchronous commit can be asked only inside a transaction');
      this.memberAsynchronous = true;
      return { rows: [] };
    }
    // With no group open and the reader not pinned for an fsync in flight, the writer holds exactly
    // what reads may see, and its page cache is warm (the reader's is dropped whenever the writer
    // commits).
    if (!this.inMember && this.isRead(query))
      return execute(this.group || this.reader.inTransaction ? this.reader : this.writer, query);
    if (!this.inMember) await this.join(true);
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

  /**
   * Opens a group if none is open and records that the current lease depends on it: `durable` for
   * a plain write; a member's wish is known when it ends (`endMember`).
   */
  private async join(durable = false): Promise<void> {
    if (this.broken) throw this.broken;
    if (this.group && !this.writer.inTransaction) {
      // SQLite rolled the whole group back after an error: its members fail at the flush; a new
      // write must not run outside a transaction (it would autocommit), so it opens a new group.
      const dead = this.group;
      this.group = undefined;
      failGroup(dead, new Error('the group transaction was rolled back by SQLite'));
    }
    if (!this.group) {
      await this.beginImmediate();
      this.group = { onDisk: settlement(), atCommit: settlement(), durableWanted: false };
      setImmediate(() => this.flush());
    }
    if (durable) this.wantDurable(this.group);
    else if (!this.leaseGroups.has(this.group)) this.leaseGroups.set(this.group, false);
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
    // An asynchronous-only group need not wait for the fsync in flight: it is answered at COMMIT.
    if (this.inMember || (this.syncing && group.durableWanted)) {
      this.flushWanted = true;
      return;
    }
    this.flushWanted = false;
    this.group = undefined;
    if (this.broken) {
      // A later fsync could report success after the failed one (the kernel reports a writeback
      // error once) while the WAL after the lost frames is unrecoverable: never commit again.
      if (this.writer.inTransaction) this.writer.prepare('rollback').run();
      failGroup(group, this.broken);
      return;
    }
    // Reads outside transactions keep seeing what was durable before this COMMIT until its fsync;
    // an asynchronous-only group's rows are readable at once (as PostgreSQL's).
    const pin = this.walSync !== undefined && group.durableWanted;
    try {
      if (!this.writer.inTransaction) throw new Error('the group transaction was rolled back by SQLite');
      if (pin) this.pinReader();
      this.writer.prepare('commit').run();
      this.stats.commits++;
    } catch (error) {
      if (this.writer.inTransaction) this.writer.prepare('rollback').run();
      if (pin) this.unpinReader();
      failGroup(group, error);
      return;
    }
    group.atCommit.resolve();
    if (!this.walSync) {
      group.onDisk.resolve();
      return;
    }
    if (group.durableWanted) {
      this.startSync(group);
      return;
    }
    group.onDisk.resolve(); // nobody in it waits for the disk
    this.unsynced = true;
    if (!this.syncing) this.startSync();
  }

  /** fsyncs the WAL (one at a time): it covers every COMMIT made before it starts. */
  private startSync(group?: Group): void {
    this.unsynced = false;
    this.syncing = this.walSync!().then(
      () => {
        this.stats.walSyncs++;
        try {
          this.afterSync();
        } finally {
          group?.onDisk.resolve();
        }
      },
      (error: unknown) => {
        this.broken = error;
        try {
          this.afterSync();
        } finally {
          group?.onDisk.reject(error);
        }
      },
    );
  }

  private afterSync(): void {
    this.syncing = undefined;
    // Never let a reader or checkpoint problem keep a durable group from being answered.
    try {
      this.unpinReader();
      if (!this.broken) this.checkpointIfDue();
    } catch (error) {
      this.checkpointError(error);
    }
    if (this.flushWanted && !this.inMember) this.flush();
    // Asynchronous commits made during that fsync: the next one follows at once.
    if (this.unsynced && !this.syncing && !this.broken) this.startSync();
  }

  /** Starts a worker checkpoint or a WAL restart when the WAL has grown enough (see the header). */
  private checkpointIfDue(): void {
    if (!this.walSync || this.checkpointing || this.restarting) return;
    const r = (this.reader.pragma('wal_checkpoint(NOOP)') as { log: number; checkpointed: number }[])[0];
    if (!r || r.log < checkpoint_frames) return;
    // Without a worker (it failed), the copy runs on the event loop, held as for a restart.
    const inline = !this.checkpointer;
    if (inline || (r.log >= this.restartFrames && r.log - r.checkpointed <= restart_backlog_frames)) {
      this.restarting = true;
      void this.restartWal().catch((error: unknown) => this.checkpointError(error));
    } else if (r.log - r.checkpointed >= checkpoint_frames || r.log >= this.restartFrames) {
      this.checkpointing = this.checkpoint();
    }
  }

  /** Keeps the first few errors for diagnostics (bounded: a repeating one must not grow memory). */
  private checkpointError(error: unknown): void {
    if (this.stats.checkpointErrors.length < checkpoint_errors_kept)
      this.stats.checkpointErrors.push(String(error));
  }

  private async checkpoint(): Promise<void> {
    try {
      if (this.checkpointer) await this.checkpointer.passive();
      else this.writer.pragma('wal_checkpoint(PASSIVE)');
      this.stats.checkpoints++;
    } catch (error) {
      // SQLite keeps the WAL meanwhile and a failed copy is retried later. A worker that fails (not
      // a SQLite error it reports) is replaced by copies on the event loop: the cost this file
      // avoids, but the WAL stays bounded.
      this.checkpointError(error);
      if (this.checkpointer && !(error instanceof CheckpointSqlError)) {
        const failed = this.checkpointer;
        this.checkpointer = undefined;
        await failed.close().catch(() => {});
      }
    } finally {
      this.checkpointing = undefined;
    }
  }

  /**
   * Holds the connection (no query runs) until the last group's fsync, copies the rest of the WAL
   * in the worker, then lets the next transaction begin on a fully copied WAL, which restarts it.
   */
  private async restartWal(): Promise<void> {
    await this.mutex.lock();
    try {
      while (this.group || this.syncing) {
        this.flush();
        await this.syncing;
      }
      await this.checkpointing;
      await this.checkpoint();
      this.stats.walRestarts++;
    } finally {
      this.restarting = false;
      this.mutex.unlock();
    }
  }

  /** Starts a read transaction on the committed-data connection at the current (durable) snapshot. */
  private pinReader(): void {
    this.reader.prepare('begin').run();
    // A read transaction takes its snapshot at its first read.
    this.reader.prepare('select 1 from sqlite_master limit 1').all();
  }

  private unpinReader(): void {
    if (this.reader.inTransaction) this.reader.prepare('commit').run();
  }
}

/** Kysely's SQLite dialect (compiler, adapter, introspector) on the group-commit driver. */
export class GroupCommitSqliteDialect extends SqliteDialect {
  readonly stats: GroupCommitStats = emptyStats();

  constructor(
    private readonly writer: SQLite.Database,
    private readonly reader: SQLite.Database,
    private readonly walSync?: WalSync,
    private readonly checkpointer?: Checkpointer,
    private readonly restartFrames = restart_frames,
  ) {
    super({ database: writer });
  }

  override createDriver(): Driver {
    const driver = new GroupCommitDriver(
      this.writer,
      this.reader,
      this.walSync,
      this.checkpointer,
      this.restartFrames,
    );
    Object.defineProperty(driver, 'stats', { value: this.stats });
    return driver;
  }
}
