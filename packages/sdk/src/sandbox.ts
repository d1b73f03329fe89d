/**
 * Client of the sandbox wallet: simulated payers who pay merchants' orders. Merchants do not sign
 * these calls; a payer proves a confirmation with their session key and device fingerprint.
 */
import { createHmac } from 'node:crypto';
import { apiErrorFrom } from './errors.ts';
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
import { createNonce, unixSeconds } from './signing.ts';
import type { TradeState, TradeType } from './types.ts';

export interface SandboxPayer {
  openid: string;
  name: string;
  /** Deterministic behaviour of this payer (e.g. always declined), or null for an ordinary one. */
  fixture: string | null;
}

export type InstrumentKind = 'balance' | 'debit_card' | 'credit_card' | 'credit_line';

export interface SandboxInstrument {
  id: string;
  kind: InstrumentKind;
  bank_type: string;
  display_name: string;
  last4: string | null;
  available_fen: number;
  per_txn_limit_fen: number | null;
}

export interface SandboxLogin {
  code: string;
  /** Base64; the key of payer proofs. */
  session_key: string;
  /** When the session expires, Unix milliseconds. */
  expires_at: number;
}

/** An order as the payer sees it before paying. */
export interface SandboxOrder {
  appid: string;
  mchid: string;
  merchant_name: string;
  out_trade_no: string;
  description: string;
  trade_type: TradeType;
  trade_state: TradeState;
  /** Whether `pay` can take the order now (an unpaid order's prepay_id / code_url may have expired). */
  payable: boolean;
  amount: { total: number; currency: string };
  payer_openid: string | null;
}

/** An instrument its payer closed (cancelled): refunds to it end ABNORMAL, then CLOSED. */
export interface ClosedSandboxInstrument {
  id: string;
  kind: string;
  bank_type: string;
  display_name: string;
  last4: string | null;
  /** RFC 3339. */
  closed_at: string;
}

export interface SandboxPayment {
  transaction_id: string;
  out_trade_no: string;
  trade_state: TradeState;
  /** Present once the payment is captured (not while held for the merchant's decision). */
  success_time?: string;
  amount: { total: number; payer_total: number; currency: string };
  instrument_id: string;
  bank_type: string;
  /** Smart Checkout: the promotion applied (payer_total is the total minus its discount). */
  promotion?: {
    promotion_id: string;
    name: string;
    discount_fen: number;
    instalments: number | null;
    funded_by: string;
  };
}

export interface PayerProofInput {
  /** A `prepay_id`, or a Native `code_url` (`weixin://…`). */
  target: string;
  openid: string;
  instrumentId?: string;
  deviceFingerprint: string;
  /** Unix seconds, as a string. */
  timestamp: string;
  nonce: string;
  /** Base64 `session_key` from login. */
  sessionKey: string;
}

/**
 * A payer's confirmation signature: base64 HMAC-SHA256 keyed with the base64-decoded session key over
 * `ZHIFU-PAYER-CONFIRM\n${target}\n${openid}\n${instrumentId ?? ''}\n${deviceFingerprint}\n${timestamp}\n${nonce}\n`.
 *
 * @example
 * const signature = payerProof({ target: prepayId, openid, deviceFingerprint, timestamp, nonce, sessionKey });
 */
export function payerProof(input: PayerProofInput): string {
  const message = `ZHIFU-PAYER-CONFIRM\n${input.target}\n${input.openid}\n${input.instrumentId ?? ''}\n${input.deviceFingerprint}\n${input.timestamp}\n${input.nonce}\n`;
  return createHmac('sha256', Buffer.from(input.sessionKey, 'base64'))
    .update(message, 'utf8')
    .digest('base64');
}

export interface SandboxClientOptions {
  baseUrl: string;
  /** Deadline of each call (default 10000). */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export interface PayInput {
  target: string;
  openid: string;
  sessionKey: string;
  deviceFingerprint: string;
  instrumentId?: string;
  /** The Smart Checkout ranking the payer followed. */
  rankingId?: string;
}

const OWNER = 'SandboxClient';

/**
 * The sandbox wallet API (`/sandbox/v1`). Calls are not retried: a payment confirmation is not
 * idempotent. Non-2xx answers reject with `ZhifuApiError`.
 *
 * @example
 * const sandbox = new SandboxClient({ baseUrl: 'http://localhost:8080' });
 * const payment = await sandbox.payAs({ target: prepay_id, openid });
 */
export class SandboxClient {
  readonly #baseUrl: string;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;

  constructor(options: SandboxClientOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(`${OWNER}: options are required`);
    }
    this.#baseUrl = checkBaseUrl(options.baseUrl, OWNER);
    this.#timeoutMs = checkTimeoutMs(options.timeoutMs, OWNER);
    this.#fetch = checkFetch(options.fetch, OWNER);
  }

  /**
   * Simulated payers who have an openid under `appid`.
   *
   * @example
   * const { data: payers } = await sandbox.listPayers('wx0000000000000001');
   */
  listPayers(appid: string): Promise<{ data: SandboxPayer[] }> {
    return this.#call('GET', `/sandbox/v1/payers?appid=${encodeURIComponent(appid)}`);
  }

  /**
   * A payer's wallet balance, cards and credit line.
   *
   * @example
   * const { data } = await sandbox.instruments(openid);
   */
  instruments(openid: string): Promise<{ data: SandboxInstrument[] }> {
    return this.#call('GET', `/sandbox/v1/payers/${encodeURIComponent(openid)}/instruments`);
  }

  /**
   * Log a payer in on a device (code2session style) and get a session key.
   *
   * @example
   * const { session_key } = await sandbox.login({ appid, openid, deviceFingerprint: 'dev-1' });
   */
  login(input: { appid: string; openid: string; deviceFingerprint: string }): Promise<SandboxLogin> {
    return this.#call('POST', '/sandbox/v1/login', {
      appid: input.appid,
      openid: input.openid,
      device_fingerprint: input.deviceFingerprint,
    });
  }

  /**
   * Close (cancel) one of a payer's instruments, as a cancelled bank card: refunds of orders it
   * paid are then accepted ABNORMAL and closed after a day (docs/sandbox.md).
   *
   * @example
   * await sandbox.closeInstrument(openid, 'ins_zhangwei_cmb_credit');
   */
  closeInstrument(openid: string, instrumentId: string): Promise<ClosedSandboxInstrument> {
    return this.#call('POST', `/sandbox/v1/instruments/${encodeURIComponent(instrumentId)}/close`, {
      openid,
    });
  }

  /**
   * The order behind a `prepay_id` or a Native `code_url`.
   *
   * @example
   * const order = await sandbox.lookup('weixin://wxpay/bizpayurl/up?pr=abc&groupid=00');
   */
  lookup(target: string): Promise<SandboxOrder> {
    return this.#call(
      'GET',
      `/sandbox/v1/orders/lookup?${targetField(target)}=${encodeURIComponent(target)}`,
    );
  }

  /**
   * Confirm a payment as the payer, with a fresh proof signed by the session key.
   *
   * @example
   * const payment = await sandbox.pay({ target: prepay_id, openid, sessionKey, deviceFingerprint: 'dev-1' });
   */
  pay(input: PayInput): Promise<SandboxPayment> {
    const timestamp = String(unixSeconds());
    const nonce = createNonce();
    const signature = payerProof({ ...input, timestamp, nonce });
    return this.#call('POST', '/sandbox/v1/pay', {
      [targetField(input.target)]: input.target,
      openid: input.openid,
      instrument_id: input.instrumentId,
      ranking_id: input.rankingId,
      device_fingerprint: input.deviceFingerprint,
      timestamp,
      nonce,
      signature,
    });
  }

  /**
   * Pay as `openid` in one call: lookup (for the appid, unless given) → login → pay. The device
   * fingerprint defaults to `sdk-device-<openid>`.
   *
   * @example
   * const { transaction_id } = await sandbox.payAs({ target: code_url, openid });
   */
  async payAs(input: {
    appid?: string;
    target: string;
    openid: string;
    deviceFingerprint?: string;
    instrumentId?: string;
    rankingId?: string;
  }): Promise<SandboxPayment> {
    const appid = input.appid ?? (await this.lookup(input.target)).appid;
    const deviceFingerprint = input.deviceFingerprint ?? `sdk-device-${input.openid}`;
    const { session_key } = await this.login({ appid, openid: input.openid, deviceFingerprint });
    return this.pay({
      target: input.target,
      openid: input.openid,
      sessionKey: session_key,
      deviceFingerprint,
      instrumentId: input.instrumentId,
      rankingId: input.rankingId,
    });
  }

  async #call<T>(method: 'GET' | 'POST', path: string, body?: object): Promise<T> {
    const text = body === undefined ? '' : JSON.stringify(body);
    const answer = await send(
      this.#fetch,
      `${this.#baseUrl}${path}`,
      { method, headers: jsonHeaders(text), body: text === '' ? undefined : text },
      this.#timeoutMs,
    );
    if (!isSuccess(answer.status)) throw apiErrorFrom(answer.status, answer.body, requestIdOf(answer));
    return parseBody<T>(answer);
  }
}

/** Native orders are paid by scanning their `code_url`; every other kind by `prepay_id`. */
function targetField(target: string): 'code_url' | 'prepay_id' {
  return target.startsWith('weixin://') ? 'code_url' : 'prepay_id';
}
