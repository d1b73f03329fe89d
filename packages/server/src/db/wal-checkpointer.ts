/**
 * WAL checkpoints of a SQLite file on a worker thread (used by db/group-commit.ts).
 *
 * A checkpoint copies the WAL's pages into the database file and fsyncs it (twice, under FULL or
 * NORMAL). SQLite's automatic checkpoint runs inside the COMMIT that crosses 1,000 pages, on the
 * writer connection — with better-sqlite3, on the event loop — so one request in every few dozen
 * paid several ms for it (bench:checkout: the 0.01 CNY metering's p99 was 6 ms with automatic
 * checkpoints and 2 ms without). Here a second connection in a worker thread runs PASSIVE
 * checkpoints, which take no writer lock, so the event loop never waits for one. The worker's
 * connection is synchronous=FULL: the copy is on disk before SQLite may reuse the WAL.
 *
 * The code is plain JavaScript evaluated in the worker, so it runs the same under tsx and vitest.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

export interface CheckpointResult {
  /** Frames in the WAL. */
  log: number;
  /** Frames copied into the database file (all of them only if no reader held an older snapshot). */
  checkpointed: number;
}

const worker_source = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.path);
db.pragma('busy_timeout = 0');
db.pragma('synchronous = FULL');
db.pragma('wal_autocheckpoint = 0');
parentPort.on('message', (m) => {
  if (m === 'close') {
    db.close();
    parentPort.close();
    return;
  }
  try {
    const r = db.pragma('wal_checkpoint(PASSIVE)')[0];
    parentPort.postMessage({ log: r.log, checkpointed: r.checkpointed });
  } catch (e) {
    parentPort.postMessage({ error: String(e && e.message ? e.message : e) });
  }
});
`;

/** SQLite refused or failed a checkpoint; the worker itself is fine (retry later). */
export class CheckpointSqlError extends Error {}

/** One worker thread and connection per database file, started on first use. */
export class WalCheckpointer {
  private worker: Worker | undefined;
  private closed = false;
  private pending: { resolve: (r: CheckpointResult) => void; reject: (e: unknown) => void } | undefined;

  constructor(private readonly path: string) {}

  /** A PASSIVE checkpoint on the worker; one at a time. */
  passive(): Promise<CheckpointResult> {
    if (this.closed) return Promise.reject(new Error('the checkpointer is closed'));
    if (this.pending) return Promise.reject(new Error('a checkpoint is already running'));
    const worker = this.start();
    // Referenced while a checkpoint runs: a caller awaiting it keeps the process alive.
    worker.ref();
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      worker.postMessage('checkpoint');
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    if (!worker) return;
    this.worker = undefined;
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    worker.ref();
    worker.postMessage('close');
    await exited;
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const module = createRequire(import.meta.url).resolve('better-sqlite3');
    // No execArgv: the worker runs plain CommonJS whatever flags (--input-type, loaders) the process has.
    const worker = new Worker(worker_source, {
      eval: true,
      execArgv: [],
      workerData: { path: this.path, module },
    });
    // An idle worker does not keep the process alive; the database's close() ends it.
    worker.unref();
    worker.on('message', (m: CheckpointResult & { error?: string }) => {
      // Once close() has referenced the worker, it stays referenced until its exit: a checkpoint
      // answered during the close (a WAL restart in progress) must not let the process end first.
      if (!this.closed) worker.unref();
      const p = this.pending;
      this.pending = undefined;
      if (m.error !== undefined) p?.reject(new CheckpointSqlError(`WAL checkpoint: ${m.error}`));
      else p?.resolve(m);
    });
    worker.on('error', (e) => {
      const p = this.pending;
      this.pending = undefined;
      this.worker = undefined;
      p?.reject(e);
    });
    // A worker that ends without an error event (killed, out of memory) must not leave a
    // checkpoint pending for ever: the driver would wait on it.
    worker.on('exit', (code) => {
      if (this.worker === worker) this.worker = undefined;
      const p = this.pending;
      this.pending = undefined;
      p?.reject(new Error(`WAL checkpoint worker exited (code ${code})`));
    });
    this.worker = worker;
    return worker;
  }
}
