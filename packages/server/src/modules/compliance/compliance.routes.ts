import type { FastifyInstance } from 'fastify';
import type { Ctx } from '../../context.ts';
import * as audit from '../audit/index.ts';
import * as compliance from './compliance.service.ts';
import * as pipl from './pipl.service.ts';

const merchant = { auth: 'merchant' } as const;
const operator = { auth: 'operator' } as const;

export function complianceRoutes(app: FastifyInstance, ctx: Ctx): void {
  const mchid = (req: { merchant?: { keys: { mchid: string } } }) => req.merchant!.keys.mchid;

  app.get(
    '/v1/compliance/freezes',
    { config: merchant, schema: { tags: ['compliance'], summary: "The merchant's freezes" } },
    (req) => compliance.listFreezes(ctx, mchid(req)),
  );

  app.get<{ Querystring: { mchid?: string } }>(
    '/v1/operator/freezes',
    {
      config: operator,
      schema: {
        tags: ['operator'],
        summary: 'Freezes of all merchants (operator)',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { mchid: { type: 'string', maxLength: 32 } },
        },
      },
    },
    (req) => compliance.listFreezes(ctx, req.query.mchid),
  );

  app.post<{
    Params: { freeze_id: string };
    Body: { action: compliance.ReviewAction; hours?: number; note: string };
  }>(
    '/v1/operator/freezes/:freeze_id/review',
    {
      config: operator,
      schema: {
        tags: ['operator'],
        summary: 'Review a freeze: approve the appeal (unfreeze), extend it, or uphold it — audited',
        params: { type: 'object', properties: { freeze_id: { type: 'string', maxLength: 64 } } },
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['action', 'note'],
          properties: {
            action: { type: 'string', enum: ['appeal_approve', 'extend', 'uphold'] },
            hours: { type: 'integer', minimum: 1, maximum: 24 * 90 },
            note: { type: 'string', minLength: 1, maxLength: 500 },
          },
        },
      },
    },
    (req) => compliance.reviewFreeze(ctx, req.params.freeze_id, { ...req.body, operator: 'operator' }),
  );

  app.get(
    '/v1/operator/audit/verify',
    { config: operator, schema: { tags: ['operator'], summary: 'Verify the SM3 audit chain' } },
    () => audit.verify(ctx.db),
  );

  app.post<{ Body: { openid: string; purpose: string; granted: boolean } }>(
    '/v1/pipl/consents',
    {
      config: merchant,
      schema: {
        tags: ['compliance'],
        summary: "Record a payer's consent (granted or withdrawn) for a purpose",
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['openid', 'purpose', 'granted'],
          properties: {
            openid: { type: 'string', minLength: 1, maxLength: 128 },
            purpose: { type: 'string', pattern: '^[a-z_]{1,64}$' },
            granted: { type: 'boolean' },
          },
        },
      },
    },
    async (req, reply) => reply.code(201).send(await pipl.recordConsent(ctx, mchid(req), req.body)),
  );

  app.get<{ Querystring: { openid: string } }>(
    '/v1/pipl/consents',
    {
      config: merchant,
      schema: {
        tags: ['compliance'],
        summary: "A payer's consent history and current state per purpose",
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['openid'],
          properties: { openid: { type: 'string', maxLength: 128 } },
        },
      },
    },
    (req) => pipl.consentsOf(ctx, mchid(req), req.query.openid),
  );

  app.get<{ Querystring: { year: string } }>(
    '/v1/operator/pipl/cross-border',
    {
      config: operator,
      schema: {
        tags: ['operator'],
        summary: 'Cross-border transfer log: people and transfers per year (PIPL)',
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['year'],
          properties: { year: { type: 'string', pattern: '^[0-9]{4}$' } },
        },
      },
    },
    (req) => pipl.transferSummary(ctx, Number(req.query.year)),
  );
}
