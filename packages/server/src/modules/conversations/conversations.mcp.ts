/**
 * The agent's tools as an MCP server (Model Context Protocol, via the reference SDK
 * @modelcontextprotocol/sdk): streamable HTTP at `/mcp` (stateless: one server and transport per
 * request, JSON responses) and, through `npx zhifu mcp`, stdio (the CLI bridges to this endpoint).
 *
 * An MCP client authenticates with the conversation's agent token (`Authorization: Bearer zat_…`,
 * returned once when the conversation is created) and acts within that conversation only: its
 * payer, merchant and app. The tools are the same functions the platform agent calls
 * (`executeTool`), so the allow-list, argument schemas, refund policy, caps and mandates are the
 * same: an MCP client can propose, never confirm.
 */
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import type { FastifyInstance } from 'fastify';
import type { Ctx } from '../../context.ts';
import { AppError } from '../../lib/errors.ts';
import { findConversation } from './conversations.repository.ts';
import { type ConversationDeps, conversationOfAgentToken, executeTool } from './conversations.service.ts';
import { tool_definitions } from './conversations.tools.ts';

export const mcp_server_name = 'zhifu-conversations';

function mcpServer(ctx: Ctx, deps: ConversationDeps, conversationId: string, ip: string): Server {
  const server = new Server({ name: mcp_server_name, version: '0.1.0' }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, async () => ({
    tools: tool_definitions.map((t) => ({
      name: t.function.name,
      description: t.function.description ?? '',
      inputSchema: t.function.parameters as { type: 'object'; properties?: Record<string, object> },
    })),
  }));
  server.setRequestHandler(CallToolRequestSchema, async (request) => {
    // Re-read per call: the counters (tool-call cap) live in the row.
    const conversation = await findConversation(ctx.db, conversationId);
    if (!conversation)
      return {
        isError: true,
        content: [{ type: 'text' as const, text: '{"error":{"code":"RESOURCE_NOT_EXISTS"}}' }],
      };
    try {
      const result = await executeTool(
        ctx,
        deps,
        { conversation, agent: 'mcp', ip },
        request.params.name,
        (request.params.arguments ?? {}) as Record<string, unknown>,
      );
      return {
        isError: 'error' in result,
        content: [{ type: 'text' as const, text: JSON.stringify(result) }],
      };
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      const body = { error: { code: error.code, message: error.message } };
      return { isError: true, content: [{ type: 'text' as const, text: JSON.stringify(body) }] };
    }
  });
  return server;
}

export function mcpRoutes(app: FastifyInstance, ctx: Ctx, deps: ConversationDeps): void {
  app.post(
    '/mcp',
    {
      schema: {
        tags: ['conversations'],
        summary:
          'MCP (streamable HTTP, stateless): the conversation tools; Authorization: Bearer <agent_token>',
      },
    },
    async (req, reply) => {
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      const conversation = await conversationOfAgentToken(ctx, token);
      const server = mcpServer(ctx, deps, conversation.id, req.ip);
      const transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: undefined,
        enableJsonResponse: true,
      });
      reply.hijack();
      reply.raw.setHeader('Request-ID', req.id);
      try {
        await server.connect(transport);
        await transport.handleRequest(req.raw, reply.raw, req.body);
      } finally {
        reply.raw.on('close', () => {
          void transport.close();
          void server.close();
        });
      }
    },
  );
}
