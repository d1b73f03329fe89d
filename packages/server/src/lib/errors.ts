/**
 * The one error catalog (STYLE.md rule 12). Domain code names an outcome as a sentence
 * (`refund_exceeds_refundable_amount`); this table gives its wire code (APIv3 codes where APIv3 has
 * one, reference §4), HTTP status, Connect code and a message that says what to fix.
 * docs/errors.md is generated from this table and a test keeps the SDK's list of codes in step.
 */
export type ConnectCode =
  | 'invalid_argument'
  | 'unauthenticated'
  | 'permission_denied'
  | 'not_found'
  | 'already_exists'
  | 'failed_precondition'
  | 'resource_exhausted'
  | 'internal'
  | 'unavailable'
  | 'deadline_exceeded';

export interface CatalogEntry {
  code: string;
  http: number;
  connect: ConnectCode;
  message: string;
}

const e = (code: string, http: number, connect: ConnectCode, message: string): CatalogEntry => ({
  code,
  http,
  connect,
  message,
});

export const catalog = {
  // Input (400)
  malformed_json: e('PARAM_ERROR', 400, 'invalid_argument', 'The request body is not valid JSON.'),
  invalid_parameter: e('PARAM_ERROR', 400, 'invalid_argument', 'A parameter is missing, unknown or invalid.'),
  mchid_mismatch: e(
    'PARAM_ERROR',
    400,
    'invalid_argument',
    'The mchid in the body does not match the mchid in the Authorization header.',
  ),
  time_expire_out_of_range: e(
    'PARAM_ERROR',
    400,
    'invalid_argument',
    'time_expire must be at most 15 days after now (a nearer time than 1 minute is moved to 1 minute).',
  ),
  unsupported_content_type: e(
    'INVALID_REQUEST',
    400,
    'invalid_argument',
    'Send the body as application/json.',
  ),
  body_too_large: e('INVALID_REQUEST', 413, 'invalid_argument', 'The request body is too large.'),
  // Refused by the HTTP parser, before routing (transport/http/http.ts clientErrorHandler).
  http_malformed: e('INVALID_REQUEST', 400, 'invalid_argument', 'The request is not valid HTTP/1.1.'),
  http_headers_too_large: e(
    'INVALID_REQUEST',
    431,
    'invalid_argument',
    'The request headers are too large (at most 16 KB in all).',
  ),
  http_request_timeout: e(
    'INVALID_REQUEST',
    408,
    'deadline_exceeded',
    'The request did not arrive in time: send its headers and body without pausing.',
  ),
  appid_not_bound_to_mchid: e(
    'APPID_MCHID_NOT_MATCH',
    400,
    'invalid_argument',
    'The appid is not bound to this mchid.',
  ),
  appid_unknown: e(
    'APPID_MCHID_NOT_MATCH',
    400,
    'not_found',
    'No merchant has this appid; create a merchant first (zhifu merchant create).',
  ),
  openid_not_of_appid: e(
    'OPENID_MISMATCH',
    400,
    'invalid_argument',
    'payer.openid does not belong to this appid (OpenIDs are per appid).',
  ),
  order_for_other_payer: e(
    'OPENID_MISMATCH',
    403,
    'permission_denied',
    'This JSAPI order was created for another payer.openid.',
  ),
  merchant_unknown: e('MCH_NOT_EXISTS', 400, 'not_found', 'No merchant has this mchid.'),
  order_closed: e('ORDER_CLOSED', 400, 'failed_precondition', 'The order is closed or has expired.'),
  // Authentication (401)
  signature_missing: e(
    'SIGN_ERROR',
    401,
    'unauthenticated',
    'The Authorization header is missing or malformed; see docs/authentication.md.',
  ),
  signature_scheme_unknown: e(
    'SIGN_ERROR',
    401,
    'unauthenticated',
    'Unknown Authorization scheme; use WECHATPAY2-SHA256-RSA2048 or ZHIFU-HMAC-SHA256.',
  ),
  signature_field_malformed: e(
    'SIGN_ERROR',
    401,
    'unauthenticated',
    'A field of the Authorization header is malformed; see docs/authentication.md.',
  ),
  signature_timestamp_stale: e(
    'SIGN_ERROR',
    401,
    'unauthenticated',
    'The Authorization timestamp is more than 5 minutes away from the server time.',
  ),
  signature_nonce_replayed: e(
    'SIGN_ERROR',
    401,
    'unauthenticated',
    'This nonce_str was already used within the signature window; use a fresh nonce for every request.',
  ),
  signature_serial_unknown: e(
    'SIGN_ERROR',
    401,
    'unauthenticated',
    'serial_no does not match the merchant certificate serial.',
  ),
  signature_invalid: e(
    'SIGN_ERROR',
    401,
    'unauthenticated',
    'The signature does not verify over METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n.',
  ),
  operator_unauthenticated: e(
    'SIGN_ERROR',
    401,
    'unauthenticated',
    'The operator API needs `Authorization: Bearer <ZHIFU_OPERATOR_TOKEN>`; merchant credentials do not work here.',
  ),
  payer_proof_invalid: e(
    'PAYER_AUTH_ERROR',
    401,
    'unauthenticated',
    'The payer proof does not verify with the session key of this payer and device.',
  ),
  // Business rules (403)
  out_trade_no_used: e(
    'OUT_TRADE_NO_USED',
    403,
    'already_exists',
    'This out_trade_no was already used with different parameters.',
  ),
  order_not_closable: e('TRADE_ERROR', 403, 'failed_precondition', 'Only an unpaid order can be closed.'),
  order_already_paid: e('ORDER_PAID', 403, 'failed_precondition', 'The order has already been paid.'),
  refund_trade_overdue: e(
    'TRADE_OVERDUE',
    400,
    'failed_precondition',
    'The order was paid more than one year ago: it can no longer be refunded.',
  ),
  refund_from_mismatch: e(
    'PARAM_ERROR',
    400,
    'invalid_argument',
    'The amounts of amount.from must add up to amount.refund.',
  ),
  refund_order_mismatch: e(
    'INVALID_REQUEST',
    400,
    'invalid_argument',
    'transaction_id and out_trade_no name different orders: send the pair of one order, or one of them.',
  ),
  refund_total_mismatch: e(
    'INVALID_REQUEST',
    400,
    'invalid_argument',
    'amount.total must equal the order total and amount.currency must be CNY.',
  ),
  refund_exceeds_refundable_amount: e(
    'INVALID_REQUEST',
    400,
    'failed_precondition',
    'The refund is larger than what remains refundable on this order.',
  ),
  refund_count_exceeded: e(
    'INVALID_REQUEST',
    400,
    'failed_precondition',
    'An order can have at most 50 refunds.',
  ),
  out_refund_no_amount_mismatch: e(
    'REFUND_FEE_MISMATCH',
    403,
    'already_exists',
    'This out_refund_no was already used with a different order or amount.',
  ),
  out_refund_no_params_mismatch: e(
    'INVALID_REQUEST',
    400,
    'already_exists',
    'This out_refund_no was already used with different parameters.',
  ),
  merchant_balance_insufficient: e(
    'NOT_ENOUGH',
    403,
    'failed_precondition',
    'The merchant account balance cannot cover this refund.',
  ),
  payer_card_declined: e('CARD_DECLINED', 403, 'failed_precondition', 'The bank declined this card.'),
  payer_funds_insufficient: e(
    'INSUFFICIENT_FUNDS',
    403,
    'failed_precondition',
    'The chosen instrument has too little balance or credit for this amount.',
  ),
  instrument_over_card_limit: e(
    'OVER_CARD_LIMIT',
    403,
    'failed_precondition',
    'The amount is over the per-transaction limit of this card.',
  ),
  instrument_unknown: e(
    'INVALID_REQUEST',
    400,
    'not_found',
    'The instrument does not exist or does not belong to this payer.',
  ),
  payer_unknown: e('USER_NOT_EXISTS', 404, 'not_found', 'No sandbox payer has this openid for this appid.'),
  // Not found (404)
  order_unknown: e('ORDER_NOT_EXIST', 404, 'not_found', 'No order matches for this merchant.'),
  refund_unknown: e('RESOURCE_NOT_EXISTS', 404, 'not_found', 'No refund has this out_refund_no.'),
  refund_order_unknown: e(
    'RESOURCE_NOT_EXISTS',
    404,
    'not_found',
    'No paid order matches this transaction_id / out_trade_no.',
  ),
  // Fraud Shield
  risk_rule_invalid: e('RULE_INVALID', 400, 'invalid_argument', 'The rule does not parse or type-check.'),
  risk_rule_limit: e('RULE_LIMIT', 403, 'resource_exhausted', 'A merchant can have at most 200 rules.'),
  risk_rule_unknown: e('RESOURCE_NOT_EXISTS', 404, 'not_found', 'No rule has this rule_id.'),
  risk_assessment_unknown: e(
    'RESOURCE_NOT_EXISTS',
    404,
    'not_found',
    'No assessment matches for this merchant.',
  ),
  risk_batch_unknown: e('RESOURCE_NOT_EXISTS', 404, 'not_found', 'No batch has this batch_id.'),
  risk_batch_too_large: e('PARAM_ERROR', 400, 'invalid_argument', 'A batch holds at most 10,000 items.'),
  risk_blocked: e(
    'RISK_BLOCKED',
    403,
    'permission_denied',
    'The Fraud Shield blocked this operation; no money moved.',
  ),
  // Compliance
  account_frozen: e(
    'ACCOUNT_FROZEN',
    403,
    'failed_precondition',
    'The merchant account is frozen by a compliance check; new payments are refused until it is unfrozen.',
  ),
  order_restricted: e(
    'ACCOUNT_FROZEN',
    403,
    'failed_precondition',
    'The order matched a restricted category or does not fit the declared category; the account is now frozen for 72 hours.',
  ),
  freeze_unknown: e('RESOURCE_NOT_EXISTS', 404, 'not_found', 'No freeze has this freeze_id.'),
  // Decisions
  decision_unknown: e(
    'RESOURCE_NOT_EXISTS',
    404,
    'not_found',
    'No pending decision has this event_id for this merchant.',
  ),
  decision_already_made: e(
    'DECISION_ALREADY_MADE',
    409,
    'failed_precondition',
    'This payment was already decided; the answer changed nothing.',
  ),
  decision_too_late: e(
    'DECISION_DEADLINE_PASSED',
    409,
    'deadline_exceeded',
    'The 500 ms decision deadline had passed; the payment is in manual review and the answer changed nothing.',
  ),
  decision_not_in_review: e(
    'DECISION_NOT_IN_REVIEW',
    409,
    'failed_precondition',
    'Only a payment in manual review can be approved or declined.',
  ),
  review_window_expired: e(
    'DECISION_NOT_IN_REVIEW',
    409,
    'failed_precondition',
    'The review window had run out: the funds went back to the payer and the answer changed nothing.',
  ),
  // Billing, eligibility and bills (docs/billing.md)
  ai_not_eligible: e(
    'AI_NOT_ELIGIBLE',
    403,
    'permission_denied',
    'AI features need at least 10,000 CNY of transaction volume: captured payments net of refunds over the trailing 30 days (docs/billing.md); an operator can grant access.',
  ),
  idempotency_key_reused: e(
    'IDEMPOTENCY_KEY_REUSED',
    409,
    'already_exists',
    'This Idempotency-Key was already used with a different request body; use a new key for a new request.',
  ),
  bill_date_out_of_range: e(
    'INVALID_REQUEST',
    400,
    'invalid_argument',
    'bill_date must be a day before today (China Standard Time) and at most 3 months ago.',
  ),
  bill_not_exist: e(
    'NO_STATEMENT_EXIST',
    400,
    'failed_precondition',
    'There is no bill for this day: the merchant had no transactions (or no fund flows) on it.',
  ),
  bill_too_large: e(
    'BILL_TOO_LARGE',
    400,
    'resource_exhausted',
    'This bill has more than 200,000 rows, more than Zhifu builds in memory.',
  ),
  bill_token_invalid: e(
    'INVALID_REQUEST',
    400,
    'invalid_argument',
    'The download token is unknown or expired (valid 5 minutes); request the bill again for a new download_url.',
  ),
  bill_token_other_merchant: e(
    'NO_AUTH',
    403,
    'permission_denied',
    'This download token was issued to another merchant.',
  ),
  // Conversational payments (docs/conversations.md)
  conversation_unknown: e(
    'RESOURCE_NOT_EXISTS',
    404,
    'not_found',
    'No conversation has this id for this merchant.',
  ),
  conversation_message_too_large: e(
    'PARAM_ERROR',
    400,
    'invalid_argument',
    'A conversation message holds at most 2,000 characters.',
  ),
  conversation_token_cap_reached: e(
    'CONVERSATION_LIMIT',
    429,
    'resource_exhausted',
    'This conversation has used its model token budget; start a new conversation.',
  ),
  conversation_tool_call_cap_reached: e(
    'CONVERSATION_LIMIT',
    429,
    'resource_exhausted',
    'This conversation has made its maximum number of tool calls; start a new conversation.',
  ),
  conversation_busy: e(
    'CONVERSATION_BUSY',
    409,
    'failed_precondition',
    'Another turn of this conversation was stored first; post the message again (its proposals were withdrawn).',
  ),
  agent_tool_loop: e(
    'AGENT_TOOL_LOOP',
    422,
    'failed_precondition',
    'The agent kept calling tools without answering (a loop); the turn was dropped and nothing moved.',
  ),
  agent_token_invalid: e(
    'SIGN_ERROR',
    401,
    'unauthenticated',
    'The agent token (Authorization: Bearer) is missing or does not belong to a conversation.',
  ),
  proposal_unknown: e(
    'RESOURCE_NOT_EXISTS',
    404,
    'not_found',
    'No proposal has this id in this conversation.',
  ),
  mandate_expired: e(
    'MANDATE_EXPIRED',
    409,
    'failed_precondition',
    'The mandate expired before it was confirmed; ask the agent for a new proposal.',
  ),
  mandate_already_used: e(
    'MANDATE_USED',
    409,
    'failed_precondition',
    'A mandate is single-use and this one was already confirmed.',
  ),
  mandate_terms_changed: e(
    'MANDATE_MISMATCH',
    409,
    'failed_precondition',
    'The terms the payer confirmed (amount, currency, payee, order, expiry) differ from the proposal.',
  ),
  mandate_payer_mismatch: e(
    'PAYER_AUTH_ERROR',
    403,
    'permission_denied',
    'Only the payer of this conversation can confirm its mandates.',
  ),
  mandate_not_confirmable: e(
    'MANDATE_STATE_INVALID',
    409,
    'failed_precondition',
    'This proposal cannot be confirmed now (awaiting merchant approval, cancelled or declined).',
  ),
  proposal_not_awaiting_merchant: e(
    'MANDATE_STATE_INVALID',
    409,
    'failed_precondition',
    'Only a refund proposal escalated to the merchant can be approved or declined.',
  ),
  // LLM gateway (docs/llm-gateway.md "Errors"); /v1/chat/completions and /v1/models answer them in
  // OpenAI's shape {error:{message,type,code,param}} with `code` the wire code below.
  llm_key_invalid: e(
    'LLM_KEY_INVALID',
    401,
    'unauthenticated',
    'Send `Authorization: Bearer <gateway API key>`; the key is unknown or revoked (create one with POST /v1/llm/keys).',
  ),
  llm_model_unknown: e(
    'LLM_MODEL_NOT_FOUND',
    404,
    'not_found',
    'No configured provider serves this model; GET /v1/models lists the models.',
  ),
  llm_model_not_allowed: e(
    'LLM_MODEL_NOT_ALLOWED',
    403,
    'permission_denied',
    'This API key is restricted to other models.',
  ),
  llm_requests_limited: e(
    'LLM_RATE_LIMITED',
    429,
    'resource_exhausted',
    "This API key's requests-per-minute limit is reached; retry after the Retry-After seconds.",
  ),
  llm_tokens_limited: e(
    'LLM_RATE_LIMITED',
    429,
    'resource_exhausted',
    "This API key's tokens-per-minute limit is reached; retry after the Retry-After seconds.",
  ),
  llm_budget_exceeded: e(
    'LLM_BUDGET_EXCEEDED',
    429,
    'resource_exhausted',
    "This API key's monthly budget is spent; raise it (PATCH /v1/llm/keys/{key_id}) or wait for next month (China Standard Time).",
  ),
  llm_providers_failed: e(
    'LLM_PROVIDER_ERROR',
    502,
    'unavailable',
    'Every provider for this model failed (after retries and failover); nothing was billed.',
  ),
  llm_stream_interrupted: e(
    'LLM_STREAM_INTERRUPTED',
    502,
    'unavailable',
    'The provider stopped mid-answer (no finish reason); the answer above is incomplete. Retry the request.',
  ),
  llm_redaction_failed: e(
    'LLM_REDACTION_FAILED',
    502,
    'failed_precondition',
    'The identifier-stripping proxy could not strip the request or restore the answer, so the call was refused (fail closed); no unredacted identifier left Zhifu.',
  ),
  llm_key_unknown: e(
    'RESOURCE_NOT_EXISTS',
    404,
    'not_found',
    'No gateway API key has this key_id for this merchant.',
  ),
  llm_keys_limit: e(
    'RULE_LIMIT',
    403,
    'resource_exhausted',
    'A merchant can have at most 100 active gateway API keys.',
  ),
  // Smart Checkout (docs/checkout.md)
  checkout_feature_version_unsupported: e(
    'FEATURE_VERSION_UNSUPPORTED',
    400,
    'invalid_argument',
    'feature_version names no supported feature-vector schema; send "checkout.v1" (docs/checkout.md).',
  ),
  checkout_ranking_unknown: e(
    'RESOURCE_NOT_EXISTS',
    404,
    'not_found',
    'No Smart Checkout ranking has this ranking_id for this merchant and payer.',
  ),
  channel_failed: e(
    'BANK_ERROR',
    503,
    'unavailable',
    'The bank channel did not authorise the payment (a sandbox channel failure or outage); nothing was charged, try another instrument.',
  ),
  // Limits and system
  nonce_store_full: e(
    'FREQUENCY_LIMITED',
    429,
    'resource_exhausted',
    'Too many signed requests in the signature window to remember their nonces; retry shortly.',
  ),
  merchant_rate_limited: e(
    'FREQUENCY_LIMITED',
    429,
    'resource_exhausted',
    "This merchant's request rate limit is reached; nothing was done. Retry after the Retry-After seconds, signed afresh (the request's nonce is spent).",
  ),
  shared_store_unavailable: e(
    'SYSTEM_ERROR',
    500,
    'unavailable',
    "The shared store (Redis) did not answer, so the request could not be checked for replay or against the merchant's rate limits or the LLM key's limits; nothing was done. Retry shortly, signed afresh with a new nonce: the one sent may have been recorded.",
  ),
  system_error: e('SYSTEM_ERROR', 500, 'internal', 'Internal error; retry with the same parameters.'),
} as const satisfies Record<string, CatalogEntry>;

export type ErrorReason = keyof typeof catalog;

export interface ErrorDetail {
  field?: string;
  value?: unknown;
  issue?: string;
  location?: 'body' | 'url' | 'query' | 'path' | 'header';
}

/** An expected outcome that ends a request with a documented error (never a bug: see assert.ts). */
export class AppError extends Error {
  override name = 'AppError';
  readonly entry: CatalogEntry;
  constructor(
    readonly reason: ErrorReason,
    readonly detail?: ErrorDetail,
    messageSuffix?: string,
  ) {
    const entry = catalog[reason];
    // With no explicit suffix, a detail's field and issue complete the message: what to fix, where.
    const suffix =
      messageSuffix ??
      (detail?.issue ? `${detail.field ? `${detail.field}: ` : ''}${detail.issue}.` : undefined);
    super(suffix ? `${entry.message} ${suffix}` : entry.message);
    this.entry = entry;
  }
  get code(): string {
    return this.entry.code;
  }
  get http(): number {
    return this.entry.http;
  }
  toBody(): { code: string; message: string; detail?: ErrorDetail } {
    return this.detail
      ? { code: this.code, message: this.message, detail: this.detail }
      : { code: this.code, message: this.message };
  }
}

export function fail(reason: ErrorReason, detail?: ErrorDetail, messageSuffix?: string): never {
  throw new AppError(reason, detail, messageSuffix);
}

/** Every wire code the server can answer with, sorted: what the SDK exports and docs/errors.md lists. */
export function wireCodes(): string[] {
  return [...new Set(Object.values(catalog).map((c) => c.code))].sort();
}
