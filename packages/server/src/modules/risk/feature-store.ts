/**
 * The feature-store port (issue #3 §2) and its in-memory implementation (training, simulation,
 * benchmarks). The database implementation is in feature-store.sql.ts. Both fetch the raw history
 * rows of the windows and aggregate them with the same functions below, so the vectors match.
 */
import { hourOfDay, quasi_cash_mccs, type RiskEvent, type Snapshot, type WindowStats } from './features.ts';

export type Outcome = 'success' | 'declined';

export interface FeatureStore {
  /** The history before `e`: windows, profiles, first-seen times. */
  snapshot(e: RiskEvent): Promise<Snapshot>;
  /** Adds `e` to the history (payments with their outcome; refunds count as refunds). */
  record(e: RiskEvent, outcome: Outcome): Promise<void>;
}

/** One past payment attempt as the windows need it. */
export interface HistoryRow {
  ts: number;
  amount_fen: number;
  failed: number;
  payer_id: string;
  device_id: string;
  promo: number;
  refund: number;
}

export const minute_ms = 60_000;
export const hour_ms = 3_600_000;
export const day_ms = 86_400_000;

/**
 * Most history rows (or distinct linked keys) one window reads: a payer's or a device's window is
 * its latest `window_rows_max` events of the 24 h, and a count of linked keys (a device's payers,
 * a payer's devices or instruments, an IP's payers) stops at `window_rows_max`. Without the bound a
 * card tester retrying thousands of times a day made each of its own assessments scan all of them
 * (bench:risk: 3.4 ms per assessment at 5,000 attempts in 24 h, 0.8 ms with the bound), a cost the
 * attacker chose; no honest payer or device comes near it, and features this high are already the
 * attack's signature.
 */
export const window_rows_max = 1_000;

export function windowStats(rows: readonly HistoryRow[], now: number): WindowStats {
  const s = { c1m: 0, c1h: 0, c24h: 0, s1h: 0, s24h: 0 };
  for (const r of rows) {
    if (r.refund || r.ts <= now - day_ms) continue;
    s.c24h++;
    s.s24h += r.amount_fen;
    if (r.ts > now - hour_ms) {
      s.c1h++;
      s.s1h += r.amount_fen;
      if (r.ts > now - minute_ms) s.c1m++;
    }
  }
  return s;
}

export function payerStats(
  rows: readonly HistoryRow[],
  now: number,
  devicesEver: number,
  instrumentsEver: number,
): Snapshot['payer'] {
  let fail1h = 0;
  let promo24h = 0;
  let refunds24h = 0;
  const devices = new Set<string>();
  for (const r of rows) {
    if (r.ts <= now - day_ms) continue;
    if (r.refund) {
      refunds24h++;
      continue;
    }
    devices.add(r.device_id);
    promo24h += r.promo;
    if (r.failed && r.ts > now - hour_ms) fail1h++;
  }
  return {
    ...windowStats(rows, now),
    fail1h,
    devices24h: devices.size,
    promo24h,
    refunds24h,
    devicesEver,
    instrumentsEver,
  };
}

export function distinctPayers(rows: readonly HistoryRow[], now: number): number {
  const payers = new Set<string>();
  for (const r of rows) if (!r.refund && r.ts > now - day_ms) payers.add(r.payer_id);
  return payers.size;
}

export interface Profile {
  payments: number;
  refunds: number;
  meanLog: number;
  m2Log: number;
  hourSin: number;
  hourCos: number;
  quasiCash: number;
}

export const emptyProfile = (): Profile => ({
  payments: 0,
  refunds: 0,
  meanLog: 0,
  m2Log: 0,
  hourSin: 0,
  hourCos: 0,
  quasiCash: 0,
});

/** Welford update of the payer's log-amount mean/variance and hour-of-day vector. */
export function updateProfile(p: Profile, e: RiskEvent, outcome: Outcome, hour: number): Profile {
  if (e.type === 'refund') return { ...p, refunds: p.refunds + 1 };
  if (outcome !== 'success') return p;
  const payments = p.payments + 1;
  const x = Math.log1p(e.amount_fen);
  const delta = x - p.meanLog;
  const meanLog = p.meanLog + delta / payments;
  const angle = (hour / 24) * 2 * Math.PI;
  return {
    payments,
    refunds: p.refunds,
    meanLog,
    m2Log: p.m2Log + delta * (x - meanLog),
    hourSin: p.hourSin + Math.sin(angle),
    hourCos: p.hourCos + Math.cos(angle),
    quasiCash: p.quasiCash + (quasi_cash_mccs.has(e.mcc) ? 1 : 0),
  };
}

export function historyRow(e: RiskEvent, outcome: Outcome): HistoryRow {
  return {
    ts: e.ts,
    amount_fen: e.amount_fen,
    failed: outcome === 'declined' ? 1 : 0,
    payer_id: e.payer_id,
    device_id: e.device_id,
    promo: e.promotion_id ? 1 : 0,
    refund: e.type === 'refund' ? 1 : 0,
  };
}

export const seenKeys = (e: RiskEvent) =>
  [
    ['device', e.device_id],
    ['ip', e.ip],
    ['instrument', e.instrument_id],
    ['region', `${e.ip_country}:${e.ip_region}`],
  ] as const;

/** Keeps 24 hours of rows per key, profiles and first-seen maps in memory. */
export class MemoryFeatureStore implements FeatureStore {
  private readonly byPayer = new Map<string, HistoryRow[]>();
  private readonly byDevice = new Map<string, HistoryRow[]>();
  private readonly byIp = new Map<string, HistoryRow[]>();
  private readonly byMerchant = new Map<string, HistoryRow[]>();
  private readonly profiles = new Map<string, Profile>();
  private readonly merchantProfiles = new Map<string, { payments: number; refunds: number }>();
  private readonly seen = new Map<string, number>();
  private readonly deviceFirstSeen = new Map<string, number>();
  /** Distinct payers per device and devices per payer, over every payment attempt ever. */
  private readonly devicePayers = new Map<string, Set<string>>();
  private readonly payerDevices = new Map<string, Set<string>>();
  /** Distinct instruments per payer among the first-seen facts. */
  private readonly payerInstruments = new Map<string, number>();

  snapshot(e: RiskEvent): Promise<Snapshot> {
    return Promise.resolve(this.snapshotSync(e));
  }

  snapshotSync(e: RiskEvent): Snapshot {
    const now = e.ts;
    const payerRows = latest(this.rows(this.byPayer, e.payer_id, now));
    const deviceRows = latest(this.rows(this.byDevice, e.device_id, now));
    const ipRows = this.rows(this.byIp, e.ip, now);
    const merchantRows = this.rows(this.byMerchant, e.merchant_id, now);
    const [device, ip, instrument, region] = seenKeys(e).map(
      ([k, v]) => this.seen.get(`${e.payer_id}\n${k}\n${v}`) ?? null,
    );
    const d = windowStats(deviceRows, now);
    const ipw = windowStats(ipRows, now);
    const mw = windowStats(merchantRows, now);
    return {
      payer: payerStats(
        payerRows,
        now,
        capped(this.payerDevices.get(e.payer_id)?.size ?? 0),
        capped(this.payerInstruments.get(e.payer_id) ?? 0),
      ),
      device: {
        c1m: d.c1m,
        c1h: d.c1h,
        c24h: d.c24h,
        payers24h: distinctPayers(deviceRows, now),
        firstSeenTs: this.deviceFirstSeen.get(e.device_id) ?? null,
        payersEver: capped(this.devicePayers.get(e.device_id)?.size ?? 0),
      },
      ip: { c1m: ipw.c1m, c1h: ipw.c1h, payers24h: capped(distinctPayers(ipRows, now)) },
      merchant: { c1m: mw.c1m, c1h: mw.c1h },
      profile: this.profiles.get(e.payer_id) ?? emptyProfile(),
      merchantProfile: this.merchantProfiles.get(e.merchant_id) ?? { payments: 0, refunds: 0 },
      seen: {
        device: device ?? null,
        ip: ip ?? null,
        instrument: instrument ?? null,
        region: region ?? null,
      },
    };
  }

  record(e: RiskEvent, outcome: Outcome): Promise<void> {
    this.recordSync(e, outcome, hourOfDay(e.ts));
    return Promise.resolve();
  }

  recordSync(e: RiskEvent, outcome: Outcome, hour: number): void {
    const row = historyRow(e, outcome);
    this.push(this.byPayer, e.payer_id, row);
    if (e.type === 'payment') {
      this.push(this.byDevice, e.device_id, row);
      this.push(this.byIp, e.ip, row);
      this.push(this.byMerchant, e.merchant_id, row);
      addTo(this.devicePayers, e.device_id, e.payer_id);
      addTo(this.payerDevices, e.payer_id, e.device_id);
    }
    this.profiles.set(
      e.payer_id,
      updateProfile(this.profiles.get(e.payer_id) ?? emptyProfile(), e, outcome, hour),
    );
    const mp = this.merchantProfiles.get(e.merchant_id) ?? { payments: 0, refunds: 0 };
    if (e.type === 'refund') mp.refunds++;
    else if (outcome === 'success') mp.payments++;
    this.merchantProfiles.set(e.merchant_id, mp);
    if (outcome === 'success' || e.type === 'refund') {
      for (const [k, v] of seenKeys(e)) {
        const key = `${e.payer_id}\n${k}\n${v}`;
        if (this.seen.has(key)) continue;
        this.seen.set(key, e.ts);
        if (k === 'instrument')
          this.payerInstruments.set(e.payer_id, (this.payerInstruments.get(e.payer_id) ?? 0) + 1);
      }
    }
    if (!this.deviceFirstSeen.has(e.device_id)) this.deviceFirstSeen.set(e.device_id, e.ts);
  }

  private push(map: Map<string, HistoryRow[]>, key: string, row: HistoryRow): void {
    const rows = map.get(key);
    if (rows) rows.push(row);
    else map.set(key, [row]);
  }

  /** Rows of the last 24 h; older ones are dropped as they fall out of the window. */
  private rows(map: Map<string, HistoryRow[]>, key: string, now: number): HistoryRow[] {
    const rows = map.get(key);
    if (!rows) return [];
    let drop = 0;
    while (drop < rows.length && rows[drop]!.ts <= now - day_ms) drop++;
    if (drop > 0) rows.splice(0, drop);
    return rows;
  }
}

/** The latest `window_rows_max` of a key's rows (kept in time order). */
const latest = (rows: HistoryRow[]) => (rows.length > window_rows_max ? rows.slice(-window_rows_max) : rows);
const capped = (count: number) => Math.min(count, window_rows_max);

function addTo(map: Map<string, Set<string>>, key: string, value: string): void {
  const set = map.get(key);
  if (set) set.add(value);
  else map.set(key, new Set([value]));
}
