/**
 * bench:risk's copy of WorkerBatchScorer (packages/server/src/modules/risk/risk.batch.ts) with the
 * one change its workers need to start under Node 20: the server's scorer passes
 * `execArgv: ['--import', 'tsx']` to `new Worker(...)`, which Node 20 ignores for worker threads,
 * so risk.worker.ts fails with ERR_UNKNOWN_FILE_EXTENSION before any message is posted and every
 * batch then waits forever. Here each worker starts from a tiny ES module that registers tsx's
 * loader in the worker (`tsx/esm/api`) and then imports the same risk.worker.ts, so the scoring
 * code measured is the server's own. Splitting and messaging are as in the original.
 */
import { Worker } from 'node:worker_threads';
import {
  type BatchItem,
  type BatchScorer,
  portable,
} from '../packages/server/src/modules/risk/risk.batch.ts';
import type { Evaluation, MerchantPolicy } from '../packages/server/src/modules/risk/risk.service.ts';

const workerModule = new URL('../packages/server/src/modules/risk/risk.worker.ts', import.meta.url).href;
const bootstrap = `import { register } from ${JSON.stringify(import.meta.resolve('tsx/esm/api'))};
register();
await import(${JSON.stringify(workerModule)});`;

interface Pending {
  resolve: (value: Evaluation[]) => void;
  reject: (error: Error) => void;
}

export class RiskBenchWorkerPool implements BatchScorer {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private failure: Error | undefined;
  private next = 1;

  constructor(options: { databaseUrl: string; modelPath: string; threads: number }) {
    for (let i = 0; i < options.threads; i++) {
      const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(bootstrap)}`), {
        workerData: { databaseUrl: options.databaseUrl, modelPath: options.modelPath },
      });
      worker.on('message', (m: { id: number; results?: Evaluation[]; error?: string }) => {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (m.error !== undefined) p.reject(new Error(`batch worker: ${m.error}`));
        else p.resolve(m.results!);
      });
      worker.on('error', (error) => {
        this.failure = error;
        for (const p of this.pending.values()) p.reject(error);
        this.pending.clear();
      });
      worker.unref();
      this.workers.push(worker);
    }
  }

  async score(policy: MerchantPolicy, items: BatchItem[]): Promise<Evaluation[]> {
    if (this.failure) throw this.failure;
    const share = Math.ceil(items.length / this.workers.length);
    const portablePolicy = portable(policy);
    const parts = this.workers
      .map((worker, i) => ({ worker, slice: items.slice(i * share, (i + 1) * share) }))
      .filter((p) => p.slice.length > 0)
      .map(({ worker, slice }) => {
        const id = this.next++;
        return new Promise<Evaluation[]>((resolve, reject) => {
          this.pending.set(id, { resolve, reject });
          worker.postMessage({ id, policy: portablePolicy, items: slice });
        });
      });
    return (await Promise.all(parts)).flat();
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
