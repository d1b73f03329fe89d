/**
 * APIv3 callback delivery (modules/notifications/callbacks.ts, ssrf.ts): regression tests named
 * after the defects a review found. The broader behaviour is in notifications.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { closeSync, constants, mkdtempSync, openSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callback_lease_ms } from '../src/lib/limits.ts';
import { rsaSign } from '../src/lib/rsa.ts';
import { MerchantKeyCache } from '../src/modules/merchants/index.ts';
import {
  CallbackDispatcher,
  type CallbackEventType,
  enqueueCallback,
} from '../src/modules/notifications/callbacks.ts';
import { leaseDue, recordOutcome } from '../src/modules/notifications/notifications.repository.ts';
import { addressAllowed, type HostResolver, screenUrl } from '../src/modules/notifications/ssrf.ts';
import { callbackReceiver as receiver } from './callback-receiver.ts';
import { dialects, openTestApp, type TestApp } from './harness.ts';
import { signedRequest } from './requests.ts';

async function enqueue(t: TestApp, eventType: CallbackEventType, ref: string, notifyUrl: string) {
  await t.ctx.db.transaction().execute((trx) =>
    enqueueCallback(t.ctx, trx, {
      mchid: t.merchant.mchid,
      eventType,
      ref,
      notifyUrl,
      resource: { mchid: t.merchant.mchid, out_refund_no: ref, refund_status: 'CLOSED' },
    }),
  );
}

describe('callback summaries', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await openTestApp('sqlite', { app: { background: false } });
  });
  afterAll(() => t.close());

  it('REFUND.CLOSED is summarised 退款关闭 as WeChat Pay words it, REFUND.ABNORMAL 退款异常', async () => {
    const r = await receiver(() => 200);
    try {
      await enqueue(t, 'REFUND.CLOSED', 'R-closed', r.url);
      await enqueue(t, 'REFUND.ABNORMAL', 'R-abnormal', r.url);
      const dispatcher = new CallbackDispatcher(t.ctx, new MerchantKeyCache(t.ctx), { allowLoopback: true });
      expect(await dispatcher.tick()).toBe(2);
      const bodies = r.received.map((x) => JSON.parse(x.body));
      expect(Object.fromEntries(bodies.map((b) => [b.event_type, b.summary]))).toEqual({
        'REFUND.CLOSED': '退款关闭',
        'REFUND.ABNORMAL': '退款异常',
      });
      expect(bodies.every((b) => b.resource.original_type === 'refund')).toBe(true);
    } finally {
      await r.close();
    }
  });
});

describe('SSRF screening of IPv6 forms that embed an IPv4 address', () => {
  const refused = [
    '::127.0.0.1', // IPv4-compatible (RFC 4291 §2.5.5.1)
    '::169.254.169.254',
    '::10.0.0.1',
    '::7f00:1', // the same as ::127.0.0.1, spelt as a URL normalises it
    '::8.8.8.8', // deprecated form: refused whatever it embeds
    '::ffff:0:127.0.0.1', // IPv4-translated (RFC 6145)
    '::ffff:0:8.8.8.8',
    '64:ff9b::a00:1', // NAT64 well-known prefix (RFC 6052)
    '64:ff9b:1::a9fe:a9fe', // local-use NAT64 (RFC 8215)
    '2002:7f00:1::1', // 6to4 of 127.0.0.1 (RFC 3056)
    '2002:a9fe:a9fe::1',
    '2001:0:4136:e378:8000:63bf:3fff:fdd2', // Teredo (RFC 4380)
    'fec0::1', // site-local (RFC 3879)
    '100::1', // discard (RFC 6666)
    '2001:db8::1', // documentation (RFC 3849)
  ];

  it('addressAllowed and screenUrl refuse each, with or without the sandbox loopback setting', () => {
    for (const address of refused) {
      for (const allowLoopback of [false, true]) {
        expect(addressAllowed(address, allowLoopback), address).toBe(false);
        expect(screenUrl(`http://[${address}]/notify`, allowLoopback), address).toMatch(/not allowed/);
      }
    }
  });

  it('IPv4-mapped, loopback and public addresses keep their results', () => {
    const cases: [string, boolean, boolean][] = [
      // address, allowed without / with the sandbox loopback setting
      ['::ffff:127.0.0.1', false, true],
      ['::ffff:10.1.2.3', false, false],
      ['::ffff:169.254.169.254', false, false],
      ['::ffff:8.8.8.8', true, true],
      ['127.0.0.1', false, true],
      ['::1', false, true],
      ['::', false, false],
      ['10.1.2.3', false, false],
      ['100.100.100.200', false, false],
      ['fc00::1', false, false],
      ['fe80::1', false, false],
      ['8.8.8.8', true, true],
      ['114.114.114.114', true, true],
      ['2001:4860:4860::8888', true, true],
      ['240e:e9:6002:15a::1', true, true],
    ];
    for (const [address, plain, sandbox] of cases) {
      expect([addressAllowed(address, false), addressAllowed(address, true)], address).toEqual([
        plain,
        sandbox,
      ]);
      const host = address.includes(':') ? `[${address}]` : address;
      expect(screenUrl(`https://${host}/notify`, false) === null, address).toBe(plain);
    }
  });
});

describe('callback deadlines: DNS that never answers and a busy thread pool (SQLite)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await openTestApp('sqlite', { app: { background: false } });
  });
  afterAll(() => t.close());

  const history = async (ref: string) =>
    (await signedRequest(t, 'GET', `/v1/notifications/callbacks?ref=${ref}`)).json().data[0];

  it('DNS starvation: lookups that never answer hold no thread-pool thread and are cancelled at the 5 s deadline', async () => {
    // A DNS server that reads every query and answers none.
    const blackHole = createSocket('udp4');
    let queries = 0;
    blackHole.on('message', () => queries++);
    await new Promise<void>((r) => blackHole.bind(0, '127.0.0.1', r));
    const server = `127.0.0.1:${blackHole.address().port}`;
    // Real c-ares resolvers asking the black hole, with their own timeout far beyond the deadline:
    // only the deadline's cancel() can end their queries.
    let outstanding = 0;
    const resolver = (): HostResolver => {
      const r = new Resolver({ timeout: 60_000, tries: 1 });
      r.setServers([server]);
      const track = (q: Promise<string[]>) => {
        outstanding++;
        return q.finally(() => outstanding--);
      };
      return {
        resolve4: (h) => track(r.resolve4(h)),
        resolve6: (h) => track(r.resolve6(h)),
        cancel: () => r.cancel(),
      };
    };
    try {
      const n = 8; // twice the thread pool: dns.lookup would have taken all of it
      for (let i = 0; i < n; i++)
        await enqueue(t, 'REFUND.SUCCESS', `R-dns-${i}`, 'https://never-answers.example/notify');
      const dispatcher = new CallbackDispatcher(t.ctx, new MerchantKeyCache(t.ctx), {
        allowLoopback: false,
        resolver,
      });
      const started = Date.now();
      const ticking = dispatcher.tick();
      while (queries < 2 * n && Date.now() - started < 3000) await new Promise((x) => setTimeout(x, 20));
      expect(queries).toBeGreaterThanOrEqual(2 * n); // A and AAAA of each, to the injected resolver
      // Meanwhile the thread pool is free: RSA signing (responses, other callbacks) is not held up.
      const key = (await new MerchantKeyCache(t.ctx).get(t.merchant.mchid))!.platformPrivateKey;
      const signing = Date.now();
      await Promise.all(Array.from({ length: 8 }, () => rsaSign('message', key)));
      expect(Date.now() - signing).toBeLessThan(1000);
      expect(outstanding).toBe(2 * n);
      expect(await ticking).toBe(n);
      expect(Date.now() - started).toBeLessThan(7000);
      expect(outstanding).toBe(0); // cancelled, not left running in the background
      for (let i = 0; i < n; i++) {
        expect(await history(`R-dns-${i}`)).toMatchObject({
          status: 'pending',
          attempts: 1,
          history: [{ http_status: null, error: 'timed out after 5000 ms' }],
        });
      }
    } finally {
      blackHole.close();
    }
  });

  it('the 5 s deadline starts before signing: with the thread pool taken, the attempt ends on time and is never sent', async () => {
    const r = await receiver(() => 200);
    // Every pool thread blocks opening a FIFO for reading until the test opens it for writing.
    const dir = mkdtempSync(join(tmpdir(), 'zhifu-pool-'));
    const threads = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
    const fifos = Array.from({ length: threads }, (_, i) => join(dir, `fifo-${i}`));
    for (const f of fifos) execFileSync('mkfifo', [f]);
    let jammed: Promise<unknown>[] = [];
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      for (const f of fifos) closeSync(openSync(f, constants.O_WRONLY | constants.O_NONBLOCK));
    };
    try {
      await enqueue(t, 'REFUND.SUCCESS', 'R-pool', r.url);
      const keys = new MerchantKeyCache(t.ctx);
      await keys.get(t.merchant.mchid); // cached, so that only the signature needs the pool
      const dispatcher = new CallbackDispatcher(t.ctx, keys, { allowLoopback: true });
      jammed = fifos.map((f) => open(f, 'r').then((h) => h.close()));
      const safety = setTimeout(release, 6_500); // before the fix the attempt waits for this
      const started = Date.now();
      expect(await dispatcher.tick()).toBe(1);
      const took = Date.now() - started;
      clearTimeout(safety);
      release();
      await Promise.all(jammed);
      expect(took).toBeLessThan(6_000);
      await new Promise((x) => setTimeout(x, 300)); // the late signature is made, and dropped
      expect(r.received).toHaveLength(0);
      expect(await history('R-pool')).toMatchObject({
        status: 'pending',
        attempts: 1,
        history: [{ http_status: null, error: 'timed out after 5000 ms' }],
      });
    } finally {
      release();
      await Promise.all(jammed);
      rmSync(dir, { recursive: true, force: true });
      await r.close();
    }
  });
});

describe.each(dialects)('callback leases (%s)', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await openTestApp(dialect, { app: { background: false } });
  });
  afterAll(() => t.close());

  it('double delivery: a node that stalled past its 30 s lease neither fails on the attempt’s key nor overwrites the outcome of the node that leased the callback again', async () => {
    // The first request is answered 200 only when the test says so; later ones 500 at once.
    let answerFirst!: () => void;
    const firstMayAnswer = new Promise<void>((r) => {
      answerFirst = r;
    });
    let requests = 0;
    const server = createServer((req, res) => {
      req.resume();
      if (++requests === 1) void firstMayAnswer.then(() => res.end());
      else {
        res.statusCode = 500;
        res.end();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/notify`;
    try {
      const ref = `R-lease-${dialect}`;
      await enqueue(t, 'REFUND.SUCCESS', ref, url);
      const stalled = new CallbackDispatcher(t.ctx, new MerchantKeyCache(t.ctx), { allowLoopback: true });
      const other = new CallbackDispatcher(t.ctx, new MerchantKeyCache(t.ctx), { allowLoopback: true });
      const stalledTick = stalled.tick();
      for (let i = 0; i < 150 && requests === 0; i++) await new Promise((x) => setTimeout(x, 20));
      expect(requests).toBe(1);
      t.clock.advance(callback_lease_ms + 1); // the first node's lease runs out
      expect(await other.tick()).toBe(1); // leased again and sent again: answered 500
      expect(requests).toBe(2);
      answerFirst(); // the stalled node's request is answered 200 after all
      expect(await stalledTick).toBe(1); // before the fix: a primary-key violation on callback_attempts
      const row = await t.ctx.db
        .selectFrom('callbacks')
        .select(['status', 'attempts', 'next_attempt_at'])
        .where('ref', '=', ref)
        .executeTakeFirstOrThrow();
      // The node holding the lease decided: its 500 is retried 15 s later (reference §5.4).
      expect({ ...row, next_attempt_at: Number(row.next_attempt_at) }).toEqual({
        status: 'pending',
        attempts: 1,
        next_attempt_at: t.clock.now() + 15_000,
      });
      const attempts = await t.ctx.db
        .selectFrom('callback_attempts')
        .innerJoin('callbacks', 'callbacks.id', 'callback_attempts.callback_id')
        .select(['attempt', 'http_status'])
        .where('callbacks.ref', '=', ref)
        .execute();
      expect(attempts).toEqual([{ attempt: 1, http_status: 500 }]);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('an attempt recorded twice under the same number does not fail: the first record stays', async () => {
    const ref = `R-twice-${dialect}`;
    await enqueue(t, 'REFUND.SUCCESS', ref, 'https://merchant.example.com/notify');
    const { id } = await t.ctx.db
      .selectFrom('callbacks')
      .select('id')
      .where('ref', '=', ref)
      .executeTakeFirstOrThrow();
    const now = t.clock.now();
    const leased = await leaseDue(t.ctx.db, [id], now, now + callback_lease_ms);
    expect(leased.has(id)).toBe(true);
    const lease = { id, attempts: 0, leased_until: now + callback_lease_ms };
    const set = { status: 'pending', next_attempt_at: now + 15_000, delivered_at: null };
    // Whatever wrote a row for attempt 1 already, recording the outcome does not fail on it.
    await t.ctx.db
      .insertInto('callback_attempts')
      .values({ callback_id: id, attempt: 1, at: now, http_status: 502, error: null, duration_ms: 1 })
      .execute();
    const recorded = await t.ctx.db
      .transaction()
      .execute((trx) =>
        recordOutcome(trx, lease, set, { at: now, http_status: 500, error: null, duration_ms: 2 }),
      );
    expect(recorded).toBe(true);
    // The lease is used up: the same outcome again writes nothing.
    expect(
      await recordOutcome(t.ctx.db, lease, set, { at: now, http_status: 200, error: null, duration_ms: 3 }),
    ).toBe(false);
    const rows = await t.ctx.db
      .selectFrom('callback_attempts')
      .select(['attempt', 'http_status'])
      .where('callback_id', '=', id)
      .execute();
    expect(rows).toEqual([{ attempt: 1, http_status: 502 }]);
  });
});
