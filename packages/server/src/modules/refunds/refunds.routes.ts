import type { FastifyInstance } from 'fastify';
import type { Ctx } from '../../context.ts';
import type { PaymentDeps } from '../payments/index.ts';
import {
  amountFenSchema,
  notifyUrlSchema,
  outTradeNoSchema,
  refundGoodsDetailSchema,
} from '../payments/payments.schemas.ts';
import * as refunds from './refunds.service.ts';

const outRefundNo = {
  type: 'string',
  minLength: 1,
  maxLength: 64,
  pattern: '^[0-9A-Za-z_\\-|*@]+$',
} as const;

const createRefundSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['out_refund_no', 'amount'],
  properties: {
    transaction_id: { type: 'string', minLength: 1, maxLength: 32 },
    out_trade_no: outTradeNoSchema,
    out_refund_no: outRefundNo,
    reason: { type: 'string', maxLength: 80 },
    notify_url: notifyUrlSchema,
    funds_account: { type: 'string', enum: ['AVAILABLE', 'UNSETTLED'] },
    amount: {
      type: 'object',
      additionalProperties: false,
      required: ['refund', 'total', 'currency'],
      properties: {
        refund: amountFenSchema,
        total: amountFenSchema,
        currency: { type: 'string', enum: ['CNY'] },
        from: {
          type: 'array',
          maxItems: 2,
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['account', 'amount'],
            properties: {
              account: { type: 'string', enum: ['AVAILABLE', 'UNAVAILABLE'] },
              amount: amountFenSchema,
            },
          },
        },
      },
    },
    goods_detail: { type: 'array', maxItems: 100, items: refundGoodsDetailSchema },
  },
} as const;

export function refundRoutes(app: FastifyInstance, ctx: Ctx, deps: PaymentDeps): void {
  app.post<{ Body: refunds.CreateRefundInput }>(
    '/v3/refund/domestic/refunds',
    {
      config: { auth: 'merchant', rateLimit: 'refund' },
      schema: {
        tags: ['refunds'],
        summary: 'Create a domestic refund (full or partial)',
        body: createRefundSchema,
      },
    },
    (req) => refunds.createRefund(ctx, deps, req.merchant!.keys.mchid, req.body, { ip: req.ip }),
  );
  app.get<{ Params: { out_refund_no: string } }>(
    '/v3/refund/domestic/refunds/:out_refund_no',
    {
      config: { auth: 'merchant' },
      schema: {
        tags: ['refunds'],
        summary: 'Query a refund by out_refund_no',
        params: { type: 'object', properties: { out_refund_no: { type: 'string', maxLength: 64 } } },
      },
    },
    (req) => refunds.queryRefund(ctx, req.merchant!.keys.mchid, req.params.out_refund_no),
  );
}
