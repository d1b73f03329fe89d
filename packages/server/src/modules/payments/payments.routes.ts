import type { FastifyInstance } from 'fastify';
import type { Ctx } from '../../context.ts';
import type { NonceStore } from '../idempotency/index.ts';
import type { RiskDeps } from '../risk/index.ts';
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
  riskDeps: RiskDeps,
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
      (req) => payments.createOrder(ctx, req.merchant!.keys.mchid, tradeType, req.body),
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
    (req) => payments.pay(ctx, nonces, riskDeps, req.body, { ip: req.ip }),
  );
}
