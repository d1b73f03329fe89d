/**
 * Types of the Smart Checkout API (docs/checkout.md): the ranking request in feature schema
 * `checkout.v1`, the ranked answer, promotions.
 */

export type CheckoutScene = 'jsapi' | 'native' | 'h5' | 'app' | 'mini_program';
export type CheckoutInstrumentKind = 'balance' | 'debit_card' | 'credit_card' | 'credit_line';

/** The payer's usage of one instrument over the history window. */
export interface InstrumentUsage {
  instrument_id: string;
  uses: number;
  failures: number;
  last_used_days_ago?: number;
}

/** `POST /v1/checkout/rankings`: feature schema `checkout.v1`. */
export interface RankRequest {
  feature_version: 'checkout.v1';
  appid: string;
  transaction: {
    amount: { total: number; currency?: 'CNY' };
    /** ISO 18245 merchant category code, four digits. */
    mcc: string;
    scene: CheckoutScene;
    out_trade_no?: string;
  };
  payer: { openid: string };
  history: {
    window_days: number;
    payments: number;
    promotion_redemptions?: number;
    last_instrument_id?: string;
    instruments: InstrumentUsage[];
  };
  client?: { network_latency_ms?: number };
}

export type Eligibility =
  | { code: 'insufficient_balance'; available_fen: number; needed_fen: number }
  | { code: 'over_card_limit'; per_txn_limit_fen: number }
  | { code: 'channel_degraded'; success_rate: number; latency_ms_p50: number; samples: number }
  | {
      code: 'promotion_applied';
      promotion_id: string;
      name: string;
      discount_fen: number;
      instalments: number | null;
    };

export interface RankedInstrument {
  instrument_id: string;
  kind: CheckoutInstrumentKind;
  bank_type: string;
  display_name: string;
  last4: string | null;
  rank: number;
  eligible: boolean;
  score: number;
  p_complete: number;
  payable_fen: number;
  available_fen: number;
  eligibility: Eligibility[];
  reasons: string[];
  channel: { success_rate: number; latency_ms_p50: number; samples: number; degraded: boolean };
}

export interface Ranking {
  ranking_id: string;
  feature_version: string;
  amount: { total: number; currency: 'CNY' };
  policy: {
    name: 'linucb';
    exploration_share: number;
    explored: boolean;
    propensity: number | null;
    model_updates: number;
  };
  instruments: RankedInstrument[];
  created_at: string;
}

export interface PromotionRequest {
  name: string;
  kind: 'amount_off' | 'instalments';
  eligibility?: { bank_type?: string; instrument_kind?: CheckoutInstrumentKind; min_amount_fen?: number };
  discount_fen?: number;
  instalments?: number;
  budget_fen: number;
  funded_by: 'merchant' | 'bank' | 'platform';
  /** RFC 3339 with an offset. */
  starts_at: string;
  ends_at: string;
}

export interface Promotion {
  promotion_id: string;
  name: string;
  kind: 'amount_off' | 'instalments';
  eligibility: { bank_type: string | null; instrument_kind: string | null; min_amount_fen: number };
  discount_fen: number;
  instalments: number | null;
  budget_fen: number;
  spent_fen: number;
  remaining_fen: number;
  funded_by: 'merchant' | 'bank' | 'platform';
  ledger_account_id: string;
  starts_at: string;
  ends_at: string;
  active: boolean;
}
