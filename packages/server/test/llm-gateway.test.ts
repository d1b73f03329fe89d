// biome-ignore-all lint/suspicious/noExplicitAny: fake providers and log rows are loosely typed JSON.
/**
 * The LLM gateway (docs/llm-gateway.md) over a real port with the official `openai` SDK, in front of
 * fake providers that are real HTTP servers (test/fake-llm.ts): chat, streaming and tools; /v1/models;
 * failover on 500, on a hung provider and on a stream that breaks before answering; an explicit error
 * event when a stream breaks mid-answer; cooldown; Anthropic translation; key limits and budgets;
 * bad input (documented codes, nothing logged or billed); the request log and metering. Runs on
 * SQLite and PostgreSQL.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatCompleter, ChatCompletionRequest, ProviderConfig } from '../src/modules/llm/index.ts';
import { type FakeProvider, startFakeProvider } from './fake-llm.ts';
import { addMerchant, dialects, openTestApp, type TestApp } from './harness.ts';
import { jsapiOrder, signedRequest } from './requests.ts';

/** A deterministic in-process model for the `local` kind: echoes the last user message. */
const echoModel: ChatCompleter = {
  async complete(request: ChatCompletionRequest) {
    const last = [...request.messages].reverse().find((m) => m.role === 'user')?.content ?? '';
    return {
      id: 'local-1',
      object: 'chat.completion',
      created: 1,
      model: request.model,
      choices: [
        { index: 0, message: { role: 'assistant', content: `local: ${last}` }, finish_reason: 'stop' },
      ],
      usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 },
    };
  },
};

function provider(name: string, f: FakeProvider, o: Partial<ProviderConfig>): ProviderConfig {
  return {
    name,
    kind: 'openai',
    base_url: f.url,
    api_key: `sk-${name}`,
    region: 'domestic',
    priority: 1,
    models: ['echo'],
    input_fen_per_mtok: 200,
    output_fen_per_mtok: 800,
    timeout_ms: 2_000,
    stream_idle_timeout_ms: 2_000,
    retries: 0,
    retry_backoff_ms: 1,
    ...o,
  };
}

/** The APIError a call or a stream consumption ends with (fails the test if it succeeds). */
async function failure(p: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await p;
  } catch (error) {
    expect(error).toBeInstanceOf(OpenAI.APIError);
    return error as InstanceType<typeof OpenAI.APIError>;
  }
  throw new Error('expected the call to fail');
}

const tools = [
  {
    type: 'function' as const,
    function: {
      name: 'lookup_order',
      description: 'Find an order',
      parameters: { type: 'object', properties: { text: { type: 'string' } } },
    },
  },
];

describe.each(dialects)('LLM gateway on %s', (dialect) => {
  let t: TestApp;
  let a: FakeProvider;
  let b: FakeProvider;
  let far: FakeProvider;
  let claude: FakeProvider;
  let client: OpenAI;
  let apiKey: string;
  let keyId: string;

  const reset = () => {
    for (const f of [a, b, far, claude]) {
      f.mode = 'ok';
      f.received.length = 0;
      f.raw.length = 0;
      f.hits = 0;
    }
  };

  async function newKey(body: Record<string, unknown>) {
    const res = await signedRequest(t, 'POST', '/v1/llm/keys', body);
    expect(res.statusCode).toBe(201);
    return res.json() as { api_key: string; key_id: string };
  }

  async function log(query = '') {
    const res = await signedRequest(t, 'GET', `/v1/llm/requests${query}`);
    expect(res.statusCode).toBe(200);
    return res.json().data as Record<string, any>[];
  }

  const count = async (table: 'llm_requests' | 'usage_records') => {
    await t.app.zhifu.llm.log.flush();
    return Number(
      (
        await t.ctx.db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
  };

  beforeAll(async () => {
    [a, b, far, claude] = await Promise.all([
      startFakeProvider(),
      startFakeProvider(),
      startFakeProvider(),
      startFakeProvider('anthropic'),
    ]);
    t = await openTestApp(dialect, {
      listen: true,
      app: {
        llm: {
          strategy: 'priority',
          local: echoModel,
          cooldown_failures: 3,
          cooldown_ms: 60_000,
          providers: [
            provider('alpha', a, { priority: 1, timeout_ms: 400 }),
            provider('beta', b, { priority: 2 }),
            provider('abroad', far, { region: 'foreign', models: ['far'], stream_idle_timeout_ms: 400 }),
            {
              ...provider('claude', claude, {
                region: 'foreign',
                models: ['claude-x'],
                model_map: { 'claude-x': 'claude-sonnet-4' },
              }),
              kind: 'anthropic',
            },
          ],
        },
      },
    });
    ({ api_key: apiKey, key_id: keyId } = await newKey({ name: 'default' }));
    client = new OpenAI({ apiKey, baseURL: `${t.ctx.publicUrl}/v1`, maxRetries: 0 });
  });

  afterAll(async () => {
    await t?.close();
    await Promise.all([a, b, far, claude].map((f) => f?.close()));
  });

  it('answers a chat completion through the official openai SDK, logs and meters it', async () => {
    reset();
    const usageBefore = await count('usage_records');
    const answer = await client.chat.completions.create({
      model: 'echo',
      messages: [{ role: 'user', content: '你好 hello' }],
    });
    expect(answer.choices[0]!.message.content).toBe('你好 hello');
    expect(answer.choices[0]!.finish_reason).toBe('stop');
    expect(answer.model).toBe('echo');
    expect(answer.usage).toEqual({ prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 });
    expect(a.hits).toBe(1);
    expect(a.received[0]!.model).toBe('echo');
    const [row] = await log();
    expect(row).toMatchObject({
      id: answer.id,
      key_id: keyId,
      provider: 'alpha',
      region: 'domestic',
      status: 'ok',
      stream: false,
    });
    expect(row!.prompt_tokens).toBe(10);
    // 10 × 200 + 5 × 800 micro-fen.
    expect(row!.cost_ufen).toBe(6_000);
    expect(await count('usage_records')).toBe(usageBefore + 1);
    const usage = await t.ctx.db
      .selectFrom('usage_records')
      .selectAll()
      .where('usage_key', '=', `llm:${answer.id}`)
      .executeTakeFirstOrThrow();
    expect(usage.kind).toBe('llm');
    expect(Number(usage.amount_fen)).toBe(1);
  });

  it('streams through the SDK, ending with finish_reason and usage when asked', async () => {
    reset();
    const stream = await client.chat.completions.create({
      model: 'echo',
      messages: [{ role: 'user', content: 'stream me a longer sentence' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let finish: string | null = null;
    let usage: unknown;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe('stream me a longer sentence');
    expect(finish).toBe('stop');
    expect(usage).toEqual({ prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 });
  });

  it('passes tools and returns tool calls, streamed and not', async () => {
    reset();
    const answer = await client.chat.completions.create({
      model: 'echo',
      messages: [{ role: 'user', content: 'call:order 42' }],
      tools,
      tool_choice: 'auto',
    });
    const call = answer.choices[0]!.message.tool_calls![0]! as {
      function: { name: string; arguments: string };
    };
    expect(answer.choices[0]!.finish_reason).toBe('tool_calls');
    expect(call.function.name).toBe('lookup_order');
    expect(JSON.parse(call.function.arguments)).toEqual({ text: 'order 42' });
    expect(a.received[0]!.tools[0].function.name).toBe('lookup_order');

    const stream = await client.chat.completions.create({
      model: 'echo',
      messages: [{ role: 'user', content: 'call:order 43' }],
      tools,
      stream: true,
    });
    let args = '';
    let name = '';
    for await (const chunk of stream) {
      const tc = chunk.choices[0]?.delta.tool_calls?.[0];
      if (tc?.function?.name) name = tc.function.name;
      args += tc?.function?.arguments ?? '';
    }
    expect(name).toBe('lookup_order');
    expect(JSON.parse(args)).toEqual({ text: 'order 43' });
  });

  it('lists the models served', async () => {
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    expect(ids.sort()).toEqual(['claude-x', 'echo', 'far', 'zhifu-local']);
  });

  it('serves an injected ChatCompleter as the zhifu-local provider, streamed and not', async () => {
    const answer = await client.chat.completions.create({
      model: 'zhifu-local',
      messages: [{ role: 'user', content: '退款20' }],
    });
    expect(answer.choices[0]!.message.content).toBe('local: 退款20');
    const stream = await client.chat.completions.create({
      model: 'zhifu-local',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
    });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
    expect(text).toBe('local: hi');
  });

  it('fails over to the next provider when the first answers 500', async () => {
    reset();
    a.mode = 'status500';
    const answer = await client.chat.completions.create({
      model: 'echo',
      messages: [{ role: 'user', content: 'failover' }],
    });
    expect(answer.choices[0]!.message.content).toBe('failover');
    expect([a.hits, b.hits]).toEqual([1, 1]);
    const [row] = await log();
    expect(row).toMatchObject({ provider: 'beta', attempts: 2, status: 'ok' });
  });

  it('fails over when the first provider hangs (its timeout fires)', async () => {
    reset();
    a.mode = 'hang';
    const answer = await client.chat.completions.create({
      model: 'echo',
      messages: [{ role: 'user', content: 'are you there' }],
    });
    expect(answer.choices[0]!.message.content).toBe('are you there');
    expect(b.hits).toBe(1);
  });

  it('fails over invisibly when a stream breaks before any answer was sent', async () => {
    reset();
    a.mode = 'break_before';
    const stream = await client.chat.completions.create({
      model: 'echo',
      messages: [{ role: 'user', content: 'warm-up' }],
      stream: true,
    });
    let text = '';
    for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
    expect(text).toBe('warm-up');
    expect([a.hits, b.hits]).toEqual([1, 1]);
  });

  it('ends a stream that breaks mid-answer with an explicit error event, never a silent truncated 200', async () => {
    reset();
    // alpha has failed 3 times in a row (500, hang, broken stream) and is cooling down: beta serves.
    b.mode = 'break_after';
    const stream = await client.chat.completions.create({
      model: 'echo',
      messages: [{ role: 'user', content: 'a long answer that will be cut' }],
      stream: true,
    });
    let text = '';
    const consume = async () => {
      for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
    };
    const error = await consume().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe('LLM_STREAM_INTERRUPTED');
    expect(text).toBe('a long');
    expect(a.hits).toBe(0);
    const [row] = await log();
    expect(row).toMatchObject({ status: 'error', error_code: 'LLM_STREAM_INTERRUPTED', provider: 'beta' });
  });

  it('puts a provider that failed 3 times in a row in cooldown, and takes it back when it ends', async () => {
    reset();
    const providers = await signedRequest(t, 'GET', '/v1/llm/providers');
    const alpha = providers.json().data.find((p: { name: string }) => p.name === 'alpha');
    expect(alpha).toMatchObject({ cooling_down: true, consecutive_failures: 3, region: 'domestic' });
    await client.chat.completions.create({ model: 'echo', messages: [{ role: 'user', content: 'x' }] });
    expect([a.hits, b.hits]).toEqual([0, 1]);
    t.clock.advance(61_000);
    await client.chat.completions.create({ model: 'echo', messages: [{ role: 'user', content: 'y' }] });
    expect([a.hits, b.hits]).toEqual([1, 1]);
  });

  it('fails over when a non-streaming answer is cut mid-body (a truncated 200)', async () => {
    reset();
    a.mode = 'break_after';
    const answer = await client.chat.completions.create({
      model: 'echo',
      messages: [{ role: 'user', content: 'whole answer please' }],
    });
    expect(answer.choices[0]!.message.content).toBe('whole answer please');
    expect([a.hits, b.hits]).toEqual([1, 1]);
  });

  it('answers 502 LLM_PROVIDER_ERROR when every provider fails, and bills nothing', async () => {
    reset();
    a.mode = 'status500';
    b.mode = 'status500';
    const usage = await count('usage_records');
    const error = await failure(
      client.chat.completions.create({ model: 'echo', messages: [{ role: 'user', content: 'z' }] }),
    );
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect(error.status).toBe(502);
    expect(error.code).toBe('LLM_PROVIDER_ERROR');
    const [row] = await log();
    expect(row).toMatchObject({ status: 'error', error_code: 'LLM_PROVIDER_ERROR', attempts: 2 });
    expect(await count('usage_records')).toBe(usage);
    t.clock.advance(61_000); // let alpha out of any cooldown for the next tests
  });

  it('translates to and from the Anthropic Messages API, with tools, streamed and not', async () => {
    reset();
    const messages: OpenAI.Chat.ChatCompletionMessageParam[] = [
      { role: 'system', content: 'You are a cashier.' },
      { role: 'user', content: 'earlier question' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'toolu_0', type: 'function', function: { name: 'lookup_order', arguments: '{"text":"A1"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'toolu_0', content: 'order A1 is paid' },
      { role: 'user', content: 'call:refund 20' },
    ];
    const answer = await client.chat.completions.create({
      model: 'claude-x',
      messages,
      tools,
      tool_choice: 'required',
      max_tokens: 300,
    });
    const sent = claude.received[0]!;
    expect(sent.model).toBe('claude-sonnet-4');
    expect(sent.system).toBe('You are a cashier.');
    expect(sent.max_tokens).toBe(300);
    expect(sent.tool_choice).toEqual({ type: 'any' });
    expect(sent.tools[0]).toEqual({
      name: 'lookup_order',
      description: 'Find an order',
      input_schema: tools[0]!.function.parameters,
    });
    expect(sent.messages[1]).toEqual({
      role: 'assistant',
      content: [{ type: 'tool_use', id: 'toolu_0', name: 'lookup_order', input: { text: 'A1' } }],
    });
    expect(sent.messages[2].content[0]).toEqual({
      type: 'tool_result',
      tool_use_id: 'toolu_0',
      content: 'order A1 is paid',
    });
    expect(sent.messages[2].content[1]).toEqual({ type: 'text', text: 'call:refund 20' });
    const call = answer.choices[0]!.message.tool_calls![0]! as {
      id: string;
      function: { name: string; arguments: string };
    };
    expect(answer.choices[0]!.finish_reason).toBe('tool_calls');
    expect(call.id).toBe('toolu_1');
    expect(JSON.parse(call.function.arguments)).toEqual({ text: 'refund 20' });
    expect(answer.usage).toEqual({ prompt_tokens: 12, completion_tokens: 6, total_tokens: 18 });

    const text = await client.chat.completions.create({
      model: 'claude-x',
      messages: [{ role: 'user', content: 'plain streamed words' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let out = '';
    let finish: string | null = null;
    let usage: unknown;
    for await (const c of text) {
      out += c.choices[0]?.delta.content ?? '';
      finish = c.choices[0]?.finish_reason ?? finish;
      if (c.usage) usage = c.usage;
    }
    expect(out).toBe('plain streamed words');
    expect(finish).toBe('stop');
    expect(usage).toEqual({ prompt_tokens: 12, completion_tokens: 6, total_tokens: 18 });
    const toolStream = await client.chat.completions.create({
      model: 'claude-x',
      messages: [{ role: 'user', content: 'call:x' }],
      tools,
      stream: true,
    });
    let args = '';
    for await (const c of toolStream) args += c.choices[0]?.delta.tool_calls?.[0]?.function?.arguments ?? '';
    expect(JSON.parse(args)).toEqual({ text: 'x' });
  });

  it('ends an Anthropic stream that breaks mid-answer with an error event', async () => {
    reset();
    claude.mode = 'break_after';
    const stream = await client.chat.completions.create({
      model: 'claude-x',
      messages: [{ role: 'user', content: 'cut this answer short' }],
      stream: true,
    });
    const error = await failure(
      (async () => {
        for await (const _ of stream) {
          // consume
        }
      })(),
    );
    expect(error.code).toBe('LLM_STREAM_INTERRUPTED');
  });

  it('enforces requests per minute with 429 and Retry-After, per key', async () => {
    reset();
    const limited = await newKey({ name: 'rpm', rpm: 2 });
    const c = new OpenAI({ apiKey: limited.api_key, baseURL: `${t.ctx.publicUrl}/v1`, maxRetries: 0 });
    const ask = () =>
      c.chat.completions.create({ model: 'echo', messages: [{ role: 'user', content: 'hi' }] });
    await ask();
    await ask();
    const error = await failure(ask());
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(error.code).toBe('LLM_RATE_LIMITED');
    expect(Number(error.headers?.get('retry-after'))).toBeGreaterThan(0);
    // The default key is not affected.
    await client.chat.completions.create({ model: 'echo', messages: [{ role: 'user', content: 'hi' }] });
    t.clock.advance(120_000);
    await ask();
  });

  it('enforces tokens per minute', async () => {
    const limited = await newKey({ name: 'tpm', tpm: 50 });
    const c = new OpenAI({ apiKey: limited.api_key, baseURL: `${t.ctx.publicUrl}/v1`, maxRetries: 0 });
    const error = await failure(
      c.chat.completions.create({ model: 'echo', messages: [{ role: 'user', content: 'x'.repeat(400) }] }),
    );
    expect(error.status).toBe(429);
    expect(error.message).toContain('tokens-per-minute');
  });

  it('stops a key at its monthly budget', async () => {
    reset();
    // One call costs 6,000 micro-fen; a 1-fen budget is spent after the 167th call — set it so that
    // the first call spends it: price beta at 1 fen per token via a fresh key and a tiny budget.
    const limited = await newKey({ name: 'budget', budget_fen_monthly: 0 });
    const c = new OpenAI({ apiKey: limited.api_key, baseURL: `${t.ctx.publicUrl}/v1`, maxRetries: 0 });
    const error = await failure(
      c.chat.completions.create({ model: 'echo', messages: [{ role: 'user', content: 'hi' }] }),
    );
    expect(error.status).toBe(429);
    expect(error.code).toBe('LLM_BUDGET_EXCEEDED');
    expect(error.headers?.get('x-should-retry')).toBe('false');
    const raised = await signedRequest(t, 'PATCH' as 'PUT', `/v1/llm/keys/${limited.key_id}`, {
      budget_fen_monthly: 1,
    });
    expect(raised.statusCode).toBe(200);
    // 1 fen = 1,000,000 micro-fen: 166 calls at 6,000 fit, the 167th is refused.
    let calls = 0;
    for (;;) {
      const r = await c.chat.completions
        .create({ model: 'echo', messages: [{ role: 'user', content: 'hi' }] })
        .then(
          () => undefined,
          (e: unknown) => e as InstanceType<typeof OpenAI.APIError>,
        );
      if (r) {
        expect(r.code).toBe('LLM_BUDGET_EXCEEDED');
        break;
      }
      calls++;
      if (calls > 200) throw new Error('budget never enforced');
    }
    expect(calls).toBe(167);
    // A new month (China Standard Time) starts with nothing spent.
    t.clock.advance(32 * 24 * 3600 * 1000);
    await c.chat.completions.create({ model: 'echo', messages: [{ role: 'user', content: 'new month' }] });
  });

  it('refuses bad input and bad keys with documented codes, logging and billing nothing', async () => {
    const before = [await count('llm_requests'), await count('usage_records')];
    const post = (body: unknown, auth = `Bearer ${apiKey}`) =>
      fetch(`${t.ctx.publicUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: auth, 'content-type': 'application/json' },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
    const cases: [unknown, string, number, string][] = [
      [
        { model: 'echo', messages: [{ role: 'user', content: 'x' }] },
        'Bearer zk-nope',
        401,
        'LLM_KEY_INVALID',
      ],
      [{ model: 'echo', messages: [{ role: 'user', content: 'x' }] }, '', 401, 'LLM_KEY_INVALID'],
      [
        { model: 'nope', messages: [{ role: 'user', content: 'x' }] },
        `Bearer ${apiKey}`,
        404,
        'LLM_MODEL_NOT_FOUND',
      ],
      [{ model: 'echo' }, `Bearer ${apiKey}`, 400, 'PARAM_ERROR'],
      [{ model: 'echo', messages: [] }, `Bearer ${apiKey}`, 400, 'PARAM_ERROR'],
      [
        { model: 'echo', messages: [{ role: 'wizard', content: 'x' }] },
        `Bearer ${apiKey}`,
        400,
        'PARAM_ERROR',
      ],
      [
        { model: 'echo', n: 2, messages: [{ role: 'user', content: 'x' }] },
        `Bearer ${apiKey}`,
        400,
        'PARAM_ERROR',
      ],
      ['{"model":', `Bearer ${apiKey}`, 400, 'PARAM_ERROR'],
    ];
    for (const [body, auth, status, code] of cases) {
      const res = await post(body, auth);
      expect(res.status, JSON.stringify(body)).toBe(status);
      const json = (await res.json()) as { error: { code: string; message: string; type: string } };
      expect(json.error.code).toBe(code);
      expect(json.error.message.length).toBeGreaterThan(10);
    }
    const huge = await post({ model: 'echo', messages: [{ role: 'user', content: 'x'.repeat(1_100_000) }] });
    expect(huge.status).toBe(413);
    // A revoked key stops working at once.
    const k = await newKey({ name: 'revoke-me' });
    const revoked = await signedRequest(t, 'DELETE', `/v1/llm/keys/${k.key_id}`);
    expect(revoked.json().revoked_at).not.toBeNull();
    expect(
      (await post({ model: 'echo', messages: [{ role: 'user', content: 'x' }] }, `Bearer ${k.api_key}`))
        .status,
    ).toBe(401);
    // Models outside a key's allow-list.
    const narrow = await newKey({ name: 'narrow', models: ['zhifu-local'] });
    const res = await post(
      { model: 'echo', messages: [{ role: 'user', content: 'x' }] },
      `Bearer ${narrow.api_key}`,
    );
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('LLM_MODEL_NOT_ALLOWED');
    await t.app.zhifu.llm.log.flush();
    expect([await count('llm_requests'), await count('usage_records')]).toEqual(before);
  });

  it('manages keys through the signed merchant API and never shows a secret twice', async () => {
    const bad = await signedRequest(t, 'POST', '/v1/llm/keys', { name: 'x', rpm: 0 });
    expect(bad.statusCode).toBe(400);
    const unsigned = await t.app.inject({ method: 'POST', url: '/v1/llm/keys', payload: { name: 'x' } });
    expect(unsigned.statusCode).toBe(401);
    const list = await signedRequest(t, 'GET', '/v1/llm/keys');
    const keys = list.json().data as Record<string, unknown>[];
    expect(keys.length).toBeGreaterThan(3);
    expect(JSON.stringify(keys)).not.toContain(apiKey);
    expect(keys.every((k) => k.api_key === undefined && typeof k.key_prefix === 'string')).toBe(true);
    expect((await signedRequest(t, 'GET', '/v1/llm/keys/llmk_unknown')).statusCode).toBe(404);
    expect((await log(`?key_id=${keyId}&limit=2`)).length).toBe(2);
  });

  it('strips identifiers before a foreign provider and restores them in the answer', async () => {
    reset();
    const order = jsapiOrder(t, { out_trade_no: 'SHOP2026A77' });
    expect((await signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', order)).statusCode).toBe(200);
    const put = await signedRequest(t, 'PUT', '/v1/llm/redaction-patterns', {
      patterns: [{ name: 'vip', pattern: 'VIP-\\d{6}' }],
    });
    expect(put.statusCode).toBe(200);
    const openid = t.merchant.payers[0]!.openid;
    const secrets = [
      openid,
      '4200002026112712345678901234',
      'SHOP2026A77',
      '4111 1111 1111 1111',
      '11010519491231002X',
      '13812345678',
      'li.lei@example.cn',
      'VIP-123456',
    ];
    const prompt = `payer ${openid} paid 4200002026112712345678901234 for order SHOP2026A77 with card 4111 1111 1111 1111, ID 11010519491231002X, 手机13812345678, mail li.lei@example.cn, member VIP-123456.`;
    const answer = await client.chat.completions.create({
      model: 'far',
      messages: [{ role: 'user', content: prompt }],
      user: openid,
    });
    expect(answer.choices[0]!.message.content).toBe(prompt);
    const streamed = await client.chat.completions.create({
      model: 'far',
      messages: [{ role: 'user', content: prompt }],
      stream: true,
    });
    let text = '';
    for await (const c of streamed) text += c.choices[0]?.delta.content ?? '';
    expect(text).toBe(prompt);
    const call = await client.chat.completions.create({
      model: 'far',
      messages: [{ role: 'user', content: `call:${prompt}` }],
      tools,
    });
    expect(
      JSON.parse(
        (call.choices[0]!.message.tool_calls![0] as { function: { arguments: string } }).function.arguments,
      ),
    ).toEqual({ text: prompt });
    const callStream = await client.chat.completions.create({
      model: 'far',
      messages: [{ role: 'user', content: `call:${prompt}` }],
      tools,
      stream: true,
    });
    let args = '';
    for await (const c of callStream) args += c.choices[0]?.delta.tool_calls?.[0]?.function?.arguments ?? '';
    expect(JSON.parse(args)).toEqual({ text: prompt });
    // The recording provider never saw one raw identifier, and did see placeholders.
    expect(far.raw.length).toBe(4);
    for (const raw of far.raw) {
      for (const s of [...secrets, '4111111111111111']) expect(raw).not.toContain(s);
      expect(raw).toContain('[[ZF_PHONE_');
      expect(raw).toContain('[[ZF_TRADE_');
      expect(raw).toContain('[[ZF_CUSTOM_');
    }
    const [row] = await log();
    expect(row!.redacted).toBe(secrets.length);
    // A domestic provider gets the prompt as it is (the control: redaction is for foreign providers).
    await client.chat.completions.create({ model: 'echo', messages: [{ role: 'user', content: prompt }] });
    expect(a.raw[0]).toContain('13812345678');
  });

  it('fails closed when the answer names a placeholder the request never issued', async () => {
    reset();
    far.mode = 'say';
    far.say = 'call [[ZF_PHONE_9]] now';
    const error = await failure(
      client.chat.completions.create({
        model: 'far',
        messages: [{ role: 'user', content: 'my phone is 13812345678' }],
      }),
    );
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect(error.status).toBe(502);
    expect(error.code).toBe('LLM_REDACTION_FAILED');
    const stream = await client.chat.completions.create({
      model: 'far',
      messages: [{ role: 'user', content: 'my phone is 13812345678' }],
      stream: true,
    });
    const streamError = await failure(
      (async () => {
        for await (const _ of stream) {
          // consume
        }
      })(),
    );
    expect(streamError.code).toBe('LLM_REDACTION_FAILED');
    expect(far.raw.join('')).not.toContain('13812345678');
  });

  it('ends a stream that goes silent mid-answer (idle timeout) with an error event', async () => {
    reset();
    far.mode = 'hang_after';
    const stream = await client.chat.completions.create({
      model: 'far',
      messages: [{ role: 'user', content: 'then the provider hangs' }],
      stream: true,
    });
    let text = '';
    const error = await failure(
      (async () => {
        for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
      })(),
    );
    expect(error.code).toBe('LLM_STREAM_INTERRUPTED');
    expect(error.message).toContain('idle');
    expect(text).toBe('then t');
  });

  it('serves the platform agent in-process as a ChatCompleter: routed, redacted, logged, not metered', async () => {
    reset();
    const usage = await count('usage_records');
    const agent = t.app.zhifu.llm.completer(t.merchant.mchid);
    const answer = await agent.complete({
      model: 'far',
      messages: [{ role: 'user', content: 'refund to 13812345678' }],
    });
    expect(answer.choices[0]!.message.content).toBe('refund to 13812345678');
    expect(far.raw[0]).not.toContain('13812345678');
    const [row] = await log();
    expect(row).toMatchObject({ key_id: 'platform-agent', provider: 'abroad', status: 'ok', redacted: 1 });
    expect(await count('usage_records')).toBe(usage);
    await expect(
      agent.complete({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }),
    ).rejects.toThrow(/model/);
  });

  it("keeps merchants apart: another merchant cannot see, change or revoke this merchant's keys or log", async () => {
    const other = await addMerchant(t, 'Other Store');
    expect((await signedRequest(other, 'GET', `/v1/llm/keys/${keyId}`)).statusCode).toBe(404);
    expect((await signedRequest(other, 'DELETE', `/v1/llm/keys/${keyId}`)).statusCode).toBe(404);
    expect(
      (await signedRequest(other, 'PATCH' as 'PUT', `/v1/llm/keys/${keyId}`, { rpm: 1 })).statusCode,
    ).toBe(404);
    expect((await signedRequest(other, 'GET', '/v1/llm/keys')).json().data).toEqual([]);
    expect((await signedRequest(other, 'GET', '/v1/llm/requests')).json().data).toEqual([]);
    expect((await signedRequest(other, 'GET', '/v1/llm/redaction-patterns')).json().patterns).toEqual([]);
    // The key still works for its owner.
    await client.chat.completions.create({ model: 'echo', messages: [{ role: 'user', content: 'mine' }] });
  });

  it('refuses an invalid merchant pattern', async () => {
    for (const pattern of ['(unclosed', 'a*']) {
      const res = await signedRequest(t, 'PUT', '/v1/llm/redaction-patterns', {
        patterns: [{ name: 'bad', pattern }],
      });
      expect(res.statusCode).toBe(400);
    }
    const kept = await signedRequest(t, 'GET', '/v1/llm/redaction-patterns');
    expect(kept.json().patterns).toEqual([{ name: 'vip', pattern: 'VIP-\\d{6}' }]);
  });
});
