/**
 * Fraud Shield features (issue #3 §2): one definition, computed the same way online (from the
 * database) and offline (training, benchmarks) — both stores produce a `Snapshot` of the history
 * before the event and `featurize` turns event + snapshot into the model's vector. A test replays
 * the same traffic through both stores and requires identical vectors.
 */

/** What the Fraud Shield is asked about: a payment or a refund, with its context. */
export interface RiskEvent {
  id: string;
  ts: number;
  type: 'payment' | 'refund';
  /** Domestic payer key (the sandbox user id): raw OpenIDs never enter the feature store. */
  payer_id: string;
  merchant_id: string;
  mcc: string;
  amount_fen: number;
  device_id: string;
  ip: string;
  ip_country: string;
  ip_region: string;
  instrument_id: string;
  instrument_created_ts: number;
  payer_created_ts: number;
  promotion_id: string | null;
  /** For refunds: the amount of the payment being refunded. */
  refund_of_amount_fen?: number | null;
  /** For refunds: when the refunded payment was made (epoch ms; unknown: null). */
  refund_of_ts?: number | null;
}

export interface WindowStats {
  c1m: number;
  c1h: number;
  c24h: number;
  s1h: number;
  s24h: number;
}

export interface Snapshot {
  payer: WindowStats & {
    fail1h: number;
    devices24h: number;
    promo24h: number;
    refunds24h: number;
    /** Distinct devices the payer ever attempted a payment from. */
    devicesEver: number;
    /** Distinct instruments the payer ever paid (successfully) or was refunded with. */
    instrumentsEver: number;
  };
  device: {
    c1m: number;
    c1h: number;
    c24h: number;
    payers24h: number;
    firstSeenTs: number | null;
    /** Distinct payers that ever attempted a payment from this device. */
    payersEver: number;
  };
  ip: { c1m: number; c1h: number; payers24h: number };
  merchant: { c1m: number; c1h: number };
  /**
   * Running profile of the payer's past successful payments (Welford on log amount, hour vector,
   * quasi-cash count).
   */
  profile: {
    payments: number;
    refunds: number;
    meanLog: number;
    m2Log: number;
    hourSin: number;
    hourCos: number;
    quasiCash: number;
  };
  merchantProfile: { payments: number; refunds: number };
  /** When this payer first used this device / IP / instrument / region (null: never before). */
  seen: { device: number | null; ip: number | null; instrument: number | null; region: number | null };
}

export const featureNames = [
  'amount_fen',
  'amount_log',
  'hour_of_day',
  'is_refund',
  'refund_share_of_payment',
  'payer_txn_count_1m',
  'payer_txn_count_1h',
  'payer_txn_count_24h',
  'payer_amount_sum_1h',
  'payer_amount_sum_24h',
  'payer_failures_1h',
  'payer_devices_24h',
  'payer_promotions_24h',
  'payer_refunds_24h',
  'device_txn_count_1m',
  'device_txn_count_1h',
  'device_txn_count_24h',
  'device_payers_24h',
  'device_age_days',
  'ip_txn_count_1m',
  'ip_txn_count_1h',
  'ip_payers_24h',
  'merchant_txn_count_1m',
  'merchant_txn_count_1h',
  'merchant_refund_ratio',
  'device_new_for_payer',
  'ip_new_for_payer',
  'instrument_new_for_payer',
  'region_new_for_payer',
  'ip_foreign',
  'amount_zscore',
  'hour_deviation',
  'mcc_risk',
  'payer_refund_ratio',
  'payer_payments',
  'account_age_days',
  'instrument_age_days',
  'has_promotion',
  'payer_mean_amount_log',
  'payer_payments_per_age_day',
  'device_payers_ever',
  'payer_devices_ever',
  'payer_quasi_cash_share',
  'refund_delay_hours',
  'payer_instruments_ever',
] as const;

export type FeatureName = (typeof featureNames)[number];
export const feature_count = featureNames.length;

/** Prior fraud risk by merchant category (ISO 18245), 0–1: quasi-cash, gaming, electronics high. */
const mcc_risk: Record<string, number> = {
  '6051': 0.9,
  '7995': 0.95,
  '5816': 0.6,
  '5732': 0.55,
  '5999': 0.35,
  '5691': 0.25,
  '5311': 0.2,
  '4121': 0.15,
  '5812': 0.1,
  '5411': 0.05,
};

/** Quasi-cash and gambling categories (payer_quasi_cash_share). */
export const quasi_cash_mccs: ReadonlySet<string> = new Set(['6051', '7995']);

const day_ms = 86_400_000;
const china_offset_ms = 8 * 3600 * 1000;

export function hourOfDay(ts: number): number {
  return Math.floor(((ts + china_offset_ms) % day_ms) / 3_600_000);
}

export function featurize(
  e: RiskEvent,
  s: Snapshot,
  out: Float64Array = new Float64Array(feature_count),
): Float64Array {
  const hour = hourOfDay(e.ts);
  const logAmount = Math.log1p(e.amount_fen);
  const p = s.profile;
  const std = p.payments > 1 ? Math.sqrt(p.m2Log / (p.payments - 1)) : 0;
  const z = p.payments > 1 ? (logAmount - p.meanLog) / Math.max(std, 0.25) : 0;
  let hourDev = 0;
  if (p.payments > 0) {
    const meanAngle = Math.atan2(p.hourSin, p.hourCos);
    const angle = (hour / 24) * 2 * Math.PI;
    const diff = Math.abs(Math.atan2(Math.sin(angle - meanAngle), Math.cos(angle - meanAngle)));
    hourDev = (diff / Math.PI) * 12;
  }
  const m = s.merchantProfile;
  let i = 0;
  out[i++] = e.amount_fen;
  out[i++] = logAmount;
  out[i++] = hour;
  out[i++] = e.type === 'refund' ? 1 : 0;
  out[i++] = e.type === 'refund' && e.refund_of_amount_fen ? e.amount_fen / e.refund_of_amount_fen : 0;
  out[i++] = s.payer.c1m;
  out[i++] = s.payer.c1h;
  out[i++] = s.payer.c24h;
  out[i++] = s.payer.s1h;
  out[i++] = s.payer.s24h;
  out[i++] = s.payer.fail1h;
  out[i++] = s.payer.devices24h;
  out[i++] = s.payer.promo24h;
  out[i++] = s.payer.refunds24h;
  out[i++] = s.device.c1m;
  out[i++] = s.device.c1h;
  out[i++] = s.device.c24h;
  out[i++] = s.device.payers24h;
  out[i++] = s.device.firstSeenTs === null ? 0 : (e.ts - s.device.firstSeenTs) / day_ms;
  out[i++] = s.ip.c1m;
  out[i++] = s.ip.c1h;
  out[i++] = s.ip.payers24h;
  out[i++] = s.merchant.c1m;
  out[i++] = s.merchant.c1h;
  out[i++] = m.payments > 0 ? m.refunds / m.payments : 0;
  out[i++] = s.seen.device === null ? 1 : 0;
  out[i++] = s.seen.ip === null ? 1 : 0;
  out[i++] = s.seen.instrument === null ? 1 : 0;
  out[i++] = s.seen.region === null ? 1 : 0;
  out[i++] = e.ip_country === 'CN' ? 0 : 1;
  out[i++] = z;
  out[i++] = hourDev;
  out[i++] = mcc_risk[e.mcc] ?? 0.3;
  out[i++] = p.payments > 0 ? p.refunds / p.payments : 0;
  out[i++] = p.payments;
  out[i++] = (e.ts - e.payer_created_ts) / day_ms;
  out[i++] = (e.ts - e.instrument_created_ts) / day_ms;
  out[i++] = e.promotion_id ? 1 : 0;
  out[i++] = p.payments > 0 ? p.meanLog : logAmount;
  out[i++] = p.payments / Math.max(1, (e.ts - e.payer_created_ts) / day_ms);
  out[i++] = s.device.payersEver;
  out[i++] = s.payer.devicesEver;
  out[i++] = p.payments > 0 ? p.quasiCash / p.payments : 0;
  out[i++] =
    e.type === 'refund' && e.refund_of_ts !== undefined && e.refund_of_ts !== null
      ? (e.ts - e.refund_of_ts) / 3_600_000
      : -1;
  out[i++] = s.payer.instrumentsEver;
  return out;
}

/** Named view of a vector, for reasons, stored history and rules. */
export function featureRecord(vector: ArrayLike<number>): Record<FeatureName, number> {
  const record = {} as Record<FeatureName, number>;
  for (let i = 0; i < featureNames.length; i++) record[featureNames[i]!] = vector[i]!;
  return record;
}
