/**
 * Table types for Kysely. Times are integer milliseconds since the epoch and amounts integer fen in
 * both dialects (bigint in PostgreSQL, parsed to number: every amount is ≤ amount_fen_max and every
 * balance far below 2^53). Booleans are 0/1 integers so the schema is the same on SQLite.
 */
export interface SettingsTable {
  key: string;
  value: string;
}

export interface MerchantsTable {
  mchid: string;
  name: string;
  hmac_key: string;
  apiv3_key: string;
  merchant_serial_no: string;
  merchant_certificate_pem: string;
  platform_serial_no: string;
  platform_private_key_pem: string;
  platform_certificate_pem: string;
  platform_cert_not_before: number;
  platform_cert_not_after: number;
  platform_public_key_id: string;
  platform_pubkey_private_pem: string;
  platform_public_key_pem: string;
  account_id: string;
  mcc: string;
  /** Set while the account is frozen (compliance); null otherwise. */
  frozen_until: number | null;
  created_at: number;
}

export interface MerchantAppsTable {
  appid: string;
  mchid: string;
  app_secret: string;
  created_at: number;
}

export interface PayersTable {
  user_id: string;
  name: string;
  fixture: string | null;
  created_at: number;
}

export interface OpenidsTable {
  openid: string;
  appid: string;
  user_id: string;
  created_at: number;
}

export interface LoginCodesTable {
  code: string;
  appid: string;
  user_id: string;
  session_id: string;
  expires_at: number;
  used_at: number | null;
}

export interface SessionsTable {
  id: string;
  appid: string;
  user_id: string;
  session_key: string;
  device_fingerprint: string;
  expires_at: number;
  created_at: number;
}

export interface DevicesTable {
  user_id: string;
  fingerprint: string;
  first_seen_at: number;
  last_seen_at: number;
}

export interface InstrumentsTable {
  id: string;
  user_id: string;
  kind: string;
  bank_type: string;
  display_name: string;
  last4: string | null;
  per_txn_limit_fen: number | null;
  always_declined: number;
  account_id: string;
  created_at: number;
  /** When the payer closed (cancelled) it in the sandbox; null while open (016). */
  closed_at: number | null;
}

export interface AccountsTable {
  id: string;
  kind: string;
  owner_id: string;
  currency: string;
  balance: number;
  /** Lowest balance allowed; null for the sandbox issuer, which creates money out of thin air. */
  floor: number | null;
  created_at: number;
}

export interface JournalsTable {
  id: string;
  kind: string;
  ref_id: string;
  created_at: number;
}

export interface PostingsTable {
  journal_id: string;
  seq: number;
  account_id: string;
  amount: number;
  created_at: number;
}

export interface OrdersTable {
  id: string;
  mchid: string;
  appid: string;
  out_trade_no: string;
  trade_type: string;
  description: string;
  attach: string | null;
  notify_url: string;
  amount_total: number;
  currency: string;
  payer_openid: string | null;
  prepay_id: string | null;
  code_token: string;
  time_expire: number;
  prepay_expires_at: number;
  trade_state: string;
  transaction_id: string | null;
  success_time: number | null;
  bank_type: string | null;
  paid_openid: string | null;
  instrument_id: string | null;
  payer_total: number | null;
  refunded_total: number;
  refund_count: number;
  request_hash: string;
  extra_json: string | null;
  created_at: number;
  updated_at: number;
}

export interface RefundsTable {
  refund_id: string;
  mchid: string;
  out_refund_no: string;
  order_id: string;
  transaction_id: string;
  out_trade_no: string;
  amount_refund: number;
  amount_total: number;
  currency: string;
  reason: string | null;
  notify_url: string | null;
  status: string;
  channel: string;
  user_received_account: string;
  funds_account: string;
  request_hash: string;
  create_time: number;
  success_time: number | null;
  /** What the payer paid for the order (its total less a promotion's discount); null before 015. */
  payer_total: number | null;
  /** The part of this refund that went back to a promotion's funder, not to the payer. */
  discount_refund: number;
  /** `amount.from` as asked, JSON; null when not given. */
  from_json: string | null;
}

export interface RiskEventsTable {
  id: string;
  ts: number;
  type: string;
  payer_id: string;
  merchant_id: string;
  device_id: string;
  ip: string;
  amount_fen: number;
  failed: number;
  promo: number;
  refund: number;
}

export interface RiskProfilesTable {
  kind: string;
  key: string;
  payments: number;
  refunds: number;
  mean_log: number;
  m2_log: number;
  hour_sin: number;
  hour_cos: number;
  quasi_cash: number;
}

/** Payment attempts per key per second (`span` s) or minute (m); `bucket` = floor(ts / span). */
export interface RiskWindowCountsTable {
  kind: string;
  key: string;
  span: string;
  bucket: number;
  n: number;
}

/** The latest payment time of each (key, other) pair, e.g. kind `ip_payer`: (IP, payer). */
export interface RiskWindowPairsTable {
  kind: string;
  key: string;
  other: string;
  last_ts: number;
}

export interface RiskDevicePayersTable {
  device_id: string;
  payer_id: string;
  first_seen: number;
}

export interface RiskSeenTable {
  payer_id: string;
  kind: string;
  value: string;
  first_seen: number;
}

export interface RiskAssessmentsTable {
  id: string;
  mchid: string;
  kind: string;
  event_id: string;
  ref: string | null;
  batch_id: string | null;
  risk_score: number;
  risk_level: string;
  suggested_action: string;
  reasons_json: string;
  rules_matched_json: string;
  model_version: string;
  features_json: string;
  label: string | null;
  labelled_at: number | null;
  billing_kind: string;
  created_at: number;
}

export interface RiskRulesTable {
  id: string;
  mchid: string;
  source: string;
  action: string;
  created_at: number;
}

export interface RiskListsTable {
  mchid: string;
  name: string;
  values_json: string;
  updated_at: number;
}

export interface RiskSettingsTable {
  mchid: string;
  review_threshold: number;
  block_threshold: number;
  updated_at: number;
}

export interface RiskBatchesTable {
  id: string;
  mchid: string;
  status: string;
  items: number;
  request_hash: string;
  created_at: number;
  deadline_at: number;
  completed_at: number | null;
}

export interface EventsTable {
  id: string;
  mchid: string;
  seq: number;
  type: string;
  data_json: string;
  created_at: number;
}

export interface NotificationSettingsTable {
  mchid: string;
  decision_mode: string;
  review_window_ms: number;
  acked_seq: number;
  updated_at: number;
}

export interface DecisionsTable {
  order_id: string;
  mchid: string;
  event_id: string;
  /** pending → approved | blocked | manual_review → (approved | released) */
  state: string;
  suggested_action: string;
  deadline_at: number;
  review_until: number | null;
  decided_at: number | null;
  decided_by: string | null;
  decision: string | null;
  hold_account_id: string;
  instrument_account_id: string;
  amount: number;
  risk_json: string;
  created_at: number;
}

export interface CallbacksTable {
  id: string;
  mchid: string;
  event_type: string;
  ref: string;
  notify_url: string;
  summary: string;
  original_type: string;
  resource_json: string;
  status: string;
  attempts: number;
  next_attempt_at: number;
  created_at: number;
  delivered_at: number | null;
}

export interface CallbackAttemptsTable {
  callback_id: string;
  attempt: number;
  at: number;
  http_status: number | null;
  error: string | null;
  duration_ms: number;
}

export interface AuditLogTable {
  seq: number;
  at: number;
  actor: string;
  action: string;
  target: string;
  detail_json: string;
  prev_hash: string;
  hash: string;
}

export interface MerchantFreezesTable {
  id: string;
  mchid: string;
  /** frozen → released (appeal approved or expired) | extended (still frozen) */
  status: string;
  reason: string;
  category: string | null;
  evidence_json: string;
  frozen_at: number;
  frozen_until: number;
  updated_at: number;
}

/** Billing (docs/billing.md): one row per billable unit; `usage_key` is unique (idempotent metering). */
export interface UsageRecordsTable {
  id: string;
  mchid: string;
  /** checkout | risk | risk_batch | conversation */
  kind: string;
  usage_key: string;
  ref: string;
  /** China Standard Time month, YYYY-MM. */
  period: string;
  quantity: number;
  unit_price_fen: number;
  amount_fen: number;
  journal_id: string | null;
  created_at: number;
}

export interface ProcessingFeesTable {
  order_id: string;
  mchid: string;
  paid_fen: number;
  fee_fen: number;
  refunded_fen: number;
  returned_fen: number;
  captured_at: number;
  updated_at: number;
}

export interface FeeReturnsTable {
  refund_id: string;
  order_id: string;
  mchid: string;
  refund_fen: number;
  returned_fen: number;
  created_at: number;
}

export interface AiEligibilityGrantsTable {
  mchid: string;
  granted: number;
  reason: string;
  actor: string;
  updated_at: number;
}

export interface IdempotencyKeysTable {
  mchid: string;
  scope: string;
  idem_key: string;
  request_hash: string;
  ref_id: string;
  created_at: number;
}

export interface BillTokensTable {
  token: string;
  mchid: string;
  /** trade | fundflow */
  kind: string;
  bill_date: string;
  /** ALL | SUCCESS | REFUND for trade bills; BASIC | OPERATION | FEES for fund-flow bills. */
  bill_type: string;
  tar_type: string | null;
  expires_at: number;
}

export interface ConversationsTable {
  id: string;
  mchid: string;
  appid: string;
  payer_openid: string;
  notify_url: string;
  /** SHA-256 (hex) of the conversation's agent token (MCP bearer); the token itself is not stored. */
  agent_token_hash: string;
  tokens_used: number;
  tool_calls_used: number;
  message_count: number;
  created_at: number;
  updated_at: number;
}

export interface ConversationMessagesTable {
  id: string;
  conversation_id: string;
  seq: number;
  /** user | assistant | tool | system */
  role: string;
  /** 1 when the content was sealed end to end by the client (the platform cannot read it). */
  e2e: number;
  /** SM4-GCM envelope (lib/crypto/envelope.ts) of the message JSON, context `conversation_messages:<id>`. */
  sealed: string;
  created_at: number;
}

export interface ConversationProposalsTable {
  id: string;
  conversation_id: string;
  mchid: string;
  /** platform | mcp: whose daily refund cap the proposal counts against. */
  agent: string;
  /** payment | refund */
  kind: string;
  /** awaiting_merchant_approval | proposed | confirmed | executed | failed | cancelled | declined */
  state: string;
  amount: number;
  currency: string;
  out_trade_no: string;
  prepay_id: string | null;
  out_refund_no: string | null;
  transaction_id: string | null;
  refund_id: string | null;
  reason: string | null;
  /** auto | escalated */
  policy_outcome: string;
  policy_json: string;
  /** China day (YYYY-MM-DD) of the proposal, for the per-agent daily cap. */
  day: string;
  expires_at: number;
  confirmed_at: number | null;
  executed_at: number | null;
  error_code: string | null;
  created_at: number;
  updated_at: number;
}

export interface AgentToolCallsTable {
  id: string;
  conversation_id: string;
  agent: string;
  name: string;
  allowed: number;
  executed: number;
  outcome: string;
  created_at: number;
}

export interface LlmKeysTable {
  id: string;
  mchid: string;
  name: string;
  key_hash: string;
  key_prefix: string;
  rpm: number | null;
  tpm: number | null;
  budget_fen_monthly: number | null;
  /** JSON array of allowed model names, or null for every model. */
  models: string | null;
  created_at: number;
  revoked_at: number | null;
}

export interface LlmRequestsTable {
  id: string;
  mchid: string;
  key_id: string;
  model: string;
  provider: string | null;
  region: string | null;
  stream: number;
  status: string;
  error_code: string | null;
  prompt_tokens: number;
  completion_tokens: number;
  cost_ufen: number;
  latency_ms: number;
  attempts: number;
  redacted: number;
  created_at: number;
}

export interface CheckoutRankingsTable {
  id: string;
  mchid: string;
  user_id: string;
  feature_version: string;
  amount_fen: number;
  mcc: string;
  policy: string;
  exploration_share: number;
  explored: number;
  top_instrument_id: string | null;
  propensity: number | null;
  arms_json: string;
  chosen_instrument_id: string | null;
  order_id: string | null;
  succeeded: number | null;
  reward: number | null;
  outcome_at: number | null;
  created_at: number;
}

export interface CheckoutPromotionsTable {
  id: string;
  mchid: string;
  name: string;
  kind: string;
  bank_type: string | null;
  instrument_kind: string | null;
  min_amount_fen: number;
  discount_fen: number;
  instalments: number | null;
  budget_fen: number;
  spent_fen: number;
  funded_by: string;
  account_id: string;
  starts_at: number;
  ends_at: number;
  created_at: number;
}

export interface CheckoutRedemptionsTable {
  order_id: string;
  promotion_id: string;
  mchid: string;
  discount_fen: number;
  budget_used_fen: number;
  /** The order's total, refunds of it so far, and the discount returned to the funder so far. */
  order_total_fen: number;
  refunded_fen: number;
  returned_fen: number;
  journal_id: string | null;
  created_at: number;
}

export interface CheckoutChannelsTable {
  bank_type: string;
  latency_ms: number;
  failure_rate: number;
  schedule_json: string;
  updated_at: number;
}

export interface CheckoutAuthorizationsTable {
  id: string;
  bank_type: string;
  instrument_id: string;
  succeeded: number;
  latency_ms: number;
  at: number;
}

export interface Database {
  llm_keys: LlmKeysTable;
  llm_requests: LlmRequestsTable;
  llm_settings: { mchid: string; redaction_patterns: string; updated_at: number };
  checkout_rankings: CheckoutRankingsTable;
  checkout_promotions: CheckoutPromotionsTable;
  checkout_redemptions: CheckoutRedemptionsTable;
  checkout_channels: CheckoutChannelsTable;
  checkout_authorizations: CheckoutAuthorizationsTable;
  usage_records: UsageRecordsTable;
  usage_counters: { mchid: string; kind: string; period: string; units: number };
  processing_fees: ProcessingFeesTable;
  fee_returns: FeeReturnsTable;
  ai_eligibility_grants: AiEligibilityGrantsTable;
  idempotency_keys: IdempotencyKeysTable;
  bill_tokens: BillTokensTable;
  audit_log: AuditLogTable;
  merchant_freezes: MerchantFreezesTable;
  consents: {
    id: string;
    mchid: string;
    user_id: string;
    purpose: string;
    granted: number;
    version: number;
    at: number;
  };
  cross_border_transfers: {
    id: string;
    at: number;
    year: number;
    subject: string;
    destination: string;
    purpose: string;
  };
  merchant_sequences: { mchid: string; last_seq: number };
  events: EventsTable;
  notification_settings: NotificationSettingsTable;
  decisions: DecisionsTable;
  callbacks: CallbacksTable;
  callback_attempts: CallbackAttemptsTable;
  risk_events: RiskEventsTable;
  risk_profiles: RiskProfilesTable;
  risk_seen: RiskSeenTable;
  risk_device_payers: RiskDevicePayersTable;
  risk_window_counts: RiskWindowCountsTable;
  risk_window_pairs: RiskWindowPairsTable;
  risk_devices: { device_id: string; first_seen: number };
  risk_assessments: RiskAssessmentsTable;
  risk_rules: RiskRulesTable;
  risk_lists: RiskListsTable;
  risk_settings: RiskSettingsTable;
  risk_batches: RiskBatchesTable;
  settings: SettingsTable;
  merchants: MerchantsTable;
  merchant_apps: MerchantAppsTable;
  payers: PayersTable;
  openids: OpenidsTable;
  login_codes: LoginCodesTable;
  sessions: SessionsTable;
  devices: DevicesTable;
  instruments: InstrumentsTable;
  accounts: AccountsTable;
  journals: JournalsTable;
  postings: PostingsTable;
  orders: OrdersTable;
  refunds: RefundsTable;
  conversations: ConversationsTable;
  conversation_messages: ConversationMessagesTable;
  conversation_proposals: ConversationProposalsTable;
  agent_tool_calls: AgentToolCallsTable;
}
