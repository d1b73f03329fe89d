import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Insertable, Migrator } from 'kysely';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { dialects, pgUrl } from '../../../test/harness.ts';
import { type DatabaseHandle, openDatabase } from '../../db/database.ts';
import { migrations } from '../../db/migrations.ts';
import type { RiskEventsTable } from '../../db/schema.ts';
import { SqlFeatureStore } from './feature-store.sql.ts';
import { historyRow, MemoryFeatureStore, type Outcome } from './feature-store.ts';
import type { RiskEvent, Snapshot } from './features.ts';

/**
 * The payer's and the device's window features (not the lifetime ones, which 010 backfills, nor
 * the merchant's and IP's, which 011 backfilled before these events were stored).
 */
const windows = (s: Snapshot) => {
  const { devicesEver: _d, instrumentsEver: _i, ...payer } = s.payer;
  const { firstSeenTs: _f, payersEver: _p, ...device } = s.device;
  return { payer, device };
};

/** Migration 012 sums the stored history of the last 25 h: the windows read the same right after. */
describe.each(dialects)('migration 012 on %s', (dialect) => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanups) await c();
  });

  async function openUnmigrated(): Promise<{ handle: DatabaseHandle; schema?: string }> {
    if (dialect === 'sqlite') {
      const dir = mkdtempSync(join(tmpdir(), 'zhifu-risk-012-'));
      cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
      const handle = await openDatabase({ url: `sqlite:${join(dir, 'm.db')}`, migrate: false });
      cleanups.push(() => handle.close());
      return { handle };
    }
    const schema = `r012_${randomBytes(6).toString('hex')}`;
    const handle = await openDatabase({ url: pgUrl, pgSchema: schema, migrate: false, pgPoolSize: 2 });
    cleanups.push(async () => {
      await handle.close();
      const client = new pg.Client({ connectionString: pgUrl });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    });
    return { handle, schema };
  }

  it('backfills the payer and device sums and pairs exactly, windows starting on and next to events', async () => {
    const { handle, schema } = await openUnmigrated();
    const migrator = new Migrator({
      db: handle.db,
      provider: migrations,
      allowUnorderedMigrations: true,
      ...(schema ? { migrationTableSchema: schema } : {}),
    });
    expect((await migrator.migrateTo('011_risk_window_counts')).error).toBeUndefined();
    const probeAt = Date.now() + 60_000;
    let seed = 5;
    const rnd = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    // Random times over the last 26 h, and times on and 1 ms / 1 s next to the probe's window starts.
    const times = [
      ...Array.from({ length: 300 }, () => probeAt - Math.floor(rnd() * 26 * 3_600_000)),
      ...[86_400_000, 3_600_000, 60_000].flatMap((w) =>
        [0, 1, -1, 1_000, -1_000].map((d) => probeAt - w + d),
      ),
    ].sort((a, b) => a - b);
    const memory = new MemoryFeatureStore();
    const rows: Insertable<RiskEventsTable>[] = [];
    times.forEach((ts, i) => {
      const refund = rnd() < 0.1;
      const e: RiskEvent = {
        id: `bf${i}`,
        ts,
        type: refund ? 'refund' : 'payment',
        payer_id: `bf-p${Math.floor(rnd() * 2)}`,
        merchant_id: 'bf-m',
        mcc: '5411',
        amount_fen: 1 + Math.floor(rnd() * 50_000),
        device_id: `bf-d${Math.floor(rnd() * 3)}`,
        ip: `7.7.7.${Math.floor(rnd() * 2)}`,
        ip_country: 'CN',
        ip_region: '440000',
        instrument_id: 'bf-i',
        instrument_created_ts: ts - 86_400_000,
        payer_created_ts: ts - 10 * 86_400_000,
        promotion_id: rnd() < 0.3 ? 'promo-bf' : null,
        refund_of_amount_fen: refund ? 60_000 : null,
        refund_of_ts: refund ? ts - 1_000 : null,
      };
      const outcome: Outcome = rnd() < 0.2 ? 'declined' : 'success';
      void memory.record(e, outcome);
      rows.push({ id: e.id, type: e.type, merchant_id: e.merchant_id, ip: e.ip, ...historyRow(e, outcome) });
    });
    await handle.db.insertInto('risk_events').values(rows).execute();
    expect((await migrator.migrateToLatest()).error).toBeUndefined();
    const sql = new SqlFeatureStore(handle.db);
    let checked = 0;
    for (const at of [probeAt, probeAt + 1, probeAt + 999, probeAt + 30 * 60_000])
      for (const payer of ['bf-p0', 'bf-p1'])
        for (const device of ['bf-d0', 'bf-d1', 'bf-d2']) {
          const probe: RiskEvent = {
            id: 'probe',
            ts: at,
            type: 'payment',
            payer_id: payer,
            merchant_id: 'bf-m',
            mcc: '5411',
            amount_fen: 100,
            device_id: device,
            ip: '7.7.7.0',
            ip_country: 'CN',
            ip_region: '440000',
            instrument_id: 'bf-i',
            instrument_created_ts: at,
            payer_created_ts: at,
            promotion_id: null,
            refund_of_amount_fen: null,
            refund_of_ts: null,
          };
          const expected = windows(await memory.snapshot(probe));
          expect(windows(await sql.snapshot(probe))).toEqual(expected);
          if (at === probeAt) expect(expected.payer.c24h).toBeGreaterThan(50);
          checked++;
        }
    expect(checked).toBe(24);
  });
});
