/**
 * The arm features of Smart Checkout (feature schema `checkout.v1`, docs/checkout.md): one vector
 * per (transaction, payer history, instrument, channel health, promotion). Every feature is scaled
 * to about 0…1 so that one exploration width fits all of them.
 */
import type { InstrumentKind } from '../../wallet/index.ts';

export type { InstrumentKind };

/** What the payer's history says about one instrument (from the request's feature vector). */
export interface InstrumentHistory {
  uses: number;
  failures: number;
  last_used_days_ago?: number | undefined;
}

/** Everything the model sees about one instrument for one transaction. */
export interface ArmContext {
  kind: InstrumentKind;
  amount_fen: number;
  mcc: string;
  /** Payments in the payer's history window. */
  history_payments: number;
  /** Promotions the payer redeemed in the window (promotion sensitivity). */
  history_promotions: number;
  history: InstrumentHistory | undefined;
  last_used: boolean;
  /** What the instrument can still pay, fen. */
  available_fen: number;
  discount_fen: number;
  promotion: boolean;
  channel_success_rate: number;
  channel_latency_ms: number;
  channel_degraded: boolean;
  client_latency_ms: number;
}

/** Names of the vector's entries, in order (also the prior's and docs' order). */
export const feature_names = [
  'bias',
  'kind_balance',
  'kind_debit_card',
  'kind_credit_card',
  'kind_credit_line',
  'usage_share',
  'last_used',
  'recency',
  'failure_share',
  'headroom',
  'promotion',
  'discount_share',
  'promotion_x_sensitivity',
  'channel_success_rate',
  'channel_latency',
  'channel_degraded',
  'latency_x_client_latency',
  'amount_x_credit',
  'amount_x_balance',
  'large_ticket_mcc_x_credit',
] as const;

export const feature_count = feature_names.length;

/**
 * θ₀: the order before any outcome is learned — payers' own habits first, then a working channel,
 * then promotions. Roughly a completion probability (bias + success rate ≈ 0.6).
 */
export const prior: readonly number[] = [
  0.3, 0, 0, 0, 0, 0.25, 0.1, 0.05, -0.4, 0.05, 0.05, 0.3, 0.1, 0.3, -0.15, -0.3, -0.05, 0, 0, 0,
];

/** Merchant categories with large tickets (electronics, department stores, clothing). */
const large_ticket_mccs = new Set(['5732', '5311', '5691']);

const clip = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

/** Writes the features of `a` into `out` (length feature_count) and returns it. */
export function featurize(a: ArmContext, out = new Float64Array(feature_count)): Float64Array {
  const credit = a.kind === 'credit_card' || a.kind === 'credit_line' ? 1 : 0;
  const h = a.history;
  const payments = Math.max(1, a.history_payments);
  const amountLog = clip(Math.log10(Math.max(1, a.amount_fen) / 100) / 5, 0, 1);
  out[0] = 1;
  out[1] = a.kind === 'balance' ? 1 : 0;
  out[2] = a.kind === 'debit_card' ? 1 : 0;
  out[3] = a.kind === 'credit_card' ? 1 : 0;
  out[4] = a.kind === 'credit_line' ? 1 : 0;
  out[5] = h ? clip(h.uses / payments, 0, 1) : 0;
  out[6] = a.last_used ? 1 : 0;
  out[7] = h?.last_used_days_ago !== undefined ? Math.exp(-h.last_used_days_ago / 30) : 0;
  out[8] = h ? clip(h.failures / Math.max(1, h.uses + h.failures), 0, 1) : 0;
  out[9] = clip(Math.log10(Math.max(1, a.available_fen) / Math.max(1, a.amount_fen)) / 3, 0, 1);
  out[10] = a.promotion ? 1 : 0;
  out[11] = clip(a.discount_fen / Math.max(1, a.amount_fen), 0, 1);
  out[12] = a.promotion ? clip(a.history_promotions / payments, 0, 1) : 0;
  out[13] = clip(a.channel_success_rate, 0, 1);
  out[14] = clip(a.channel_latency_ms / 5000, 0, 1);
  out[15] = a.channel_degraded ? 1 : 0;
  out[16] =
    clip((a.channel_latency_ms + a.client_latency_ms) / 10_000, 0, 1) *
    clip(a.client_latency_ms / 1000, 0, 1);
  out[17] = amountLog * credit;
  out[18] = amountLog * out[1]!;
  out[19] = large_ticket_mccs.has(a.mcc) ? credit : 0;
  return out;
}
