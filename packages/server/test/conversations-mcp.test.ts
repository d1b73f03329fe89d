import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { conversation_tool_calls_max } from '../src/lib/limits.ts';
import { confirm, moneyJournals, openConversation, sessionOf } from './conversation-helpers.ts';
import { openTestApp, type TestApp } from './harness.ts';

function text(result: unknown): Record<string, unknown> {
  const content = (result as { content: { type: string; text: string }[] }).content;
  return JSON.parse(content[0]!.text) as Record<string, unknown>;
}

describe('MCP server for the conversation tools (real sockets, @modelcontextprotocol/sdk client)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await openTestApp('sqlite', { listen: true, realClock: true });
  });
  afterAll(() => t.close());

  async function connect(token: string): Promise<Client> {
    const client = new Client({ name: 'test', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL('/mcp', t.ctx.publicUrl), {
        requestInit: { headers: { Authorization: `Bearer ${token}` } },
      }),
    );
    return client;
  }

  it('lists the same tools over streamable HTTP and proposes without moving money', async () => {
    const c = await openConversation(t);
    const client = await connect(c.agent_token);
    const { tools } = await client.listTools();
    expect(tools.map((x) => x.name)).toEqual([
      'create_payment_proposal',
      'lookup_orders',
      'request_refund',
      'lookup_refunds',
      'cancel_proposal',
    ]);
    const before = await moneyJournals(t);
    const proposed = text(
      await client.callTool({
        name: 'create_payment_proposal',
        arguments: { amount: 1250, currency: 'CNY', description: 'MCP order' },
      }),
    );
    expect(proposed).toMatchObject({ kind: 'payment', amount: 1250, status: 'awaiting_payer_confirmation' });
    expect(await moneyJournals(t)).toBe(before);
    // Same mandates: only the payer's signature moves the money.
    const openid = t.merchant.payers[0]!.openid;
    const res = await confirm(t, c.conversation_id, proposed.terms as never, {
      openid,
      ...(await sessionOf(t, openid)),
    });
    expect(res.json().status).toBe('executed');
    expect(await moneyJournals(t)).toBe(before + 1);
    // Same schemas and allow-list.
    const bad = await client.callTool({ name: 'request_refund', arguments: { amount: -5, to_account: 'x' } });
    expect(bad.isError).toBe(true);
    expect((text(bad).error as { code: string }).code).toBe('invalid_arguments');
    const unknown = await client.callTool({ name: 'transfer_funds', arguments: {} });
    expect((text(unknown).error as { code: string }).code).toBe('tool_not_allowed');
    await client.close();
  });

  it('refuses a wrong agent token with 401', async () => {
    await expect(connect(`zat_${'x'.repeat(40)}`)).rejects.toThrow(/401|SIGN_ERROR/);
  });

  it("enforces the conversation's tool-call cap across MCP calls", async () => {
    const c = await openConversation(t);
    const client = await connect(c.agent_token);
    for (let i = 0; i < conversation_tool_calls_max; i++) {
      const r = await client.callTool({ name: 'lookup_orders', arguments: {} });
      expect(r.isError).toBe(false);
    }
    const over = await client.callTool({ name: 'lookup_orders', arguments: {} });
    expect(over.isError).toBe(true);
    expect((text(over).error as { code: string }).code).toBe('CONVERSATION_LIMIT');
    await client.close();
  });

  it('serves the same tools over stdio through `zhifu mcp`', async () => {
    const c = await openConversation(t);
    const main = fileURLToPath(new URL('../../cli/bin/zhifu.js', import.meta.url));
    const client = new Client({ name: 'stdio-test', version: '1.0.0' });
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [main, 'mcp', '--base-url', t.ctx.publicUrl, '--token', c.agent_token],
        stderr: 'pipe',
      }),
    );
    const { tools } = await client.listTools();
    expect(tools).toHaveLength(5);
    const orders = text(await client.callTool({ name: 'lookup_orders', arguments: {} }));
    expect(orders).toHaveProperty('orders');
    await client.close();
  });
});
