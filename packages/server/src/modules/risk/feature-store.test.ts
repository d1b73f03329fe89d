import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dialects, openTestDb, type TestDb } from '../../../test/harness.ts';
import { SqlFeatureStore } from './feature-store.sql.ts';
import { MemoryFeatureStore, type Outcome } from './feature-store.ts';
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
});
