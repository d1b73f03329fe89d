/**
 * The conversation agent runs through the LLM gateway (its default model port): with
 * ZHIFU_AGENT_MODEL naming a model that only a provider tagged foreign serves, the agent's prompts
 * reach that provider (a real HTTP fake that records every body) with the payer's OpenID, phone
 * number and card number replaced by placeholders, and the answer comes back restored; the call is
 * in the gateway's request log. With no provider configured, the agent answers with zhifu-local
 * through the same gateway.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openConversation, say } from './conversation-helpers.ts';
import { type FakeProvider, startFakeProvider } from './fake-llm.ts';
import { openTestApp, type TestApp } from './harness.ts';

describe('conversation agent through the LLM gateway', () => {
  let far: FakeProvider;
  let t: TestApp;
  let local: TestApp;
  beforeAll(async () => {
    far = await startFakeProvider();
    t = await openTestApp('sqlite', {
      app: {
        agentModel: 'far-model',
        llm: {
          providers: [
            {
              name: 'abroad',
              kind: 'openai',
              base_url: far.url,
              api_key: 'sk-abroad',
              region: 'foreign',
              priority: 1,
              models: ['far-model'],
              input_fen_per_mtok: 200,
              output_fen_per_mtok: 800,
              timeout_ms: 2_000,
              stream_idle_timeout_ms: 2_000,
              retries: 0,
              retry_backoff_ms: 1,
            },
          ],
        },
      },
    });
    local = await openTestApp('sqlite');
  });
  afterAll(async () => {
    await t.close();
    await local.close();
    await far.close();
  });

  it('strips the payer identifiers before a foreign provider and restores them in the answer', async () => {
    const c = await openConversation(t);
    const openid = c.payer_openid;
    const text = `I am ${openid}, call me on 13812345678 or use card 6222021234567890128`;
    const res = await say(t, c.conversation_id, text);
    expect(res.statusCode).toBe(200);
    const turn = res.json() as { messages: { role: string; content: string | null }[] };
    // The fake model echoes the last user message: the payer sees it with every identifier restored.
    expect(turn.messages.at(-1)).toMatchObject({ role: 'assistant', content: text });
    expect(far.hits).toBeGreaterThan(0);
    for (const body of far.raw) {
      expect(body).not.toContain(openid);
      expect(body).not.toContain('13812345678');
      expect(body).not.toContain('6222021234567890128');
    }
    expect(far.raw.join('\n')).toContain('far-model');
    await t.app.zhifu.llm.log.flush();
    const logged = await t.ctx.db
      .selectFrom('llm_requests')
      .select(['provider', 'region', 'redacted', 'status'])
      .where('mchid', '=', t.merchant.mchid)
      .execute();
    expect(logged).toContainEqual(
      expect.objectContaining({ provider: 'abroad', region: 'foreign', status: 'ok' }),
    );
    expect(logged.some((r) => Number(r.redacted) >= 3)).toBe(true);
  });

  it('answers with zhifu-local through the gateway when no provider is configured', async () => {
    const c = await openConversation(local);
    const res = await say(local, c.conversation_id, '帮我付三十块五');
    expect(res.statusCode).toBe(200);
    const turn = res.json() as {
      messages: { role: string; tool_calls?: { function: { name: string } }[] }[];
    };
    expect(turn.messages[1]!.tool_calls![0]!.function.name).toBe('create_payment_proposal');
    await local.app.zhifu.llm.log.flush();
    const logged = await local.ctx.db
      .selectFrom('llm_requests')
      .select(['provider', 'model'])
      .where('mchid', '=', local.merchant.mchid)
      .execute();
    expect(logged).toContainEqual({ provider: 'zhifu-local', model: 'zhifu-local' });
  });
});
