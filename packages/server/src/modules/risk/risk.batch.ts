/**
 * Batch scoring off the main event loop (issue #3 §5, §7): a batch of up to 10,000 events is cut
 * into jobs of `job_items` events, handed to worker threads as they become free (two jobs in flight
 * per worker, so a worker the OS deschedules does not hold the batch back), each worker with its
 * own database connection (SQLite WAL or a small PostgreSQL pool) and its own copy of the model.
 *
 * `scoreAndStore` (what the batch endpoint uses) has each worker store the assessments of the job
 * it scored, in one transaction on its own connection (synchronous=FULL, as the server's), and
 * answer only counts. So the main thread never receives the results (~1.7 KB of JSON per item,
 * whose survival through young-generation GCs cost 15–35 ms pauses) and never runs the commits that
 * store them (a durable commit is a WAL fsync, ~4–6 ms here, and every ~1,000 WAL pages SQLite's
 * checkpoint runs inside the commit that crosses them, 15–19 ms; bench:risk). `score` answers packed
 * evaluations instead (tests, benches): two transferred byte arrays (scores, actions) and three
 * JSON strings per event (reasons, matched rules, features). The in-process scorer exists for
 * in-memory databases and yields to the event loop between chunks.
 */
import { availableParallelism } from 'node:os';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import type { Db } from '../../db/database.ts';
import type { RiskAssessmentsTable } from '../../db/schema.ts';
import { SqlFeatureStore } from './feature-store.sql.ts';
import { featurize, type RiskEvent } from './features.ts';
import { insertAssessments } from './risk.repository.ts';
import { type Evaluation, evaluate, type MerchantPolicy } from './risk.service.ts';
import { type Action, levelOf, type RiskModel, type Thresholds } from './risk-model.ts';

export interface BatchItem {
  e: RiskEvent;
  openid: string;
}

/** A merchant policy in a form that crosses a thread boundary (rules as source, lists as arrays). */
export interface PortablePolicy {
  thresholds: Thresholds;
  rules: string[];
  lists: Record<string, (string | number)[]>;
}

export const actions: readonly Action[] = ['approve', 'review', 'block'];

/**
 * Evaluations of a batch in the form they cross threads and are stored: item i has score
 * `scores[i]`, action `actions[actions[i]]`, and JSON texts `text[3i]` (reasons), `text[3i + 1]`
 * (matched rules) and `text[3i + 2]` (features and context, as stored for backtests).
 */
export interface PackedEvaluations {
  scores: Uint8Array;
  actions: Uint8Array;
  text: string[];
}

/** What every stored assessment of a batch shares. */
export interface BatchTarget {
  batchId: string;
  mchid: string;
  billing: string;
  /** created_at of the stored assessments (from the caller's clock). */
  now: number;
}

/** An item whose assessment is stored: its id (from the caller's id port) and order reference. */
export interface StoredItem extends BatchItem {
  id: string;
  ref: string | null;
}

/** What `scoreAndStore` answers: how many assessments it stored, and with which actions. */
export interface BatchTally {
  stored: number;
  blocked: number;
  review: number;
}

export interface BatchScorer {
  /** Scores and answers the packed evaluations (nothing is written). */
  score(policy: MerchantPolicy, items: BatchItem[]): Promise<PackedEvaluations>;
  /**
   * Scores and stores one assessment per item, each committed durably before the promise
   * resolves. On a failure it rejects only once no job of the batch is still running, so the
   * caller can remove what was stored without racing a late insert.
   */
  scoreAndStore(policy: MerchantPolicy, target: BatchTarget, items: StoredItem[]): Promise<BatchTally>;
  close(): Promise<void>;
}

/** The stored rows of `items` scored as `packed`, and their tally. */
export function batchRows(
  target: BatchTarget,
  items: readonly StoredItem[],
  packed: PackedEvaluations,
  thresholds: Thresholds,
  modelVersion: string,
): { rows: RiskAssessmentsTable[]; tally: BatchTally } {
  const rows: RiskAssessmentsTable[] = [];
  const tally: BatchTally = { stored: 0, blocked: 0, review: 0 };
  items.forEach((item, i) => {
    const riskScore = packed.scores[i]!;
    const action = actions[packed.actions[i]!]!;
    if (action === 'block') tally.blocked++;
    else if (action === 'review') tally.review++;
    rows.push({
      id: item.id,
      mchid: target.mchid,
      kind: item.e.type,
      event_id: item.e.id,
      ref: item.ref,
      batch_id: target.batchId,
      risk_score: riskScore,
      risk_level: levelOf(riskScore, thresholds),
      suggested_action: action,
      reasons_json: packed.text[3 * i]!,
      rules_matched_json: packed.text[3 * i + 1]!,
      model_version: modelVersion,
      features_json: packed.text[3 * i + 2]!,
      label: null,
      labelled_at: null,
      billing_kind: target.billing,
      created_at: target.now,
    });
  });
  tally.stored = rows.length;
  return { rows, tally };
}

/** Scores a slice and stores its assessments in one transaction (a worker's job, an in-process chunk). */
export async function scoreAndStoreSlice(
  db: Db,
  model: RiskModel,
  policy: MerchantPolicy,
  target: BatchTarget,
  items: StoredItem[],
): Promise<BatchTally> {
  const packed = pack(await scoreSlice(db, model, policy, items));
  const { rows, tally } = batchRows(target, items, packed, policy.thresholds, model.version);
  await db.transaction().execute((trx) => insertAssessments(trx, rows));
  return tally;
}

function addTally(into: BatchTally, t: BatchTally): void {
  into.stored += t.stored;
  into.blocked += t.blocked;
  into.review += t.review;
}

/** Packs evaluations (the worker side, and the in-process scorer). */
export function pack(evaluations: readonly Evaluation[]): PackedEvaluations {
  const n = evaluations.length;
  const out: PackedEvaluations = { scores: new Uint8Array(n), actions: new Uint8Array(n), text: [] };
  evaluations.forEach((ev, i) => {
    out.scores[i] = ev.riskScore;
    out.actions[i] = actions.indexOf(ev.action);
    out.text.push(JSON.stringify(ev.reasons), JSON.stringify(ev.matched), JSON.stringify(ev.context));
  });
  return out;
}

const chunk_items = 32;

/** Scores on the calling thread, yielding to the event loop between chunks (in-memory databases). */
export class InProcessBatchScorer implements BatchScorer {
  constructor(
    private readonly db: Db,
    private readonly model: RiskModel,
  ) {}

  async score(policy: MerchantPolicy, items: BatchItem[]): Promise<PackedEvaluations> {
    const out: Evaluation[] = [];
    for (let i = 0; i < items.length; i += chunk_items) {
      await yieldToLoop();
      out.push(...(await scoreSlice(this.db, this.model, policy, items.slice(i, i + chunk_items))));
    }
    return pack(out);
  }

  async scoreAndStore(policy: MerchantPolicy, target: BatchTarget, items: StoredItem[]): Promise<BatchTally> {
    const tally: BatchTally = { stored: 0, blocked: 0, review: 0 };
    for (let i = 0; i < items.length; i += chunk_items) {
      await yieldToLoop();
      const slice = items.slice(i, i + chunk_items);
      addTally(tally, await scoreAndStoreSlice(this.db, this.model, policy, target, slice));
    }
    return tally;
  }

  async close(): Promise<void> {}
}

export function portable(policy: MerchantPolicy): PortablePolicy {
  return {
    thresholds: policy.thresholds,
    rules: policy.rules.map((r) => r.source),
    lists: Object.fromEntries(Object.entries(policy.lists).map(([k, v]) => [k, [...v]])),
  };
}

const bootstrap = `import { register } from ${JSON.stringify(import.meta.resolve('tsx/esm/api'))};
register();
await import(${JSON.stringify(new URL('./risk.worker.ts', import.meta.url).href)});
`;

/** Events per job: small enough that posting a job or taking its results stalls the loop < 1 ms. */
export const job_items = 200;
/** Jobs in flight per worker: one being scored, one queued, so a worker never waits for the loop. */
const jobs_per_worker = 2;

/**
 * Main thread → worker. `policy` comes with the first job of a batch a worker sees; `target` with
 * every job of a batch whose results the worker stores (its items are then StoredItems).
 */
export interface JobMessage {
  job: number;
  batch: number;
  policy?: PortablePolicy;
  target?: BatchTarget;
  items: BatchItem[];
}
/** Worker → main thread: packed evaluations, or the tally of what the worker stored. */
export interface JobReply {
  job: number;
  scores?: Uint8Array;
  actions?: Uint8Array;
  text?: string[];
  tally?: BatchTally;
  error?: string;
}

interface Run {
  batch: number;
  items: BatchItem[];
  policy: PortablePolicy;
  /** Set when the workers store the results (scoreAndStore). */
  target: BatchTarget | undefined;
  next: number;
  remaining: number;
  /** Jobs of this run in the workers. */
  running: number;
  /** The first failure; the run rejects with it once none of its jobs is running. */
  failed: Error | undefined;
  out: PackedEvaluations;
  tally: BatchTally;
  resolve: () => void;
  reject: (error: Error) => void;
  /** Workers that hold this batch's policy (told to drop it at the end). */
  told: Set<Slot>;
}

interface Slot {
  worker: Worker;
  inFlight: Map<number, { run: Run; start: number; count: number }>;
}

/** Scores in worker threads (risk.worker.ts); each worker opens its own connection to `databaseUrl`. */
export class WorkerBatchScorer implements BatchScorer {
  private readonly slots: Slot[] = [];
  private readonly runs: Run[] = [];
  private nextJob = 1;
  private nextBatch = 1;
  private failure: Error | undefined;
  private closing = false;

  constructor(options: { databaseUrl: string; modelPath: string; threads?: number }) {
    const threads = options.threads ?? Math.max(1, Math.min(4, availableParallelism()));
    // The workers take turns storing (risk.worker.ts).
    const writeLock = new SharedArrayBuffer(4);
    for (let i = 0; i < threads; i++) {
      // Node 20 ignores `--import` in a worker's execArgv, so each worker starts from a tiny ES
      // module that registers tsx's loader and then imports the TypeScript worker.
      const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(bootstrap)}`), {
        workerData: { databaseUrl: options.databaseUrl, modelPath: options.modelPath, writeLock },
      });
      const slot: Slot = { worker, inFlight: new Map() };
      worker.on('message', (m: JobReply) => this.onReply(slot, m));
      // A worker that fails or exits fails what it was doing and every later batch (no silent hang).
      // Its batches are rejected at once: a job still running in another worker may then store
      // rows after the caller's clean-up; they belong to a failed batch, so they are never shown
      // or billed.
      const broken = (error: Error) => {
        this.failure = error;
        for (const run of this.runs.splice(0)) run.reject(error);
        for (const s of this.slots) s.inFlight.clear();
      };
      worker.on('error', broken);
      worker.on('exit', (code) => {
        if (!this.closing) broken(new Error(`batch worker exited with code ${code}`));
      });
      worker.unref();
      this.slots.push(slot);
    }
  }

  score(policy: MerchantPolicy, items: BatchItem[]): Promise<PackedEvaluations> {
    return this.start(policy, undefined, items).then((run) => run.out);
  }

  scoreAndStore(policy: MerchantPolicy, target: BatchTarget, items: StoredItem[]): Promise<BatchTally> {
    return this.start(policy, target, items).then((run) => run.tally);
  }

  private start(policy: MerchantPolicy, target: BatchTarget | undefined, items: BatchItem[]): Promise<Run> {
    if (this.failure) return Promise.reject(this.failure);
    const n = items.length;
    // Results are gathered here only when the workers do not store them.
    const out: PackedEvaluations = {
      scores: new Uint8Array(target ? 0 : n),
      actions: new Uint8Array(target ? 0 : n),
      text: target ? [] : new Array<string>(3 * n),
    };
    return new Promise((resolve, reject) => {
      const run: Run = {
        batch: this.nextBatch++,
        items,
        policy: portable(policy),
        target,
        next: 0,
        remaining: n,
        running: 0,
        failed: undefined,
        out,
        tally: { stored: 0, blocked: 0, review: 0 },
        resolve: () => resolve(run),
        reject,
        told: new Set(),
      };
      if (n === 0) {
        resolve(run);
        return;
      }
      this.runs.push(run);
      this.pump();
    });
  }

  /** Hands out jobs to every slot with room, oldest batch first. */
  private pump(): void {
    for (const slot of this.slots) {
      while (slot.inFlight.size < jobs_per_worker) {
        const run = this.runs.find((r) => r.next < r.items.length);
        if (!run) return;
        const start = run.next;
        const count = Math.min(job_items, run.items.length - start);
        run.next += count;
        const job = this.nextJob++;
        slot.inFlight.set(job, { run, start, count });
        run.running++;
        const message: JobMessage = { job, batch: run.batch, items: run.items.slice(start, start + count) };
        if (run.target) message.target = run.target;
        if (!run.told.has(slot)) {
          message.policy = run.policy;
          run.told.add(slot);
        }
        slot.worker.postMessage(message);
      }
    }
  }

  private onReply(slot: Slot, m: JobReply): void {
    const job = slot.inFlight.get(m.job);
    if (!job) return;
    slot.inFlight.delete(m.job);
    const { run, start, count } = job;
    run.running--;
    if (m.error !== undefined) {
      // No more jobs of this run; it rejects once the ones still running have answered.
      run.failed ??= new Error(`batch worker: ${m.error}`);
      run.next = run.items.length;
    } else if (m.tally) {
      addTally(run.tally, m.tally);
      run.remaining -= count;
    } else {
      run.out.scores.set(m.scores!, start);
      run.out.actions.set(m.actions!, start);
      const text = m.text!;
      for (let i = 0; i < 3 * count; i++) run.out.text[3 * start + i] = text[i]!;
      run.remaining -= count;
    }
    if (run.failed) {
      if (run.running === 0) {
        this.finish(run);
        run.reject(run.failed);
      }
    } else if (run.remaining === 0) {
      this.finish(run);
      run.resolve();
    }
    this.pump();
  }

  private finish(run: Run): void {
    const k = this.runs.indexOf(run);
    if (k >= 0) this.runs.splice(k, 1);
    run.next = run.items.length;
    for (const slot of run.told) slot.worker.postMessage({ drop: run.batch });
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}

/** The evaluation loop over one slice: history snapshot, features, model, policy. */
export async function scoreSlice(
  db: Db,
  model: RiskModel,
  policy: MerchantPolicy,
  items: BatchItem[],
): Promise<Evaluation[]> {
  const store = new SqlFeatureStore(db);
  const out: Evaluation[] = [];
  for (const { e, openid } of items)
    out.push(evaluate(model, e, openid, featurize(e, await store.snapshot(e)), policy));
  return out;
}
