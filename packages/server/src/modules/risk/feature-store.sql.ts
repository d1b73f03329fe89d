/**
 * The feature store on the platform database (SQLite or PostgreSQL). Window rows come from
 * `risk_events` through (key, ts) indexes and are aggregated by the same functions as the
 * in-memory store; profiles and first-seen times are one row each. `record` runs inside the
 * caller's transaction, so the history commits with the payment or refund it describes.
 */
import type { Executor } from '../../db/database.ts';
import {
  day_ms,
  distinctPayers,
  emptyProfile,
  type FeatureStore,
  type HistoryRow,
  historyRow,
  hour_ms,
  type Outcome,
  type Profile,
  payerStats,
  seenKeys,
  updateProfile,
  windowStats,
} from './feature-store.ts';
import { hourOfDay, type RiskEvent, type Snapshot } from './features.ts';

const rowColumns = ['ts', 'amount_fen', 'failed', 'payer_id', 'device_id', 'promo', 'refund'] as const;

export class SqlFeatureStore implements FeatureStore {
  constructor(private readonly db: Executor) {}

  /** The same store bound to an open transaction. */
  within(trx: Executor): SqlFeatureStore {
    return new SqlFeatureStore(trx);
  }

  private rows(
    column: 'payer_id' | 'device_id' | 'ip' | 'merchant_id',
    value: string,
    since: number,
    payments: boolean,
  ) {
    let q = this.db
      .selectFrom('risk_events')
      .select(rowColumns)
      .where(column, '=', value)
      .where('ts', '>', since);
    if (payments) q = q.where('refund', '=', 0);
    return q.orderBy('ts').execute() as Promise<HistoryRow[]>;
  }

  async snapshot(e: RiskEvent): Promise<Snapshot> {
    const now = e.ts;
    const seen = seenKeys(e);
    const [payerRows, deviceRows, ipRows, merchantRows, profiles, seenRows, device] = await Promise.all([
      this.rows('payer_id', e.payer_id, now - day_ms, false),
      this.rows('device_id', e.device_id, now - day_ms, true),
      this.rows('ip', e.ip, now - day_ms, true),
      this.rows('merchant_id', e.merchant_id, now - hour_ms, true),
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
    const payer = profiles.find((p) => p.kind === 'payer');
    const merchant = profiles.find((p) => p.kind === 'merchant');
    const firstSeen = (kind: string) => seenRows.find((r) => r.kind === kind)?.first_seen ?? null;
    return {
      payer: payerStats(payerRows, now),
      device: {
        ...windowStats(deviceRows, now),
        payers24h: distinctPayers(deviceRows, now),
        firstSeenTs: device?.first_seen ?? null,
      },
      ip: { ...windowStats(ipRows, now), payers24h: distinctPayers(ipRows, now) },
      merchant: windowStats(merchantRows, now),
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
