/**
 * Wire models of the merchant API, field names exactly as APIv3 spells them (reference §2.3, §3).
 * Amounts are integer fen.
 */

/** §3.1 `detail`: goods in the order (≤ 6144 bytes as compact JSON). */
export interface OrderDetail {
  cost_price?: number;
  invoice_id?: string;
  goods_detail?: Array<{
    merchant_goods_id: string;
    wechatpay_goods_id?: string;
    goods_name?: string;
    quantity: number;
    unit_price: number;
  }>;
}

export interface H5Info {
  type: 'Wap' | 'iOS' | 'Android';
  app_name?: string;
  app_url?: string;
  bundle_id?: string;
  package_name?: string;
}

export interface SceneInfo {
  payer_client_ip: string;
  device_id?: string;
  store_info?: { id: string; name?: string; area_code?: string; address?: string };
  h5_info?: H5Info;
}

/** Fields shared by the four prepay requests (§3.1). */
export interface OrderRequest {
  appid: string;
  mchid: string;
  description: string;
  /** 6–32 characters of `[0-9A-Za-z_\-|*]`, unique per merchant; the idempotency key of the order. */
  out_trade_no: string;
  /** RFC 3339, e.g. `2018-06-08T10:34:56+08:00`. */
  time_expire?: string;
  attach?: string;
  notify_url: string;
  goods_tag?: string;
  support_fapiao?: boolean;
  amount: { total: number; currency?: string };
  detail?: OrderDetail;
  scene_info?: SceneInfo;
  settle_info?: { profit_sharing?: boolean };
}

export interface JsapiOrderRequest extends OrderRequest {
  /** The payer's openid under this `appid` (openids are per appid). */
  payer: { openid: string };
}

export type NativeOrderRequest = OrderRequest;

export interface H5OrderRequest extends OrderRequest {
  scene_info: SceneInfo & { h5_info: H5Info };
}

export type AppOrderRequest = OrderRequest;

/** JSAPI and App prepay answer. */
export interface PrepayResponse {
  prepay_id: string;
}

export interface NativePrepayResponse {
  code_url: string;
}

export interface H5PrepayResponse {
  h5_url: string;
}

/** §3.2 */
export type TradeState = 'SUCCESS' | 'REFUND' | 'NOTPAY' | 'CLOSED' | 'REVOKED' | 'USERPAYING' | 'PAYERROR';

/** `MWEB` is H5. */
export type TradeType = 'JSAPI' | 'NATIVE' | 'APP' | 'MICROPAY' | 'MWEB' | 'FACEPAY';

export interface PromotionDetail {
  coupon_id: string;
  name?: string;
  scope?: 'GLOBAL' | 'SINGLE';
  type?: 'CASH' | 'NOCASH';
  amount: number;
  stock_id?: string;
  wechatpay_contribute?: number;
  merchant_contribute?: number;
  other_contribute?: number;
  currency?: string;
  goods_detail?: Array<{
    goods_id: string;
    quantity: number;
    unit_price: number;
    discount_amount: number;
    goods_remark?: string;
  }>;
}

/** §3.2 order as queried (and as the `TRANSACTION.SUCCESS` callback resource). */
export interface Transaction {
  appid: string;
  mchid: string;
  out_trade_no: string;
  /** Present once paid. */
  transaction_id?: string;
  trade_type?: TradeType;
  trade_state: TradeState;
  trade_state_desc?: string;
  bank_type?: string;
  attach?: string;
  /** RFC 3339; present once paid. */
  success_time?: string;
  payer?: { openid: string };
  amount: { total: number; payer_total?: number; currency: string; payer_currency?: string };
  scene_info?: { device_id?: string };
  promotion_detail?: PromotionDetail[];
}

/**
 * §3.4 refund request: name the order by `transaction_id`, by `out_trade_no`, or by both (then
 * `out_trade_no` must be that transaction's, else `400 INVALID_REQUEST`).
 */
export type RefundRequest = (
  | { transaction_id: string; out_trade_no?: string }
  | { out_trade_no: string; transaction_id?: string }
) & {
  /** Unique per merchant; the same number is the same refund, so retries reuse it. */
  out_refund_no: string;
  reason?: string;
  notify_url?: string;
  funds_account?: 'AVAILABLE';
  amount: {
    refund: number;
    total: number;
    currency: string;
    from?: Array<{ account: 'AVAILABLE' | 'UNAVAILABLE'; amount: number }>;
  };
  goods_detail?: Array<{
    merchant_goods_id: string;
    wechatpay_goods_id?: string;
    goods_name?: string;
    unit_price: number;
    refund_amount: number;
    refund_quantity: number;
  }>;
};

/** Creating answers `PROCESSING` normally: acceptance is not success. */
export type RefundStatus = 'SUCCESS' | 'CLOSED' | 'PROCESSING' | 'ABNORMAL';

export type RefundChannel = 'ORIGINAL' | 'BALANCE' | 'OTHER_BALANCE' | 'OTHER_BANKCARD';

export type FundsAccount = 'UNSETTLED' | 'AVAILABLE' | 'UNAVAILABLE' | 'OPERATION' | 'BASIC' | 'ECNY_BASIC';

/** §3.4 refund, the answer of both create and query. */
export interface Refund {
  refund_id: string;
  out_refund_no: string;
  transaction_id: string;
  out_trade_no: string;
  channel: RefundChannel;
  user_received_account: string;
  /** RFC 3339; present once the refund succeeded. */
  success_time?: string;
  create_time: string;
  status: RefundStatus;
  funds_account?: FundsAccount;
  amount: {
    total: number;
    refund: number;
    from?: Array<{ account: 'AVAILABLE' | 'UNAVAILABLE'; amount: number }>;
    payer_total: number;
    payer_refund: number;
    settlement_refund: number;
    settlement_total: number;
    discount_refund: number;
    currency: string;
    refund_fee?: number;
  };
  promotion_detail?: Array<{
    promotion_id: string;
    scope: 'GLOBAL' | 'SINGLE';
    type: string;
    amount: number;
    refund_amount: number;
    goods_detail?: RefundRequest['goods_detail'];
  }>;
}

/** §2.3 one platform certificate. */
export interface PlatformCertificate {
  serial_no: string;
  effective_time: string;
  expire_time: string;
  encrypt_certificate: {
    algorithm: 'AEAD_AES_256_GCM';
    nonce: string;
    associated_data: string;
    ciphertext: string;
  };
  /** The decrypted PEM; added by ZhifuClient.certificates() when the client has an `apiv3Key`. */
  certificate_pem?: string;
}

/** §2.3 `GET /v3/certificates`. */
export interface CertificatesResponse {
  data: PlatformCertificate[];
}
