import type { FastifyInstance } from 'fastify';
import type { Ctx } from '../../context.ts';
import * as billing from '../billing/index.ts';
import { notifyUrlSchema } from '../payments/payments.schemas.ts';
import * as conversations from './conversations.service.ts';
import { tool_definitions } from './conversations.tools.ts';

const merchant = { auth: 'merchant' } as const;
const tags = ['conversations'];
const ids = {
  type: 'object',
  properties: {
    conversation_id: { type: 'string', maxLength: 40 },
    proposal_id: { type: 'string', maxLength: 40 },
  },
} as const;

const confirmSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['openid', 'device_fingerprint', 'timestamp', 'nonce', 'signature', 'terms'],
  properties: {
    openid: { type: 'string', minLength: 1, maxLength: 64 },
    device_fingerprint: { type: 'string', minLength: 1, maxLength: 128 },
    instrument_id: { type: 'string', minLength: 1, maxLength: 64 },
    timestamp: { type: 'string', maxLength: 12 },
    nonce: { type: 'string', minLength: 1, maxLength: 64 },
    signature: { type: 'string', minLength: 1, maxLength: 128 },
    terms: {
      type: 'object',
      additionalProperties: false,
      required: ['kind', 'amount', 'currency', 'mchid', 'out_trade_no', 'expires_at'],
      properties: {
        kind: { type: 'string', enum: ['payment', 'refund'] },
        amount: { type: 'integer', minimum: 1, maximum: 2_147_483_647 },
        currency: { type: 'string', maxLength: 8 },
        mchid: { type: 'string', maxLength: 32 },
        out_trade_no: { type: 'string', maxLength: 32 },
        expires_at: { type: 'string', maxLength: 32 },
      },
    },
  },
} as const;

/** The Conversational Payment API (docs/conversations.md). */
export function conversationRoutes(
  app: FastifyInstance,
  ctx: Ctx,
  deps: conversations.ConversationDeps,
): void {
  const mchid = (req: { merchant?: { keys: { mchid: string } } }) => req.merchant!.keys.mchid;
  const gate = billing.aiGate(ctx);

  app.get(
    '/v1/conversations/tools',
    { schema: { tags, summary: 'The agent tools as OpenAI-style function definitions (public)' } },
    async () => ({ object: 'list', data: tool_definitions }),
  );

  app.post<{ Body: { appid: string; payer_openid: string; notify_url: string } }>(
    '/v1/conversations',
    {
      config: merchant,
      preValidation: gate,
      schema: {
        tags,
        summary: 'Open a conversation with a payer (201; returns the MCP agent token once)',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['appid', 'payer_openid', 'notify_url'],
          properties: {
            appid: { type: 'string', minLength: 1, maxLength: 32 },
            payer_openid: { type: 'string', minLength: 1, maxLength: 64 },
            notify_url: notifyUrlSchema,
          },
        },
      },
    },
    async (req, reply) =>
      reply.code(201).send(await conversations.createConversation(ctx, mchid(req), req.body)),
  );

  app.get<{ Params: { conversation_id: string } }>(
    '/v1/conversations/:conversation_id',
    {
      config: merchant,
      schema: { tags, summary: 'A conversation with its messages and proposals', params: ids },
    },
    (req) => conversations.getConversation(ctx, mchid(req), req.params.conversation_id),
  );

  app.post<{ Params: { conversation_id: string }; Body: conversations.PostMessageInput }>(
    '/v1/conversations/:conversation_id/messages',
    {
      config: merchant,
      preValidation: gate,
      schema: {
        tags,
        summary: "Post the payer's message and run one agent turn (or store an end-to-end sealed message)",
        params: ids,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            content: { type: 'string', minLength: 1 },
            sealed_content: { type: 'string', minLength: 1 },
          },
        },
      },
    },
    (req) =>
      conversations.postMessage(ctx, deps, mchid(req), req.params.conversation_id, req.body ?? {}, {
        ip: req.ip,
      }),
  );

  app.get<{ Params: { conversation_id: string; proposal_id: string } }>(
    '/v1/conversations/:conversation_id/proposals/:proposal_id',
    { config: merchant, schema: { tags, summary: 'A proposal (mandate) and its status', params: ids } },
    (req) => conversations.getProposal(ctx, mchid(req), req.params.conversation_id, req.params.proposal_id),
  );

  app.post<{ Params: { conversation_id: string; proposal_id: string }; Body: conversations.ConfirmInput }>(
    '/v1/conversations/:conversation_id/proposals/:proposal_id/confirm',
    {
      config: merchant,
      schema: {
        tags,
        summary: "Relay the payer's signed mandate: the only call that moves money (single use)",
        params: ids,
        body: confirmSchema,
      },
    },
    (req) =>
      conversations.confirmProposal(
        ctx,
        deps,
        mchid(req),
        req.params.conversation_id,
        req.params.proposal_id,
        req.body,
        { ip: req.ip },
      ),
  );

  for (const decision of ['approve', 'decline'] as const) {
    app.post<{ Params: { conversation_id: string; proposal_id: string } }>(
      `/v1/conversations/:conversation_id/proposals/:proposal_id/${decision}`,
      {
        config: merchant,
        schema: { tags, summary: `Merchant: ${decision} a refund escalated by the policy`, params: ids },
      },
      (req) =>
        conversations.decideEscalation(
          ctx,
          mchid(req),
          req.params.conversation_id,
          req.params.proposal_id,
          decision,
        ),
    );
  }
}
