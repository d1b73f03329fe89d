/**
 * A batch-scoring worker thread (see risk.batch.ts): opens its own database connection and model,
 * warms both up, then answers job messages ({ job, batch, policy?, target?, items }). Without a
 * target it answers packed evaluations (the score and action arrays are transferred, not copied).
 * With a target it queues the job's rows for storing and answers their tally once they are
 * committed durably (openDatabase's default on SQLite: FULL's durability, the WAL fsynced off the
 * worker's event loop).
 *
 * Storing: the workers of a scorer take turns through a lock in shared memory instead of meeting
 * at SQLite's write lock, whose busy handler sleeps 1, 2, 5, 10… ms and overshoots. A worker
 * waiting for its turn goes on scoring its other job; when its turn comes it writes every job that
 * queued up meanwhile in one transaction (up to `store_rows_max` rows), i.e. one fsync for them.
 */
import { parentPort, workerData } from 'node:worker_threads';
import SQLite from 'better-sqlite3';
import { openDatabase } from '../../db/database.ts';
import type { RiskAssessmentsTable } from '../../db/schema.ts';
import { SqlFeatureStore } from './feature-store.sql.ts';
import { feature_count, type RiskEvent } from './features.ts';
import {
  type BatchTally,
  batchRows,
  type JobMessage,
  type JobReply,
  job_items,
  type PortablePolicy,
  pack,
  type StoredItem,
  scoreSlice,
} from './risk.batch.ts';
import { insertAssessments } from './risk.repository.ts';
import { type MerchantPolicy, ruleSchemaWithFeatures } from './risk.service.ts';
import { loadRiskModel } from './risk-model.ts';
import { compileRule } from './rules/index.ts';

const { databaseUrl, modelPath, writeLock } = workerData as {
  databaseUrl: string;
  modelPath: string;
  /** One Int32 shared by the scorer's workers: 1 while one of them is storing. */
  writeLock: SharedArrayBuffer;
};
const lock = new Int32Array(writeLock);
const handle = await openDatabase({ url: databaseUrl, pgPoolSize: 2, migrate: false });
const model = loadRiskModel(modelPath);

// Warm-up at start (the server starts its workers at boot): the first batch then runs on
// optimised code and prepared statements. Reads only.
const probe: RiskEvent = {
  id: 'warm-up',
  ts: Date.now(),
  type: 'payment',
  payer_id: '~warm-up',
  merchant_id: '~warm-up',
  mcc: '5411',
  amount_fen: 100,
  device_id: '~warm-up',
  ip: '0.0.0.0',
  ip_country: 'CN',
  ip_region: '000000',
  instrument_id: '~warm-up',
  instrument_created_ts: 0,
  payer_created_ts: 0,
  promotion_id: null,
};
const store = new SqlFeatureStore(handle.db);
for (let i = 0; i < 50; i++) await store.snapshot(probe);
const zero = new Float64Array(feature_count);
for (let i = 0; i < 500; i++) {
  zero[0] = i;
  model.score(zero);
}

const policies = new Map<number, MerchantPolicy>();
function compilePolicy(p: PortablePolicy): MerchantPolicy {
  const schema = ruleSchemaWithFeatures();
  return {
    thresholds: p.thresholds,
    rules: p.rules.map((r) => compileRule(r, schema)),
    lists: Object.fromEntries(Object.entries(p.lists).map(([k, v]) => [k, new Set(v)])),
  };
}

/**
 * Rows per storing transaction: two jobs' worth. A transaction holds SQLite's write lock while it
 * inserts (~20 µs a row) and fsyncs, and the server's own writes wait for it meanwhile.
 */
const store_rows_max = 2 * job_items;

// Atomics.waitAsync (Node 16+) is typed in TypeScript's ES2024 library; the project's is ES2023.
const waitAsync = (
  Atomics as unknown as {
    waitAsync(
      a: Int32Array,
      index: number,
      value: number,
    ): { async: boolean; value: Promise<unknown> | string };
  }
).waitAsync;

async function acquireWriteLock(): Promise<void> {
  while (Atomics.compareExchange(lock, 0, 0, 1) !== 0) {
    const wait = waitAsync(lock, 0, 1);
    if (wait.async) await wait.value;
  }
}

function releaseWriteLock(): void {
  Atomics.store(lock, 0, 0);
  Atomics.notify(lock, 0, 1);
}

/**
 * A pause between taking the workers' lock and writing. Workers hand the lock straight to each
 * other, while a write of the main thread retries every 1 ms (db/group-commit.ts): without a gap
 * it waited for the whole batch (single assessments took up to 0.25 s during a batch).
 */
const write_gap_ms = 2;

/**
 * SQLite files: a connection of this worker's own for checkpoints. After each store the worker
 * copies the WAL into the database (PASSIVE: it never waits for or blocks a writer), so the
 * checkpoints that the ~20 MB of a batch call for run here and not inside the main thread's next
 * commits (SQLite checkpoints in whichever commit finds the WAL over 1,000 pages: 15-80 ms stalls
 * of the event loop with assessments arriving during a batch).
 */
const checkpointer = databaseUrl.startsWith('sqlite:')
  ? new SQLite(databaseUrl.slice('sqlite:'.length))
  : undefined;
checkpointer?.pragma('busy_timeout = 0');

function checkpoint(): void {
  try {
    checkpointer?.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // Busy (another checkpoint is running): the next store tries again.
  }
}

const queued: { job: number; rows: RiskAssessmentsTable[]; tally: BatchTally }[] = [];
let storing = false;

/** Stores the queued jobs, a transaction at a time, each after taking the workers' write lock. */
async function storeQueued(): Promise<void> {
  if (storing) return;
  storing = true;
  try {
    while (queued.length > 0) {
      await acquireWriteLock();
      await new Promise((resolve) => setTimeout(resolve, write_gap_ms));
      let rows = 0;
      let take = 0;
      while (take < queued.length && (take === 0 || rows + queued[take]!.rows.length <= store_rows_max))
        rows += queued[take++]!.rows.length;
      const jobs = queued.splice(0, take);
      let error: unknown;
      try {
        await handle.db.transaction().execute(async (trx) => {
          for (const j of jobs) await insertAssessments(trx, j.rows);
        });
      } catch (e) {
        error = e;
      } finally {
        releaseWriteLock();
      }
      if (error === undefined) checkpoint();
      for (const j of jobs) {
        const reply: JobReply =
          error === undefined
            ? { job: j.job, tally: j.tally }
            : { job: j.job, error: (error as Error).message };
        parentPort!.postMessage(reply);
      }
    }
  } finally {
    storing = false;
  }
}

parentPort!.on('message', async (m: JobMessage | { drop: number }) => {
  if ('drop' in m) {
    policies.delete(m.drop);
    return;
  }
  try {
    if (m.policy) policies.set(m.batch, compilePolicy(m.policy));
    const policy = policies.get(m.batch);
    if (!policy) throw new Error(`no policy for batch ${m.batch}`);
    if (m.target) {
      const items = m.items as StoredItem[];
      const packed = pack(await scoreSlice(handle.db, model, policy, items));
      queued.push({ job: m.job, ...batchRows(m.target, items, packed, policy.thresholds, model.version) });
      void storeQueued();
      return;
    }
    const packed = pack(await scoreSlice(handle.db, model, policy, m.items));
    const reply: JobReply = { job: m.job, ...packed };
    parentPort!.postMessage(reply, [
      packed.scores.buffer as ArrayBuffer,
      packed.actions.buffer as ArrayBuffer,
    ]);
  } catch (error) {
    const reply: JobReply = { job: m.job, error: (error as Error).message };
    parentPort!.postMessage(reply);
  }
});
