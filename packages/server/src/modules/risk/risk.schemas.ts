/** JSON Schemas of the Fraud Shield requests (validation and the generated OpenAPI document). */
import { amount_fen_max, risk_batch_items_max } from '../../lib/limits.ts';

const str = (maxLength: number, extra: object = {}) =>
  ({ type: 'string', minLength: 1, maxLength, ...extra }) as const;

export const assessmentItemSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'payer', 'amount', 'device_fingerprint', 'ip'],
  properties: {
    type: { type: 'string', enum: ['payment', 'refund'] },
    payer: {
      type: 'object',
      additionalProperties: false,
      required: ['openid'],
      properties: { openid: str(128) },
    },
    amount: {
      type: 'object',
      additionalProperties: false,
      required: ['total'],
      properties: {
        total: { type: 'integer', minimum: 1, maximum: amount_fen_max },
        currency: { type: 'string', enum: ['CNY'] },
        /** For refunds: the amount of the payment being refunded. */
        original_total: { type: 'integer', minimum: 1, maximum: amount_fen_max },
      },
    },
    device_fingerprint: str(128),
    ip: str(45, { format: 'ip' }),
    ip_country: str(2, { pattern: '^[A-Z]{2}$' }),
    ip_region: str(16),
    instrument_id: str(64),
    mcc: str(4, { pattern: '^[0-9]{4}$' }),
    out_trade_no: str(32),
    promotion_id: str(64),
  },
} as const;

export const batchSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['items'],
  properties: { items: { type: 'array', minItems: 1, items: assessmentItemSchema } },
} as const;

export const labelSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['label'],
  properties: {
    assessment_id: str(64),
    out_trade_no: str(32),
    label: { type: 'string', enum: ['fraud', 'chargeback', 'legitimate'] },
  },
  oneOf: [{ required: ['assessment_id'] }, { required: ['out_trade_no'] }],
} as const;

export const ruleSchemaBody = {
  type: 'object',
  additionalProperties: false,
  required: ['rule'],
  properties: { rule: str(1024) },
} as const;

export const backtestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['rule'],
  properties: { rule: str(1024), since: str(64) },
} as const;

export const listSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['values'],
  properties: { values: { type: 'array', maxItems: 10_000, items: str(128) } },
} as const;

export const settingsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['review_threshold', 'block_threshold'],
  properties: {
    review_threshold: { type: 'integer', minimum: 0, maximum: 101 },
    block_threshold: { type: 'integer', minimum: 0, maximum: 101 },
  },
} as const;

export { risk_batch_items_max };
