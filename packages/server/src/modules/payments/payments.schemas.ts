/**
 * JSON Schemas of the APIv3 order requests (reference §3.1), used for validation and for the
 * generated OpenAPI document. Unknown fields are rejected at every level (`additionalProperties:
 * false`), lengths follow APIv3's string(n), amounts are integer fen from 1 to amount_fen_max.
 */
import { amount_fen_max } from '../../lib/limits.ts';

const str = (maxLength: number, extra: object = {}) =>
  ({ type: 'string', minLength: 1, maxLength, ...extra }) as const;
const obj = (properties: Record<string, unknown>, required: string[] = []) =>
  ({ type: 'object', additionalProperties: false, properties, required }) as const;

export const mchidSchema = str(32, { pattern: '^[0-9]+$' });
export const outTradeNoSchema = {
  type: 'string',
  minLength: 6,
  maxLength: 32,
  pattern: '^[0-9A-Za-z_\\-|*]+$',
} as const;
export const amountFenSchema = { type: 'integer', minimum: 1, maximum: amount_fen_max } as const;
export const notifyUrlSchema = str(255, { pattern: '^https?://[^\\s?#]+$' });

const goodsDetail = obj(
  {
    merchant_goods_id: str(32),
    wechatpay_goods_id: str(32),
    goods_name: str(256),
    quantity: { type: 'integer', minimum: 1, maximum: 100000 },
    unit_price: { type: 'integer', minimum: 0, maximum: amount_fen_max },
  },
  ['merchant_goods_id', 'quantity', 'unit_price'],
);

/** A refund's goods line (reference §3.4). */
export const refundGoodsDetailSchema = obj(
  {
    merchant_goods_id: str(32),
    wechatpay_goods_id: str(32),
    goods_name: str(256),
    unit_price: { type: 'integer', minimum: 0, maximum: amount_fen_max },
    refund_amount: { type: 'integer', minimum: 0, maximum: amount_fen_max },
    refund_quantity: { type: 'integer', minimum: 1, maximum: 100000 },
  },
  ['merchant_goods_id', 'unit_price', 'refund_amount', 'refund_quantity'],
);

const sceneInfo = obj(
  {
    payer_client_ip: str(45, { format: 'ip' }),
    device_id: str(32),
    store_info: obj({ id: str(32), name: str(256), area_code: str(32), address: str(512) }, ['id']),
    h5_info: obj(
      {
        type: { type: 'string', enum: ['Wap', 'iOS', 'Android'] },
        app_name: str(64),
        app_url: str(128),
        bundle_id: str(128),
        package_name: str(128),
      },
      ['type'],
    ),
  },
  ['payer_client_ip'],
);

const baseProperties = {
  appid: str(32),
  mchid: mchidSchema,
  description: str(127),
  out_trade_no: outTradeNoSchema,
  time_expire: str(64),
  attach: str(128),
  notify_url: notifyUrlSchema,
  goods_tag: str(32),
  support_fapiao: { type: 'boolean' },
  limit_pay: { type: 'array', maxItems: 8, items: str(32) },
  amount: obj({ total: amountFenSchema, currency: { type: 'string', enum: ['CNY'] } }, ['total']),
  detail: obj({
    cost_price: { type: 'integer', minimum: 0, maximum: amount_fen_max },
    invoice_id: str(32),
    goods_detail: { type: 'array', maxItems: 100, items: goodsDetail },
  }),
  scene_info: sceneInfo,
  settle_info: obj({ profit_sharing: { type: 'boolean' } }),
};
const baseRequired = ['appid', 'mchid', 'description', 'out_trade_no', 'notify_url', 'amount'];

export const jsapiOrderSchema = obj({ ...baseProperties, payer: obj({ openid: str(128) }, ['openid']) }, [
  ...baseRequired,
  'payer',
]);
export const nativeOrderSchema = obj(baseProperties, baseRequired);
export const appOrderSchema = obj(baseProperties, baseRequired);
export const h5OrderSchema = obj(
  {
    ...baseProperties,
    scene_info: obj({ ...sceneInfo.properties, h5_info: sceneInfo.properties.h5_info }, [
      'payer_client_ip',
      'h5_info',
    ]),
  },
  [...baseRequired, 'scene_info'],
);

export const payRequestSchema = obj(
  {
    prepay_id: str(64),
    code_url: str(256),
    openid: str(128),
    instrument_id: str(64),
    device_fingerprint: str(128),
    timestamp: str(12, { pattern: '^[0-9]+$' }),
    nonce: str(64),
    signature: str(128),
    ip: str(45, { format: 'ip' }),
    ip_country: str(2, { pattern: '^[A-Z]{2}$' }),
    ip_region: str(16),
    ranking_id: str(64),
  },
  ['openid', 'device_fingerprint', 'timestamp', 'nonce', 'signature'],
);
