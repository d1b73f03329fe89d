import type { FastifyInstance } from 'fastify';
import type { Ctx } from '../../context.ts';
import * as billing from '../billing/index.ts';
import { bankTypeParams, channelSchema, promotionSchema, rankRequestSchema } from './checkout.schemas.ts';
import * as checkout from './checkout.service.ts';

const merchant = { auth: 'merchant' } as const;
const tags = ['checkout'];

/** Smart Checkout: rankings (metered AI calls), promotions; sandbox channel settings. */
export function checkoutRoutes(
  app: FastifyInstance,
  ctx: Ctx,
  options: checkout.CheckoutOptions,
  sandbox: boolean,
): void {
  const mchid = (req: { merchant?: { keys: { mchid: string } } }) => req.merchant!.keys.mchid;
  const gate = billing.aiGate(ctx);
  // The bandit is rebuilt from the logged outcomes at start, not by the first query after it.
  app.addHook('onReady', () => checkout.warm(ctx));

  app.post<{ Body: checkout.RankRequest }>(
    '/v1/checkout/rankings',
    {
      config: merchant,
      // The version decides which schema applies, so it is checked before the body's validation.
      preValidation: async (req) => {
        await gate(req);
        checkout.checkFeatureVersion(req.body);
      },
      schema: {
        tags,
        summary: "Rank a payer's instruments for one transaction (0.01 CNY per query)",
        body: rankRequestSchema,
      },
    },
    (req) => checkout.rank(ctx, options, mchid(req), req.body),
  );

  app.post<{ Body: checkout.PromotionInput }>(
    '/v1/checkout/promotions',
    {
      config: merchant,
      schema: {
        tags,
        summary: 'Define a promotion with a budget and a time window (201)',
        body: promotionSchema,
      },
    },
    async (req, reply) => reply.code(201).send(await checkout.createPromotion(ctx, mchid(req), req.body)),
  );

  app.get(
    '/v1/checkout/promotions',
    { config: merchant, schema: { tags, summary: "The merchant's promotions with their remaining budgets" } },
    (req) => checkout.listPromotions(ctx, mchid(req)),
  );

  if (!sandbox) return;
  app.put<{ Params: { bank_type: string }; Body: checkout.ChannelInput }>(
    '/sandbox/v1/channels/:bank_type',
    {
      schema: {
        tags: ['sandbox'],
        summary: 'Set a sandbox bank channel: latency, failure rate and a schedule of outages or spikes',
        params: bankTypeParams,
        body: channelSchema,
      },
    },
    (req) => checkout.setChannel(ctx, req.params.bank_type, req.body),
  );

  app.post<{ Body: { prepay_id?: string; code_url?: string; openid: string } }>(
    '/sandbox/v1/checkout/rankings',
    {
      schema: {
        tags: ['sandbox'],
        summary:
          "The sandbox cashier's ranking: Smart Checkout for an order's payer, on the merchant's account",
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['openid'],
          properties: {
            prepay_id: { type: 'string', minLength: 1, maxLength: 64 },
            code_url: { type: 'string', minLength: 1, maxLength: 256 },
            openid: { type: 'string', minLength: 1, maxLength: 128 },
          },
        },
      },
    },
    (req) => checkout.rankForCashier(ctx, options, req.body),
  );

  app.get(
    '/sandbox/v1/channels',
    { schema: { tags: ['sandbox'], summary: 'Sandbox bank channels: setting in force and measured health' } },
    () => checkout.listChannels(ctx),
  );
}
