import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Migrator, sql } from 'kysely';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { type DatabaseHandle, openDatabase } from '../src/db/database.ts';
import { migrations } from '../src/db/migrations.ts';
import { dialects, pgUrl } from './harness.ts';

/** Migrations that carry data forward, run on a database that already holds the older tables. */
describe.each(dialects)('migrations on %s', (dialect) => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanups) await c();
  });

  async function openUnmigrated(): Promise<{ handle: DatabaseHandle; schema?: string }> {
    if (dialect === 'sqlite') {
      const dir = mkdtempSync(join(tmpdir(), 'zhifu-migrations-'));
      cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
      const handle = await openDatabase({ url: `sqlite:${join(dir, 'm.db')}`, migrate: false });
      cleanups.push(() => handle.close());
      return { handle };
    }
    const schema = `m_${randomBytes(6).toString('hex')}`;
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

  /** A new database brought to the latest migration by Kysely's Migrator. */
  async function openMigrated(): Promise<DatabaseHandle> {
    const { handle, schema } = await openUnmigrated();
    const migrator = new Migrator({
      db: handle.db,
      provider: migrations,
      ...(schema ? { migrationTableSchema: schema } : {}),
    });
    expect((await migrator.migrateToLatest()).error).toBeUndefined();
    return handle;
  }

  it('011 counts the last hours of merchant and IP payments into per-second and per-minute buckets, and the IP payers', async () => {
    const { handle, schema } = await openUnmigrated();
    const migrator = new Migrator({
      db: handle.db,
      provider: migrations,
      allowUnorderedMigrations: true,
      ...(schema ? { migrationTableSchema: schema } : {}),
    });
    expect((await migrator.migrateTo('010_risk_features')).error).toBeUndefined();
    const now = Date.now();
    const base = { ip: '1.2.3.4', amount_fen: 100, failed: 0, payer_id: 'p', device_id: 'd', promo: 0 };
    await handle.db
      .insertInto('risk_events')
      .values([
        { ...base, id: 'e1', type: 'payment', merchant_id: 'm1', ts: now - 2_000, refund: 0 },
        { ...base, id: 'e2', type: 'payment', merchant_id: 'm1', ts: now - 2_000, refund: 0 },
        { ...base, id: 'e3', type: 'refund', merchant_id: 'm1', ts: now - 2_000, refund: 1 },
        { ...base, id: 'e4', type: 'payment', merchant_id: 'm1', ts: now - 30 * 60_000, refund: 0 },
        { ...base, id: 'e5', type: 'payment', merchant_id: 'm2', ts: now - 5 * 3_600_000, refund: 0 },
      ])
      .execute();
    expect((await migrator.migrateToLatest()).error).toBeUndefined();
    const rows = await handle.db
      .selectFrom('risk_window_counts')
      .select(['kind', 'key', 'span', 'bucket', 'n'])
      .orderBy('span')
      .orderBy('bucket')
      .orderBy('kind')
      .execute();
    const minute = (ts: number) => Math.floor(ts / 60_000);
    const second = (ts: number) => Math.floor(ts / 1_000);
    expect(rows.map((r) => ({ ...r, bucket: Number(r.bucket), n: Number(r.n) }))).toEqual(
      (['merchant', 'ip'] as const)
        .flatMap((kind) => {
          const key = kind === 'merchant' ? 'm1' : '1.2.3.4';
          return [
            { kind, key, span: 'm', bucket: minute(now - 30 * 60_000), n: 1 },
            { kind, key, span: 'm', bucket: minute(now - 2_000), n: 2 },
            { kind, key, span: 's', bucket: second(now - 30 * 60_000), n: 1 },
            { kind, key, span: 's', bucket: second(now - 2_000), n: 2 },
          ];
        })
        .sort((a, b) => a.span.localeCompare(b.span) || a.bucket - b.bucket || a.kind.localeCompare(b.kind)),
    );
    const pairs = await handle.db.selectFrom('risk_window_pairs').selectAll().execute();
    expect(pairs.map((p) => ({ ...p, last_ts: Number(p.last_ts) }))).toEqual([
      { kind: 'ip_payer', key: '1.2.3.4', other: 'p', last_ts: now - 2_000 },
    ]);
  });

  it('013 leaves risk_assessments one index by batch, (batch_id, event_id), and batch reads use it', async () => {
    const handle = await openMigrated();
    const names =
      dialect === 'sqlite'
        ? (
            await sql<{ name: string }>`select name from pragma_index_list('risk_assessments')`.execute(
              handle.db,
            )
          ).rows
        : (
            await sql<{ name: string }>`select indexname as name from pg_indexes
              where tablename = 'risk_assessments' and schemaname = current_schema()`.execute(handle.db)
          ).rows;
    const byBatch = names.map((r) => r.name).filter((n) => n.startsWith('risk_assessments_batch'));
    expect(byBatch).toEqual(['risk_assessments_batch_event']);
    if (dialect === 'sqlite') {
      const plan = await sql<{ detail: string }>`explain query plan
        select id from risk_assessments where batch_id = ${'rb_1'}`.execute(handle.db);
      expect(plan.rows.map((r) => r.detail).join(' ')).toContain('risk_assessments_batch_event');
    }
  });

  it('014: the minute batch sweep finds stale and recently failed batches through an index', async () => {
    const handle = await openMigrated();
    if (dialect !== 'sqlite') return; // PostgreSQL plans a tiny table with a scan whatever the index
    // The statements of risk.repository.ts staleBatches and deleteFailedBatchAssessments' subquery.
    for (const query of [
      sql`select id, mchid, items from risk_batches where status = ${'processing'} and created_at < ${1}`,
      sql`select id from risk_batches where status = ${'failed'} and completed_at >= ${1}`,
    ]) {
      const plan = await sql<{ detail: string }>`explain query plan ${query}`.execute(handle.db);
      const detail = plan.rows.map((r) => r.detail).join(' ');
      expect(detail).toContain('risk_batches_status');
      expect(detail).not.toMatch(/SCAN risk_batches\b(?! USING)/);
    }
  });
});
