/**
 * Routing (docs/llm-gateway.md "Routing"): the providers serving a model, by priority (lower first);
 * within one priority, by the strategy — `latency` (lowest moving average of observed latency;
 * unmeasured providers first, so each gets measured), `cost` (lowest price per token) or `priority`
 * (configuration order). Each provider gets `1 + retries` attempts with exponential backoff and
 * jitter on retryable failures (network, timeout, 408/409/429/5xx, broken stream), then the next
 * provider is tried. A provider that failed `cooldown_failures` times in a row is skipped for
 * `cooldown_ms` — unless every candidate is cooling down, when they are tried anyway, soonest-ready
 * first (refusing all traffic because of a past outage helps nobody).
 *
 * Streams are committed only after a "warm-up": chunks are held until the first one carrying text,
 * a tool call or a finish reason. Until then a failure moves on to the next attempt; the client has
 * seen nothing. What happens after (a stream that breaks mid-answer) is the gateway's business.
 */
import { performance } from 'node:perf_hooks';
import { AssertionError } from '../../lib/assert.ts';
import type { Clock } from '../../lib/clock.ts';
import type { Ids } from '../../lib/ids.ts';
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionRequest } from './llm.types.ts';
import type { RoutingStrategy } from './providers/config.ts';
import { ProviderError } from './providers/http.ts';
import type { ProviderAdapter } from './providers/provider.ts';

export interface RouterOptions {
  strategy: RoutingStrategy;
  cooldown_failures: number;
  cooldown_ms: number;
  clock: Clock;
  ids: Ids;
  sleep?: (ms: number) => Promise<void>;
}

interface Health {
  latency_ms: number | undefined;
  failures: number;
  cooldown_until: number;
}

export interface Attempt {
  provider: string;
  error: string;
}

/** Every attempt failed: the attempts say why. */
export class AllProvidersFailed extends Error {
  override name = 'AllProvidersFailed';
  constructor(readonly attempts: Attempt[]) {
    super(attempts.map((a) => `${a.provider}: ${a.error}`).join('; '));
  }
}

/** The request a provider receives (redacted for foreign ones), prepared once per provider region. */
export type Prepare = (adapter: ProviderAdapter) => Promise<ChatCompletionRequest>;

export interface Routed<T> {
  adapter: ProviderAdapter;
  result: T;
  attempts: Attempt[];
  /** The request as sent (redacted for foreign providers). */
  sent: ChatCompletionRequest;
}

export interface OpenStream {
  /** Chunks read during warm-up, not yet sent. */
  head: ChatCompletionChunk[];
  rest: AsyncIterator<ChatCompletionChunk>;
  abort: AbortController;
}

const ewma_weight = 0.3;
const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function meaningful(chunk: ChatCompletionChunk): boolean {
  return chunk.choices.some(
    (c) => Boolean(c.finish_reason) || Boolean(c.delta.content) || (c.delta.tool_calls?.length ?? 0) > 0,
  );
}

export class Router {
  private readonly health = new Map<string, Health>();
  private readonly byModel = new Map<string, ProviderAdapter[]>();
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    readonly providers: readonly ProviderAdapter[],
    private readonly o: RouterOptions,
  ) {
    this.sleep = o.sleep ?? defaultSleep;
    for (const p of providers) {
      this.health.set(p.config.name, { latency_ms: undefined, failures: 0, cooldown_until: 0 });
      for (const m of p.config.models) this.byModel.set(m, [...(this.byModel.get(m) ?? []), p]);
    }
  }

  /** Every model name served, with the first provider serving it. */
  models(): { id: string; owned_by: string }[] {
    return [...this.byModel.entries()].map(([id, ps]) => ({ id, owned_by: ps[0]!.config.name }));
  }

  serves(model: string): boolean {
    return this.byModel.has(model);
  }

  /** The providers to try for `model`, in order. */
  candidates(model: string): ProviderAdapter[] {
    const all = this.byModel.get(model) ?? [];
    const now = this.o.clock.now();
    const rank = (p: ProviderAdapter): number => {
      if (this.o.strategy === 'cost') return p.config.input_fen_per_mtok + p.config.output_fen_per_mtok;
      if (this.o.strategy === 'latency') return this.health.get(p.config.name)!.latency_ms ?? -1;
      return 0;
    };
    const ordered = all
      .map((p, i) => ({ p, i, r: rank(p) }))
      .sort((a, b) => a.p.config.priority - b.p.config.priority || a.r - b.r || a.i - b.i)
      .map((x) => x.p);
    const ready = ordered.filter((p) => this.health.get(p.config.name)!.cooldown_until <= now);
    if (ready.length > 0) return ready;
    return [...ordered].sort(
      (a, b) =>
        this.health.get(a.config.name)!.cooldown_until - this.health.get(b.config.name)!.cooldown_until,
    );
  }

  /** Health of every provider, for the operator and tests. */
  status(): { name: string; latency_ms: number | null; failures: number; cooling_down: boolean }[] {
    const now = this.o.clock.now();
    return this.providers.map((p) => {
      const h = this.health.get(p.config.name)!;
      return {
        name: p.config.name,
        latency_ms: h.latency_ms === undefined ? null : Math.round(h.latency_ms * 100) / 100,
        failures: h.failures,
        cooling_down: h.cooldown_until > now,
      };
    });
  }

  succeeded(adapter: ProviderAdapter, latency_ms: number): void {
    const h = this.health.get(adapter.config.name)!;
    h.latency_ms =
      h.latency_ms === undefined ? latency_ms : h.latency_ms * (1 - ewma_weight) + latency_ms * ewma_weight;
    h.failures = 0;
    h.cooldown_until = 0;
  }

  failed(adapter: ProviderAdapter): void {
    const h = this.health.get(adapter.config.name)!;
    h.failures++;
    if (h.failures >= this.o.cooldown_failures) h.cooldown_until = this.o.clock.now() + this.o.cooldown_ms;
  }

  private backoff(adapter: ProviderAdapter, retry: number): number {
    const base = adapter.config.retry_backoff_ms * 2 ** (retry - 1);
    const jitter = 0.5 + this.o.ids.bytes(1)[0]! / 510;
    return Math.round(base * jitter);
  }

  private async attempt<T>(
    model: string,
    prepare: Prepare,
    run: (adapter: ProviderAdapter, request: ChatCompletionRequest, abort: AbortController) => Promise<T>,
  ): Promise<Routed<T>> {
    const attempts: Attempt[] = [];
    for (const adapter of this.candidates(model)) {
      const request = await prepare(adapter);
      for (let n = 0; n <= adapter.config.retries; n++) {
        if (n > 0) await this.sleep(this.backoff(adapter, n));
        const abort = new AbortController();
        const timer = setTimeout(() => abort.abort(), adapter.config.timeout_ms);
        const started = performance.now();
        try {
          const result = await run(adapter, request, abort);
          this.succeeded(adapter, performance.now() - started);
          return { adapter, result, attempts, sent: request };
        } catch (error) {
          if (error instanceof AssertionError) throw error;
          // Anything else a provider's answer provokes (a TypeError on a malformed chunk) is its failure.
          const pe =
            error instanceof ProviderError ? error : new ProviderError(String(error), 'bad_response');
          const e =
            abort.signal.aborted && pe.cause_kind !== 'timeout'
              ? new ProviderError('timed out', 'timeout')
              : pe;
          abort.abort();
          this.failed(adapter);
          attempts.push({ provider: adapter.config.name, error: e.message });
          if (!e.retryable) break;
        } finally {
          clearTimeout(timer);
        }
      }
    }
    throw new AllProvidersFailed(attempts);
  }

  complete(model: string, prepare: Prepare): Promise<Routed<ChatCompletion>> {
    return this.attempt(model, prepare, (adapter, request, abort) => adapter.complete(request, abort.signal));
  }

  /** Opens a stream on the first provider that gets through warm-up. */
  openStream(model: string, prepare: Prepare): Promise<Routed<OpenStream>> {
    return this.attempt(model, prepare, async (adapter, request, abort) => {
      const rest = adapter.stream(request, abort)[Symbol.asyncIterator]();
      const head: ChatCompletionChunk[] = [];
      for (;;) {
        const next = await rest.next();
        if (next.done) throw new ProviderError('stream ended before any answer', 'broken_stream');
        head.push(next.value);
        if (meaningful(next.value)) return { head, rest, abort };
      }
    });
  }
}
