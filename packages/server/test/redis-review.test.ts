/**
 * Redis mode under faults and hostile input: malformed or forged fan-out announcements, node clocks
 * apart, a Redis killed or stalled under a running node, a Redis URL naming a missing database.
 * Each `it` failed on the first Redis-mode commit (3d7e559) before its fix. The nodes here use
 * Redis servers of their own (a free port), so they can be killed and stopped.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis } from '../src/lib/redis.ts';
import { RedisNonceStore } from '../src/modules/idempotency/index.ts';
import { eventsAfter } from '../src/modules/notifications/index.ts';
import { openShared, openTestApp, redisUrl, type TestApp } from './harness.ts';
import { jsapiOrder, payAs, rowCount, signedRequest } from './requests.ts';
import { TestWsClient } from './ws-client.ts';

const root = resolve(import.meta.dirname, '../../..');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** A Redis of our own, that the test may kill and start again on the same port. */
function redisServer(port: number): ChildProcess {
  return spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
}

async function untilPong(port: number): Promise<void> {
  const probe = connectRedis(`redis://127.0.0.1:${port}`);
  probe.on('error', () => {});
  for (let i = 0; i < 100; i++) {
    try {
      await probe.connect();
      await probe.ping();
      probe.disconnect();
      return;
    } catch {
      probe.disconnect();
      await sleep(50);
    }
  }
  throw new Error('redis did not start');
}

/** `main.ts` as a child process in a fresh data directory, with `env` added; its output collected. */
async function startMain(env: Record<string, string>) {
  const dir = await mkdtemp(join(tmpdir(), 'zhifu-review-'));
  const child = spawn(process.execPath, ['--import', 'tsx', 'packages/server/src/main.ts'], {
    cwd: root,
    env: {
      ...process.env,
      PORT: '0',
      ZHIFU_DATA_DIR: dir,
      ZHIFU_LOG_LEVEL: 'error',
      ZHIFU_RISK_BATCH_THREADS: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const run = {
    child,
    out: '',
    err: '',
    exitCode: null as number | null,
    exited: undefined as unknown as Promise<void>,
  };
  child.stdout!.on('data', (d) => {
    run.out += d;
  });
  child.stderr!.on('data', (d) => {
    run.err += d;
  });
  run.exited = new Promise<void>((r) =>
    child.once('exit', (code) => {
      run.exitCode = code ?? -1;
      r();
    }),
  );
  return run;
}

describe('fan-out: announcements are parsed and trusted', () => {
  it('a malformed announcement on the events channel does not crash the node', async () => {
    const prefix = `zhifu-review:${randomBytes(4).toString('hex')}:`;
    const run = await startMain({ ZHIFU_REDIS_URL: redisUrl, ZHIFU_REDIS_PREFIX: prefix });
    try {
      for (let i = 0; i < 400 && !run.out.includes('Docs ') && run.exitCode === null; i++) await sleep(50);
      expect(run.out).toContain('Docs ');
      const publisher = await openShared(prefix);
      // Valid JSON, but not an object: `message.node` throws inside ioredis's socket data handler.
      expect(await publisher.redis.publish(`${prefix}events`, 'null')).toBe(1);
      await publisher.close();
      await sleep(1000);
      expect(run.err).not.toMatch(/TypeError/);
      expect(run.exitCode).toBe(null);
    } finally {
      if (run.exitCode === null) run.child.kill('SIGTERM');
      await run.exited;
    }
  }, 30_000);

  describe('over one node', () => {
    let t: TestApp;
    let a: Awaited<ReturnType<typeof openShared>>;
    let publisher: Awaited<ReturnType<typeof openShared>>;
    beforeAll(async () => {
      a = await openShared();
      publisher = await openShared(a.prefix);
      t = await openTestApp('sqlite', { realClock: true, listen: true, app: { shared: a } });
    });
    afterAll(async () => {
      await t?.close();
      await publisher?.close();
      await a?.close();
    });

    it('an announcement cannot make the node sign and send an event that is not in the outbox, nor skip one that is', async () => {
      const ws = await TestWsClient.connect(t.ctx.publicUrl, t.merchant, 1_000_000);
      await ws.until(() => ws.frames.some((f) => f.type === 'hello'));
      const last = (ws.frames.find((f) => f.type === 'hello') as { resume_after_seq: number })
        .resume_after_seq;
      // Whoever can PUBLISH on the Redis (another service sharing it, another deployment's prefix
      // typo) announces a payment that never happened, numbered as the merchant's next event.
      const forged = {
        id: 'evt_forged',
        seq: last + 1,
        type: 'payment.succeeded',
        created_at: new Date().toISOString(),
        data: { out_trade_no: 'never-paid', amount: { total: 99_999_900 } },
      };
      await publisher.redis.publish(
        `${a.prefix}events`,
        JSON.stringify({ node: 'someone-else', mchid: t.merchant.mchid, events: [forged] }),
      );
      await sleep(300);
      // A real payment now: its events take seq last+1, last+2, …
      const order = jsapiOrder(t);
      const { prepay_id } = (await signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', order)).json();
      expect((await payAs(t, prepay_id, order.payer.openid)).statusCode).toBe(200);
      await sleep(500);
      const got = ws.events.map((e) => ({ seq: e.seq, id: e.event.id, ok: e.signatureOk }));
      ws.ws.close();
      const outbox = (await eventsAfter(t.ctx.db, t.merchant.mchid, last)).map((e) => ({
        seq: e.seq,
        id: e.id,
      }));
      expect(outbox.length).toBeGreaterThan(0);
      // The socket gets exactly the outbox: not the forged event, and not without the genuine seq last+1.
      expect(got.map((e) => ({ seq: e.seq, id: e.id }))).toEqual(outbox);
    });
  });
});

describe('nonces: clocks of two nodes a little apart', () => {
  let a: Awaited<ReturnType<typeof openShared>>;
  beforeAll(async () => {
    a = await openShared();
  });
  afterAll(async () => {
    await a?.close();
  });

  it('a node whose clock is ahead does not shorten the time another node keeps refusing a replay (PEXPIRE from the node clock)', async () => {
    const store = new RedisNonceStore(a);
    const now = Date.now();
    const expires = now + 1500; // the window end (absolute, from the signed timestamp)
    // Node A, 1 s ahead, accepts the request: the set's TTL becomes expires − A's now = 0.5 s.
    expect(await store.claim('mch:skew-ttl', 'n1', now + 1000, expires)).toBe('claimed');
    await sleep(800);
    // Node B, on time: the timestamp is still fresh for it (now < expires), the replay arrives.
    const bNow = Date.now();
    expect(bNow).toBeLessThan(expires);
    expect(await store.claim('mch:skew-ttl', 'n1', bNow, expires)).toBe('replayed');
  });

  it("a node whose clock is ahead does not drop nonces another node's clock still holds live (ZREMRANGEBYSCORE from the node clock)", async () => {
    const store = new RedisNonceStore(a);
    const now = Date.now();
    // Node B (on time) accepts nonce m, live until now + 1.5 s.
    expect(await store.claim('mch:skew-sweep', 'm', now, now + 1500)).toBe('claimed');
    // Node A, 2 s ahead, accepts another request of the same merchant: its sweep drops m.
    expect(await store.claim('mch:skew-sweep', 'other', now + 2000, now + 300_000)).toBe('claimed');
    // The replay of m on node B, within m's window on B's clock.
    expect(await store.claim('mch:skew-sweep', 'm', Date.now(), now + 1500)).toBe('replayed');
  });
});

describe('Redis restarts under a running node', () => {
  let port: number;
  let server: ChildProcess;
  let t: TestApp;
  let shared: { redis: ReturnType<typeof connectRedis>; prefix: string };
  beforeAll(async () => {
    port = await freePort();
    server = redisServer(port);
    await untilPong(port);
    const redis = connectRedis(`redis://127.0.0.1:${port}`);
    await redis.connect();
    shared = { redis, prefix: 'zhifu:' };
    t = await openTestApp('sqlite', { realClock: true, listen: true, app: { shared } });
  });
  afterAll(async () => {
    await t?.close();
    shared?.redis.disconnect();
    server?.kill('SIGKILL');
  });

  it('refuses within about 2 s while Redis is away, and serves again (nonces and fan-out) once it is back', async () => {
    const ok = await signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', jsapiOrder(t));
    expect(ok.statusCode).toBe(200);
    server.kill('SIGKILL');
    await sleep(200);
    const t0 = performance.now();
    const down = await signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', jsapiOrder(t));
    const took = performance.now() - t0;
    expect([down.statusCode, down.json().code]).toEqual([500, 'SYSTEM_ERROR']);
    expect(took).toBeLessThan(3000);
    server = redisServer(port);
    await untilPong(port);
    for (let i = 0; i < 100 && shared.redis.status !== 'ready'; i++) await sleep(50);
    // A restarted Redis has no script cache: EVALSHA answers NOSCRIPT, the client must fall back.
    const back = await signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', jsapiOrder(t));
    expect(back.statusCode, back.body).toBe(200);
    // The fan-out subscriber re-subscribed.
    const probe = connectRedis(`redis://127.0.0.1:${port}`);
    await probe.connect();
    let subscribers = 0;
    for (let i = 0; i < 100 && subscribers === 0; i++) {
      const numsub = (await probe.pubsub('NUMSUB', 'zhifu:events')) as [string, number];
      subscribers = Number(numsub[1]);
      if (subscribers === 0) await sleep(50);
    }
    probe.disconnect();
    expect(subscribers).toBe(1);
  }, 30_000);

  it('a request refused because Redis was slow did nothing; signed afresh it is served (the message says so)', async () => {
    const order = jsapiOrder(t);
    const ordersBefore = await rowCount(t, 'orders');
    const send = (nonce: string) =>
      signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', order, {
        nonce,
        timestamp: Math.floor(Date.now() / 1000),
      });
    server.kill('SIGSTOP'); // a Redis that stalls (fork for BGSAVE, swap, a network hiccup)
    let stalled: Awaited<ReturnType<typeof send>>;
    try {
      stalled = await send('stall-retry');
    } finally {
      server.kill('SIGCONT');
    }
    expect([stalled.statusCode, stalled.json().code]).toEqual([500, 'SYSTEM_ERROR']);
    expect(stalled.json().message).toMatch(/signed afresh with a new nonce/);
    expect(await rowCount(t, 'orders')).toBe(ordersBefore);
    await sleep(200);
    // The timed-out claim was still queued on the connection and ran when Redis woke up, so the
    // identical bytes are refused as a replay (documented); a new signature is served.
    expect((await send('stall-retry')).statusCode).toBe(401);
    const retried = await send('stall-retry-2');
    expect(retried.statusCode, retried.body).toBe(200);
  }, 30_000);
});

describe('start-up', () => {
  it('a Redis URL naming a database that does not exist stops the start instead of using database 0', async () => {
    const run = await startMain({ ZHIFU_REDIS_URL: `${redisUrl.replace(/\/\d*$/, '')}/99` });
    const timer = setTimeout(() => run.child.kill('SIGTERM'), 15_000);
    await run.exited;
    clearTimeout(timer);
    expect(run.out).not.toContain('is running');
    expect(run.exitCode).toBe(1);
  }, 30_000);
});
