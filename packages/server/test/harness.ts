/**
 * Test harness: a fresh database per suite (a temporary SQLite file, or a private schema in the
 * PostgreSQL at 127.0.0.1:5432/test), a fake clock, seeded ids, the app and one merchant.
 * `ZHIFU_TEST_PG_URL` overrides the PostgreSQL URL.
 *
 * openTestApp turns the per-merchant request rate limits off (buildApp's default is WeChat Pay's
 * 1,000/s, refunds 150/s): suites fire bursts of concurrent signed requests for one merchant at one
 * fake-clock instant, which those limits would refuse. A test of the limits passes
 * `app: { rateLimits }` (test/rate-limits.test.ts); apps built with buildApp directly get the defaults.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { type AppDeps, buildApp } from '../src/app.ts';
import { type Ctx, dataKeys } from '../src/context.ts';
import { type DatabaseHandle, type Dialect, openDatabase } from '../src/db/database.ts';
import { FakeClock } from '../src/lib/clock.ts';
import { seededIds } from '../src/lib/ids.ts';
import { connectRedis, type Shared } from '../src/lib/redis.ts';
import { insertGrantForFixture } from '../src/modules/billing/index.ts';
import { createMerchant, type MerchantCredentials } from '../src/modules/merchants/index.ts';
import { rate_limits_off } from '../src/transport/http/rate-limits.ts';

export const pgUrl = process.env.ZHIFU_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
/** The Redis at 127.0.0.1:6379; `ZHIFU_TEST_REDIS_URL` overrides it. */
export const redisUrl = process.env.ZHIFU_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const dialects: Dialect[] = ['sqlite', 'postgres'];

export interface TestDb {
  ctx: Ctx;
  clock: FakeClock;
  handle: DatabaseHandle;
  close(): Promise<void>;
}

export async function openTestDb(
  dialect: Dialect,
  opts: { publicUrl?: string; realClock?: boolean } = {},
): Promise<TestDb> {
  const clock = new FakeClock(Date.now());
  const suffix = randomBytes(6).toString('hex');
  let handle: DatabaseHandle;
  let cleanup: () => Promise<void>;
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'zhifu-test-'));
    handle = await openDatabase({ url: `sqlite:${join(dir, 'test.db')}`, sqliteSynchronous: 'NORMAL' });
    cleanup = async () => rmSync(dir, { recursive: true, force: true });
  } else {
    const schema = `t_${suffix}`;
    handle = await openDatabase({ url: pgUrl, pgSchema: schema, pgPoolSize: 8 });
    cleanup = async () => {
      const client = new pg.Client({ connectionString: pgUrl });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    };
  }
  const ctx: Ctx = {
    db: handle.db,
    dialect,
    clock: opts.realClock ? { now: () => Date.now() } : clock,
    ids: seededIds(`test-${suffix}`),
    publicUrl: opts.publicUrl ?? 'http://127.0.0.1:0',
    keys: dataKeys('test', randomBytes(16)),
  };
  return {
    ctx,
    clock,
    handle,
    async close() {
      await handle.close();
      await cleanup();
    },
  };
}

export interface TestApp extends TestDb {
  app: FastifyInstance;
  merchant: MerchantCredentials;
}

export async function openTestApp(
  dialect: Dialect = 'sqlite',
  opts: {
    realClock?: boolean;
    listen?: boolean;
    app?: Omit<AppDeps, 'ctx'>;
    /**
     * Grant the merchant AI eligibility as an operator would (default true), so suites can call
     * /v1/risk/* with a merchant that has no sales; tests of the eligibility gate pass false.
     */
    eligible?: boolean;
  } = {},
): Promise<TestApp> {
  const db = await openTestDb(dialect, opts);
  const app = await buildApp({
    ctx: db.ctx,
    ...(process.env.ZHIFU_TEST_LOG ? { logLevel: process.env.ZHIFU_TEST_LOG } : {}),
    rateLimits: rate_limits_off,
    ...opts.app,
  });
  let publicUrl = db.ctx.publicUrl;
  if (opts.listen) {
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    publicUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    (db.ctx as { publicUrl: string }).publicUrl = publicUrl;
  }
  const merchant = await createMerchant(db.ctx, { name: 'Test Store' });
  if (opts.eligible ?? true)
    await insertGrantForFixture(db.ctx.db, merchant.mchid, 'test-harness', db.clock.now());
  return {
    ...db,
    app,
    merchant,
    async close() {
      await app.close();
      await db.close();
    },
  };
}

/**
 * A second merchant on the same app (isolation and billing tests): the returned TestApp signs as
 * that merchant. AI eligibility is granted unless `eligible` is false, as for openTestApp.
 */
export async function addMerchant(
  t: TestApp,
  name = 'Other Store',
  opts: { eligible?: boolean } = {},
): Promise<TestApp> {
  const merchant = await createMerchant(t.ctx, { name });
  if (opts.eligible ?? true)
    await insertGrantForFixture(t.ctx.db, merchant.mchid, 'test-harness', t.clock.now());
  return { ...t, merchant };
}

/**
 * A connection to the test Redis under a key prefix of its own (so parallel suites never meet),
 * as each node of a deployment would open it; `close` deletes the prefix's keys and disconnects.
 * Pass the `prefix` of another to be another node of the same deployment.
 */
export async function openShared(
  prefix = `zhifu-test:${randomBytes(6).toString('hex')}:`,
  url = redisUrl,
): Promise<Shared & { close(): Promise<void> }> {
  const redis = connectRedis(url);
  await redis.connect();
  return {
    redis,
    prefix,
    async close() {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    },
  };
}
