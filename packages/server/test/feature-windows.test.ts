/**
 * The Fraud Shield's in-memory velocity windows on SQLite (modules/risk/feature-store.windows.ts)
 * against the SQL aggregates they replace: snapshots read outside a transaction (memory, caught up
 * from the database) must equal snapshots read inside one (SQL aggregates), also when snapshot
 * times go backwards, keys are new, rows arrive from concurrent writers and windows expire.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqlFeatureStore } from '../src/modules/risk/feature-store.sql.ts';
import type { RiskEvent } from '../src/modules/risk/features.ts';
import { openTestDb, type TestDb } from './harness.ts';

describe('feature store windows held in memory (sqlite)', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await openTestDb('sqlite');
  });
  afterAll(() => t.close());

  it('equal the SQL aggregates, snapshot by snapshot', async () => {
    let seed = 11;
    const rnd = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const store = new SqlFeatureStore(t.ctx.db);
    const start = Date.UTC(2026, 10, 3);
    let clock = start;
    const event = (i: number, ts: number): RiskEvent => ({
      id: `w${i}`,
      ts,
      type: rnd() < 0.1 ? 'refund' : 'payment',
      payer_id: `p${Math.floor(rnd() * 5)}`,
      merchant_id: `m${Math.floor(rnd() * 3)}`,
      mcc: '5411',
      amount_fen: 1 + Math.floor(rnd() * 9_999),
      device_id: `d${Math.floor(rnd() * 6)}`,
      ip: `10.0.0.${Math.floor(rnd() * 4)}`,
      ip_country: 'CN',
      ip_region: '110000',
      instrument_id: 'i1',
      instrument_created_ts: start - 86_400_000,
      payer_created_ts: start - 86_400_000,
      promotion_id: rnd() < 0.2 ? 'promo' : null,
      refund_of_amount_fen: null,
    });
    let compared = 0;
    for (let i = 0; i < 240; i++) {
      clock += Math.floor(rnd() * 15 * 60_000);
      // Now and then a snapshot taken "earlier" (an event created before one already scored).
      const ts = rnd() < 0.15 ? clock - Math.floor(rnd() * 3 * 3_600_000) : clock;
      const e = event(i, ts);
      const held = await store.snapshot(e);
      const fromSql = await t.ctx.db.transaction().execute((trx) => store.within(trx).snapshot(e));
      expect(held).toEqual(fromSql);
      compared++;
      // Several writers commit together (one group), some events are declined.
      const burst = rnd() < 0.3 ? 3 : 1;
      await Promise.all(
        Array.from({ length: burst }, (_, k) =>
          t.ctx.db
            .transaction()
            .execute((trx) =>
              store
                .within(trx)
                .record(
                  k === 0 ? e : { ...event(i * 10 + k, clock), id: `w${i}-${k}` },
                  rnd() < 0.1 ? 'declined' : 'success',
                ),
            ),
        ),
      );
    }
    expect(compared).toBe(240);
  });
});
