/** ISO 18245 merchant category codes used by the simulator. */
export type Mcc = '5411' | '5812' | '5732' | '5999' | '7995' | '4121' | '5311' | '5691' | '6051' | '5816';

/** Every MCC the simulator knows, in a fixed order. */
export const MCCS: readonly Mcc[] = [
  '5411',
  '5812',
  '5732',
  '5999',
  '7995',
  '4121',
  '5311',
  '5691',
  '6051',
  '5816',
];

/** The fraud patterns the simulator plants. */
export type PatternName =
  | 'account_takeover'
  | 'card_testing'
  | 'device_farm'
  | 'refund_abuse'
  | 'promotion_abuse'
  | 'mule';

/** Every pattern, in a fixed order (used for `byPattern` counts). */
export const PATTERNS: readonly PatternName[] = [
  'account_takeover',
  'card_testing',
  'device_farm',
  'refund_abuse',
  'promotion_abuse',
  'mule',
];

export type InstrumentKind = 'balance' | 'debit_card' | 'credit_card' | 'credit_line';

/**
 * One labelled payment or refund. Field order is fixed (it is the JSON Lines key order).
 */
export interface SimEvent {
  /** Unique event id, increasing with time within one run: `ev_<seed base36>_<sequence>`. */
  id: string;
  /** Event time, epoch milliseconds. */
  ts: number;
  type: 'payment' | 'refund';
  /** The payer (an OpenID-like account id). Fraudster-controlled accounts share the id space. */
  payer_id: string;
  merchant_id: string;
  /** ISO 18245 merchant category code of `merchant_id`. */
  mcc: Mcc;
  /** Amount in fen (1/100 CNY), a positive integer. For refunds: the refunded amount. */
  amount_fen: number;
  currency: 'CNY';
  device_id: string;
  /** Simulated IPv4 address (dotted quad) drawn from a per-region /16 pool. Only a string. */
  ip: string;
  /** ISO 3166-1 alpha-2 country of the IP, mostly 'CN'. */
  ip_country: string;
  /** GB/T 2260 province code of the IP (e.g. '440000' Guangdong) for CN IPs, '' abroad. */
  ip_region: string;
  instrument_id: string;
  instrument_kind: InstrumentKind;
  /** When the instrument was bound to the account (epoch ms, ≤ ts). */
  instrument_created_ts: number;
  /** When the payer account was created (epoch ms, ≤ ts). */
  payer_created_ts: number;
  /** Promotion redeemed by this payment (refunds repeat the payment's value), else null. */
  promotion_id: string | null;
  /** For refunds: id of the refunded payment (always an earlier successful payment). Else null. */
  refund_of: string | null;
  outcome: 'success' | 'declined';
  label: 'legit' | 'fraud';
  /** The fraud pattern when `label` is 'fraud', else null. */
  pattern: PatternName | null;
}
