/**
 * Batch scoring off the main event loop (issue #3 §5, §7): a batch of up to 10,000 events is cut
 * into jobs of `job_items` events, handed to worker threads as they become free (two jobs in flight
 * per worker, so a worker the OS deschedules does not hold the batch back), each worker with its
 * own database connection (SQLite WAL readers or a small PostgreSQL pool) and its own copy of the
 * model. The main thread only ever handles one job at a time: it posts a job's events and receives
 * its results packed as two transferred byte arrays (scores, actions) and three JSON strings per
 * event (reasons, matched rules, features) — exactly what the stored assessment rows need, so no
 * object graph of evaluations is ever cloned or rebuilt on the main thread. The in-process scorer
 * exists for in-memory databases and yields to the event loop between chunks.
 */
import { availableParallelism } from 'node:os';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import type { Db } from '../../db/database.ts';
import { SqlFeatureStore } from './feature-store.sql.ts';
import { featurize, type RiskEvent } from './features.ts';
import { type Evaluation, evaluate, type MerchantPolicy } from './risk.service.ts';
import type { Action, RiskModel, Thresholds } from './risk-model.ts';

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

export interface BatchScorer {
  score(policy: MerchantPolicy, items: BatchItem[]): Promise<PackedEvaluations>;
  close(): Promise<void>;
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

/** Main thread → worker. `policy` comes with the first job of a batch a worker sees. */
export interface JobMessage {
  job: number;
  batch: number;
  policy?: PortablePolicy;
  items: BatchItem[];
}
/** Worker → main thread. */
export interface JobReply {
  job: number;
  scores?: Uint8Array;
  actions?: Uint8Array;
  text?: string[];
  error?: string;
}

interface Run {
  batch: number;
  items: BatchItem[];
  policy: PortablePolicy;
  next: number;
  remaining: number;
  out: PackedEvaluations;
  resolve: (value: PackedEvaluations) => void;
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
    for (let i = 0; i < threads; i++) {
      // Node 20 ignores `--import` in a worker's execArgv, so each worker starts from a tiny ES
      // module that registers tsx's loader and then imports the TypeScript worker.
      const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(bootstrap)}`), {
        workerData: { databaseUrl: options.databaseUrl, modelPath: options.modelPath },
      });
      const slot: Slot = { worker, inFlight: new Map() };
      worker.on('message', (m: JobReply) => this.onReply(slot, m));
      // A worker that fails or exits fails what it was doing and every later batch (no silent hang).
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
    if (this.failure) return Promise.reject(this.failure);
    const n = items.length;
    const out: PackedEvaluations = {
      scores: new Uint8Array(n),
      actions: new Uint8Array(n),
      text: new Array<string>(3 * n),
    };
    if (n === 0) return Promise.resolve(out);
    return new Promise((resolve, reject) => {
      this.runs.push({
        batch: this.nextBatch++,
        items,
        policy: portable(policy),
        next: 0,
        remaining: n,
        out,
        resolve,
        reject,
        told: new Set(),
      });
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
        const message: JobMessage = { job, batch: run.batch, items: run.items.slice(start, start + count) };
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
    if (m.error !== undefined) {
      this.finish(run);
      run.reject(new Error(`batch worker: ${m.error}`));
      return;
    }
    run.out.scores.set(m.scores!, start);
    run.out.actions.set(m.actions!, start);
    const text = m.text!;
    for (let i = 0; i < 3 * count; i++) run.out.text[3 * start + i] = text[i]!;
    run.remaining -= count;
    if (run.remaining === 0) {
      this.finish(run);
      run.resolve(run.out);
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
