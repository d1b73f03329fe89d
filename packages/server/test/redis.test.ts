/**
 * Several nodes sharing Redis (ZHIFU_REDIS_URL; docs/operations.md): replay protection holds across
 * nodes and restarts, the WebSocket fan-out brings one node's events to another node's sockets at
 * once, and a Redis that does not answer refuses requests (500 SYSTEM_ERROR) with nothing written. The nodes are
 * apps over one PostgreSQL schema with their own Redis connections, on the real Redis of this machine.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.ts';
import { connectRedis } from '../src/lib/redis.ts';
import { RedisNonceStore } from '../src/modules/idempotency/index.ts';
import { openShared, openTestApp, type TestApp } from './harness.ts';
import { jsapiOrder, payAs, rowCount, signedRequest } from './requests.ts';
import { TestWsClient } from './ws-client.ts';

type Shared = Awaited<ReturnType<typeof openShared>>;

async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
}

describe('nodes sharing Redis', () => {
  let t: TestApp;
  let a: Shared;
  const closing: (() => Promise<unknown>)[] = [];

  /** Another node of the deployment: the same database, its own process state and Redis connection. */
  async function node(o: { redis: boolean }): Promise<TestApp> {
    const shared = o.redis ? await openShared(a.prefix) : undefined;
    const app = await buildApp({ ctx: t.ctx, background: false, ...(shared ? { shared } : {}) });
    closing.push(async () => {
      await app.close();
      await shared?.redis.quit();
    });
    return { ...t, app };
  }

  beforeAll(async () => {
    a = await openShared();
    t = await openTestApp('postgres', { realClock: true, listen: true, app: { shared: a } });
  });
  afterAll(async () => {
    for (const close of closing.reverse()) await close();
    await t?.close();
    await a?.close();
  });

  it('a signed request one node accepted is refused as a replay by another node, and after a restart', async () => {
    const order = jsapiOrder(t);
    const send = (at: TestApp) =>
      signedRequest(at, 'POST', '/v3/pay/transactions/jsapi', order, { nonce: 'replay-me-once' });
    expect((await send(t)).statusCode).toBe(200);
    const replayed = await send(await node({ redis: true }));
    expect([replayed.statusCode, replayed.json().code]).toEqual([401, 'SIGN_ERROR']);
    expect(replayed.json().message).toMatch(/nonce/i);
    // The gap Redis closes: a node that keeps nonces in its own memory takes the replay.
    expect((await send(await node({ redis: false }))).statusCode).toBe(200);
    // A node started afresh (its memory empty) still refuses it: the nonce is in Redis.
    const restarted = await node({ redis: true });
    expect((await send(restarted)).statusCode).toBe(401);
  });

  it("a payer proof's nonce is remembered across nodes", async () => {
    const order = jsapiOrder(t);
    const created = await signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', order);
    const { prepay_id } = created.json();
    const other = await node({ redis: true });
    // The same nonce on another node, before any payment: refused for the nonce alone.
    const first = await payAs(t, prepay_id, order.payer.openid, { nonce: 'proof-nonce-1' });
    expect(first.statusCode, first.body).toBe(200);
    const again = await payAs(other, prepay_id, order.payer.openid, { nonce: 'proof-nonce-1' });
    expect(again.statusCode).toBe(401);
    expect(again.json().detail).toMatchObject({ field: '/nonce', issue: 'nonce already used' });
  });

  it('a Redis that does not answer refuses signed requests with 500 SYSTEM_ERROR and writes nothing', async () => {
    const redis = connectRedis('redis://127.0.0.1:1');
    const app = await buildApp({ ctx: t.ctx, background: false, shared: { redis, prefix: a.prefix } });
    closing.push(async () => {
      await app.close();
      redis.disconnect();
    });
    const orders = await rowCount(t, 'orders');
    const res = await signedRequest({ ...t, app }, 'POST', '/v3/pay/transactions/jsapi', jsapiOrder(t));
    expect([res.statusCode, res.json().code]).toEqual([500, 'SYSTEM_ERROR']);
    expect(res.json().message).toMatch(/Redis/);
    expect(await rowCount(t, 'orders')).toBe(orders);
  });

  it('keeps each signer within its share of Redis and forgets a nonce once it leaves the window', async () => {
    const store = new RedisNonceStore(a, 2);
    expect(await store.claim('mch:share', 'a', 0, 100_000)).toBe('claimed');
    expect(await store.claim('mch:share', 'a', 10, 100_000)).toBe('replayed');
    expect(await store.claim('mch:share', 'b', 10, 200_000)).toBe('claimed');
    expect(await store.claim('mch:share', 'c', 10, 100_000)).toBe('full');
    expect(await store.claim('mch:other', 'a', 10, 100_000)).toBe('claimed');
    // At 150 s (the nodes' clock) 'a' has left the window: room again, and 'b' is still live.
    expect(await store.claim('mch:share', 'c', 150_000, 300_000)).toBe('claimed');
    expect(await store.claim('mch:share', 'b', 150_000, 300_000)).toBe('replayed');
    expect(await store.claim('mch:share', 'a', 150_000, 300_000)).toBe('full');
  });

  it("brings one node's events to another node's WebSocket at once (fan-out), not at its next poll", async () => {
    const b = await node({ redis: true });
    const c = await node({ redis: false });
    // Polls an hour apart: an event reaches these nodes' sockets only when announced.
    await b.app.zhifu.hub.start(3_600_000);
    await c.app.zhifu.hub.start(3_600_000);
    const onB = await TestWsClient.connect(await listen(b.app), t.merchant);
    const onC = await TestWsClient.connect(await listen(c.app), t.merchant);
    await onB.until(() => onB.frames.some((f) => f.type === 'hello'));
    await onC.until(() => onC.frames.some((f) => f.type === 'hello'));
    const before = onB.events.length;
    const order = jsapiOrder(t);
    const { prepay_id } = (await signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', order)).json();
    expect((await payAs(t, prepay_id, order.payer.openid)).statusCode).toBe(200);
    await onB.until(() =>
      onB.events.slice(before).some((e) => e.event.data.out_trade_no === order.out_trade_no),
    );
    const fresh = onB.events.slice(before);
    expect(fresh.every((e) => e.signatureOk)).toBe(true);
    expect(fresh.map((e) => e.seq)).toEqual(fresh.map((_, i) => fresh[0]!.seq + i));
    // The node without Redis has not heard of it.
    expect(onC.events.filter((e) => e.event.data.out_trade_no === order.out_trade_no)).toEqual([]);
    onB.ws.close();
    onC.ws.close();
  });
});
