/**
 * Per-merchant request rate limits (docs/authentication.md "Rate limits"): a merchant's signed
 * requests beyond its limit get 429 FREQUENCY_LIMITED with Retry-After and write nothing, other
 * merchants are unaffected, the merchant is served again after Retry-After, refund create has its
 * own lower limit, nodes sharing Redis admit a limit once, `off` admits everything, and
 * ZHIFU_RATE_LIMITS is validated. Small configured limits keep most tests fast; one suite runs
 * WeChat Pay's defaults (refunds 150/s, fund-flow bill 3/s). Time is the fake clock's: a burst at
 * one instant is what a limit of n per second must refuse beyond n.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { buildApp } from '../src/app.ts';
import { ConfigError, loadConfig } from '../src/config.ts';
import { connectRedis, type Shared as SharedStore } from '../src/lib/redis.ts';
import { MemoryNonceStore } from '../src/modules/idempotency/index.ts';
import {
  default_rate_limits,
  MemoryRateLimiter,
  parseRateLimits,
  type RateClass,
  RateLimitedError,
  type RateLimiter,
  type RateLimits,
  RedisRateLimiter,
  rate_limits_off,
} from '../src/transport/http/rate-limits.ts';
import { addMerchant, openShared, openTestApp, type TestApp } from './harness.ts';
import { authorizationFor, jsapiOrder, payAs, rowCount, signedRequest } from './requests.ts';

type Shared = Awaited<ReturnType<typeof openShared>>;

const small: RateLimits = { default: 5, refund: 2, fundflow_bill: 1 };

const create = (t: TestApp) => signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', jsapiOrder(t));
const statuses = (responses: { statusCode: number }[]) => responses.map((r) => r.statusCode).sort();
const count = (responses: { statusCode: number }[], status: number) =>
  responses.filter((r) => r.statusCode === status).length;

/** A created and paid order of `total` fen, ready to refund. */
async function paidOrder(t: TestApp, total: number): Promise<string> {
  const order = jsapiOrder(t, { amount: { total, currency: 'CNY' } });
  const created = await signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', order);
  expect(created.statusCode, created.body).toBe(200);
  const paid = await payAs(t, created.json().prepay_id, order.payer.openid);
  expect(paid.statusCode, paid.body).toBe(200);
  return order.out_trade_no;
}

const refund = (t: TestApp, out_trade_no: string, n: number, total: number) =>
  signedRequest(t, 'POST', '/v3/refund/domestic/refunds', {
    out_trade_no,
    out_refund_no: `${out_trade_no}-r${n}`,
    amount: { refund: 1, total, currency: 'CNY' },
  });

describe('per-merchant rate limits in one node (small limits: 5/s, refunds 2/s)', () => {
  let t: TestApp;
  let other: TestApp;
  let base: string;
  beforeAll(async () => {
    t = await openTestApp('sqlite', { listen: true, app: { rateLimits: small } });
    other = await addMerchant(t);
    base = t.ctx.publicUrl;
  });
  afterAll(() => t.close());

  /** A second later than every earlier request: each test starts with full allowances. */
  const freshSecond = () => t.clock.advance(10_000);

  /** A signed JSAPI create over a real connection. */
  async function createOverHttp(as: TestApp): Promise<Response> {
    const body = JSON.stringify(jsapiOrder(as));
    const url = '/v3/pay/transactions/jsapi';
    const authorization = authorizationFor(as, 'POST', url, body);
    return fetch(`${base}${url}`, {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/json' },
      body,
    });
  }

  it('a burst over the limit gets 429 FREQUENCY_LIMITED with Retry-After, and the refused requests write nothing', async () => {
    freshSecond();
    const orders = await rowCount(t, 'orders');
    const answers = await Promise.all(Array.from({ length: 9 }, () => createOverHttp(t)));
    expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 200, 200, 200, 429, 429, 429, 429]);
    expect(await rowCount(t, 'orders')).toBe(orders + 5);
    const refused = answers.find((a) => a.status === 429)!;
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.headers.get('request-id')).toMatch(/^[0-9A-F]{40}-0$/);
    // Errors are not signed (APIv3 signs 2xx answers only, reference §10.2).
    expect(refused.headers.get('wechatpay-signature')).toBeNull();
    const body = (await refused.json()) as { code: string; message: string };
    expect(body.code).toBe('FREQUENCY_LIMITED');
    expect(body.message).toMatch(/5 signed requests per second per merchant \(default\)/);
  });

  it('another merchant is served while the first is limited', async () => {
    freshSecond();
    const mine = await Promise.all(Array.from({ length: 6 }, () => create(t)));
    expect(count(mine, 429)).toBe(1);
    const theirs = await Promise.all(Array.from({ length: 5 }, () => create(other)));
    expect(statuses(theirs)).toEqual([200, 200, 200, 200, 200]);
  });

  it('is served again after Retry-After seconds, at the limit each second and not above it', async () => {
    freshSecond();
    const first = await Promise.all(Array.from({ length: 6 }, () => create(t)));
    const refused = first.find((r) => r.statusCode === 429)!;
    // The same instant, and just before the Retry-After: still refused.
    expect((await create(t)).statusCode).toBe(429);
    t.clock.advance(100);
    expect((await create(t)).statusCode).toBe(429);
    t.clock.advance(Number(refused.headers['retry-after']) * 1000 - 100);
    for (let second = 0; second < 3; second++) {
      const burst = await Promise.all(Array.from({ length: 7 }, () => create(t)));
      expect([second, count(burst, 200)]).toEqual([second, 5]);
      t.clock.advance(1000);
    }
    // Spread over the second, one every 200 ms: every one is served.
    for (let i = 0; i < 10; i++) {
      expect((await create(t)).statusCode).toBe(200);
      t.clock.advance(200);
    }
  });

  it('refund create has its own lower limit while queries go on', async () => {
    const out_trade_no = await paidOrder(t, 1000);
    freshSecond();
    const refunds = await rowCount(t, 'refunds');
    const answers = [];
    for (let n = 1; n <= 3; n++) answers.push(await refund(t, out_trade_no, n, 1000));
    expect(statuses(answers)).toEqual([200, 200, 429]);
    expect(answers[2]!.json().message).toMatch(/2 refund creations .* per second per merchant \(refund\)/);
    expect(answers[2]!.headers['retry-after']).toBe('1');
    expect(await rowCount(t, 'refunds')).toBe(refunds + 2);
    // Queries count against the merchant's 5/s only, where 2 were used (a refused request counts nothing).
    const query = await signedRequest(t, 'GET', `/v3/refund/domestic/refunds/${out_trade_no}-r1`);
    expect(query.statusCode, query.body).toBe(200);
    const order = await signedRequest(
      t,
      'GET',
      `/v3/pay/transactions/out-trade-no/${out_trade_no}?mchid=${t.merchant.mchid}`,
    );
    expect(order.statusCode, order.body).toBe(200);
    t.clock.advance(1000);
    expect((await refund(t, out_trade_no, 3, 1000)).statusCode).toBe(200);
  });

  it('counts the WebSocket handshake: a limited one is refused with 429 and Retry-After', async () => {
    freshSecond();
    expect(count(await Promise.all(Array.from({ length: 5 }, () => create(t))), 200)).toBe(5);
    const path = '/v1/notifications/ws';
    const authorization = authorizationFor(t, 'GET', path);
    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}${path}`, { headers: { authorization } });
    const refused = await new Promise<{ status?: number; retryAfter?: string | string[] }>(
      (resolve, reject) => {
        ws.once('open', () => resolve({}));
        ws.once('unexpected-response', (_req, res) => {
          resolve({
            ...(res.statusCode ? { status: res.statusCode } : {}),
            ...(res.headers['retry-after'] ? { retryAfter: res.headers['retry-after'] } : {}),
          });
          res.resume();
        });
        ws.once('error', reject);
      },
    );
    ws.terminate();
    expect(refused).toEqual({ status: 429, retryAfter: '1' });
  });

  it('leaves the sandbox payer routes alone', async () => {
    freshSecond();
    const answers = await Promise.all(
      Array.from({ length: 10 }, () =>
        t.app.inject({
          method: 'POST',
          url: '/sandbox/v1/login',
          payload: { appid: t.merchant.appid, openid: t.merchant.payers[0]!.openid, device_fingerprint: 'd' },
        }),
      ),
    );
    expect(count(answers, 200)).toBe(10);
  });
});

describe("WeChat Pay's default limits (refund create 150/s, fund-flow bill 3/s)", () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await openTestApp('sqlite', { app: { rateLimits: default_rate_limits } });
  });
  afterAll(() => t.close());

  it('the 151st refund in one second is refused and writes nothing; the next second it is accepted', async () => {
    // 50 refunds per order at most (APIv3): four orders.
    const orders: string[] = [];
    for (let i = 0; i < 4; i++) orders.push(await paidOrder(t, 1000));
    t.clock.advance(10_000);
    const before = await rowCount(t, 'refunds');
    const answers = await Promise.all(
      Array.from({ length: 150 }, (_, i) => refund(t, orders[i % 3]!, Math.floor(i / 3), 1000)),
    );
    expect(count(answers, 200), answers.find((a) => a.statusCode !== 200)?.body).toBe(150);
    const refused = await refund(t, orders[3]!, 0, 1000);
    expect([refused.statusCode, refused.json().code, refused.headers['retry-after']]).toEqual([
      429,
      'FREQUENCY_LIMITED',
      '1',
    ]);
    expect(refused.json().message).toMatch(/150 refund creations/);
    expect(await rowCount(t, 'refunds')).toBe(before + 150);
    // Queries continue: the merchant's 1,000/s has room.
    const query = await signedRequest(t, 'GET', `/v3/refund/domestic/refunds/${orders[0]}-r0`);
    expect(query.statusCode).toBe(200);
    t.clock.advance(1000);
    expect((await refund(t, orders[3]!, 0, 1000)).statusCode).toBe(200);
  });

  it('buildApp without rateLimits applies the defaults: the 4th fund-flow bill in one second is refused', async () => {
    const app = await buildApp({ ctx: t.ctx, background: false });
    try {
      const at = { ...t, app };
      const day = '2025-12-30';
      const bill = () => signedRequest(at, 'GET', `/v3/bill/fundflowbill?bill_date=${day}`);
      const answers = [];
      for (let i = 0; i < 4; i++) answers.push(await bill());
      expect(answers.slice(0, 3).map((a) => a.statusCode)).not.toContain(429);
      expect([answers[3]!.statusCode, answers[3]!.json().code]).toEqual([429, 'FREQUENCY_LIMITED']);
      expect(answers[3]!.json().message).toMatch(/3 fund-flow bill requests/);
      t.clock.advance(1000);
      expect((await bill()).statusCode).not.toBe(429);
    } finally {
      await app.close();
    }
  });
});

describe('limits off', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await openTestApp('sqlite', { app: { rateLimits: parseRateLimits('off') } });
  });
  afterAll(() => t.close());

  it('admits every request of a burst at one instant', async () => {
    const answers = await Promise.all(Array.from({ length: 60 }, () => create(t)));
    expect(count(answers, 200)).toBe(60);
  });
});

describe('nodes sharing Redis (limit 5/s)', () => {
  let t: TestApp;
  let a: Shared;
  const closing: (() => Promise<unknown>)[] = [];

  async function node(o: { shared: SharedStore | undefined; nonces?: MemoryNonceStore }): Promise<TestApp> {
    const app: FastifyInstance = await buildApp({
      ctx: t.ctx,
      background: false,
      rateLimits: small,
      ...(o.shared ? { shared: o.shared } : {}),
      ...(o.nonces ? { nonces: o.nonces } : {}),
    });
    closing.push(() => app.close());
    return { ...t, app };
  }

  beforeAll(async () => {
    a = await openShared();
    t = await openTestApp('sqlite', { app: { shared: a, rateLimits: small } });
  });
  afterAll(async () => {
    for (const close of closing.reverse()) await close();
    await t?.close();
    await a?.close();
  });

  it('two nodes together admit the limit once, and a node counting in its memory admits more', async () => {
    const b = await openShared(a.prefix);
    closing.push(() => b.redis.quit());
    const second = await node({ shared: b });
    t.clock.advance(10_000);
    const orders = await rowCount(t, 'orders');
    const answers = await Promise.all([
      ...Array.from({ length: 5 }, () => create(t)),
      ...Array.from({ length: 5 }, () => create(second)),
    ]);
    expect(count(answers, 200)).toBe(5);
    expect(count(answers, 429)).toBe(5);
    expect(await rowCount(t, 'orders')).toBe(orders + 5);
    // The gap Redis closes: a node counting in its own memory admits its own 5 in the same second.
    const alone = await node({ shared: undefined });
    const more = await Promise.all(Array.from({ length: 5 }, () => create(alone)));
    expect(count(more, 200)).toBe(5);
    // The counters live under the prefix and expire within the second's burst.
    const keys = await a.redis.keys(`${a.prefix}rate:*`);
    expect(keys).toEqual([`${a.prefix}rate:{${t.merchant.mchid}}:default`]);
    const ttl = await a.redis.pttl(keys[0]!);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(1000);
    t.clock.advance(1000);
    expect((await create(second)).statusCode).toBe(200);
  });

  it('refund create is limited across nodes too', async () => {
    const out_trade_no = await paidOrder(t, 1000);
    const b = await openShared(a.prefix);
    closing.push(() => b.redis.quit());
    const second = await node({ shared: b });
    t.clock.advance(10_000);
    const answers = [
      await refund(t, out_trade_no, 1, 1000),
      await refund(second, out_trade_no, 2, 1000),
      await refund(second, out_trade_no, 3, 1000),
    ];
    expect(statuses(answers)).toEqual([200, 200, 429]);
    expect(answers[2]!.json().message).toMatch(/\(refund\)/);
  });

  it('a Redis that does not answer refuses signed requests with 500 SYSTEM_ERROR and writes nothing', async () => {
    const redis = connectRedis('redis://127.0.0.1:1');
    closing.push(async () => redis.disconnect());
    // Nonces in memory, so the rate limiter is the one asking Redis.
    const down = await node({ shared: { redis, prefix: a.prefix }, nonces: new MemoryNonceStore() });
    const orders = await rowCount(t, 'orders');
    const res = await create(down);
    expect([res.statusCode, res.json().code]).toEqual([500, 'SYSTEM_ERROR']);
    expect(res.json().message).toMatch(/rate limits/);
    expect(await rowCount(t, 'orders')).toBe(orders);
  });
});

describe.each(['memory', 'redis'] as const)(
  'limits whose interval is not whole microseconds (%s)',
  (store) => {
    let shared: Shared | undefined;
    let limiter: () => RateLimiter;
    beforeAll(async () => {
      if (store === 'redis') shared = await openShared();
      limiter = () =>
        shared
          ? new RedisRateLimiter(shared, default_rate_limits)
          : new MemoryRateLimiter(default_rate_limits);
    });
    afterAll(() => shared?.close());

    const t0 = Date.UTC(2026, 0, 1, 4, 0, 0);
    let merchant = 0;
    /** "ok", or "429 <Retry-After>", for `n` requests at `atMs` of one merchant's class `limit`. */
    async function burst(l: RateLimiter, mchid: string, limit: RateClass, atMs: number, n: number) {
      const out: string[] = [];
      for (let i = 0; i < n; i++) {
        try {
          await l.admit(mchid, limit, atMs);
          out.push('ok');
        } catch (error) {
          if (!(error instanceof RateLimitedError)) throw error;
          out.push(`429 ${error.retry_after_s}`);
        }
      }
      return out;
    }

    it('admits a full burst of 3 fund-flow bills and 150 refunds at the start of every second, not one fewer', async () => {
      const l = limiter();
      const mchid = `m${store}${merchant++}`;
      for (let second = 0; second < 5; second++) {
        const bills = await burst(l, mchid, 'fundflow_bill', t0 + second * 1000, 4);
        expect([second, bills]).toEqual([second, ['ok', 'ok', 'ok', '429 1']]);
      }
      const other = `m${store}${merchant++}`;
      for (let second = 0; second < 3; second++) {
        const refunds = await burst(l, other, 'refund', t0 + second * 1000, 151);
        expect([second, refunds.filter((r) => r === 'ok').length, refunds[150]]).toEqual([
          second,
          150,
          '429 1',
        ]);
      }
    });

    it('a clock that goes back (NTP, another node) holds a merchant back by its burst at most, not by the step', async () => {
      const l = limiter();
      const mchid = `m${store}${merchant++}`;
      expect(await burst(l, mchid, 'fundflow_bill', t0, 1)).toEqual(['ok']);
      // One minute back: the merchant has used one bill of three in its second, not a minute's worth.
      expect(await burst(l, mchid, 'fundflow_bill', t0 - 60_000, 3)).toEqual(['ok', 'ok', '429 1']);
      expect(await burst(l, mchid, 'fundflow_bill', t0 - 59_000, 3)).toEqual(['ok', 'ok', 'ok']);
    });
  },
);

describe('ZHIFU_RATE_LIMITS', () => {
  const load = (value?: string) =>
    loadConfig({ ZHIFU_DATA_DIR: '/tmp/x', ...(value === undefined ? {} : { ZHIFU_RATE_LIMITS: value }) });

  it("defaults to WeChat Pay's documented limits", () => {
    expect(load().rateLimits).toEqual({ default: 1000, refund: 150, fundflow_bill: 3 });
    expect(load('  ').rateLimits).toEqual(default_rate_limits);
  });

  it('takes off, and overrides of some classes (the others keep their defaults)', () => {
    expect(load('off').rateLimits).toEqual(rate_limits_off);
    expect(load('OFF').rateLimits).toEqual(rate_limits_off);
    expect(load('default=1000,refund=150,fundflow_bill=3').rateLimits).toEqual(default_rate_limits);
    expect(load('default=5000').rateLimits).toEqual({ default: 5000, refund: 150, fundflow_bill: 3 });
    expect(load(' refund = 20 , fundflow_bill=off ').rateLimits).toEqual({
      default: 1000,
      refund: 20,
      fundflow_bill: null,
    });
  });

  it.each([
    ['refund=0', /refund must be requests per second from 1 to 1000000, or off; got "0"/],
    ['refund=1.5', /got "1.5"/],
    ['refund=1e3', /got "1e3"/],
    ['default=-1', /got "-1"/],
    ['default=2000000', /got "2000000"/],
    ['refunds=10', /class among default, refund, fundflow_bill; got "refunds=10"/],
    ['default', /got "default"/],
    ['default=1=2', /got "default=1=2"/],
    ['default=10,', /got ""/],
    ['refund=1,refund=2', /refund is given twice/],
    ['on', /got "on"/],
  ])('refuses %s with a message naming the variable', (value, message) => {
    expect(() => load(value)).toThrow(ConfigError);
    expect(() => load(value)).toThrow(/^ZHIFU_RATE_LIMITS: /);
    expect(() => load(value)).toThrow(message);
  });
});
