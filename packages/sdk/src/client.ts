import { randomInt } from 'node:crypto';
import type { Promotion, PromotionRequest, Ranking, RankRequest } from './checkout.ts';
import { apiErrorFrom, ZhifuConnectionError } from './errors.ts';
import type { HttpAnswer } from './http.ts';
import {
  checkBaseUrl,
  checkFetch,
  checkTimeoutMs,
  isSuccess,
  jsonHeaders,
  parseBody,
  requestIdOf,
  send,
} from './http.ts';
import type { ResponseKeys, ResponseVerifier } from './signing.ts';
import {
  createResponseVerifier,
  decryptResource,
  hmacAuthorization,
  parsePrivateKey,
  pathWithQuery,
  rsaAuthorization,
} from './signing.ts';
import type {
  AppOrderRequest,
  CertificatesResponse,
  H5OrderRequest,
  H5PrepayResponse,
  JsapiOrderRequest,
  NativeOrderRequest,
  NativePrepayResponse,
  PrepayResponse,
  Refund,
  RefundRequest,
  Transaction,
} from './types.ts';

/** Zhifu's own scheme: requests and responses are signed with the merchant's `hmac_key`. */
export interface HmacAuth {
  scheme: 'hmac';
  hmacKey: string;
}

/** APIv3 RSA: requests signed with the merchant API key; responses verified with a platform key. */
export interface RsaAuth {
  scheme: 'rsa';
  /** Serial of the merchant API certificate. */
  serialNo: string;
  privateKeyPem: string;
  /** Platform-certificate mode: verify responses with this certificate. */
  platformCertificatePem?: string;
  /** Overrides the serial read from `platformCertificatePem`. */
  platformSerialNo?: string;
  /** Public-key mode: with `platformPublicKeyId`, asks the server to sign responses with this key. */
  platformPublicKeyPem?: string;
  platformPublicKeyId?: string;
}

export interface ZhifuClientOptions {
  /** Server origin, optionally with a path prefix that is then part of every signed path. */
  baseUrl: string;
  mchid: string;
  auth: HmacAuth | RsaAuth;
  /** 32-character APIv3 key; lets certificates() decrypt the certificates. */
  apiv3Key?: string;
  /** Verify the signature of every 2xx response (default true). */
  verifyResponses?: boolean;
  /** Deadline of each attempt (default 10000). */
  timeoutMs?: number;
  /**
   * Extra attempts after network errors, 429 and 5xx (default 2, at most 10). A `Retry-After` up
   * to 10 s is waited out first; a longer one ends the retries with the error.
   */
  maxRetries?: number;
  fetch?: typeof fetch;
}

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface RequestOptions {
  /**
   * The server deduplicates this call (by a key in it, such as `out_trade_no`), so a POST or
   * PATCH may be retried. GET, PUT and DELETE always may.
   */
  idempotent?: boolean;
}

/** Order creates and closes: the server answers a repeat by `out_trade_no` with the same result. */
const SAME_OUT_TRADE_NO: RequestOptions = { idempotent: true };

/** An order request whose `mchid` defaults to the client's. */
export type OrderInput<T extends { mchid: string }> = Omit<T, 'mchid'> & { mchid?: string };

const OWNER = 'ZhifuClient';
const DEFAULT_MAX_RETRIES = 2;
/** More than 10 retries at the 2 s backoff cap would keep a caller waiting over 20 s for a dead server. */
const MAX_RETRIES_LIMIT = 10;
const BACKOFF_BASE_MS = 100;
const BACKOFF_CAP_MS = 2_000;
/** A server asking to wait longer than this (Retry-After) gets its error thrown, not a sleeping caller. */
const RETRY_AFTER_MAX_MS = 10_000;
const USER_AGENT = `zhifu-sdk node/${process.versions.node}`;

/**
 * Typed, signing, verifying client of the Zhifu (APIv3-compatible) merchant API. Options are checked
 * at construction (`TypeError`); calls reject with `ZhifuApiError`, `ZhifuSignatureError` or
 * `ZhifuConnectionError`.
 *
 * @example
 * const client = new ZhifuClient({
 *   baseUrl: 'http://localhost:8080', mchid: '1900000001', auth: { scheme: 'hmac', hmacKey },
 * });
 * const { code_url } = await client.createNativeOrder({
 *   appid: 'wx0000000000000001', description: 'Tea', out_trade_no: 'T20240101001',
 *   notify_url: 'https://shop.example/notify', amount: { total: 100, currency: 'CNY' },
 * });
 */
export class ZhifuClient {
  readonly mchid: string;
  readonly #baseUrl: string;
  readonly #authorize: (method: HttpMethod, target: string, body: string) => string;
  readonly #extraHeaders: Record<string, string>;
  readonly #verify: ResponseVerifier | undefined;
  readonly #apiv3Key: string | undefined;
  readonly #timeoutMs: number;
  readonly #maxRetries: number;
  readonly #fetch: typeof fetch;

  constructor(options: ZhifuClientOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(`${OWNER}: options are required`);
    }
    this.#baseUrl = checkBaseUrl(options.baseUrl, OWNER);
    const mchid = options.mchid;
    if (typeof mchid !== 'string' || mchid === '') {
      throw new TypeError(`${OWNER}: mchid must be a non-empty string`);
    }
    this.mchid = mchid;
    const verifyResponses = options.verifyResponses ?? true;
    if (typeof verifyResponses !== 'boolean') {
      throw new TypeError(`${OWNER}: verifyResponses must be a boolean`);
    }
    const auth = options.auth;
    if (auth?.scheme === 'hmac') {
      const hmacKey = auth.hmacKey;
      if (typeof hmacKey !== 'string' || hmacKey === '') {
        throw new TypeError(`${OWNER}: auth.hmacKey must be a non-empty string`);
      }
      this.#authorize = (method, url, body) => hmacAuthorization({ mchid, hmacKey, method, url, body });
      this.#extraHeaders = {};
      this.#verify = verifyResponses ? verifierFor({ scheme: 'hmac', hmacKey }) : undefined;
    } else if (auth?.scheme === 'rsa') {
      const serialNo = auth.serialNo;
      if (typeof serialNo !== 'string' || serialNo === '') {
        throw new TypeError(`${OWNER}: auth.serialNo must be the merchant certificate serial`);
      }
      const privateKey = parsePrivateKey(auth.privateKeyPem, `${OWNER}: auth.privateKeyPem`);
      this.#authorize = (method, url, body) =>
        rsaAuthorization({ mchid, serialNo, privateKey, method, url, body });
      const { platformCertificatePem, platformSerialNo, platformPublicKeyPem, platformPublicKeyId } = auth;
      // The server picks public-key mode per request from Wechatpay-Serial (reference §2.4).
      this.#extraHeaders =
        platformPublicKeyId === undefined ? {} : { 'Wechatpay-Serial': platformPublicKeyId };
      this.#verify = verifyResponses
        ? verifierFor({
            scheme: 'rsa',
            platformCertificatePem,
            platformSerialNo,
            platformPublicKeyPem,
            platformPublicKeyId,
          })
        : undefined;
    } else {
      throw new TypeError(`${OWNER}: auth.scheme must be 'hmac' or 'rsa'`);
    }
    if (options.apiv3Key !== undefined && Buffer.byteLength(String(options.apiv3Key), 'utf8') !== 32) {
      throw new TypeError(`${OWNER}: apiv3Key must be 32 bytes`);
    }
    this.#apiv3Key = options.apiv3Key;
    this.#timeoutMs = checkTimeoutMs(options.timeoutMs, OWNER);
    const maxRetries = options.maxRetries ?? DEFAULT_MAX_RETRIES;
    if (!Number.isInteger(maxRetries) || maxRetries < 0 || maxRetries > MAX_RETRIES_LIMIT) {
      throw new TypeError(`${OWNER}: maxRetries must be an integer from 0 to ${MAX_RETRIES_LIMIT}`);
    }
    this.#maxRetries = maxRetries;
    this.#fetch = checkFetch(options.fetch, OWNER);
  }

  /**
   * JSAPI / mini-program prepay (`POST /v3/pay/transactions/jsapi`).
   *
   * @example
   * const { prepay_id } = await client.createJsapiOrder({ ...order, payer: { openid } });
   */
  createJsapiOrder(order: OrderInput<JsapiOrderRequest>): Promise<PrepayResponse> {
    return this.request('POST', '/v3/pay/transactions/jsapi', this.#withMchid(order), SAME_OUT_TRADE_NO);
  }

  /**
   * Native (QR code) prepay (`POST /v3/pay/transactions/native`).
   *
   * @example
   * const { code_url } = await client.createNativeOrder(order);
   */
  createNativeOrder(order: OrderInput<NativeOrderRequest>): Promise<NativePrepayResponse> {
    return this.request('POST', '/v3/pay/transactions/native', this.#withMchid(order), SAME_OUT_TRADE_NO);
  }

  /**
   * H5 prepay (`POST /v3/pay/transactions/h5`); needs `scene_info.h5_info`.
   *
   * @example
   * const { h5_url } = await client.createH5Order({ ...order, scene_info: { payer_client_ip, h5_info: { type: 'Wap' } } });
   */
  createH5Order(order: OrderInput<H5OrderRequest>): Promise<H5PrepayResponse> {
    return this.request('POST', '/v3/pay/transactions/h5', this.#withMchid(order), SAME_OUT_TRADE_NO);
  }

  /**
   * App prepay (`POST /v3/pay/transactions/app`).
   *
   * @example
   * const { prepay_id } = await client.createAppOrder(order);
   */
  createAppOrder(order: OrderInput<AppOrderRequest>): Promise<PrepayResponse> {
    return this.request('POST', '/v3/pay/transactions/app', this.#withMchid(order), SAME_OUT_TRADE_NO);
  }

  /**
   * Query a paid order by WeChat transaction id.
   *
   * @example
   * const { trade_state } = await client.queryOrderByTransactionId('4200000000000000000000000001');
   */
  queryOrderByTransactionId(transactionId: string): Promise<Transaction> {
    return this.request(
      'GET',
      `/v3/pay/transactions/id/${encodeURIComponent(transactionId)}?mchid=${encodeURIComponent(this.mchid)}`,
    );
  }

  /**
   * Query an order in any state by `out_trade_no`.
   *
   * @example
   * const order = await client.queryOrderByOutTradeNo('T20240101001');
   */
  queryOrderByOutTradeNo(outTradeNo: string): Promise<Transaction> {
    return this.request(
      'GET',
      `/v3/pay/transactions/out-trade-no/${encodeURIComponent(outTradeNo)}?mchid=${encodeURIComponent(this.mchid)}`,
    );
  }

  /**
   * Close an unpaid order (answer 204). Closing twice is fine.
   *
   * @example
   * await client.closeOrder('T20240101001');
   */
  async closeOrder(outTradeNo: string): Promise<void> {
    await this.request(
      'POST',
      `/v3/pay/transactions/out-trade-no/${encodeURIComponent(outTradeNo)}/close`,
      { mchid: this.mchid },
      SAME_OUT_TRADE_NO,
    );
  }

  /**
   * Refund all or part of a paid order; the answer is usually `status: 'PROCESSING'`.
   *
   * @example
   * await client.createRefund({ out_trade_no: 'T1', out_refund_no: 'R1', amount: { refund: 50, total: 100, currency: 'CNY' } });
   */
  createRefund(refund: RefundRequest): Promise<Refund> {
    return this.request('POST', '/v3/refund/domestic/refunds', refund, { idempotent: true });
  }

  /**
   * Query a refund by `out_refund_no`.
   *
   * @example
   * const { status } = await client.queryRefund('R1');
   */
  queryRefund(outRefundNo: string): Promise<Refund> {
    return this.request('GET', `/v3/refund/domestic/refunds/${encodeURIComponent(outRefundNo)}`);
  }

  /**
   * Smart Checkout: rank a payer's instruments for one transaction (0.01 CNY per query). Pass the
   * answer's `ranking_id` with the payment so the outcome teaches the model.
   *
   * @example
   * const { ranking_id, instruments } = await client.rankInstruments({
   *   feature_version: 'checkout.v1', appid, payer: { openid },
   *   transaction: { amount: { total: 12_800 }, mcc: '5411', scene: 'jsapi' },
   *   history: { window_days: 90, payments: 0, instruments: [] },
   * });
   */
  rankInstruments(request: RankRequest): Promise<Ranking> {
    return this.request('POST', '/v1/checkout/rankings', request);
  }

  /**
   * Define a Smart Checkout promotion with a budget and a time window.
   *
   * @example
   * await client.createPromotion({ name: '满100减10', kind: 'amount_off', discount_fen: 1000,
   *   eligibility: { bank_type: 'ICBC_DEBIT', min_amount_fen: 10_000 }, budget_fen: 100_000,
   *   funded_by: 'bank', starts_at: '2026-01-01T00:00:00+08:00', ends_at: '2026-02-01T00:00:00+08:00' });
   */
  createPromotion(promotion: PromotionRequest): Promise<Promotion> {
    return this.request('POST', '/v1/checkout/promotions', promotion);
  }

  /**
   * The merchant's promotions with their remaining budgets.
   *
   * @example
   * const { data } = await client.listPromotions();
   */
  listPromotions(): Promise<{ data: Promotion[] }> {
    return this.request('GET', '/v1/checkout/promotions');
  }

  /**
   * Platform certificates (`GET /v3/certificates`); with `apiv3Key` each carries `certificate_pem`.
   *
   * @example
   * const [newest] = (await client.certificates()).data;
   */
  async certificates(): Promise<CertificatesResponse> {
    const answer = await this.request<CertificatesResponse>('GET', '/v3/certificates');
    const key = this.#apiv3Key;
    if (key === undefined) return answer;
    return {
      data: answer.data.map((c) => ({ ...c, certificate_pem: decryptResource(c.encrypt_certificate, key) })),
    };
  }

  /**
   * Any API call: signs it, verifies 2xx answers and parses their JSON (`undefined` for an empty
   * body). A string body is sent verbatim. A call that may be repeated safely is retried after a
   * network error, 429 or 5xx with the same body: GET, PUT and DELETE, and a POST or PATCH marked
   * `idempotent` (one the server deduplicates, as an order by `out_trade_no` or a refund by
   * `out_refund_no`). Any other call is sent once: a
   * repeat could create a second promotion or a second billed ranking.
   *
   * @example
   * const bill = await client.request('GET', '/v3/bill/tradebill?bill_date=2024-01-01');
   */
  async request<T = unknown>(
    method: HttpMethod,
    path: string,
    body?: object | string,
    options: RequestOptions = {},
  ): Promise<T> {
    if (!path.startsWith('/')) throw new TypeError(`${OWNER}: path must start with '/', got "${path}"`);
    const url = new URL(`${this.#baseUrl}${path}`);
    // Sign exactly what goes on the wire: the URL as fetch will send it and the body string sent.
    const target = pathWithQuery(url);
    const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
    const safe = options.idempotent || method === 'GET' || method === 'PUT' || method === 'DELETE';
    const retries = safe ? this.#maxRetries : 0;
    for (let attempt = 0; ; attempt++) {
      const headers = {
        ...jsonHeaders(text),
        ...this.#extraHeaders,
        'User-Agent': USER_AGENT,
        Authorization: this.#authorize(method, target, text),
      };
      let answer: HttpAnswer;
      try {
        answer = await send(
          this.#fetch,
          url.href,
          { method, headers, body: text === '' ? undefined : text },
          this.#timeoutMs,
        );
      } catch (error) {
        if (error instanceof ZhifuConnectionError && attempt < retries) {
          await backoff(attempt);
          continue;
        }
        throw error;
      }
      if (isSuccess(answer.status)) {
        this.#verify?.({ headers: answer.headers, body: answer.body });
        return parseBody<T>(answer);
      }
      const error = apiErrorFrom(answer.status, answer.body, requestIdOf(answer));
      // FREQUENCY_LIMITED refuses a request before the server does anything with it (a rate limit,
      // a full nonce store), so any call may be sent again; other failures only retry-safe calls.
      const refusedUnread = answer.status === 429 && error.code === 'FREQUENCY_LIMITED';
      const retriable = refusedUnread || answer.status === 429 || answer.status >= 500;
      if (retriable && attempt < (refusedUnread ? this.#maxRetries : retries)) {
        // A 429 or 503 may say when to come back (the server's rate limits do): not sooner.
        const wait = retryAfterMs(answer.headers.get('retry-after'));
        if (wait === undefined || wait <= RETRY_AFTER_MAX_MS) {
          await backoff(attempt, wait);
          continue;
        }
      }
      throw error;
    }
  }

  #withMchid<T extends { mchid?: string }>(order: T): T & { mchid: string } {
    return { ...order, mchid: order.mchid ?? this.mchid };
  }
}

function verifierFor(keys: ResponseKeys): ResponseVerifier {
  try {
    return createResponseVerifier(keys);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new TypeError(`${OWNER}: auth: ${reason} (or pass verifyResponses: false)`, { cause: error });
  }
}

/**
 * Exponential backoff with full jitter: uniform in [0, min(cap, base · 2^attempt)], after the
 * server's Retry-After (if any), so clients told to wait do not all come back at one instant.
 */
function backoff(attempt: number, atLeastMs = 0): Promise<void> {
  const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);
  return new Promise((resolve) => setTimeout(resolve, atLeastMs + randomInt(ceiling + 1)));
}

/** Retry-After in milliseconds: delay-seconds or an HTTP date (RFC 9110 §10.2.3); undefined if absent or unreadable. */
function retryAfterMs(value: string | null): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}
