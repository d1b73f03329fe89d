import { createServer } from 'node:http';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Aes, Rsa } from 'wechatpay-axios-plugin';
import { audit } from '../src/modules/ledger/index.ts';
import { emit } from '../src/modules/notifications/index.ts';
import { callbackReceiver as receiver } from './callback-receiver.ts';
import { dialects, openTestApp, type TestApp } from './harness.ts';
import { jsapiOrder, payAs, signedRequest } from './requests.ts';
import { TestWsClient } from './ws-client.ts';

const setMode = (t: TestApp, decision_mode: 'auto' | 'realtime') =>
  signedRequest(t, 'PUT', '/v1/notifications/settings', { decision_mode });

async function newOrder(t: TestApp, amount = 1_000, notifyUrl = 'https://merchant.example.com/notify') {
  const order = jsapiOrder(t, { amount: { total: amount, currency: 'CNY' }, notify_url: notifyUrl });
  const res = await signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', order);
  return { order, prepayId: res.json().prepay_id as string };
}

const query = async (t: TestApp, no: string) =>
  (await signedRequest(t, 'GET', `/v3/pay/transactions/out-trade-no/${no}?mchid=${t.merchant.mchid}`)).json();

describe.each(dialects)('decision notifications over a real WebSocket (%s)', (dialect) => {
  let t: TestApp;
  let base: string;
  beforeAll(async () => {
    t = await openTestApp(dialect, { realClock: true, listen: true, app: { callbacksAllowLoopback: true } });
    base = t.ctx.publicUrl;
  });
  afterAll(() => t.close());

  it('refuses an unsigned or stale handshake; a signed one gets hello', async () => {
    await expect(TestWsClient.connect(base, { ...t.merchant, hmac_key: 'wrong' })).rejects.toThrow(/401/);
    await expect(
      TestWsClient.connect(base, t.merchant, undefined, Math.floor(Date.now() / 1000) - 600),
    ).rejects.toThrow(/401/);
    const c = await TestWsClient.connect(base, t.merchant);
    await c.until(() => c.frames.some((f) => f.type === 'hello'));
    await c.close();
  });

  it('auto mode: a payment produces a signed payment.succeeded event with the risk and a pseudonymous payer', async () => {
    const c = await TestWsClient.connect(base, t.merchant);
    const { order, prepayId } = await newOrder(t);
    expect((await payAs(t, prepayId, order.payer.openid)).json().trade_state).toBe('SUCCESS');
    await c.until(() =>
      c.ofType('payment.succeeded').some((e) => e.event.data.out_trade_no === order.out_trade_no),
    );
    const e = c.ofType('payment.succeeded').find((x) => x.event.data.out_trade_no === order.out_trade_no)!;
    expect(e.signatureOk).toBe(true);
    expect(e.event.data).toMatchObject({
      amount: { total: 1_000, currency: 'CNY' },
      risk: { suggested_action: 'approve' },
    });
    expect(String(e.event.data.payer_ref)).toMatch(/^psn_/);
    expect(JSON.stringify(e.event)).not.toContain(order.payer.openid);
    await c.close();
  });

  it('realtime: an answer in 50 ms captures; after 600 ms the payment is in manual review and the late answer is refused', async () => {
    await setMode(t, 'realtime');
    const c = await TestWsClient.connect(base, t.merchant);
    const answer = (delayMs: number, decision: string) => {
      const handled = new Set<string>();
      return setInterval(() => {
        for (const e of c.ofType('payment.decision_required')) {
          if (handled.has(e.event.id)) continue;
          handled.add(e.event.id);
          setTimeout(() => c.send({ type: 'decision', event_id: e.event.id, decision }), delayMs);
        }
      }, 5);
    };
    let timer = answer(50, 'approve');
    const fast = await newOrder(t);
    const paid = (await payAs(t, fast.prepayId, fast.order.payer.openid)).json();
    expect(paid).toMatchObject({
      trade_state: 'SUCCESS',
      zhifu_decision: { state: 'approved', decided_by: 'merchant' },
    });
    clearInterval(timer);

    timer = answer(600, 'approve');
    const slow = await newOrder(t);
    const held = (await payAs(t, slow.prepayId, slow.order.payer.openid)).json();
    expect(held).toMatchObject({
      trade_state: 'USERPAYING',
      zhifu_decision: { state: 'manual_review', decided_by: 'deadline' },
    });
    await c.until(
      () => c.frames.some((f) => f.type === 'decision_result' && f.code === 'DECISION_DEADLINE_PASSED'),
      2000,
    );
    clearInterval(timer);
    const q = await query(t, slow.order.out_trade_no);
    expect(q).toMatchObject({ trade_state: 'USERPAYING', zhifu_decision: { state: 'manual_review' } });
    expect(q.trade_state_desc).toMatch(/manual review/);
    expect(
      c.ofType('payment.manual_review').some((e) => e.event.data.out_trade_no === slow.order.out_trade_no),
    ).toBe(true);
    await c.close();
    await setMode(t, 'auto');
  });

  it('realtime: block releases the funds; review holds them; a second answer changes nothing', async () => {
    await setMode(t, 'realtime');
    const c = await TestWsClient.connect(base, t.merchant);
    for (const [decision, state, tradeState] of [
      ['block', 'blocked', 'PAYERROR'],
      ['review', 'manual_review', 'USERPAYING'],
    ] as const) {
      const { order, prepayId } = await newOrder(t, 2_000);
      const paying = payAs(t, prepayId, order.payer.openid);
      await c.until(() =>
        c.ofType('payment.decision_required').some((e) => e.event.data.out_trade_no === order.out_trade_no),
      );
      const ask = c
        .ofType('payment.decision_required')
        .find((e) => e.event.data.out_trade_no === order.out_trade_no)!;
      expect(ask.event.data).toMatchObject({
        deadline_at: expect.any(String),
        risk: { score: expect.any(Number) },
      });
      c.send({ type: 'decision', event_id: ask.event.id, decision });
      expect((await paying).json()).toMatchObject({ trade_state: tradeState, zhifu_decision: { state } });
      const again = await signedRequest(t, 'POST', '/v1/decisions', {
        event_id: ask.event.id,
        decision: 'approve',
      });
      expect([again.statusCode, again.json().code]).toEqual([409, 'DECISION_ALREADY_MADE']);
      expect((await query(t, order.out_trade_no)).trade_state).toBe(tradeState);
    }
    expect(await audit(t.ctx.db)).toEqual({ unbalancedJournals: 0, driftedAccounts: [], belowFloor: [] });
    await c.close();
    await setMode(t, 'auto');
  });

  it('a reconnecting client gets everything after its last acknowledged sequence, in order', async () => {
    const first = await TestWsClient.connect(base, t.merchant, 0);
    await first.until(() => first.events.length > 0);
    const last = () => first.events.at(-1)!.seq;
    await first.until(() => first.events.length >= 3);
    const acked = first.events[2]!.seq;
    first.send({ type: 'ack', seq: acked });
    await new Promise((r) => setTimeout(r, 100));
    await first.close();
    const { order, prepayId } = await newOrder(t);
    await payAs(t, prepayId, order.payer.openid);
    const resumed = await TestWsClient.connect(base, t.merchant);
    await resumed.until(() => resumed.events.some((e) => e.event.data.out_trade_no === order.out_trade_no));
    const seqs = resumed.events.map((e) => e.seq);
    expect(seqs[0]).toBe(acked + 1);
    expect(seqs).toEqual(seqs.map((_, i) => acked + 1 + i));
    expect(Math.max(...seqs)).toBeGreaterThan(last());
    await resumed.close();
  });

  it('acked_seq never goes backwards, whatever order acks are handled in; a null frame is a PARAM_ERROR', async () => {
    const written = await t.ctx.db.transaction().execute(async (trx) => {
      const out = [];
      for (let i = 0; i < 10; i++)
        out.push(await emit(t.ctx, trx, t.merchant.mchid, 'merchant.frozen', { i }));
      return out;
    });
    const first = written[0]!.seq;
    const c = await TestWsClient.connect(base, t.merchant, first - 1);
    await c.until(() => c.events.length === 10);
    c.send({ type: 'ack', seq: first + 7 });
    c.send({ type: 'ack', seq: first + 2 });
    c.ws.send('null');
    await c.until(() => c.frames.some((f) => f.type === 'error'));
    expect(c.frames.find((f) => f.type === 'error')).toMatchObject({ code: 'PARAM_ERROR' });
    const acked = async () =>
      (await signedRequest(t, 'GET', '/v1/notifications/settings')).json().acked_seq as number;
    for (let i = 0; i < 40 && (await acked()) < first + 7; i++) await new Promise((r) => setTimeout(r, 25));
    await new Promise((r) => setTimeout(r, 100)); // the lower ack has been handled too
    expect(await acked()).toBe(first + 7);
    await c.close();
  });

  it('callbacks: dispatchers of several nodes on one database deliver each callback exactly once', async () => {
    const { CallbackDispatcher } = await import('../src/modules/notifications/callbacks.ts');
    const { MerchantKeyCache } = await import('../src/modules/merchants/index.ts');
    const r = await receiver(() => 200);
    try {
      for (let i = 0; i < 6; i++) {
        const { order, prepayId } = await newOrder(t, 100 + i, r.url);
        await payAs(t, prepayId, order.payer.openid);
      }
      // Three more "nodes" tick at once, next to this node's own background dispatcher.
      const nodes = [0, 1, 2].map(
        () => new CallbackDispatcher(t.ctx, new MerchantKeyCache(t.ctx), { allowLoopback: true }),
      );
      await Promise.all(nodes.map((n) => n.tick()));
      const deadline = Date.now() + 3000;
      while (r.received.length < 6 && Date.now() < deadline) await new Promise((x) => setTimeout(x, 50));
      await new Promise((x) => setTimeout(x, 600)); // one more poll of the background dispatcher
      const ids = r.received.map((x) => JSON.parse(x.body).id as string);
      expect(ids).toHaveLength(6);
      expect(new Set(ids).size).toBe(6);
    } finally {
      await r.close();
    }
  });

  it('callbacks: an endpoint that does not answer holds back no other merchant’s callback', async () => {
    // The slow endpoint keeps its request open until the test lets it go (under the 5 s timeout).
    let release!: () => void;
    const released = new Promise<void>((r) => {
      release = r;
    });
    let slowReceived = 0;
    const slow = createServer((req, res) => {
      slowReceived++;
      req.resume();
      void released.then(() => res.end());
    });
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
    const fast = await receiver(() => 200);
    try {
      const slowUrl = `http://127.0.0.1:${(slow.address() as { port: number }).port}/notify`;
      const a = await newOrder(t, 111, slowUrl);
      await payAs(t, a.prepayId, a.order.payer.openid);
      const waitFor = async (cond: () => boolean, ms: number) => {
        const deadline = Date.now() + ms;
        while (!cond() && Date.now() < deadline) await new Promise((x) => setTimeout(x, 25));
        return cond();
      };
      expect(await waitFor(() => slowReceived === 1, 3000)).toBe(true);
      const b = await newOrder(t, 112, fast.url);
      await payAs(t, b.prepayId, b.order.payer.openid);
      // Delivered while the first delivery is still waiting for its answer.
      expect(await waitFor(() => fast.received.length === 1, 3000)).toBe(true);
      expect(JSON.parse(fast.received[0]!.body).event_type).toBe('TRANSACTION.SUCCESS');
    } finally {
      release();
      slow.closeAllConnections();
      await new Promise<void>((r) => slow.close(() => r()));
      await fast.close();
    }
  });

  it('APIv3 callback: the official plugin verifies and decrypts a real TRANSACTION.SUCCESS', async () => {
    const r = await receiver(() => 200);
    const { order, prepayId } = await newOrder(t, 1_234, r.url);
    await payAs(t, prepayId, order.payer.openid);
    const deadline = Date.now() + 3000;
    while (r.received.length === 0 && Date.now() < deadline) await new Promise((x) => setTimeout(x, 50));
    const got = r.received[0]!;
    const h = got.headers as Record<string, string>;
    const ok = Rsa.verify(
      `${h['wechatpay-timestamp']}\n${h['wechatpay-nonce']}\n${got.body}\n`,
      h['wechatpay-signature']!,
      t.merchant.platform_certificate_pem,
    );
    expect(ok).toBe(true);
    expect(h['wechatpay-serial']).toBe(t.merchant.platform_serial_no);
    const body = JSON.parse(got.body);
    expect(got.body).toBe(JSON.stringify(body));
    expect(body).toMatchObject({
      event_type: 'TRANSACTION.SUCCESS',
      resource_type: 'encrypt-resource',
      resource: { algorithm: 'AEAD_AES_256_GCM' },
    });
    const plain = JSON.parse(
      Aes.AesGcm.decrypt(
        body.resource.ciphertext,
        t.merchant.apiv3_key,
        body.resource.nonce,
        body.resource.associated_data,
      ),
    );
    expect(plain).toMatchObject({
      out_trade_no: order.out_trade_no,
      trade_state: 'SUCCESS',
      amount: { total: 1_234 },
      payer: { openid: order.payer.openid },
    });
    let list = [];
    for (let i = 0; i < 40; i++) {
      list = (await signedRequest(t, 'GET', `/v1/notifications/callbacks?ref=${order.out_trade_no}`)).json()
        .data;
      if (list[0]?.status === 'delivered') break;
      await new Promise((x) => setTimeout(x, 25));
    }
    expect(list[0]).toMatchObject({
      status: 'delivered',
      attempts: 1,
      history: [{ attempt: 1, http_status: 200 }],
    });
    await r.close();
  });

  it('a callback answered 202 is not delivered (APIv3 success is 200 or 204): it is retried', async () => {
    const r = await receiver(() => 202);
    try {
      const { order, prepayId } = await newOrder(t, 1_235, r.url);
      await payAs(t, prepayId, order.payer.openid);
      let list = [];
      for (let i = 0; i < 120 && list[0]?.history?.length !== 1; i++) {
        await new Promise((x) => setTimeout(x, 25));
        list = (await signedRequest(t, 'GET', `/v1/notifications/callbacks?ref=${order.out_trade_no}`)).json()
          .data;
      }
      expect(r.received).toHaveLength(1);
      expect(list[0]).toMatchObject({ status: 'pending', attempts: 1, history: [{ http_status: 202 }] });
    } finally {
      await r.close();
    }
  });
});

describe('deadlines, review windows and callback retries with the fake clock', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await openTestApp('sqlite', { app: { background: false, callbacksAllowLoopback: false } });
  });
  afterAll(() => t.close());

  it('no connection: the deadline in the database puts the payment in review; the window then releases the funds', async () => {
    await setMode(t, 'realtime');
    await signedRequest(t, 'PUT', '/v1/notifications/settings', { review_window_seconds: 3600 });
    const { order, prepayId } = await newOrder(t, 3_000);
    const balance = async () =>
      Number(
        (
          await t.ctx.db
            .selectFrom('accounts')
            .select('balance')
            .where('id', '=', 'acc_ins_zhangwei_balance')
            .executeTakeFirstOrThrow()
        ).balance,
      );
    const before = await balance();
    const res = payAs(t, prepayId, order.payer.openid);
    // The in-process timer cannot fire (fake clock); the payer's call returns still pending.
    expect((await res).json()).toMatchObject({
      trade_state: 'USERPAYING',
      zhifu_decision: { state: 'pending' },
    });
    expect(await balance()).toBe(before - 3_000);
    await t.app.zhifu.tick();
    expect((await query(t, order.out_trade_no)).zhifu_decision.state).toBe('pending');
    t.clock.advance(501);
    await t.app.zhifu.tick();
    expect((await query(t, order.out_trade_no)).zhifu_decision).toMatchObject({
      state: 'manual_review',
      decided_by: 'deadline',
    });
    t.clock.advance(3600 * 1000);
    await t.app.zhifu.tick();
    const q = await query(t, order.out_trade_no);
    expect(q).toMatchObject({
      trade_state: 'PAYERROR',
      zhifu_decision: { state: 'released', decided_by: 'expiry' },
    });
    expect(await balance()).toBe(before);
    await setMode(t, 'auto');
  });

  it('manual review resolved by REST: approve captures once', async () => {
    await setMode(t, 'realtime');
    const { order, prepayId } = await newOrder(t, 4_000);
    await payAs(t, prepayId, order.payer.openid);
    t.clock.advance(600);
    await t.app.zhifu.tick();
    const approve = await signedRequest(t, 'POST', `/v1/payments/${order.out_trade_no}/review`, {
      decision: 'approve',
    });
    expect(approve.json()).toEqual({ state: 'approved' });
    const twice = await signedRequest(t, 'POST', `/v1/payments/${order.out_trade_no}/review`, {
      decision: 'decline',
    });
    expect([twice.statusCode, twice.json().code]).toEqual([409, 'DECISION_NOT_IN_REVIEW']);
    expect(await query(t, order.out_trade_no)).toMatchObject({
      trade_state: 'SUCCESS',
      success_time: expect.any(String),
    });
    expect(await audit(t.ctx.db)).toEqual({ unbalancedJournals: 0, driftedAccounts: [], belowFloor: [] });
    await setMode(t, 'auto');
  });

  it('callbacks retry on the APIv3 schedule (15 retries over 24 h 4 min), then dead-letter', async () => {
    const { order, prepayId } = await newOrder(t, 500, 'https://callbacks.invalid/notify');
    await payAs(t, prepayId, order.payer.openid);
    const delays = [15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600];
    expect(delays.reduce((a, b) => a + b, 0)).toBe(24 * 3600 + 4 * 60);
    await t.app.zhifu.tick();
    for (const d of delays) {
      t.clock.advance(d * 1000 - 1);
      await t.app.zhifu.tick();
      t.clock.advance(1);
      await t.app.zhifu.tick();
    }
    const [cb] = (
      await signedRequest(t, 'GET', `/v1/notifications/callbacks?ref=${order.out_trade_no}`)
    ).json().data;
    expect(cb).toMatchObject({ status: 'dead', attempts: 16 });
    expect(cb.history).toHaveLength(16);
  });

  it('a dispatcher stopping waits for its delivery in flight, which an endpoint trickling its answer cannot keep past 5 s', async () => {
    const { CallbackDispatcher } = await import('../src/modules/notifications/callbacks.ts');
    const { MerchantKeyCache } = await import('../src/modules/merchants/index.ts');
    // Answers with headers, then a byte every 500 ms, never the end: the socket is never idle.
    let requests = 0;
    const trickle = createServer((req, res) => {
      requests++;
      req.resume();
      res.writeHead(200);
      const timer = setInterval(() => res.write('x'), 500);
      res.on('close', () => clearInterval(timer));
    });
    await new Promise<void>((r) => trickle.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(trickle.address() as { port: number }).port}/notify`;
      const { order, prepayId } = await newOrder(t, 222, url);
      await payAs(t, prepayId, order.payer.openid);
      const dispatcher = new CallbackDispatcher(t.ctx, new MerchantKeyCache(t.ctx), { allowLoopback: true });
      const started = Date.now();
      void dispatcher.tick();
      while (requests === 0 && Date.now() - started < 3000) await new Promise((x) => setTimeout(x, 20));
      expect(requests).toBe(1);
      let stopped = false;
      const stopping = dispatcher.stop().then(() => {
        stopped = true;
      });
      await new Promise((x) => setTimeout(x, 300));
      expect(stopped).toBe(false);
      expect(await dispatcher.tick()).toBe(0);
      await stopping;
      expect(Date.now() - started).toBeLessThan(8_000);
      const [cb] = (
        await signedRequest(t, 'GET', `/v1/notifications/callbacks?ref=${order.out_trade_no}`)
      ).json().data;
      expect(cb).toMatchObject({ status: 'pending', attempts: 1 });
      expect(cb.history[0]).toMatchObject({ http_status: null, error: 'timed out after 5000 ms' });
    } finally {
      trickle.closeAllConnections();
      await new Promise<void>((r) => trickle.close(() => r()));
    }
  });

  it('a dispatcher stopped while it is still leasing waits for what it leased to be delivered and recorded', async () => {
    const { CallbackDispatcher } = await import('../src/modules/notifications/callbacks.ts');
    const { MerchantKeyCache } = await import('../src/modules/merchants/index.ts');
    const r = await receiver(() => 204);
    try {
      const { order, prepayId } = await newOrder(t, 223, r.url);
      await payAs(t, prepayId, order.payer.openid);
      const dispatcher = new CallbackDispatcher(t.ctx, new MerchantKeyCache(t.ctx), { allowLoopback: true });
      const ticking = dispatcher.tick(); // still reading and leasing the due callbacks when stop() is called
      await dispatcher.stop();
      expect(r.received).toHaveLength(1);
      const [cb] = (
        await signedRequest(t, 'GET', `/v1/notifications/callbacks?ref=${order.out_trade_no}`)
      ).json().data;
      expect(cb).toMatchObject({ status: 'delivered', attempts: 1, history: [{ http_status: 204 }] });
      expect(await ticking).toBe(1);
    } finally {
      await r.close();
    }
  });

  it('callback URLs to private, loopback, metadata addresses and their alternate spellings are refused', async () => {
    for (const url of [
      'http://127.0.0.1:9/notify',
      'http://2130706433/notify',
      'http://0x7f.1/notify',
      'http://[::ffff:127.0.0.1]/notify',
      'http://169.254.169.254/latest/meta-data',
      'http://10.1.2.3/notify',
      'http://localhost/notify',
    ]) {
      const { order, prepayId } = await newOrder(t, 300, url);
      await payAs(t, prepayId, order.payer.openid);
      await t.app.zhifu.tick();
      const [cb] = (
        await signedRequest(t, 'GET', `/v1/notifications/callbacks?ref=${order.out_trade_no}`)
      ).json().data;
      expect(cb.history[0].error, url).toMatch(/refused|not allowed/);
      expect(cb.history[0].http_status).toBeNull();
    }
  });
});

describe('a slow WebSocket client (SQLite)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await openTestApp('sqlite', { realClock: true, listen: true });
  });
  afterAll(() => t.close());

  it('a client that stops reading is closed with 4008 and resumes with after_seq; a reading client gets every event', async () => {
    const base = t.ctx.publicUrl;
    const slow = await TestWsClient.connect(base, t.merchant, 0);
    const fast = await TestWsClient.connect(base, t.merchant, 0);
    await slow.until(() => slow.frames.some((f) => f.type === 'hello'));
    await fast.until(() => fast.frames.some((f) => f.type === 'hello'));
    const closed = new Promise<number>((r) => slow.ws.once('close', (code) => r(code)));
    const socket = (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    socket.pause();
    // ~18 MB of events: more than the kernel's socket buffers and the 1 MiB per-connection bound.
    const big = 'x'.repeat(60_000);
    const n = 300;
    for (let i = 0; i < n; i += 10) {
      const written = await t.ctx.db.transaction().execute(async (trx) => {
        const out = [];
        for (let j = 0; j < 10; j++)
          out.push(await emit(t.ctx, trx, t.merchant.mchid, 'merchant.frozen', { i: i + j, big }));
        return out;
      });
      t.app.zhifu.hub.publish(t.merchant.mchid, written);
    }
    await fast.until(() => fast.events.length >= n, 20_000);
    expect(fast.events.map((e) => e.seq)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    socket.resume();
    expect(await closed).toBe(4008);
    const got = slow.events.map((e) => e.seq);
    expect(got.length).toBeLessThan(n);
    expect(got).toEqual(Array.from({ length: got.length }, (_, i) => i + 1));
    // The documented resync: reconnect after the last event received, get the rest in order.
    const resumed = await TestWsClient.connect(base, t.merchant, got.at(-1) ?? 0);
    await resumed.until(() => resumed.events.length >= n - got.length, 20_000);
    expect([...got, ...resumed.events.map((e) => e.seq)]).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    await Promise.all([fast.close(), resumed.close()]);
  }, 60_000);
});

describe('event sequence numbers (PostgreSQL)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await openTestApp('postgres');
  });
  afterAll(() => t.close());

  it("two concurrent transactions writing a merchant's first events both commit, with seq 1 and 2", async () => {
    let releaseFirst!: () => void;
    const firstMayCommit = new Promise<void>((r) => {
      releaseFirst = r;
    });
    let firstEmitted!: () => void;
    const firstHasEmitted = new Promise<void>((r) => {
      firstEmitted = r;
    });
    const a = t.ctx.db.transaction().execute(async (trx) => {
      const e = await emit(t.ctx, trx, t.merchant.mchid, 'merchant.frozen', { n: 1 });
      firstEmitted();
      await firstMayCommit;
      return e.seq;
    });
    await firstHasEmitted;
    const b = t.ctx.db
      .transaction()
      .execute(async (trx) => (await emit(t.ctx, trx, t.merchant.mchid, 'merchant.frozen', { n: 2 })).seq);
    await new Promise((r) => setTimeout(r, 200)); // b now waits for a's row lock
    releaseFirst();
    expect(await Promise.all([a, b])).toEqual([1, 2]);
  });
});

describe('the WebSocket hub as the server starts and stops', () => {
  it('a shutdown closes live sockets with 1001 "server shutting down"', async () => {
    const t = await openTestApp('sqlite', { realClock: true, listen: true });
    const c = await TestWsClient.connect(t.ctx.publicUrl, t.merchant, 0);
    await c.until(() => c.frames.some((f) => f.type === 'hello'));
    const closed = new Promise<[number, string]>((r) =>
      c.ws.once('close', (code, reason) => r([code, String(reason)])),
    );
    await t.close();
    expect(await closed).toEqual([1001, 'server shutting down']);
  });

  it('sockets that close while their handshake waits for the database hold no connection slot (postgres)', async () => {
    const t = await openTestApp('postgres', { realClock: true, listen: true });
    try {
      const hub = t.app.zhifu.hub;
      // The merchant's keys are cached by a first handshake, so later ones wait only for the pool.
      const warm = await TestWsClient.connect(t.ctx.publicUrl, t.merchant, 0);
      await warm.until(() => warm.frames.some((f) => f.type === 'hello'));
      await warm.close();
      // Every pooled connection busy for 1 s: 16 handshakes wait, and their sockets close meanwhile.
      const busy = Array.from({ length: 8 }, () => sql`select pg_sleep(1)`.execute(t.ctx.db));
      await new Promise((r) => setTimeout(r, 50));
      await Promise.all(
        Array.from({ length: 16 }, async () =>
          (await TestWsClient.connect(t.ctx.publicUrl, t.merchant, 0)).close(),
        ),
      );
      await Promise.all(busy);
      await new Promise((r) => setTimeout(r, 300));
      expect(hub.connections(t.merchant.mchid)).toBe(0);
      const live = await TestWsClient.connect(t.ctx.publicUrl, t.merchant, 0);
      await live.until(() => live.frames.some((f) => f.type === 'hello'));
      await live.close();
    } finally {
      await t.close();
    }
  });
});

describe('a handshake whose set-up fails (sqlite)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await openTestApp('sqlite', { listen: true, realClock: true, app: { background: false } });
  });
  afterAll(() => t.close());

  it('closes that socket with 1011, and the server keeps serving', async () => {
    // The attach reads the merchant's sequence: without its table, that read fails.
    await sql`drop table merchant_sequences`.execute(t.ctx.db);
    const client = await TestWsClient.connect(t.ctx.publicUrl, t.merchant);
    const code = await new Promise<number>((resolve) => client.ws.once('close', (c) => resolve(c)));
    expect(code).toBe(1011);
    expect((await t.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });
});
