/**
 * `zhifu mcp`: the conversation tools over MCP stdio, for desktop agents that launch a local
 * process (`npx zhifu mcp`). It bridges to a server's streamable-HTTP endpoint `/mcp` with the
 * conversation's agent token, so the tools, mandates and policies are the server's own: this
 * process holds no payment logic. stdout carries only the protocol; diagnostics go to stderr.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { helpOption, noExtra, out, parse, UsageError } from '../args.ts';
import { defaultBaseUrl } from '../credentials.ts';

export const mcpHelp = `Usage: zhifu mcp [--base-url <url>] [--token <agent_token>]

Serves the conversation tools (create_payment_proposal, lookup_orders, request_refund,
lookup_refunds, cancel_proposal) over MCP stdio, bridged to <url>/mcp. The agent token is
the one returned when the conversation was created (POST /v1/conversations); it scopes the tools
to that conversation's payer. Proposals still need the payer's signed confirmation.

Options:
  --base-url <url>     Zhifu server (default: $ZHIFU_BASE_URL or http://127.0.0.1:8080)
  --token <token>      Agent token (default: $ZHIFU_AGENT_TOKEN)

Example (an MCP client configuration):
  { "command": "npx", "args": ["zhifu", "mcp"], "env": { "ZHIFU_BASE_URL": "http://127.0.0.1:8080", "ZHIFU_AGENT_TOKEN": "zat_..." } }
`;

export async function mcpCommand(argv: string[]): Promise<number> {
  const command = 'zhifu mcp';
  const { values, positionals } = parse(command, {
    args: argv,
    allowPositionals: true,
    options: { ...helpOption, 'base-url': { type: 'string' }, token: { type: 'string' } },
  });
  if (values.help) {
    out(mcpHelp);
    return 0;
  }
  noExtra(positionals, 0, command);
  const base = values['base-url'] ?? defaultBaseUrl(process.env);
  const token = values.token ?? process.env.ZHIFU_AGENT_TOKEN;
  if (!token) throw new UsageError('missing --token (or ZHIFU_AGENT_TOKEN)', `${command} --help`);
  const upstream = new Client({ name: 'zhifu-cli-bridge', version: '0.1.0' });
  await upstream.connect(
    new StreamableHTTPClientTransport(new URL('/mcp', base), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
    }),
  );
  const server = new Server(
    { name: 'zhifu-conversations', version: '0.1.0' },
    { capabilities: { tools: {} } },
  );
  server.setRequestHandler(ListToolsRequestSchema, () => upstream.listTools());
  server.setRequestHandler(CallToolRequestSchema, (request) => upstream.callTool(request.params));
  const closed = new Promise<void>((resolve) => {
    server.onclose = () => resolve();
  });
  await server.connect(new StdioServerTransport());
  await closed;
  await upstream.close();
  return 0;
}
