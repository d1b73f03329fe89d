/**
 * NotificationClient and verifyCallback against the real server, in process and listening on
 * 127.0.0.1 with the real clock: signed handshake, signed events, realtime decisions within the
 * 500 ms budget, reconnection without duplicates or gaps, and captured APIv3 callbacks.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestApp, type TestApp } from '../../server/test/harness.ts';
import { jsapiOrder, payAs, signedRequest } from '../../server/test/requests.ts';
import type { DecisionInfo, NotificationClientOptions, Transaction, ZhifuEvent } from '../src/index.ts';
import {
  type DecisionRequiredEvent,
  NotificationClient,
  type RefundCallbackResource,
  verifyCallback,
  ZhifuSignatureError,
} from '../src/index.ts';

let t: TestApp;

beforeAll(async () => {
  t = await openTestApp('sqlite', {
    realClock: true,
    listen: true,
    app: { callbacksAllowLoopback: true },
  });
});

afterAll(() => t?.close());

function client(o: Partial<NotificationClientOptions> = {}): NotificationClient {
  return new NotificationClient({
    baseUrl: t.ctx.publicUrl,
    mchid: t.merchant.mchid,
    auth: { scheme: 'hmac', hmacKey: t.merchant.hmac_key },
    reconnect: { minMs: 20, maxMs: 200 },
    ...o,
  });
}

async function newOrder(amount = 1_000, notifyUrl = 'https://merchant.example.com/notify') {
  const order = jsapiOrder(t, { amount: { total: amount, currency: 'CNY' }, notify_url: notifyUrl });
  const res = await signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', order);
  expect(res.statusCode).toBe(200);
  return { order, prepayId: res.json().prepay_id as string };
}

async function pay(amount = 1_000, notifyUrl?: string) {
  const { order, prepayId } = await newOrder(amount, notifyUrl);
  const res = await payAs(t, prepayId, order.payer.openid);
  return { order, paid: res.json() as Record<string, unknown> & { trade_state: string } };
}

/** Waits for `predicate`; 15 s leaves a loaded 2-core CI machine margin (the test timeout is 30 s). */
async function until(predicate: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const ofTrade = (events: ZhifuEvent[], no: string) =>
  events.filter(
    (e) => e.type.startsWith('payment.') && (e.data as { out_trade_no?: string }).out_trade_no === no,
  );

describe('NotificationClient against the real server', () => {
  it('receives a signed payment.succeeded with risk and a pseudonymous payer (auto mode)', async () => {
    const events: ZhifuEvent[] = [];
    const n = client({ onEvent: (e) => void events.push(e) });
    const connected = new Promise((r) => n.once('connected', r));
    await n.connectOnce();
    expect(await connected).toMatchObject({ reconnects: 0, serverTime: expect.any(String) });
    const { order, paid } = await pay(1_000);
    expect(paid.trade_state).toBe('SUCCESS');
    await until(() => ofTrade(events, order.out_trade_no).length > 0);
    const [e] = ofTrade(events, order.out_trade_no);
    expect(e).toMatchObject({
      type: 'payment.succeeded',
      mchid: t.merchant.mchid,
      id: expect.stringMatching(/^evt_/),
      data: {
        out_trade_no: order.out_trade_no,
        trade_state: 'SUCCESS',
        amount: { total: 1_000, currency: 'CNY' },
        payer_ref: expect.stringMatching(/^psn_/),
        risk: { suggested_action: 'approve', score: expect.any(Number) },
      },
    });
    expect(JSON.stringify(e)).not.toContain(order.payer.openid);
    expect(n.lastSeq).toBe(e!.seq);
    await n.close();
  });

  it('RSA handshake; frames verified with hmacKey; a wrong hmacKey stops the client', async () => {
    const rsa = {
      scheme: 'rsa',
      serialNo: t.merchant.merchant_serial_no,
      privateKeyPem: t.merchant.merchant_private_key_pem,
      platformCertificatePem: t.merchant.platform_certificate_pem,
    } as const;
    expect(() => client({ auth: rsa })).toThrow(/hmacKey/);
    const good: ZhifuEvent[] = [];
    const ok = client({
      auth: rsa,
      hmacKey: t.merchant.hmac_key,
      afterSeq: 0,
      onEvent: (e) => void good.push(e),
    });
    await ok.connectOnce();
    await until(() => good.length > 0);
    await ok.close();

    const bad = client({ auth: rsa, hmacKey: 'not-the-key', afterSeq: 0, onEvent: () => {} });
    const closed = new Promise<Error | undefined>((r) => bad.once('closed', r));
    await bad.connectOnce();
    expect(await closed).toBeInstanceOf(ZhifuSignatureError);
  });

  it('an afterSeq beyond the last event resumes where the server is, so later events are not dropped', async () => {
    const seen: ZhifuEvent[] = [];
    const errors: string[] = [];
    const resumes: number[] = [];
    const n = client({ afterSeq: 1_000_000, onEvent: (e) => void seen.push(e) });
    n.on('error', (e) => errors.push((e as { code?: string }).code ?? ''));
    n.on('connected', (c) => resumes.push(c.resumeAfterSeq));
    await n.connectOnce();
    expect(resumes[0]).toBeLessThan(1_000_000);
    expect(errors).toContain('resume_clamped');
    const { order } = await pay(700);
    await until(() => ofTrade(seen, order.out_trade_no).length > 0);
    expect(n.stats.duplicatesDropped).toBe(0);
    await n.close();
  });

  it('a wrong key is refused at the handshake: connectOnce rejects with 401', async () => {
    const n = client({ auth: { scheme: 'hmac', hmacKey: 'wrong' }, hmacKey: t.merchant.hmac_key });
    await expect(n.connectOnce()).rejects.toMatchObject({ httpStatus: 401 });
  });

  describe('realtime decisions', () => {
    beforeAll(async () => {
      const settings = await client().updateSettings({ decision_mode: 'realtime' });
      expect(settings.decision_mode).toBe('realtime');
    });
    afterAll(async () => {
      await client().updateSettings({ decision_mode: 'auto' });
    });

    it("onDecision 'approve' → the payer's call returns SUCCESS, decided by the merchant", async () => {
      const asked: DecisionRequiredEvent[] = [];
      const infos: DecisionInfo[] = [];
      const n = client({
        onDecision: (e) => {
          asked.push(e);
          return 'approve';
        },
      });
      n.on('decision', (i) => infos.push(i));
      await n.connectOnce();
      const { order, paid } = await pay(2_000);
      expect(paid).toMatchObject({
        trade_state: 'SUCCESS',
        zhifu_decision: { state: 'approved', decided_by: 'merchant' },
      });
      const e = asked.find((x) => x.data.out_trade_no === order.out_trade_no)!;
      expect(e.data).toMatchObject({
        trade_state: 'USERPAYING',
        decision: { state: 'pending' },
        deadline_at: expect.any(String),
        risk: { score: expect.any(Number), suggested_action: expect.any(String) },
      });
      expect(infos[0]).toMatchObject({ answer: 'approve', source: 'handler', via: 'websocket' });
      await n.close();
    });

    it("a handler that hangs → 'review' is sent at ~400 ms and the payment is in manual review", async () => {
      const infos: DecisionInfo[] = [];
      const n = client({ onDecision: () => new Promise(() => {}) });
      n.on('decision', (i) => infos.push(i));
      await n.connectOnce();
      const started = performance.now();
      const { order, paid } = await pay(3_000);
      const took = performance.now() - started;
      expect(paid).toMatchObject({
        trade_state: 'USERPAYING',
        zhifu_decision: { state: 'manual_review', decided_by: 'merchant' },
      });
      expect(infos[0]).toMatchObject({ answer: 'review', source: 'timeout' });
      expect(infos[0]!.elapsedMs).toBeGreaterThanOrEqual(390);
      expect(infos[0]!.elapsedMs).toBeLessThan(460);
      expect(took).toBeLessThan(2_000);
      const q = await signedRequest(
        t,
        'GET',
        `/v3/pay/transactions/out-trade-no/${order.out_trade_no}?mchid=${t.merchant.mchid}`,
      );
      expect(q.json()).toMatchObject({
        trade_state: 'USERPAYING',
        zhifu_decision: { state: 'manual_review' },
      });
      // The review is then resolved over REST.
      expect(await n.resolveReview(order.out_trade_no, 'approve')).toEqual({ state: 'approved' });
      await n.close();
    });
  });

  it('reconnects after the server drops the connection and resumes without duplicates or gaps', async () => {
    const seqs: number[] = [];
    const disconnects: number[] = [];
    let paidWhileDown: Promise<unknown> | undefined;
    const n = client({ afterSeq: 0, onEvent: (e) => void seqs.push(e.seq) });
    n.on('disconnected', (d) => {
      disconnects.push(d.code);
      // A payment committed while the client is away must arrive after the reconnect.
      paidWhileDown ??= pay(500);
    });
    await n.connectOnce();
    await pay(400);
    const before = (await n.listEvents(0, 500)).data.length;
    await until(() => seqs.length === before);
    t.app.zhifu.hub.stop(); // closes every connection with 1001
    await until(() => disconnects.length === 1 && paidWhileDown !== undefined);
    await paidWhileDown;
    await until(() => n.connected);
    await pay(600);
    const all = (await n.listEvents(0, 500)).data.map((e) => e.seq);
    await until(() => seqs.length === all.length);
    expect(disconnects).toEqual([1001]);
    expect(n.stats.connections).toBe(2);
    expect(seqs).toEqual(all);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    expect(n.lastSeq).toBe(all.at(-1));
    await n.close();
  });
});

/** A real HTTP receiver for APIv3 callbacks: keeps each request's headers and raw body. */
async function receiver() {
  const received: { headers: IncomingMessage['headers']; body: Buffer }[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks) });
      res.statusCode = 204;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/notify`;
  return { url, received, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('verifyCallback with captured callbacks', () => {
  let r: Awaited<ReturnType<typeof receiver>>;
  beforeAll(async () => {
    r = await receiver();
  });
  afterAll(() => r?.close());

  const keys = () => ({
    platformCertificatePem: t.merchant.platform_certificate_pem,
    apiv3Key: t.merchant.apiv3_key,
  });

  async function captured(eventType: string) {
    await until(() => r.received.some((x) => x.body.toString().includes(`"event_type":"${eventType}"`)));
    return r.received.find((x) => x.body.toString().includes(`"event_type":"${eventType}"`))!;
  }

  it('TRANSACTION.SUCCESS verifies and decrypts into the Transaction', async () => {
    const { order } = await pay(1_234, r.url);
    const got = await captured('TRANSACTION.SUCCESS');
    const cb = verifyCallback<Transaction>({ headers: got.headers, body: got.body, ...keys() });
    expect(cb).toMatchObject({
      id: expect.any(String),
      event_type: 'TRANSACTION.SUCCESS',
      resource_type: 'encrypt-resource',
      summary: '支付成功',
      original_type: 'transaction',
      resource: {
        out_trade_no: order.out_trade_no,
        trade_state: 'SUCCESS',
        amount: { total: 1_234 },
        payer: { openid: order.payer.openid },
      },
    });
    // A string body works the same; so does a fetch Headers object.
    const h = new Headers(got.headers as Record<string, string>);
    expect(verifyCallback({ headers: h, body: got.body.toString('utf8'), ...keys() }).id).toBe(cb.id);
  });

  it('fails on a tampered body, a wrong serial, a stale timestamp, a wrong APIv3 key', async () => {
    const got = await captured('TRANSACTION.SUCCESS');
    const body = got.body.toString('utf8');
    const ts = Number(got.headers['wechatpay-timestamp']);
    const attempts: [string, () => unknown][] = [
      [
        'tampered body',
        () => verifyCallback({ headers: got.headers, body: body.replace('支付成功', '支付失败'), ...keys() }),
      ],
      [
        're-serialized body',
        () =>
          verifyCallback({
            headers: got.headers,
            body: JSON.stringify(JSON.parse(body), null, 1),
            ...keys(),
          }),
      ],
      [
        'wrong serial',
        () =>
          verifyCallback({ headers: { ...got.headers, 'wechatpay-serial': '1234ABCD' }, body, ...keys() }),
      ],
      [
        'configured serial differs',
        () =>
          verifyCallback({
            headers: got.headers,
            body,
            ...keys(),
            platformSerialNo: '5157F09EFDC096DE15EBE81A47057A72',
          }),
      ],
      [
        'stale timestamp',
        () => verifyCallback({ headers: got.headers, body, ...keys(), nowSeconds: ts + 301 }),
      ],
      [
        'future timestamp',
        () => verifyCallback({ headers: got.headers, body, ...keys(), nowSeconds: ts - 301 }),
      ],
      [
        'tight window',
        () =>
          verifyCallback({ headers: got.headers, body, ...keys(), nowSeconds: ts + 11, maxSkewSeconds: 10 }),
      ],
      [
        'missing signature',
        () =>
          verifyCallback({ headers: { ...got.headers, 'wechatpay-signature': undefined }, body, ...keys() }),
      ],
      [
        'wrong APIv3 key',
        () => verifyCallback({ headers: got.headers, body, ...keys(), apiv3Key: 'A'.repeat(32) }),
      ],
    ];
    for (const [name, attempt] of attempts) {
      expect(attempt, name).toThrow(ZhifuSignatureError);
    }
    expect(verifyCallback({ headers: got.headers, body, ...keys(), nowSeconds: ts + 300 }).id).toEqual(
      expect.any(String),
    );
    expect(() =>
      verifyCallback({
        headers: got.headers,
        body,
        platformCertificatePem: 'x',
        apiv3Key: t.merchant.apiv3_key,
      }),
    ).toThrow(TypeError);
  });

  it('REFUND.SUCCESS decrypts into the refund resource', async () => {
    const { order } = await pay(800, r.url);
    const refund = await signedRequest(t, 'POST', '/v3/refund/domestic/refunds', {
      out_trade_no: order.out_trade_no,
      out_refund_no: `R${order.out_trade_no}`,
      notify_url: r.url,
      amount: { refund: 300, total: 800, currency: 'CNY' },
    });
    expect(refund.statusCode).toBe(200);
    const got = await captured('REFUND.SUCCESS');
    const cb = verifyCallback<RefundCallbackResource>({ headers: got.headers, body: got.body, ...keys() });
    expect(cb).toMatchObject({
      event_type: 'REFUND.SUCCESS',
      original_type: 'refund',
      resource: {
        out_refund_no: `R${order.out_trade_no}`,
        refund_status: 'SUCCESS',
        amount: { refund: 300, total: 800 },
      },
    });
  });
});
