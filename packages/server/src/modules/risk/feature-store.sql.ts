/**
 * The feature store on the platform database (SQLite or PostgreSQL). Window aggregates are computed
 * by the database over `risk_events` (key, ts) index ranges, with the same definitions as the
 * in-memory store (a parity test holds them equal) — on SQLite outside transactions they are kept
 * in memory and caught up from the database instead (feature-store.windows.ts); profiles and first-seen times are one row each.
 * `record` runs inside the caller's transaction, so the history commits with the payment or refund
 * it describes.
 */
import { sql } from 'kysely';
import type { Executor } from '../../db/database.ts';
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
} from './feature-store.ts';
import { cachedWindows } from './feature-store.windows.ts';
import { hourOfDay, type RiskEvent, type Snapshot, type WindowStats } from './features.ts';

interface Aggregate extends WindowStats {
  fail1h: number;
  promo24h: number;
  refunds24h: number;
  devices24h: number;
  payers24h: number;
}

const windows = (a: WindowStats): WindowStats => ({
  c1m: a.c1m,
  c1h: a.c1h,
  c24h: a.c24h,
  s1h: a.s1h,
  s24h: a.s24h,
});

export class SqlFeatureStore implements FeatureStore {
  constructor(private readonly db: Executor) {}

  /** The same store bound to an open transaction. */
  within(trx: Executor): SqlFeatureStore {
    return new SqlFeatureStore(trx);
  }

  /**
   * Window aggregates computed by the database over the (key, ts) index range — the same
   * definitions as windowStats/payerStats/distinctPayers in feature-store.ts, which the parity test
   * holds them to. Aggregating in SQL keeps a busy key's history off the JS heap and the wire.
   */
  private async aggregate(
    column: 'payer_id' | 'device_id' | 'ip' | 'merchant_id',
    value: string,
    now: number,
    window: number,
  ): Promise<Aggregate> {
    const m = now - minute_ms;
    const h = now - hour_ms;
    const pay = sql`refund = 0`;
    const row = await this.db
      .selectFrom('risk_events')
      .select([
        sql<number>`coalesce(sum(case when ${pay} and ts > ${m} then 1 else 0 end), 0)`.as('c1m'),
        sql<number>`coalesce(sum(case when ${pay} and ts > ${h} then 1 else 0 end), 0)`.as('c1h'),
        sql<number>`coalesce(sum(case when ${pay} then 1 else 0 end), 0)`.as('c24h'),
        sql<number>`coalesce(sum(case when ${pay} and ts > ${h} then amount_fen else 0 end), 0)`.as('s1h'),
        sql<number>`coalesce(sum(case when ${pay} then amount_fen else 0 end), 0)`.as('s24h'),
        sql<number>`coalesce(sum(case when ${pay} and failed = 1 and ts > ${h} then 1 else 0 end), 0)`.as(
          'fail1h',
        ),
        sql<number>`coalesce(sum(case when ${pay} then promo else 0 end), 0)`.as('promo24h'),
        sql<number>`coalesce(sum(refund), 0)`.as('refunds24h'),
        sql<number>`count(distinct case when ${pay} then device_id end)`.as('devices24h'),
        sql<number>`count(distinct case when ${pay} then payer_id end)`.as('payers24h'),
      ])
      .where(column, '=', value)
      .where('ts', '>', now - window)
      .executeTakeFirstOrThrow();
    const n = (x: unknown) => Number(x ?? 0);
    return {
      c1m: n(row.c1m),
      c1h: n(row.c1h),
      c24h: n(row.c24h),
      s1h: n(row.s1h),
      s24h: n(row.s24h),
      fail1h: n(row.fail1h),
      promo24h: n(row.promo24h),
      refunds24h: n(row.refunds24h),
      devices24h: n(row.devices24h),
      payers24h: n(row.payers24h),
    };
  }

  async snapshot(e: RiskEvent): Promise<Snapshot> {
    const now = e.ts;
    const seen = seenKeys(e);
    const [held, profiles, seenRows, device] = await Promise.all([
      cachedWindows(this.db, e),
      this.db
        .selectFrom('risk_profiles')
        .selectAll()
        .where((eb) =>
          eb.or([
            eb.and([eb('kind', '=', 'payer'), eb('key', '=', e.payer_id)]),
            eb.and([eb('kind', '=', 'merchant'), eb('key', '=', e.merchant_id)]),
          ]),
        )
        .execute(),
      this.db
        .selectFrom('risk_seen')
        .select(['kind', 'value', 'first_seen'])
        .where('payer_id', '=', e.payer_id)
        .where((eb) => eb.or(seen.map(([k, v]) => eb.and([eb('kind', '=', k), eb('value', '=', v)]))))
        .execute(),
      this.db
        .selectFrom('risk_devices')
        .select('first_seen')
        .where('device_id', '=', e.device_id)
        .executeTakeFirst(),
    ]);
    const [payerAgg, deviceAgg, ipAgg, merchantAgg] = held
      ? [held.payer, held.device, held.ip, held.merchant]
      : await Promise.all([
          this.aggregate('payer_id', e.payer_id, now, day_ms),
          this.aggregate('device_id', e.device_id, now, day_ms),
          this.aggregate('ip', e.ip, now, day_ms),
          this.aggregate('merchant_id', e.merchant_id, now, hour_ms),
        ]);
    const payer = profiles.find((p) => p.kind === 'payer');
    const merchant = profiles.find((p) => p.kind === 'merchant');
    const firstSeen = (kind: string) => seenRows.find((r) => r.kind === kind)?.first_seen ?? null;
    return {
      payer: {
        ...windows(payerAgg),
        fail1h: payerAgg.fail1h,
        devices24h: payerAgg.devices24h,
        promo24h: payerAgg.promo24h,
        refunds24h: payerAgg.refunds24h,
      },
      device: {
        ...windows(deviceAgg),
        payers24h: deviceAgg.payers24h,
        firstSeenTs: device?.first_seen ?? null,
      },
      ip: { ...windows(ipAgg), payers24h: ipAgg.payers24h },
      merchant: windows(merchantAgg),
      profile: payer
        ? {
            payments: payer.payments,
            refunds: payer.refunds,
            meanLog: payer.mean_log,
            m2Log: payer.m2_log,
            hourSin: payer.hour_sin,
            hourCos: payer.hour_cos,
          }
        : emptyProfile(),
      merchantProfile: merchant
        ? { payments: merchant.payments, refunds: merchant.refunds }
        : { payments: 0, refunds: 0 },
      seen: {
        device: firstSeen('device'),
        ip: firstSeen('ip'),
        instrument: firstSeen('instrument'),
        region: firstSeen('region'),
      },
    };
  }

  async record(e: RiskEvent, outcome: Outcome): Promise<void> {
    const row = historyRow(e, outcome);
    await this.db
      .insertInto('risk_events')
      .values({ id: e.id, type: e.type, merchant_id: e.merchant_id, ip: e.ip, ...row })
      .execute();
    const payer = await this.profile('payer', e.payer_id);
    await this.saveProfile('payer', e.payer_id, updateProfile(payer, e, outcome, hourOfDay(e.ts)));
    const merchant = await this.profile('merchant', e.merchant_id);
    if (e.type === 'refund') merchant.refunds++;
    else if (outcome === 'success') merchant.payments++;
    await this.saveProfile('merchant', e.merchant_id, merchant);
    if (outcome === 'success' || e.type === 'refund') {
      await this.db
        .insertInto('risk_seen')
        .values(seenKeys(e).map(([kind, value]) => ({ payer_id: e.payer_id, kind, value, first_seen: e.ts })))
        .onConflict((oc) => oc.doNothing())
        .execute();
    }
    await this.db
      .insertInto('risk_devices')
      .values({ device_id: e.device_id, first_seen: e.ts })
      .onConflict((oc) => oc.doNothing())
      .execute();
  }

  private async profile(kind: string, key: string): Promise<Profile> {
    const p = await this.db
      .selectFrom('risk_profiles')
      .selectAll()
      .where('kind', '=', kind)
      .where('key', '=', key)
      .executeTakeFirst();
    return p
      ? {
          payments: p.payments,
          refunds: p.refunds,
          meanLog: p.mean_log,
          m2Log: p.m2_log,
          hourSin: p.hour_sin,
          hourCos: p.hour_cos,
        }
      : emptyProfile();
  }

  private async saveProfile(kind: string, key: string, p: Profile): Promise<void> {
    const values = {
      payments: p.payments,
      refunds: p.refunds,
      mean_log: p.meanLog,
      m2_log: p.m2Log,
      hour_sin: p.hourSin,
      hour_cos: p.hourCos,
    };
    await this.db
      .insertInto('risk_profiles')
      .values({ kind, key, ...values })
      .onConflict((oc) => oc.columns(['kind', 'key']).doUpdateSet(values))
      .execute();
  }
}
