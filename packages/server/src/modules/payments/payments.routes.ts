import type { FastifyInstance } from 'fastify';
import type { Ctx } from '../../context.ts';
import type { NonceStore } from '../idempotency/index.ts';
import * as decisions from './decisions.service.ts';
import {
  appOrderSchema,
  h5OrderSchema,
  jsapiOrderSchema,
  mchidSchema,
  nativeOrderSchema,
  outTradeNoSchema,
  payRequestSchema,
} from './payments.schemas.ts';
import * as payments from './payments.service.ts';

const merchant = { auth: 'merchant' } as const;
const mchidQuery = {
  type: 'object',
  additionalProperties: false,
  required: ['mchid'],
  properties: { mchid: mchidSchema },
};

export function paymentRoutes(
  app: FastifyInstance,
  ctx: Ctx,
  nonces: NonceStore,
  deps: payments.PaymentDeps,
  sandbox: boolean,
): void {
  const create = [
    ['jsapi', 'JSAPI', jsapiOrderSchema],
    ['native', 'NATIVE', nativeOrderSchema],
    ['h5', 'MWEB', h5OrderSchema],
    ['app', 'APP', appOrderSchema],
  ] as const;
  for (const [path, tradeType, body] of create) {
    app.post<{ Body: payments.CreateOrderInput }>(
      `/v3/pay/transactions/${path}`,
      { config: merchant, schema: { tags: ['payments'], summary: `Create a ${tradeType} order`, body } },
      (req) => payments.createOrder(ctx, deps, req.merchant!.keys.mchid, tradeType, req.body),
    );
  }

  app.get<{ Params: { transaction_id: string }; Querystring: { mchid: string } }>(
    '/v3/pay/transactions/id/:transaction_id',
    {
      config: merchant,
      schema: {
        tags: ['payments'],
        summary: 'Query an order by transaction_id',
        params: { type: 'object', properties: { transaction_id: { type: 'string', maxLength: 32 } } },
        querystring: mchidQuery,
      },
    },
    async (req) => {
      if (req.query.mchid !== req.merchant!.keys.mchid) payments.mchidMismatchInQuery(req.query.mchid);
      return payments.queryByTransactionId(ctx, req.merchant!.keys.mchid, req.params.transaction_id);
    },
  );

  app.get<{ Params: { out_trade_no: string }; Querystring: { mchid: string } }>(
    '/v3/pay/transactions/out-trade-no/:out_trade_no',
    {
      config: merchant,
      schema: {
        tags: ['payments'],
        summary: 'Query an order by out_trade_no',
        params: { type: 'object', properties: { out_trade_no: { type: 'string', maxLength: 32 } } },
        querystring: mchidQuery,
      },
    },
    async (req) => {
      if (req.query.mchid !== req.merchant!.keys.mchid) payments.mchidMismatchInQuery(req.query.mchid);
      return payments.queryByOutTradeNo(ctx, req.merchant!.keys.mchid, req.params.out_trade_no);
    },
  );

  app.post<{ Params: { out_trade_no: string }; Body: { mchid: string } }>(
    '/v3/pay/transactions/out-trade-no/:out_trade_no/close',
    {
      config: merchant,
      schema: {
        tags: ['payments'],
        summary: 'Close an unpaid order (204, signed)',
        params: { type: 'object', properties: { out_trade_no: outTradeNoSchema } },
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['mchid'],
          properties: { mchid: mchidSchema },
        },
      },
    },
    async (req, reply) => {
      await payments.closeOrder(ctx, req.merchant!.keys.mchid, req.body.mchid, req.params.out_trade_no);
      return reply.code(204).send();
    },
  );

  app.post<{ Params: { out_trade_no: string }; Body: { decision: 'approve' | 'decline' } }>(
    '/v1/payments/:out_trade_no/review',
    {
      config: merchant,
      schema: {
        tags: ['decisions'],
        summary: 'Resolve a payment in manual review: approve (capture) or decline (release the funds)',
        params: { type: 'object', properties: { out_trade_no: outTradeNoSchema } },
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['decision'],
          properties: { decision: { type: 'string', enum: ['approve', 'decline'] } },
        },
      },
    },
    (req) =>
      decisions.resolveReview(
        ctx,
        deps.decisions,
        req.merchant!.keys.mchid,
        req.params.out_trade_no,
        req.body.decision,
      ),
  );

  app.post<{ Body: { event_id: string; decision: 'approve' | 'review' | 'block' } }>(
    '/v1/decisions',
    {
      config: merchant,
      schema: {
        tags: ['decisions'],
        summary: 'Answer payment.decision_required over REST (the WebSocket is the fast path)',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['event_id', 'decision'],
          properties: {
            event_id: { type: 'string', maxLength: 64 },
            decision: { type: 'string', enum: ['approve', 'review', 'block'] },
          },
        },
      },
    },
    (req) =>
      decisions.decide(ctx, deps.decisions, req.merchant!.keys.mchid, req.body.event_id, req.body.decision),
  );

  if (!sandbox) return;
  app.get<{ Querystring: { prepay_id?: string; code_url?: string } }>(
    '/sandbox/v1/orders/lookup',
    {
      schema: {
        tags: ['sandbox'],
        summary: 'What the cashier shows before a payer confirms',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            prepay_id: { type: 'string', maxLength: 64 },
            code_url: { type: 'string', maxLength: 256 },
          },
        },
      },
    },
    (req) => payments.lookupForPayer(ctx, req.query),
  );

  app.post<{ Body: payments.PayInput }>(
    '/sandbox/v1/pay',
    {
      schema: {
        tags: ['sandbox'],
        summary: 'A sandbox payer confirms and pays an order',
        body: payRequestSchema,
      },
    },
    (req) => payments.pay(ctx, nonces, deps, req.body, { ip: req.ip }),
  );
}
