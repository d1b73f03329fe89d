/**
 * Batch scoring off the main event loop (issue #3 §5, §7): a batch of up to 10,000 events is split
 * across worker threads, each with its own database connection (SQLite WAL readers or a small
 * PostgreSQL pool) and its own copy of the model, so the event loop keeps serving requests while
 * a batch is scored. The in-process scorer exists for in-memory databases and yields to the event
 * loop between chunks.
 */
import { availableParallelism } from 'node:os';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import type { Db } from '../../db/database.ts';
import { SqlFeatureStore } from './feature-store.sql.ts';
import { featurize, type RiskEvent } from './features.ts';
import { type Evaluation, evaluate, type MerchantPolicy } from './risk.service.ts';
import type { RiskModel, Thresholds } from './risk-model.ts';

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

export interface BatchScorer {
  score(policy: MerchantPolicy, items: BatchItem[]): Promise<Evaluation[]>;
  close(): Promise<void>;
}

const chunk_items = 32;

/** Scores on the calling thread, yielding to the event loop between chunks (in-memory databases). */
export class InProcessBatchScorer implements BatchScorer {
  constructor(
    private readonly db: Db,
    private readonly model: RiskModel,
  ) {}

  async score(policy: MerchantPolicy, items: BatchItem[]): Promise<Evaluation[]> {
    const out: Evaluation[] = [];
    for (let i = 0; i < items.length; i += chunk_items) {
      await yieldToLoop();
      out.push(...(await scoreSlice(this.db, this.model, policy, items.slice(i, i + chunk_items))));
    }
    return out;
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

interface Pending {
  results: Evaluation[];
  resolve: (value: Evaluation[]) => void;
  reject: (error: Error) => void;
}

/** Scores in worker threads (risk.worker.ts); each worker opens its own connection to `databaseUrl`. */
export class WorkerBatchScorer implements BatchScorer {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private next = 1;
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
      worker.on('message', (m: { id: number; part?: Evaluation[]; done?: boolean; error?: string }) => {
        const p = this.pending.get(m.id);
        if (!p) return;
        if (m.error !== undefined) {
          this.pending.delete(m.id);
          p.reject(new Error(`batch worker: ${m.error}`));
          return;
        }
        for (const e of m.part ?? []) p.results.push(e);
        if (m.done) {
          this.pending.delete(m.id);
          p.resolve(p.results);
        }
      });
      // A worker that fails or exits fails what it was doing and every later batch (no silent hang).
      const broken = (error: Error) => {
        this.failure = error;
        for (const p of this.pending.values()) p.reject(error);
        this.pending.clear();
      };
      worker.on('error', broken);
      worker.on('exit', (code) => {
        if (!this.closing) broken(new Error(`batch worker exited with code ${code}`));
      });
      worker.unref();
      this.workers.push(worker);
    }
  }

  async score(policy: MerchantPolicy, items: BatchItem[]): Promise<Evaluation[]> {
    if (this.failure) throw this.failure;
    const share = Math.ceil(items.length / this.workers.length);
    const parts = this.workers
      .map((worker, i) => ({ worker, slice: items.slice(i * share, (i + 1) * share) }))
      .filter((p) => p.slice.length > 0)
      .map(({ worker, slice }) => {
        const id = this.next++;
        return new Promise<Evaluation[]>((resolve, reject) => {
          this.pending.set(id, { results: [], resolve, reject });
          worker.postMessage({ id, policy: portable(policy), items: slice });
        });
      });
    return (await Promise.all(parts)).flat();
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
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
