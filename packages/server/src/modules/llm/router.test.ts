/**
 * Routing decisions with in-memory adapters: priority first, then cost or measured latency within a
 * priority; retries with backoff on retryable failures only; cooldown after consecutive failures,
 * and cooling providers still tried when nothing else is left.
 */
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../lib/clock.ts';
import { seededIds } from '../../lib/ids.ts';
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionRequest } from './llm.types.ts';
import { ProviderError } from './providers/http.ts';
import type { ProviderAdapter, ProviderConfig } from './providers/provider.ts';
import { AllProvidersFailed, Router } from './router.ts';

class Scripted implements ProviderAdapter {
  calls = 0;
  readonly config: ProviderConfig;
  constructor(
    name: string,
    o: Partial<ProviderConfig>,
    private readonly script: (n: number) => 'ok' | ProviderError = () => 'ok',
  ) {
    this.config = {
      name,
      kind: 'openai',
      region: 'domestic',
      priority: 1,
      models: ['m'],
      input_fen_per_mtok: 0,
      output_fen_per_mtok: 0,
      timeout_ms: 1000,
      stream_idle_timeout_ms: 1000,
      retries: 0,
      retry_backoff_ms: 100,
      ...o,
    };
  }
  async complete(request: ChatCompletionRequest): Promise<ChatCompletion> {
    const outcome = this.script(this.calls++);
    if (outcome !== 'ok') throw outcome;
    return {
      id: this.config.name,
      object: 'chat.completion',
      created: 0,
      model: request.model,
      choices: [
        { index: 0, message: { role: 'assistant', content: this.config.name }, finish_reason: 'stop' },
      ],
      usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
    };
  }
  // biome-ignore lint/correctness/useYield: this provider's stream fails before its first chunk
  async *stream(): AsyncGenerator<ChatCompletionChunk> {
    throw new ProviderError('not used', 'broken_stream');
  }
}

const same = async (a: ProviderAdapter) => ({
  model: 'm',
  messages: [{ role: 'user' as const, content: a.config.name }],
});

function router(
  adapters: ProviderAdapter[],
  strategy: 'priority' | 'latency' | 'cost',
  sleeps: number[] = [],
) {
  const clock = new FakeClock(1_000_000);
  const r = new Router(adapters, {
    strategy,
    cooldown_failures: 2,
    cooldown_ms: 30_000,
    clock,
    ids: seededIds('router'),
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  });
  return { r, clock };
}

describe('router', () => {
  it('orders by priority, then by cost under the cost strategy', () => {
    const cheap = new Scripted('cheap', { priority: 2, input_fen_per_mtok: 1 });
    const dear = new Scripted('dear', { priority: 2, input_fen_per_mtok: 900 });
    const first = new Scripted('first', { priority: 1, input_fen_per_mtok: 5000 });
    const { r } = router([dear, cheap, first], 'cost');
    expect(r.candidates('m').map((p) => p.config.name)).toEqual(['first', 'cheap', 'dear']);
  });

  it('orders by measured latency under the latency strategy, unmeasured providers first', () => {
    const slow = new Scripted('slow', {});
    const fast = new Scripted('fast', {});
    const fresh = new Scripted('fresh', {});
    const { r } = router([slow, fast, fresh], 'latency');
    r.succeeded(slow, 80);
    r.succeeded(fast, 5);
    expect(r.candidates('m').map((p) => p.config.name)).toEqual(['fresh', 'fast', 'slow']);
    // A moving average: one fast answer does not erase a slow history at once.
    r.succeeded(slow, 1);
    expect(r.candidates('m').map((p) => p.config.name)).toEqual(['fresh', 'fast', 'slow']);
  });

  it('retries a retryable failure with growing backoff, and fails over on a non-retryable one', async () => {
    const sleeps: number[] = [];
    const flaky = new Scripted('flaky', { retries: 2 }, (n) =>
      n < 2 ? new ProviderError('503', 'http', 503) : 'ok',
    );
    const { r } = router([flaky], 'priority', sleeps);
    const routed = await r.complete('m', same);
    expect(routed.result.id).toBe('flaky');
    expect(routed.attempts).toHaveLength(2);
    expect(sleeps).toHaveLength(2);
    expect(sleeps[0]).toBeGreaterThanOrEqual(50);
    expect(sleeps[0]).toBeLessThanOrEqual(100);
    expect(sleeps[1]).toBeGreaterThanOrEqual(100);
    expect(sleeps[1]).toBeLessThanOrEqual(200);

    const denied = new Scripted('denied', { retries: 3 }, () => new ProviderError('401', 'http', 401));
    const backup = new Scripted('backup', { priority: 2 });
    const second = router([denied, backup], 'priority');
    expect((await second.r.complete('m', same)).result.id).toBe('backup');
    expect(denied.calls).toBe(1);
  });

  it('cools a provider down after consecutive failures, and still tries it when nothing else is left', async () => {
    const down = new Scripted('down', {}, () => new ProviderError('500', 'http', 500));
    const up = new Scripted('up', { priority: 2 });
    const { r, clock } = router([down, up], 'priority');
    await r.complete('m', same);
    await r.complete('m', same);
    expect(down.calls).toBe(2);
    await r.complete('m', same);
    expect(down.calls).toBe(2); // cooling down: skipped
    clock.advance(30_001);
    await r.complete('m', same);
    expect(down.calls).toBe(3);

    const alone = new Scripted('alone', {}, (n) => (n < 2 ? new ProviderError('500', 'http', 500) : 'ok'));
    const solo = router([alone], 'priority');
    await expect(solo.r.complete('m', same)).rejects.toThrow(AllProvidersFailed);
    await expect(solo.r.complete('m', same)).rejects.toThrow(AllProvidersFailed);
    expect(solo.r.status()[0]!.cooling_down).toBe(true);
    expect((await solo.r.complete('m', same)).result.id).toBe('alone');
  });
});
