/**
 * Every limit in one place (STYLE.md rule 4), units last in names. Each says why it is what it is.
 */

/** APIv3's own request window: timestamps further than 5 minutes from the server clock are stale. */
export const signature_window_s = 300;
/**
 * Bounds the in-memory nonce store: 5 minutes at ~3k signed requests/s is under 1M entries. Each
 * entry is a 16-byte digest of the nonce (~80 bytes of heap with the Map's own), so a full store
 * holds ~160 MB whatever the nonces' length.
 */
export const nonce_store_entries_max = 2_000_000;
/**
 * One signer's share of the nonce store (a merchant, or a payer for payer proofs): a quarter, so no
 * one tenant can fill it for the others. 500,000 nonces are ~1,600 signed requests/s sustained over
 * the 5-minute window, above what one node serves (docs/benchmarks.md).
 */
export const nonce_store_signer_entries_max = 500_000;
/**
 * Signed requests per second per merchant, over all routes: WeChat Pay documents 1,000/s for
 * `/v3/certificates` and none for the order APIs (reference §9), so its highest documented per-API
 * rate is the overall default; far above what one node serves (docs/benchmarks.md). ZHIFU_RATE_LIMITS.
 */
export const merchant_requests_per_s = 1_000;
/** Refund creations per second per merchant: APIv3's 150 QPS for the refund API (reference §9). */
export const refund_create_requests_per_s = 150;
/** Fund-flow bill requests per second per merchant: APIv3's 3 QPS (reference §9). */
export const fundflow_bill_requests_per_s = 3;
/** Highest configurable rate limit: a million requests a second is "no limit" in practice. */
export const rate_limit_requests_per_s_max = 1_000_000;
/**
 * The in-memory rate limiter forgets merchants idle for a second at most this often: a sweep walks
 * every entry, and between sweeps the map holds only merchants active in the last few seconds.
 */
export const rate_limit_sweep_interval_ms = 5_000;
/**
 * `nonce_str` is 1–64 printable ASCII characters: the official SDKs send 15–32 (reference §1.1), and
 * a cap keeps a tenant from storing kilobyte nonces. Printable ASCII because Node reads header
 * bytes as latin1: a UTF-8 nonce could never verify.
 */
export const nonce_chars_max = 64;
/** Largest JSON body accepted. APIv3 bodies are < 8 KB (goods detail ≤ 6144 bytes); 64 KB leaves room. */
export const body_bytes_max = 64 * 1024;
/**
 * Largest amount in fen. WeChat Pay's Java SDK models amounts as 32-bit `Integer`, so anything larger
 * would overflow a real client; 21,474,836.47 CNY per order is also far above any consumer payment.
 */
export const amount_fen_max = 2_147_483_647;
/** APIv3: at most 50 partial refunds per order (wechatpay-go refund comments). */
export const refunds_per_order_max = 50;
/** APIv3: refunds are accepted for one year after payment. */
export const refund_window_ms = 365 * 24 * 3600 * 1000;
/**
 * An ABNORMAL refund (its payer's instrument was closed) is CLOSED, the money back with the
 * merchant, this long after it was accepted. APIv3 publishes no such window (the merchant redirects
 * the refund in the portal or by apply-abnormal-refund); one day is Zhifu's choice, long enough to
 * see and act on the REFUND.ABNORMAL callback, short enough that a demo sees the close.
 */
export const refund_abnormal_close_ms = 24 * 3600 * 1000;
/** Abnormal refunds one sweep closes (each its own transaction); the next sweep takes the rest. */
export const refund_close_batch_max = 100;
/** prepay_id / code_url validity (APIv3 §3.1: 2 hours). */
export const prepay_validity_ms = 2 * 3600 * 1000;
/** An H5 order's h5_url is valid for 5 minutes (reference §3.1); an identical create renews it. */
export const h5_url_validity_ms = 5 * 60 * 1000;
/** Unpaid orders cannot be paid after 7 days (APIv3 Native page). */
export const order_pay_window_ms = 7 * 24 * 3600 * 1000;
/** time_expire must be at least one minute after creation and at most 15 days later (APIv3 §3.1). */
export const time_expire_min_ms = 60 * 1000;
export const time_expire_max_ms = 15 * 24 * 3600 * 1000;
/** A code2session login code is single-use and valid for 5 minutes, as WeChat's js_code. */
export const login_code_validity_ms = 5 * 60 * 1000;
/** A sandbox session key stays valid for 2 days (WeChat refreshes session keys on login). */
export const session_validity_ms = 2 * 24 * 3600 * 1000;
/** Sandbox payer confirmations must be fresh, like merchant signatures. */
export const payer_proof_window_s = 300;
/** Page size of list endpoints. */
export const page_size_max = 100;

/** Rules per merchant: evaluation stays in the microseconds; Radar's own limit is in the hundreds. */
export const risk_rules_per_merchant_max = 200;
/** A backtest scans at most this many stored assessments (newest first): bounded time and memory. */
export const backtest_rows_max = 200_000;
/** Items in one batch assessment (issue #3: a 10,000-item batch answers within the 2-second window). */
export const risk_batch_items_max = 10_000;
/** Batch requests are larger than ordinary ones: 10,000 items of ~300 bytes. */
export const risk_batch_body_bytes_max = 4 * 1024 * 1024;
/** The batch answer window (DESIGN.md: 2 seconds). */
export const risk_batch_window_ms = 2_000;
/**
 * A batch still `processing` this long after it was accepted cannot be running any more (its
 * process died, or its workers failed after their 5 s lock wait): the sweeper marks it `failed`.
 */
export const risk_batch_stale_ms = 10 * 60_000;
/**
 * How long after a batch failed the sweeper still deletes rows stored under it (a worker job that
 * finished after its batch had failed): far longer than any job runs, and it keeps each sweep's
 * work bounded by the recent failures instead of every failed batch ever.
 */
export const risk_failed_batch_cleanup_ms = 24 * 3_600_000;

/** The realtime decision deadline (DESIGN.md: the merchant answers within 500 ms). */
export const decision_deadline_ms = 500;
/** Manual-review payments are released after this window unless the merchant resolves them. */
export const review_window_ms_default = 24 * 3600 * 1000;
export const review_window_ms_max = 30 * 24 * 3600 * 1000;
/** Events per page (HTTP) or per send burst (WebSocket). */
export const events_page_max = 500;
/** A WebSocket client this far behind (bytes buffered) is disconnected and must resync (close 4008). */
export const ws_buffered_bytes_max = 1024 * 1024;
/** Sending a backlog waits this long at most for a client to read half of that (else close 4008). */
export const ws_drain_wait_ms = 5_000;
/** WebSocket connections per merchant: each costs a little memory and a share of every send. */
export const ws_connections_per_merchant_max = 16;
/** APIv3 callback: 5-second timeout, then retries at these delays — 15 retries over 24 h 4 min (reference §5.4). */
export const callback_timeout_ms = 5_000;
export const callback_retry_delays_s = [
  15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600,
];
/** Callbacks one pass leases and delivers concurrently; a lease keeps other nodes off a callback in flight. */
export const callback_batch_max = 16;
/**
 * Deliveries in flight on one node across passes (slow endpoints do not block later passes). Each
 * takes an RSA signature in libuv's 4-thread pool, which the WAL fsync shares; its DNS lookup runs
 * on the event loop (c-ares), and its 5 s deadline ends it whatever it waits for.
 */
export const callback_in_flight_max = 64;
export const callback_lease_ms = 30_000;

/** A restricted-category hit or a mislabelled transaction freezes the merchant for 72 hours (DESIGN.md). */
export const freeze_duration_ms = 72 * 3600 * 1000;

/**
 * AI eligibility (DESIGN.md "Billing"): AI endpoints need at least 10,000 CNY of transaction volume,
 * measured as captured payments net of refunds over the trailing 30 days (docs/billing.md).
 */
export const ai_eligibility_volume_fen_min = 1_000_000;
export const ai_eligibility_window_ms = 30 * 24 * 3600 * 1000;
/**
 * A merchant found eligible stays so in this node's memory for a minute: the volume query stays off
 * the hot path of every Fraud Shield call. Refusals are never cached, and an operator's grant or
 * revocation clears the entry at once on the node that handled it (other nodes within a minute).
 */
export const ai_eligibility_cache_ms = 60_000;
/** Idempotency-Key: at most 64 printable ASCII characters (a UUID is 36); kept for 24 hours like Stripe's. */
export const idempotency_key_chars_max = 64;
export const idempotency_key_retention_ms = 24 * 3600 * 1000;
/** APIv3 §3.5: a bill download_url is valid for 5 minutes. */
export const bill_token_validity_ms = 5 * 60 * 1000;
/** APIv3 §3.5: bills are served for days within the last 3 months, never for today. */
export const bill_history_months = 3;
/**
 * A bill or statement is built in memory; 200,000 rows is ~60 MB of CSV at most, a busy merchant's
 * day. Larger days need a streaming builder (not written yet) and answer BILL_TOO_LARGE.
 */
export const bill_rows_max = 200_000;
/** Conversation price tiers (operator-configurable): at most 10 tiers, unit prices at most 100 CNY. */
export const conversation_tiers_max = 10;
export const conversation_unit_price_fen_max = 10_000;

// Conversational payments (docs/conversations.md). Each bound keeps one chat from consuming
// unbounded model tokens, tool calls or money (OWASP LLM10 "Unbounded Consumption").
/** Longest payer message: a chat line, not a document; longer ones are refused, not truncated. */
export const conversation_message_chars_max = 2_000;
/** Model tokens one conversation may consume in total (prompt + completion, as the model reports). */
export const conversation_tokens_max = 60_000;
/** Tool calls one conversation may make in total (platform agent and MCP together). */
export const conversation_tool_calls_max = 40;
/** Model calls in one turn: propose, read the tool result, answer — 4 leaves one spare step. */
export const agent_steps_per_turn_max = 4;
/** Tool calls in one turn; more is a loop, not a conversation. */
export const agent_tool_calls_per_turn_max = 6;
/** Earlier messages the agent sees (the rest stay stored, encrypted, but out of the prompt). */
export const agent_history_messages_max = 40;
/** A mandate must be confirmed within 10 minutes of being proposed (or approved by the merchant). */
export const mandate_validity_ms = 10 * 60 * 1000;
/** The agent refunds on its own at most 200 CNY per refund; above, the merchant decides. */
export const agent_refund_auto_max_fen = 20_000;
/** ...and at most 500 CNY per agent, merchant and China day (proposed, confirmed or executed). */
export const agent_refund_daily_cap_fen = 50_000;
/** ...and only within 30 days of payment (APIv3 allows a year; older refunds go to the merchant). */
export const agent_refund_window_ms = 30 * 24 * 3600 * 1000;
/** The agent proposes payments of at most 50,000 CNY (a chat is no place for larger amounts). */
export const agent_payment_fen_max = 5_000_000;
/** Orders or refunds one lookup returns. */
export const agent_lookup_rows_max = 10;
/** LLM gateway: chat requests carry whole conversations and tool schemas, larger than APIv3 bodies. */
export const llm_body_bytes_max = 1024 * 1024;
/** Messages and tools in one chat request: far above real agent turns, bounded for the scanners. */
export const llm_messages_max = 1_000;
export const llm_tools_max = 128;
/** Active gateway API keys per merchant (one per app or environment is the expected use). */
export const llm_keys_per_merchant_max = 100;
/** Merchant redaction patterns: each runs over every foreign-bound prompt, so few and short. */
export const llm_redaction_patterns_max = 20;
export const llm_redaction_pattern_chars_max = 200;
/** Distinct out_trade_no candidates looked up per request (one indexed IN query). */
export const llm_trade_candidates_max = 500;
/** A revoked key stops working on other nodes within this time (this node: at once). */
export const llm_key_cache_ms = 10_000;
/** The request log is written behind the answer: every 100 ms or 500 rows, at most 100,000 queued. */
export const llm_log_flush_ms = 100;
export const llm_log_batch_max = 500;
export const llm_log_queue_max = 100_000;
/** Cooldown of a failing provider (LiteLLM's allowed_fails/cooldown_time): 3 failures in a row → 30 s off. */
export const llm_cooldown_failures = 3;
export const llm_cooldown_ms = 30_000;

// Smart Checkout (docs/checkout.md): channel-health windows, model replay and input bounds.

/** Outcomes per channel window: Hyperswitch's default bucket is 50 (ml.md §B.2). */
export const channel_window_size = 50;
/** Outcomes older than 15 minutes say little about a channel's state now. */
export const channel_window_ms = 15 * 60_000;
/** Fewer outcomes than this never mark a channel degraded (noise). */
export const channel_min_samples = 5;
/** A smoothed success rate below 80% marks a channel degraded. */
export const channel_degraded_success_rate = 0.8;
/** A median latency above 2 s marks a channel degraded (payers abandon slow confirmations). */
export const channel_degraded_latency_ms = 2_000;
/** Authorisations read back into the windows on start: 50 per channel for ~100 channels. */
export const channel_reload_rows_max = 5_000;
/** Outcomes replayed into the model on start (the log is the model's source of truth). */
export const model_replay_rows_max = 200_000;
/** Instruments in a payer's history: WeChat binds at most a few dozen cards. */
export const history_instruments_max = 32;
/** Overrides in a sandbox channel's schedule. */
export const channel_schedule_max = 32;
/** Active promotions a merchant may have at once (each is checked on every query). */
export const promotions_active_max = 50;
/** Sandbox channel latency ceiling: one minute. */
export const channel_latency_ms_max = 60_000;
