/**
 * JSON Schemas of the Smart Checkout API (docs/checkout.md): validation and the generated OpenAPI.
 * The ranking request is feature schema `checkout.v1`; `feature_version` is checked before this
 * schema (checkFeatureVersion), so a request in another version is refused for its version, not
 * for its fields. Unknown fields are refused at every level.
 */
import {
  amount_fen_max,
  channel_latency_ms_max,
  channel_schedule_max,
  history_instruments_max,
} from '../../lib/limits.ts';

const str = (maxLength: number, extra: object = {}) =>
  ({ type: 'string', minLength: 1, maxLength, ...extra }) as const;
const obj = (properties: Record<string, unknown>, required: string[] = []) =>
  ({ type: 'object', additionalProperties: false, properties, required }) as const;
const count = { type: 'integer', minimum: 0, maximum: 1_000_000 } as const;

export const rankRequestSchema = obj(
  {
    feature_version: {
      type: 'string',
      maxLength: 32,
      description: 'Feature-vector schema version: "checkout.v1"',
    },
    appid: str(32),
    transaction: obj(
      {
        amount: obj(
          {
            total: { type: 'integer', minimum: 1, maximum: amount_fen_max },
            currency: { type: 'string', enum: ['CNY'] },
          },
          ['total'],
        ),
        mcc: str(4, { pattern: '^[0-9]{4}$', description: 'ISO 18245 merchant category code' }),
        scene: { type: 'string', enum: ['jsapi', 'native', 'h5', 'app', 'mini_program'] },
        out_trade_no: str(32),
      },
      ['amount', 'mcc', 'scene'],
    ),
    payer: obj({ openid: str(128) }, ['openid']),
    history: obj(
      {
        window_days: { type: 'integer', minimum: 1, maximum: 366 },
        payments: count,
        promotion_redemptions: count,
        last_instrument_id: str(64),
        instruments: {
          type: 'array',
          maxItems: history_instruments_max,
          items: obj(
            {
              instrument_id: str(64),
              uses: count,
              failures: count,
              last_used_days_ago: { type: 'number', minimum: 0, maximum: 3660 },
            },
            ['instrument_id', 'uses', 'failures'],
          ),
        },
      },
      ['window_days', 'payments', 'instruments'],
    ),
    client: obj({ network_latency_ms: { type: 'integer', minimum: 0, maximum: 60_000 } }),
  },
  ['feature_version', 'appid', 'transaction', 'payer', 'history'],
);

const time = str(64, { description: 'RFC 3339 with an offset' });

export const promotionSchema = obj(
  {
    name: str(64),
    kind: { type: 'string', enum: ['amount_off', 'instalments'] },
    eligibility: obj({
      bank_type: str(32, { pattern: '^[A-Z_]+$' }),
      instrument_kind: { type: 'string', enum: ['balance', 'debit_card', 'credit_card', 'credit_line'] },
      min_amount_fen: { type: 'integer', minimum: 0, maximum: amount_fen_max },
    }),
    discount_fen: { type: 'integer', minimum: 0, maximum: amount_fen_max },
    instalments: { type: 'integer', minimum: 2, maximum: 36 },
    budget_fen: { type: 'integer', minimum: 1, maximum: 1_000_000_000_00 },
    funded_by: { type: 'string', enum: ['merchant', 'bank', 'platform'] },
    starts_at: time,
    ends_at: time,
  },
  ['name', 'kind', 'budget_fen', 'funded_by', 'starts_at', 'ends_at'],
);

const latency = { type: 'integer', minimum: 0, maximum: channel_latency_ms_max } as const;
const rate = { type: 'number', minimum: 0, maximum: 1 } as const;

export const channelSchema = obj(
  {
    latency_ms: latency,
    failure_rate: rate,
    schedule: {
      type: 'array',
      maxItems: channel_schedule_max,
      items: obj({ from: time, until: time, latency_ms: latency, failure_rate: rate }, ['from', 'until']),
    },
  },
  ['latency_ms', 'failure_rate'],
);

export const bankTypeParams = obj({ bank_type: str(32, { pattern: '^[A-Z_]+$' }) }, ['bank_type']);
