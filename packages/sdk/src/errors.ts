/**
 * One base error class and three subclasses (STYLE.md rule 13), so callers can catch `ZhifuError`
 * for everything or tell the three kinds of failure apart with `instanceof`.
 */

/** Every wire code the Zhifu server may answer with, sorted (kept in step with the server's error catalog). */
export const errorCodes = [
  'ACCOUNT_FROZEN',
  'AGENT_TOOL_LOOP',
  'AI_NOT_ELIGIBLE',
  'APPID_MCHID_NOT_MATCH',
  'BANK_ERROR',
  'BILL_TOO_LARGE',
  'CARD_DECLINED',
  'CONVERSATION_BUSY',
  'CONVERSATION_LIMIT',
  'DECISION_ALREADY_MADE',
  'DECISION_DEADLINE_PASSED',
  'DECISION_NOT_IN_REVIEW',
  'FEATURE_VERSION_UNSUPPORTED',
  'FREQUENCY_LIMITED',
  'IDEMPOTENCY_KEY_REUSED',
  'INSUFFICIENT_FUNDS',
  'INVALID_REQUEST',
  'LLM_BUDGET_EXCEEDED',
  'LLM_KEY_INVALID',
  'LLM_MODEL_NOT_ALLOWED',
  'LLM_MODEL_NOT_FOUND',
  'LLM_PROVIDER_ERROR',
  'LLM_RATE_LIMITED',
  'LLM_REDACTION_FAILED',
  'LLM_STREAM_INTERRUPTED',
  'MANDATE_EXPIRED',
  'MANDATE_MISMATCH',
  'MANDATE_STATE_INVALID',
  'MANDATE_USED',
  'MCH_NOT_EXISTS',
  'NOT_ENOUGH',
  'NO_AUTH',
  'NO_STATEMENT_EXIST',
  'OPENID_MISMATCH',
  'ORDER_CLOSED',
  'ORDER_NOT_EXIST',
  'ORDER_PAID',
  'OUT_TRADE_NO_USED',
  'OVER_CARD_LIMIT',
  'PARAM_ERROR',
  'PAYER_AUTH_ERROR',
  'REFUND_FEE_MISMATCH',
  'RESOURCE_NOT_EXISTS',
  'RISK_BLOCKED',
  'RULE_INVALID',
  'RULE_LIMIT',
  'SIGN_ERROR',
  'SYSTEM_ERROR',
  'TRADE_ERROR',
  'TRADE_OVERDUE',
  'USER_NOT_EXISTS',
] as const;

export type ErrorCode = (typeof errorCodes)[number];

/** APIv3 §4: `detail` of a PARAM_ERROR / INVALID_REQUEST names the offending field. */
export interface ErrorDetail {
  field?: string;
  value?: unknown;
  issue?: string;
  location?: string;
  [key: string]: unknown;
}

export interface ZhifuErrorInit {
  code: string;
  message: string;
  httpStatus?: number | undefined;
  detail?: ErrorDetail | undefined;
  requestId?: string | undefined;
  cause?: unknown;
}

/**
 * Base class of every error the SDK throws.
 *
 * @example
 * try { await client.queryOrderByOutTradeNo('T1'); }
 * catch (e) { if (e instanceof ZhifuError) console.log(e.code, e.httpStatus, e.requestId); }
 */
export class ZhifuError extends Error {
  /** A wire code (`ORDER_NOT_EXIST`), `''` for an error response without a body, or an SDK code in lower case. */
  readonly code: string;
  readonly httpStatus: number | undefined;
  readonly detail: ErrorDetail | undefined;
  readonly requestId: string | undefined;

  constructor(init: ZhifuErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = new.target.name;
    this.code = init.code;
    this.httpStatus = init.httpStatus;
    this.detail = init.detail;
    this.requestId = init.requestId;
  }
}

/**
 * The server answered with a non-2xx status. `code` is the body's `code`, or `''` when the body was
 * empty (unknown path 404, wrong method 405) or not an error object.
 *
 * @example
 * catch (e) { if (e instanceof ZhifuApiError && e.code === 'ORDER_NOT_EXIST') return null; }
 */
export class ZhifuApiError extends ZhifuError {}

/**
 * A response (or callback) signature, timestamp or serial did not check out, or an encrypted resource
 * failed authentication. Code `signature_invalid`. Never retried: it may mean someone is in the middle.
 *
 * @example
 * catch (e) { if (e instanceof ZhifuSignatureError) alert('response not from the server'); }
 */
export class ZhifuSignatureError extends ZhifuError {
  constructor(message: string, requestId?: string) {
    super({ code: 'signature_invalid', message, requestId });
  }
}

/**
 * The request never got an HTTP answer: code `connection_failed` (DNS, refused, reset) or
 * `timed_out` (no answer within `timeoutMs`). Whether the server acted on it is unknown, so retry
 * with the same `out_trade_no` / `out_refund_no`.
 *
 * @example
 * catch (e) { if (e instanceof ZhifuConnectionError) scheduleRetry(); }
 */
export class ZhifuConnectionError extends ZhifuError {
  constructor(code: 'connection_failed' | 'timed_out', message: string, cause: unknown) {
    super({ code, message, cause });
  }
}

/** Builds the error for a non-2xx answer from its status, raw body and `Request-ID`. */
export function apiErrorFrom(status: number, body: string, requestId: string | undefined): ZhifuApiError {
  let parsed: unknown;
  try {
    parsed = body === '' ? undefined : JSON.parse(body);
  } catch {
    parsed = undefined;
  }
  const fields = isRecord(parsed) ? parsed : {};
  const code = typeof fields.code === 'string' ? fields.code : '';
  const message =
    typeof fields.message === 'string' && fields.message !== ''
      ? fields.message
      : `HTTP ${status} without an error body`;
  const detail = isRecord(fields.detail) ? (fields.detail as ErrorDetail) : undefined;
  return new ZhifuApiError({ code, message, httpStatus: status, detail, requestId });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
