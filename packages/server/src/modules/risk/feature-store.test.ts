import { CompiledQuery } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dialects, openTestDb, type TestDb } from '../../../test/harness.ts';
import { pruneWindowCounts, SqlFeatureStore } from './feature-store.sql.ts';
import { MemoryFeatureStore, type Outcome, window_rows_max } from './feature-store.ts';
import { featureNames, featureRecord, featurize, type RiskEvent } from './features.ts';

/** A small deterministic stream with repeats of payers, devices, IPs and merchants, and refunds. */
function traffic(n: number, start: number): { e: RiskEvent; outcome: Outcome }[] {
  let seed = 7;
  const rnd = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const out: { e: RiskEvent; outcome: Outcome }[] = [];
  let ts = start;
  for (let i = 0; i < n; i++) {
    ts += Math.floor(rnd() * 20 * 60_000);
    const payer = `p${Math.floor(rnd() * 6)}`;
    const refund = rnd() < 0.1;
    out.push({
      e: {
        id: `ev${i}`,
        ts,
        type: refund ? 'refund' : 'payment',
        payer_id: payer,
        merchant_id: `m${Math.floor(rnd() * 3)}`,
        mcc: ['5411', '6051', '5732'][Math.floor(rnd() * 3)]!,
        amount_fen: 1 + Math.floor(rnd() * 50_000),
        device_id: `d${Math.floor(rnd() * 4)}`,
        ip: `1.2.3.${Math.floor(rnd() * 5)}`,
        ip_country: rnd() < 0.1 ? 'US' : 'CN',
        ip_region: rnd() < 0.5 ? '440000' : '110000',
        instrument_id: `${payer}-i${Math.floor(rnd() * 2)}`,
        instrument_created_ts: start - 86_400_000,
        payer_created_ts: start - 10 * 86_400_000,
        promotion_id: rnd() < 0.2 ? 'promo1' : null,
        refund_of_amount_fen: refund ? 60_000 : null,
        refund_of_ts: refund ? ts - Math.floor(rnd() * 48 * 3_600_000) : null,
      },
      outcome: rnd() < 0.1 ? 'declined' : 'success',
    });
  }
  return out;
}

describe.each(dialects)('feature store on %s', (dialect) => {
  let t: TestDb;
  beforeAll(async () => {
    t = await openTestDb(dialect);
  });
  afterAll(() => t.close());

  it('computes exactly the same vectors as the in-memory store over the same history', async () => {
    const memory = new MemoryFeatureStore();
    const sql = new SqlFeatureStore(t.ctx.db);
    const events = traffic(160, Date.UTC(2026, 10, 1));
    let checked = 0;
    for (const { e, outcome } of events) {
      const a = featurize(e, await memory.snapshot(e));
      const b = featurize(e, await sql.snapshot(e));
      expect(featureRecord(b)).toEqual(featureRecord(a));
      await memory.record(e, outcome);
      await t.ctx.db.transaction().execute((trx) => sql.within(trx).record(e, outcome));
      checked++;
    }
    expect(checked).toBe(160);
  });

  it('counts a busy merchant and a shared IP exactly across second, minute and hour edges, and prunes old counters', async () => {
    const memory = new MemoryFeatureStore();
    const sql = new SqlFeatureStore(t.ctx.db);
    // Bursts: several payments in one millisecond, gaps of 0–3 s, one pause of 58 min, so the
    // windows start inside second and minute buckets and on their exact edges.
    const start = Date.UTC(2026, 10, 2, 8, 0, 0);
    let ts = start;
    let checked = 0;
    let seed = 11;
    const rnd = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let i = 0; i < 400; i++) {
      ts += i === 200 ? 58 * 60_000 : rnd() < 0.3 ? 0 : Math.floor(rnd() * 3_000);
      if (i % 50 === 7) ts = Math.ceil(ts / 60_000) * 60_000;
      const [e] = traffic(1, ts).map((x) => x.e);
      const event: RiskEvent = {
        ...e!,
        id: `burst${i}`,
        ts,
        merchant_id: 'busy-m',
        ip: '9.9.9.9',
        payer_id: `bp${i % 37}`,
        type: i % 41 === 5 ? 'refund' : 'payment',
      };
      const probe = { ...event, ts: ts + (i % 3 === 0 ? 60_000 : i % 3 === 1 ? 3_600_000 : 1) };
      for (const at of [event, probe]) {
        const a = await memory.snapshot(at);
        const b = await sql.snapshot(at);
        expect(b.merchant).toEqual(a.merchant);
        expect(b.ip).toEqual(a.ip);
        checked++;
      }
      const outcome = rnd() < 0.1 ? 'declined' : 'success';
      await memory.record(event, outcome);
      await t.ctx.db.transaction().execute((trx) => sql.within(trx).record(event, outcome));
    }
    expect(checked).toBe(800);
    const last = await sql.snapshot({ ...traffic(1, ts)[0]!.e, ts, merchant_id: 'busy-m', ip: '9.9.9.9' });
    expect(last.merchant.c1h).toBeGreaterThan(100);
    expect(last.ip.payers24h).toBe(37);
    // Counters no window reads any more (those of the first bursts, over an hour before) are
    // pruned; the windows read the same afterwards.
    expect(await pruneWindowCounts(t.ctx.db, ts)).toBeGreaterThan(0);
    expect(await pruneWindowCounts(t.ctx.db, ts)).toBe(0);
    const after = await sql.snapshot({ ...traffic(1, ts)[0]!.e, ts, merchant_id: 'busy-m', ip: '9.9.9.9' });
    expect(after.merchant).toEqual(last.merchant);
    expect(after.ip).toEqual(last.ip);
    // A day later the IP's payers are gone from the window and their pairs are pruned.
    const dayLater = ts + 25 * 3_600_000 + 1;
    expect(await pruneWindowCounts(t.ctx.db, dayLater)).toBeGreaterThan(37);
    const empty = await sql.snapshot({ ...traffic(1, dayLater)[0]!.e, ts: dayLater, ip: '9.9.9.9' });
    expect(empty.ip).toEqual({ c1m: 0, c1h: 0, payers24h: 0 });
  });

  it('keeps the hour of a steady merchant exact while the counters are pruned every minute', async () => {
    const memory = new MemoryFeatureStore();
    const sql = new SqlFeatureStore(t.ctx.db);
    const start = Date.UTC(2026, 10, 3, 9, 0, 0);
    let lastPrune = start;
    for (let i = 0; i < 480; i++) {
      // One payment every 7–13 s for about 80 minutes: the hour window always starts among payments.
      const ts = start + i * 10_000 + ((i * 7_919) % 6_000) - 3_000;
      const [e] = traffic(1, ts).map((x) => x.e);
      const event: RiskEvent = {
        ...e!,
        id: `steady${i}`,
        ts,
        merchant_id: 'steady-m',
        ip: '8.8.4.4',
        type: 'payment',
      };
      if (ts - lastPrune >= 60_000) {
        await pruneWindowCounts(t.ctx.db, ts);
        lastPrune = ts;
      }
      const a = await memory.snapshot(event);
      const b = await sql.snapshot(event);
      expect(b.merchant).toEqual(a.merchant);
      expect(b.ip).toEqual(a.ip);
      await memory.record(event, 'success');
      await t.ctx.db.transaction().execute((trx) => sql.within(trx).record(event, 'success'));
    }
  });

  it('windows, novelty and profiles move as the history grows', async () => {
    const store = new MemoryFeatureStore();
    const base = traffic(1, Date.UTC(2026, 10, 2))[0]!.e;
    const at = (ts: number, over: Partial<RiskEvent> = {}): RiskEvent => ({
      ...base,
      id: `x${ts}`,
      ts,
      type: 'payment',
      ...over,
    });
    const t0 = base.ts;
    const first = featureRecord(featurize(at(t0), await store.snapshot(at(t0))));
    expect(first.device_new_for_payer).toBe(1);
    expect(first.payer_txn_count_24h).toBe(0);
    await store.record(at(t0), 'success');
    await store.record(at(t0 + 30_000, { amount_fen: 100 }), 'declined');
    const later = featureRecord(featurize(at(t0 + 45_000), await store.snapshot(at(t0 + 45_000))));
    expect(later.payer_txn_count_1m).toBe(2);
    expect(later.payer_failures_1h).toBe(1);
    expect(later.device_new_for_payer).toBe(0);
    expect(later.payer_payments).toBe(1);
    const nextDay = featureRecord(featurize(at(t0 + 86_400_001), await store.snapshot(at(t0 + 86_400_001))));
    expect(nextDay.payer_txn_count_24h).toBe(1);
    expect(nextDay.device_age_days).toBeCloseTo(1, 5);
    const farm = at(t0 + 50_000, { payer_id: 'other', device_id: base.device_id });
    expect(featureRecord(featurize(farm, await store.snapshot(farm))).device_payers_24h).toBe(1);
    expect(featureNames.length).toBe(featurize(farm, await store.snapshot(farm)).length);
  });

  it('a card tester past window_rows_max: each window reads its latest rows only, the same in both stores', async () => {
    const store = new MemoryFeatureStore();
    const sql = new SqlFeatureStore(t.ctx.db);
    const k = window_rows_max + 50;
    const t0 = Date.UTC(2026, 10, 25);
    const base = {
      ...traffic(1, t0)[0]!.e,
      type: 'payment' as const,
      merchant_id: 'ct-m',
      promotion_id: null,
    };
    // One payer trying k devices and k cards, and one device (on one IP) used by k payers: a
    // payment every 20 s, all within the last 24 h.
    const history: RiskEvent[] = [];
    for (let i = 0; i < k; i++) {
      history.push({
        ...base,
        id: `ct-a${i}`,
        ts: t0 + i * 40_000,
        payer_id: 'ct-p',
        device_id: `ct-d${i}`,
        instrument_id: `ct-i${i}`,
        ip: 'ct-ip-a',
      });
      history.push({
        ...base,
        id: `ct-b${i}`,
        ts: t0 + i * 40_000 + 20_000,
        payer_id: `ct-q${i}`,
        device_id: 'ct-d',
        ip: 'ct-ip',
      });
    }
    await t.ctx.db.transaction().execute(async (trx) => {
      for (const e of history) {
        await store.record(e, 'success');
        await sql.within(trx).record(e, 'success');
      }
    });
    const e: RiskEvent = {
      ...base,
      id: 'ct-now',
      ts: t0 + k * 40_000,
      payer_id: 'ct-p',
      device_id: 'ct-d',
      ip: 'ct-ip',
    };
    const a = featureRecord(featurize(e, await store.snapshot(e)));
    expect(featureRecord(featurize(e, await sql.snapshot(e)))).toEqual(a);
    expect([
      a.payer_txn_count_24h,
      a.payer_devices_24h,
      a.payer_devices_ever,
      a.payer_instruments_ever,
      a.device_txn_count_24h,
      a.device_payers_24h,
      a.device_payers_ever,
      a.ip_payers_24h,
    ]).toEqual(Array(8).fill(window_rows_max));
    // Windows inside the bound stay exact: the hour (now − 3,600 s, now] holds the payer's
    // payments at now − 40 s … now − 3,560 s and the device's at now − 20 s … now − 3,580 s.
    expect([a.payer_txn_count_1h, a.device_txn_count_1h]).toEqual([89, 90]);
    if (dialect === 'sqlite') {
      // The latest rows come from the covering indexes, read backwards in time: no sort, no table.
      const q = sql.snapshotQuery(e);
      const plan = await t.ctx.db.executeQuery<{ detail: string }>(
        CompiledQuery.raw(`explain query plan ${q.sql}`, [...q.parameters]),
      );
      const detail = plan.rows.map((r) => r.detail).join('\n');
      expect(detail).toContain('USING COVERING INDEX risk_events_payer_id_cover (payer_id=? AND ts>?)');
      expect(detail).toContain('USING COVERING INDEX risk_events_device_id_cover (device_id=? AND ts>?)');
      expect(detail).not.toContain('TEMP B-TREE FOR ORDER BY');
    }
  });

  it('lifetime device and payer links, the usual ticket, quasi-cash share and refund delay', async () => {
    const store = new MemoryFeatureStore();
    const sql = new SqlFeatureStore(t.ctx.db);
    const t0 = Date.UTC(2026, 10, 20);
    const base = {
      ...traffic(1, t0)[0]!.e,
      payer_id: 'life-p1',
      device_id: 'life-d1',
      merchant_id: 'life-m',
    };
    const at = (k: number, over: Partial<RiskEvent> = {}): RiskEvent => ({
      ...base,
      id: `life${k}`,
      ts: t0 + k * 3 * 86_400_000,
      type: 'payment',
      refund_of_amount_fen: null,
      refund_of_ts: null,
      ...over,
    });
    // Day 0: p1 pays 100 fen at a grocery; day 3: p1 pays 10,000 fen at quasi-cash (6051) from a
    // second device with a second instrument; day 4.5: p1's declined attempt with a third
    // instrument; day 6: a declined attempt by p2 on d1 (the device's payers count attempts).
    const history: [RiskEvent, Outcome][] = [
      [at(0, { amount_fen: 100, mcc: '5411' }), 'success'],
      [at(1, { amount_fen: 10_000, mcc: '6051', device_id: 'life-d2', instrument_id: 'life-i2' }), 'success'],
      [at(1.5, { amount_fen: 10_000, instrument_id: 'life-i3' }), 'declined'],
      [at(2, { payer_id: 'life-p2' }), 'declined'],
    ];
    for (const [e, outcome] of history) {
      await store.record(e, outcome);
      await t.ctx.db.transaction().execute((trx) => sql.within(trx).record(e, outcome));
    }
    const refund = at(3, { type: 'refund', refund_of_amount_fen: 10_000, refund_of_ts: at(1).ts });
    const payment = at(3, { id: 'life-pay' });
    for (const e of [refund, payment]) {
      const a = featureRecord(featurize(e, await store.snapshot(e)));
      expect(featureRecord(featurize(e, await sql.snapshot(e)))).toEqual(a);
      expect(a.device_payers_ever).toBe(2);
      expect(a.payer_devices_ever).toBe(2);
      expect(a.payer_payments).toBe(2);
      expect(a.payer_mean_amount_log).toBeCloseTo((Math.log1p(100) + Math.log1p(10_000)) / 2, 12);
      expect(a.payer_quasi_cash_share).toBe(0.5);
      // Instruments of successful payments only (the declined one with life-i3 does not count).
      expect(a.payer_instruments_ever).toBe(2);
      // Two successful payments over max(1, account age in days).
      expect(a.payer_payments_per_age_day).toBeCloseTo(2 / ((e.ts - e.payer_created_ts) / 86_400_000), 12);
    }
    expect(featureRecord(featurize(refund, await store.snapshot(refund))).refund_delay_hours).toBe(6 * 24);
    expect(featureRecord(featurize(payment, await store.snapshot(payment))).refund_delay_hours).toBe(-1);
    // Unknown payer and device: nothing ever seen; the usual ticket is this amount.
    const fresh = at(3, { payer_id: 'life-p9', device_id: 'life-d9', amount_fen: 5_000 });
    const f = featureRecord(featurize(fresh, await sql.snapshot(fresh)));
    expect([
      f.device_payers_ever,
      f.payer_devices_ever,
      f.payer_quasi_cash_share,
      f.payer_instruments_ever,
    ]).toEqual([0, 0, 0, 0]);
    expect(f.payer_mean_amount_log).toBeCloseTo(Math.log1p(5_000), 12);
  });
});
