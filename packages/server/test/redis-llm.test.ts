/**
 * The LLM gateway's key limits shared through Redis (docs/llm-gateway.md "Keys and limits"): nodes
 * over one PostgreSQL schema, each with its own Redis connection, listening on real ports and called
 * with the official `openai` SDK in front of a fake provider (test/fake-llm.ts). Together they admit
 * a key's requests and tokens per minute once, stop together at its monthly budget (seeded from the
 * request log), and refuse calls with 500 SYSTEM_ERROR when Redis does not answer. A node counting in its own
 * memory is the gap this closes. The nodes share one fake clock.
 */
import type { FastifyInstance } from 'fastify';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppDeps, buildApp } from '../src/app.ts';
import { connectRedis, type Shared } from '../src/lib/redis.ts';
import type { ProviderConfig } from '../src/modules/llm/index.ts';
import { type FakeProvider, startFakeProvider } from './fake-llm.ts';
import { openShared, openTestApp, type TestApp } from './harness.ts';
import { signedRequest } from './requests.ts';

type Client = OpenAI;
type ApiError = InstanceType<typeof OpenAI.APIError>;

async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
}

/** The APIError a call ends with, or undefined when it succeeds. */
async function outcome(p: Promise<unknown>): Promise<ApiError | undefined> {
  try {
    await p;
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(OpenAI.APIError);
    return error as ApiError;
  }
}

describe('LLM gateway limits shared through Redis', () => {
  let t: TestApp;
  let a: Awaited<ReturnType<typeof openShared>>;
  let fake: FakeProvider;
  const closing: (() => Promise<unknown>)[] = [];

  /** One fake provider; a call (10 prompt + 5 completion tokens) costs 1 fen, for the budgets. */
  const llm = (): NonNullable<AppDeps['llm']> => {
    const provider: ProviderConfig = {
      name: 'alpha',
      kind: 'openai',
      base_url: fake.url,
      api_key: 'sk-alpha',
      region: 'domestic',
      priority: 1,
      models: ['echo'],
      input_fen_per_mtok: 100_000,
      output_fen_per_mtok: 0,
      timeout_ms: 2_000,
      stream_idle_timeout_ms: 2_000,
      retries: 0,
      retry_backoff_ms: 1,
    };
    return { strategy: 'priority', providers: [provider] };
  };

  /** Another node of the deployment, listening: with a Redis connection of the same prefix, or none. */
  async function node(
    o: { redis: boolean } | { shared: Shared },
  ): Promise<{ app: FastifyInstance; url: string }> {
    const shared = 'shared' in o ? o.shared : o.redis ? await openShared(a.prefix) : undefined;
    const app = await buildApp({ ctx: t.ctx, background: false, llm: llm(), ...(shared ? { shared } : {}) });
    closing.push(async () => {
      await app.close();
      if (!('shared' in o)) await shared?.redis.quit();
    });
    return { app, url: await listen(app) };
  }

  async function newKey(body: Record<string, unknown>): Promise<{ api_key: string; key_id: string }> {
    const res = await signedRequest(t, 'POST', '/v1/llm/keys', { name: 'shared', ...body });
    expect(res.statusCode, res.body).toBe(201);
    return res.json();
  }

  const client = (url: string, api_key: string): Client =>
    new OpenAI({ apiKey: api_key, baseURL: `${url}/v1`, maxRetries: 0 });

  const ask = (c: Client, o: { max_tokens?: number } = {}) =>
    outcome(c.chat.completions.create({ model: 'echo', messages: [{ role: 'user', content: 'hi' }], ...o }));

  let nodeA: { app: FastifyInstance; url: string };
  let nodeB: { app: FastifyInstance; url: string };
  let nodeC: { app: FastifyInstance; url: string };

  beforeAll(async () => {
    fake = await startFakeProvider();
    a = await openShared();
    t = await openTestApp('postgres', { listen: true, app: { shared: a, background: false, llm: llm() } });
    nodeA = { app: t.app, url: t.ctx.publicUrl };
    nodeB = await node({ redis: true });
    nodeC = await node({ redis: false });
  });
  afterAll(async () => {
    for (const close of closing.reverse()) await close();
    await t?.close();
    await a?.close();
    await fake?.close();
  });

  it('admits a key’s requests per minute once across two nodes; the next call on either gets 429 with Retry-After', async () => {
    const key = await newKey({ rpm: 4 });
    const onA = client(nodeA.url, key.api_key);
    const onB = client(nodeB.url, key.api_key);
    for (const c of [onA, onB, onA, onB]) expect(await ask(c)).toBeUndefined();
    for (const c of [onA, onB]) {
      const error = await ask(c);
      expect(error).toBeInstanceOf(OpenAI.RateLimitError);
      expect(error?.code).toBe('LLM_RATE_LIMITED');
      expect(Number(error?.headers?.get('retry-after'))).toBeGreaterThan(0);
    }
    // Two minutes later the window is empty again, on both nodes.
    t.clock.advance(120_000);
    expect(await ask(onB)).toBeUndefined();
    expect(await ask(onA)).toBeUndefined();
  });

  it('lets concurrent calls on both nodes take exactly the key’s requests per minute', async () => {
    const key = await newKey({ rpm: 5 });
    const onA = client(nodeA.url, key.api_key);
    const onB = client(nodeB.url, key.api_key);
    const hits = fake.hits;
    const results = await Promise.all([onA, onB, onA, onB, onA, onB, onA, onB].map((c) => ask(c)));
    expect(results.filter((r) => r === undefined)).toHaveLength(5);
    expect(results.filter((r) => r?.status === 429)).toHaveLength(3);
    expect(fake.hits - hits).toBe(5);
  });

  it('a node counting in its own memory admits the full limit again (the gap Redis closes)', async () => {
    const key = await newKey({ rpm: 2 });
    expect(await ask(client(nodeA.url, key.api_key))).toBeUndefined();
    expect(await ask(client(nodeB.url, key.api_key))).toBeUndefined();
    expect((await ask(client(nodeA.url, key.api_key)))?.status).toBe(429);
    // Node C has no Redis: it has seen none of these calls and takes two more.
    const onC = client(nodeC.url, key.api_key);
    expect(await ask(onC)).toBeUndefined();
    expect(await ask(onC)).toBeUndefined();
    expect((await ask(onC))?.status).toBe(429);
  });

  it('settles tokens across nodes: each call counts the tokens it used, not its estimate', async () => {
    // Each call is admitted at 1 + 1,000 (max_tokens) estimated tokens and uses 15: with the
    // corrections shared, 7 fit in 1,100 (6 × 15 + 1,001 ≤ 1,100 < 7 × 15 + 1,001).
    const key = await newKey({ tpm: 1_100 });
    const onA = client(nodeA.url, key.api_key);
    const onB = client(nodeB.url, key.api_key);
    let admitted = 0;
    for (;;) {
      const error = await ask(admitted % 2 === 0 ? onA : onB, { max_tokens: 1_000 });
      if (error) {
        expect(error.status).toBe(429);
        expect(error.message).toContain('tokens-per-minute');
        expect(Number(error.headers?.get('retry-after'))).toBeGreaterThan(0);
        break;
      }
      admitted++;
      if (admitted > 20) throw new Error('tokens per minute never enforced');
    }
    expect(admitted).toBe(7);
    const minute = Math.floor(t.clock.now() / 60_000);
    expect(await a.redis.hgetall(`${a.prefix}llm:{${key.key_id}}:${minute}`)).toEqual({ r: '7', t: '105' });
  });

  it('stops every node once a monthly budget is spent through one of them', async () => {
    const key = await newKey({ budget_fen_monthly: 2 });
    const onA = client(nodeA.url, key.api_key);
    const onB = client(nodeB.url, key.api_key);
    // 1 fen a call: the second call reaches the budget, whichever node serves it.
    expect(await ask(onA)).toBeUndefined();
    expect(await ask(onA)).toBeUndefined();
    const hits = fake.hits;
    for (const c of [onB, onA]) {
      const error = await ask(c);
      expect([error?.status, error?.code]).toEqual([429, 'LLM_BUDGET_EXCEEDED']);
      expect(error?.headers?.get('x-should-retry')).toBe('false');
    }
    expect(fake.hits).toBe(hits);
  });

  it('seeds the month’s spend from the request log when Redis has none', async () => {
    const key = await newKey({ budget_fen_monthly: 1 });
    // Spent on a node without Redis: only the request log knows.
    expect(await ask(client(nodeC.url, key.api_key))).toBeUndefined();
    await nodeC.app.zhifu.llm.log.flush();
    const error = await ask(client(nodeB.url, key.api_key));
    expect([error?.status, error?.code]).toEqual([429, 'LLM_BUDGET_EXCEEDED']);
    const month = new Date(t.clock.now() + 8 * 3600_000).toISOString().slice(0, 7);
    expect(await a.redis.get(`${a.prefix}llm:{${key.key_id}}:spent:${month}`)).toBe('1000000');
  });

  it('refuses calls with 500 SYSTEM_ERROR when Redis does not answer, without asking a provider', async () => {
    const key = await newKey({ rpm: 100 });
    const redis = connectRedis('redis://127.0.0.1:1');
    const down = await node({ shared: { redis, prefix: a.prefix } });
    closing.push(async () => redis.disconnect());
    const hits = fake.hits;
    const error = await ask(client(down.url, key.api_key));
    expect([error?.status, error?.code]).toEqual([500, 'SYSTEM_ERROR']);
    expect(error?.message).toMatch(/Redis/);
    await down.app.zhifu.llm.log.flush();
    expect(fake.hits).toBe(hits);
    const logged = await t.ctx.db
      .selectFrom('llm_requests')
      .select('id')
      .where('key_id', '=', key.key_id)
      .execute();
    expect(logged).toEqual([]);
  });
});
