/**
 * The request log and metering of gateway calls, written behind the answer: rows are queued in
 * memory and flushed every llm_log_flush_ms (or at llm_log_batch_max rows) in one transaction that
 * also meters the successful calls (billing kind `llm`: one usage record per merchant per flush,
 * key `llm:<first request id of the flush>`, so a retried flush never bills twice). The answer
 * never waits for the database (peers.md §5 idea 11).
 *
 * Reconciliation: a flush that fails keeps its rows queued and is retried at the next flush; rows
 * are lost only if the process dies within one flush interval, or if the queue overflows
 * (llm_log_queue_max, then the oldest are dropped and counted in `dropped`). Reading the log through
 * the merchant API flushes first, so a merchant sees its own calls at once.
 */
import type { Ctx } from '../../context.ts';
import type { LlmRequestsTable } from '../../db/schema.ts';
import { llm_log_batch_max, llm_log_flush_ms, llm_log_queue_max } from '../../lib/limits.ts';
import * as billing from '../billing/index.ts';
import { platform_agent_key } from './keys.service.ts';
import * as repo from './llm.repository.ts';

export class RequestLog {
  private queue: LlmRequestsTable[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  dropped = 0;

  constructor(
    private readonly ctx: Ctx,
    private readonly onError: (error: unknown) => void,
  ) {}

  add(row: LlmRequestsTable): void {
    this.queue.push(row);
    if (this.queue.length > llm_log_queue_max) {
      this.queue.shift();
      this.dropped++;
    }
    if (this.queue.length >= llm_log_batch_max) void this.flush().catch(this.onError);
    else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush().catch(this.onError), llm_log_flush_ms);
      this.timer.unref();
    }
  }

  /** Writes everything queued so far (serialised: one flush at a time). */
  flush(): Promise<void> {
    this.running = this.running.then(
      () => this.write(),
      () => this.write(),
    );
    return this.running;
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async write(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.queue.length > 0) {
      const rows = this.queue.slice(0, llm_log_batch_max);
      // One usage record (and one ledger posting) per merchant per flush, not per call: the units
      // are summed per call (each call's tokens rounded up on its own), so the amount is the same.
      const units = new Map<string, { first: LlmRequestsTable; quantity: number }>();
      for (const r of rows) {
        // The platform agent's calls are billed as conversations, not as gateway tokens.
        if (r.status !== 'ok' || r.key_id === platform_agent_key) continue;
        const u = units.get(r.mchid);
        const q = billing.llmUnits(r.prompt_tokens + r.completion_tokens);
        if (u) u.quantity += q;
        else units.set(r.mchid, { first: r, quantity: q });
      }
      await this.ctx.db.transaction().execute(async (trx) => {
        await repo.insertRequests(trx, rows);
        for (const [mchid, u] of units)
          await billing.meter(this.ctx, trx, {
            mchid,
            kind: 'llm',
            // The flush's first call names the unit: a retried flush (same rows first) bills once.
            key: `llm:${u.first.id}`,
            ref: u.first.id,
            quantity: u.quantity,
            now: u.first.created_at,
          });
      });
      this.queue.splice(0, rows.length);
    }
  }
}
