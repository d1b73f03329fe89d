/**
 * The feature store on the platform database (SQLite or PostgreSQL). A snapshot is ONE statement:
 * a UNION ALL of the window aggregates over `risk_events` (each an index-only range scan of a
 * covering index, migration 010), the payer's and the merchant's profile rows, the payer's
 * first-seen rows and instrument count, and the device's first-seen time and lifetime payer
 * count. The windows of the keys that can be hot — a merchant, an IP shared by many payers —
 * come from per-second and per-minute counters and (IP, payer) pairs (migration 011) plus at most
 * one second of raw history, so their cost does not grow with their volume; a payer's and a
 * device's windows are index-only scans of their own (small) history. The text never changes, so SQLite reuses one prepared statement (db/database.ts caches
 * them) and PostgreSQL answers in one round trip. The definitions are those of the in-memory store (feature-store.ts);
 * a parity test holds them equal. `record` runs inside the caller's transaction, so the history
 * commits with the payment or refund it describes.
 */
import { CompiledQuery, PostgresAdapter, sql } from 'kysely';
import type { Executor } from '../../db/database.ts';
import { insertRow, prepared, preparedByKeys } from '../../db/prepared.ts';
import type { RiskProfilesTable } from '../../db/schema.ts';
import {
  day_ms,
  emptyProfile,
  type FeatureStore,
  historyRow,
  hour_ms,
  minute_ms,
  type Outcome,
  type Profile,
  seenKeys,
  updateProfile,
  window_rows_max,
} from './feature-store.ts';
import { hourOfDay, type RiskEvent, type Snapshot } from './features.ts';

/** One row of the snapshot statement: a tag and up to ten numbers (meaning by tag, see below). */
export interface SnapshotRow {
  k: string;
  c0: number | null;
  c1: number | null;
  c2: number | null;
  c3: number | null;
  c4: number | null;
  c5: number | null;
  c6: number | null;
  c7: number | null;
  c8: number | null;
  c9: number | null;
}

/** The parameters of the snapshot statement (`{name}` in its text). */
type Token =
  | 'm'
  | 'h'
  | 'd'
  | 'm_s'
  | 'm_s_end'
  | 'h_m'
  | 'h_s'
  | 'h_s_lim'
  | 'h_s_end'
  | 'payer'
  | 'device'
  | 'ip'
  | 'merchant'
  | 'instrument'
  | 'region';

/**
 * The 1-minute and 1-hour payment counts of a hot key (a merchant, an IP) from its counters,
 * exactly: whole second buckets after the one holding m, plus the raw events of that partial
 * second; for the hour, whole minute buckets after the one holding h, whole second buckets up to
 * that minute's end, and the raw events of the partial second (bounds: windowBounds).
 */
function hotWindows(kind: string, key: Token, column: string): string {
  const counted = (where: string) =>
    `(select coalesce(sum(n), 0) from risk_window_counts where kind = '${kind}' and "key" = {${key}} and ${where})`;
  const raw = (from: Token, to: Token) =>
    `(select count(*) from risk_events where ${column} = {${key}} and refund = 0 and ts > {${from}} and ts < {${to}})`;
  return `cast(${counted("span = 's' and bucket > {m_s}")} + ${raw('m', 'm_s_end')} as double precision),
  cast(${counted("span = 'm' and bucket > {h_m}")}
    + ${counted("span = 's' and bucket > {h_s} and bucket < {h_s_lim}")}
    + ${raw('h', 'h_s_end')} as double precision)`;
}

/** A key's latest `window_rows_max` events of the 24 h (an index-only scan backwards in time). */
const latestRows = (columns: string, key: string) =>
  `(select ${columns} from risk_events where ${key} and ts > {d} order by ts desc limit ${window_rows_max}) w`;

/** How many rows `query` has, counting no further than `window_rows_max`. */
const upTo = (query: string) => `(select count(*) from (${query} limit ${window_rows_max}) c)`;

/**
 * The snapshot statement. Tags of its rows: p = payer window (24 h), d = device window, n = the
 * payer's instruments ever, i = IP window, m = merchant window (1 h), P / M = payer / merchant
 * profile, device / ip / instrument / region = the payer's first use. `{name}` marks a parameter.
 */
const snapshot_sql = `select 'p' as k,
  cast(coalesce(sum(case when refund = 0 and ts > {m} then 1 else 0 end), 0) as double precision) as c0,
  cast(coalesce(sum(case when refund = 0 and ts > {h} then 1 else 0 end), 0) as double precision) as c1,
  cast(coalesce(sum(case when refund = 0 then 1 else 0 end), 0) as double precision) as c2,
  cast(coalesce(sum(case when refund = 0 and ts > {h} then amount_fen else 0 end), 0) as double precision) as c3,
  cast(coalesce(sum(case when refund = 0 then amount_fen else 0 end), 0) as double precision) as c4,
  cast(coalesce(sum(case when refund = 0 and failed = 1 and ts > {h} then 1 else 0 end), 0) as double precision) as c5,
  cast(coalesce(sum(case when refund = 0 then promo else 0 end), 0) as double precision) as c6,
  cast(coalesce(sum(refund), 0) as double precision) as c7,
  cast(count(distinct case when refund = 0 then device_id end) as double precision) as c8,
  cast(${upTo('select 1 from risk_device_payers where payer_id = {payer}')} as double precision) as c9
from ${latestRows('refund, ts, amount_fen, failed, promo, device_id', 'payer_id = {payer}')}
union all
select 'd',
  cast(coalesce(sum(case when refund = 0 and ts > {m} then 1 else 0 end), 0) as double precision),
  cast(coalesce(sum(case when refund = 0 and ts > {h} then 1 else 0 end), 0) as double precision),
  cast(coalesce(sum(case when refund = 0 then 1 else 0 end), 0) as double precision),
  cast(count(distinct case when refund = 0 then payer_id end) as double precision),
  cast((select first_seen from risk_devices where device_id = {device}) as double precision),
  cast(${upTo('select 1 from risk_device_payers where device_id = {device}')} as double precision),
  null, null, null, null
from ${latestRows('refund, ts, payer_id', 'device_id = {device}')}
union all
select 'n', cast(${upTo("select 1 from risk_seen where payer_id = {payer} and kind = 'instrument'")} as double precision),
  null, null, null, null, null, null, null, null, null
union all
select 'i', ${hotWindows('ip', 'ip', 'ip')},
  cast(${upTo(`select 1 from risk_window_pairs where kind = 'ip_payer' and "key" = {ip} and last_ts > {d}`)}
    as double precision),
  null, null, null, null, null, null, null
union all
select 'm', ${hotWindows('merchant', 'merchant', 'merchant_id')},
  null, null, null, null, null, null, null, null
union all
select case when kind = 'payer' then 'P' else 'M' end,
  cast(payments as double precision), cast(refunds as double precision), mean_log, m2_log, hour_sin,
  hour_cos, cast(quasi_cash as double precision), null, null, null
from risk_profiles
where (kind = 'payer' and "key" = {payer}) or (kind = 'merchant' and "key" = {merchant})
union all
select kind, cast(first_seen as double precision), null, null, null, null, null, null, null, null, null
from risk_seen
where payer_id = {payer} and ((kind = 'device' and value = {device})
  or (kind = 'ip' and value = {ip}) or (kind = 'instrument' and value = {instrument})
  or (kind = 'region' and value = {region}))`;

/** The statement with the dialect's placeholders, and the parameter each one stands for. */
function placeholders(style: (i: number) => string): { text: string; order: Token[] } {
  const order: Token[] = [];
  const text = snapshot_sql.replace(/\{(\w+)\}/g, (_, name: string) => {
    order.push(name as Token);
    return style(order.length);
  });
  return { text, order };
}
const sqlite_text = placeholders(() => '?');
const postgres_text = placeholders((i) => `$${i}`);

const n = (x: unknown) => Number(x ?? 0);

export class SqlFeatureStore implements FeatureStore {
  constructor(private readonly db: Executor) {}

  /** The same store bound to an open transaction. */
  within(trx: Executor): SqlFeatureStore {
    return new SqlFeatureStore(trx);
  }

  async snapshot(e: RiskEvent): Promise<Snapshot> {
    const { rows } = await this.db.executeQuery(this.snapshotQuery(e));
    return snapshotOf(rows);
  }

  /** The snapshot statement for `e`, for this database's dialect (text compiled once per dialect). */
  snapshotQuery(e: RiskEvent): CompiledQuery<SnapshotRow> {
    const { text, order } =
      this.db.getExecutor().adapter instanceof PostgresAdapter ? postgres_text : sqlite_text;
    const m = e.ts - minute_ms;
    const h = e.ts - hour_ms;
    const values: Record<Token, string | number> = {
      m,
      h,
      d: e.ts - day_ms,
      ...windowBounds(m, h),
      payer: e.payer_id,
      device: e.device_id,
      ip: e.ip,
      merchant: e.merchant_id,
      instrument: e.instrument_id,
      region: `${e.ip_country}:${e.ip_region}`,
    };
    return CompiledQuery.raw(
      text,
      order.map((t) => values[t]),
    ) as CompiledQuery<SnapshotRow>;
  }

  async record(e: RiskEvent, outcome: Outcome): Promise<void> {
    const row = historyRow(e, outcome);
    await insertEvent(this.db, { id: e.id, type: e.type, merchant_id: e.merchant_id, ip: e.ip, ...row });
    if (row.refund === 0) {
      await countWindows.run(this.db, {
        merchant: e.merchant_id,
        ip: e.ip,
        second: Math.floor(e.ts / span_ms.s),
        minute: Math.floor(e.ts / span_ms.m),
      });
      await pairIpPayer.run(this.db, { ip: e.ip, payer_id: e.payer_id, ts: e.ts });
    }
    const payer = await this.profile('payer', e.payer_id);
    await this.saveProfile('payer', e.payer_id, updateProfile(payer, e, outcome, hourOfDay(e.ts)));
    // The merchant's counters are incremented in place (no read needed).
    await countMerchant.run(this.db, {
      key: e.merchant_id,
      payments: e.type === 'payment' && outcome === 'success' ? 1 : 0,
      refunds: e.type === 'refund' ? 1 : 0,
    });
    if (outcome === 'success' || e.type === 'refund') {
      const keys = seenKeys(e);
      const seen: SeenParams = { payer_id: e.payer_id, first_seen: e.ts, kinds: keys.map(([kind]) => kind) };
      for (const [kind, value] of keys) seen[`v_${kind}`] = value;
      await insertSeen.run(this.db, seen);
    }
    if (e.type === 'payment')
      await insertDevicePayer.run(this.db, { device_id: e.device_id, payer_id: e.payer_id, ts: e.ts });
    await insertDevice.run(this.db, { device_id: e.device_id, ts: e.ts });
  }

  private async profile(kind: string, key: string): Promise<Profile> {
    const p = await profileRow.first(this.db, { kind, key });
    return p
      ? {
          payments: Number(p.payments),
          refunds: Number(p.refunds),
          meanLog: p.mean_log,
          m2Log: p.m2_log,
          hourSin: p.hour_sin,
          hourCos: p.hour_cos,
          quasiCash: Number(p.quasi_cash),
        }
      : emptyProfile();
  }

  private async saveProfile(kind: string, key: string, p: Profile): Promise<void> {
    await upsertProfile.run(this.db, {
      kind,
      key,
      payments: p.payments,
      refunds: p.refunds,
      mean_log: p.meanLog,
      m2_log: p.m2Log,
      hour_sin: p.hourSin,
      hour_cos: p.hourCos,
      quasi_cash: p.quasiCash,
    });
  }
}

// `record`'s statements, compiled once (db/prepared.ts): they run in every payment's transaction.
const insertEvent = insertRow('risk_events');

/** This second's and this minute's counters of the merchant and the IP, each incremented. */
const countWindows = prepared((db, p: { merchant: string; ip: string; second: number; minute: number }) =>
  db
    .insertInto('risk_window_counts')
    .values([
      { kind: 'merchant', key: p.merchant, span: 's', bucket: p.second, n: 1 },
      { kind: 'merchant', key: p.merchant, span: 'm', bucket: p.minute, n: 1 },
      { kind: 'ip', key: p.ip, span: 's', bucket: p.second, n: 1 },
      { kind: 'ip', key: p.ip, span: 'm', bucket: p.minute, n: 1 },
    ])
    .onConflict((oc) =>
      oc.columns(['kind', 'key', 'span', 'bucket']).doUpdateSet({ n: sql`risk_window_counts.n + 1` }),
    ),
);

const pairIpPayer = prepared((db, p: { ip: string; payer_id: string; ts: number }) =>
  db
    .insertInto('risk_window_pairs')
    .values({ kind: 'ip_payer', key: p.ip, other: p.payer_id, last_ts: p.ts })
    .onConflict((oc) =>
      oc.columns(['kind', 'key', 'other']).doUpdateSet({
        last_ts: sql`case when excluded.last_ts > risk_window_pairs.last_ts then excluded.last_ts else risk_window_pairs.last_ts end`,
      }),
    ),
);

const profileRow = prepared((db, p: { kind: string; key: string }) =>
  db.selectFrom('risk_profiles').selectAll().where('kind', '=', p.kind).where('key', '=', p.key),
);

const upsertProfile = prepared((db, p: RiskProfilesTable) => {
  const values = {
    payments: p.payments,
    refunds: p.refunds,
    mean_log: p.mean_log,
    m2_log: p.m2_log,
    hour_sin: p.hour_sin,
    hour_cos: p.hour_cos,
    quasi_cash: p.quasi_cash,
  };
  return db
    .insertInto('risk_profiles')
    .values({ kind: p.kind, key: p.key, ...values })
    .onConflict((oc) => oc.columns(['kind', 'key']).doUpdateSet(values));
});

const countMerchant = prepared((db, p: { key: string; payments: number; refunds: number }) =>
  db
    .insertInto('risk_profiles')
    .values({
      kind: 'merchant',
      key: p.key,
      payments: p.payments,
      refunds: p.refunds,
      mean_log: 0,
      m2_log: 0,
      hour_sin: 0,
      hour_cos: 0,
      quasi_cash: 0,
    })
    .onConflict((oc) =>
      oc.columns(['kind', 'key']).doUpdateSet({
        payments: sql`risk_profiles.payments + ${p.payments}`,
        refunds: sql`risk_profiles.refunds + ${p.refunds}`,
      }),
    ),
);

/** The payer's first-seen facts (seenKeys): the value of kind k is the parameter `v_k`. */
type SeenParams = { payer_id: string; first_seen: number; kinds: string[] } & Record<`v_${string}`, string>;

// One plan per list of kinds (seenKeys gives the same list for every event).
const insertSeen = preparedByKeys(
  (p: SeenParams) => p.kinds,
  (db, p, kinds) =>
    db
      .insertInto('risk_seen')
      .values(
        kinds.map((kind) => ({
          payer_id: p.payer_id,
          kind,
          value: p[`v_${kind}`] as string,
          first_seen: p.first_seen,
        })),
      )
      .onConflict((oc) => oc.doNothing()),
);

const insertDevicePayer = prepared((db, p: { device_id: string; payer_id: string; ts: number }) =>
  db
    .insertInto('risk_device_payers')
    .values({ device_id: p.device_id, payer_id: p.payer_id, first_seen: p.ts })
    .onConflict((oc) => oc.doNothing()),
);

const insertDevice = prepared((db, p: { device_id: string; ts: number }) =>
  db
    .insertInto('risk_devices')
    .values({ device_id: p.device_id, first_seen: p.ts })
    .onConflict((oc) => oc.doNothing()),
);

/** Bucket sizes of `risk_window_counts`. */
const span_ms = { s: 1_000, m: minute_ms } as const;

/** Bucket bounds of the 1-minute window (m, now] and the 1-hour window (h, now] (see hotWindows). */
function windowBounds(m: number, h: number) {
  const mSecond = Math.floor(m / span_ms.s);
  const hSecond = Math.floor(h / span_ms.s);
  const hMinute = Math.floor(h / span_ms.m);
  return {
    m_s: mSecond,
    m_s_end: (mSecond + 1) * span_ms.s,
    h_m: hMinute,
    h_s: hSecond,
    h_s_lim: ((hMinute + 1) * span_ms.m) / span_ms.s,
    h_s_end: (hSecond + 1) * span_ms.s,
  };
}

/** Counters and pairs no snapshot reads any more (kept 65 min, 3 h, 25 h): deleted, returns how many. */
export async function pruneWindowCounts(db: Executor, now: number): Promise<number> {
  let deleted = 0n;
  for (const [span, keep] of [
    // The hour window reads the seconds of the minute it starts in, about an hour ago.
    ['s', 65 * minute_ms],
    ['m', 3 * hour_ms],
  ] as const) {
    const r = await db
      .deleteFrom('risk_window_counts')
      .where('span', '=', span)
      .where('bucket', '<', Math.floor((now - keep) / span_ms[span]))
      .executeTakeFirst();
    deleted += r.numDeletedRows;
  }
  const pairs = await db
    .deleteFrom('risk_window_pairs')
    .where('last_ts', '<', now - 25 * hour_ms)
    .executeTakeFirst();
  return Number(deleted + pairs.numDeletedRows);
}

/** Reads the rows of the snapshot statement (a tag and up to ten numbers each). */
export function snapshotOf(rows: readonly SnapshotRow[]): Snapshot {
  const s: Snapshot = {
    payer: {
      c1m: 0,
      c1h: 0,
      c24h: 0,
      s1h: 0,
      s24h: 0,
      fail1h: 0,
      devices24h: 0,
      promo24h: 0,
      refunds24h: 0,
      devicesEver: 0,
      instrumentsEver: 0,
    },
    device: { c1m: 0, c1h: 0, c24h: 0, payers24h: 0, firstSeenTs: null, payersEver: 0 },
    ip: { c1m: 0, c1h: 0, payers24h: 0 },
    merchant: { c1m: 0, c1h: 0 },
    profile: emptyProfile(),
    merchantProfile: { payments: 0, refunds: 0 },
    seen: { device: null, ip: null, instrument: null, region: null },
  };
  for (const r of rows) {
    switch (r.k) {
      case 'p':
        s.payer = {
          c1m: n(r.c0),
          c1h: n(r.c1),
          c24h: n(r.c2),
          s1h: n(r.c3),
          s24h: n(r.c4),
          fail1h: n(r.c5),
          promo24h: n(r.c6),
          refunds24h: n(r.c7),
          devices24h: n(r.c8),
          devicesEver: n(r.c9),
          instrumentsEver: s.payer.instrumentsEver,
        };
        break;
      case 'd':
        s.device = {
          c1m: n(r.c0),
          c1h: n(r.c1),
          c24h: n(r.c2),
          payers24h: n(r.c3),
          firstSeenTs: r.c4 === null ? null : n(r.c4),
          payersEver: n(r.c5),
        };
        break;
      case 'n':
        s.payer.instrumentsEver = n(r.c0);
        break;
      case 'i':
        s.ip = { c1m: n(r.c0), c1h: n(r.c1), payers24h: n(r.c2) };
        break;
      case 'm':
        s.merchant = { c1m: n(r.c0), c1h: n(r.c1) };
        break;
      case 'P':
        s.profile = {
          payments: n(r.c0),
          refunds: n(r.c1),
          meanLog: n(r.c2),
          m2Log: n(r.c3),
          hourSin: n(r.c4),
          hourCos: n(r.c5),
          quasiCash: n(r.c6),
        };
        break;
      case 'M':
        s.merchantProfile = { payments: n(r.c0), refunds: n(r.c1) };
        break;
      case 'device':
      case 'ip':
      case 'instrument':
      case 'region':
        s.seen[r.k] = n(r.c0);
        break;
    }
  }
  return s;
}
