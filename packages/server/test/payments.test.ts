import { payerProof } from '@zhifu/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dialects, openTestApp, type TestApp } from './harness.ts';
import { createPromotion, jsapiOrder, payAs, rowCount, signedRequest, trustDevice } from './requests.ts';

describe.each(dialects)('payment core over HTTP (%s)', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await openTestApp(dialect);
  });
  afterAll(() => t.close());

  const create = (body: unknown, o = {}) => signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', body, o);
  const query = (no: string) =>
    signedRequest(t, 'GET', `/v3/pay/transactions/out-trade-no/${no}?mchid=${t.merchant.mchid}`);

  describe('authentication', () => {
    it('accepts both schemes and signs every 2xx response with Request-ID', async () => {
      for (const scheme of ['hmac', 'rsa'] as const) {
        const res = await create(jsapiOrder(t), { scheme });
        expect(res.statusCode).toBe(200);
        expect(res.json().prepay_id).toMatch(/^wx[0-9a-f]{34}$/);
        expect(res.headers['wechatpay-signature']).toBeTruthy();
        expect(res.headers['wechatpay-serial']).toBe(
          scheme === 'rsa' ? t.merchant.platform_serial_no : 'ZHIFU-HMAC',
        );
        expect(res.headers['request-id']).toMatch(/^[0-9A-F]{40}-0$/);
      }
    });

    it('rejects a missing or malformed Authorization header with SIGN_ERROR 401', async () => {
      const missing = await t.app.inject({ method: 'GET', url: `/v3/certificates` });
      expect(missing.statusCode).toBe(401);
      expect(missing.json().code).toBe('SIGN_ERROR');
      expect(missing.headers['wechatpay-signature']).toBeUndefined();
      const garbled = await t.app.inject({
        method: 'GET',
        url: '/v3/certificates',
        headers: { authorization: 'nonsense' },
      });
      expect(garbled.statusCode).toBe(401);
      const scheme = await t.app.inject({
        method: 'GET',
        url: '/v3/certificates',
        headers: { authorization: 'BASIC mchid="1",nonce_str="x",timestamp="1",signature="x"' },
      });
      expect(scheme.json().message).toMatch(/Unknown Authorization scheme/);
    });

    it('rejects timestamps more than 5 minutes away, before checking the signature', async () => {
      const now = Math.floor(t.ctx.clock.now() / 1000);
      for (const timestamp of [now - 301, now + 301]) {
        const res = await signedRequest(t, 'GET', '/v3/certificates', undefined, { timestamp });
        expect(res.statusCode).toBe(401);
        expect(res.json().message).toMatch(/5 minutes/);
      }
      expect(
        (await signedRequest(t, 'GET', '/v3/certificates', undefined, { timestamp: now - 299 })).statusCode,
      ).toBe(200);
    });

    it('rejects a nonce reused within the window', async () => {
      const first = await signedRequest(t, 'GET', '/v3/certificates', undefined, {
        nonce: 'REPLAYED-NONCE-1',
      });
      expect(first.statusCode).toBe(200);
      const again = await signedRequest(t, 'GET', '/v3/certificates', undefined, {
        nonce: 'REPLAYED-NONCE-1',
      });
      expect(again.statusCode).toBe(401);
      expect(again.json().message).toMatch(/nonce_str was already used/);
    });

    it('counts the 5 minutes in whole seconds, and keeps a nonce until its timestamp leaves the window', async () => {
      const saved = t.clock.now();
      const s = Math.floor(saved / 1000) + 10;
      const at = (ms: number, o: { timestamp: number; nonce?: string }) => {
        t.clock.set(ms);
        return signedRequest(t, 'GET', '/v3/certificates', undefined, o);
      };
      try {
        // A clock at s.9 s: exactly 300 s either way is fresh, 301 s is not.
        expect((await at(s * 1000 + 900, { timestamp: s - 300 })).statusCode).toBe(200);
        expect((await at(s * 1000 + 900, { timestamp: s + 300 })).statusCode).toBe(200);
        expect((await at(s * 1000 + 900, { timestamp: s - 301 })).statusCode).toBe(401);
        // Signed 300 s ahead, the request stays fresh until s + 600.999 s: so does its nonce.
        const nonce = `EDGE-${s}`;
        expect((await at(s * 1000, { timestamp: s + 300, nonce })).statusCode).toBe(200);
        const replay = await at(s * 1000 + 600_999, { timestamp: s + 300, nonce });
        expect([replay.statusCode, replay.json().message]).toEqual([401, expect.stringMatching(/nonce_str/)]);
        expect((await at(s * 1000 + 601_000, { timestamp: s + 300, nonce })).json().message).toMatch(
          /5 minutes/,
        );
      } finally {
        t.clock.set(saved);
      }
    });

    it('rejects a signature over different bytes and a wrong serial', async () => {
      const body = jsapiOrder(t);
      const text = JSON.stringify(body);
      const authorization = (await import('@zhifu/sdk')).hmacAuthorization({
        mchid: t.merchant.mchid,
        hmacKey: t.merchant.hmac_key,
        method: 'POST',
        url: '/v3/pay/transactions/jsapi',
        body: text,
        timestamp: Math.floor(t.ctx.clock.now() / 1000),
      });
      const before = await rowCount(t, 'orders');
      const tampered = await t.app.inject({
        method: 'POST',
        url: '/v3/pay/transactions/jsapi',
        headers: { authorization, 'content-type': 'application/json' },
        payload: text.replace('"total":100', '"total":1'),
      });
      expect(tampered.statusCode).toBe(401);
      expect(tampered.json().code).toBe('SIGN_ERROR');
      const { rsaAuthorization } = await import('@zhifu/sdk');
      const withSerial = (serialNo: string) =>
        t.app.inject({
          method: 'GET',
          url: '/v3/certificates',
          headers: {
            authorization: rsaAuthorization({
              mchid: t.merchant.mchid,
              serialNo,
              privateKey: t.merchant.merchant_private_key_pem,
              method: 'GET',
              url: '/v3/certificates',
              timestamp: Math.floor(t.ctx.clock.now() / 1000),
            }),
          },
        });
      const wrong = await withSerial('ABCDEF0123');
      expect([wrong.statusCode, wrong.json().message]).toEqual([401, expect.stringMatching(/serial_no/)]);
      // Serials compare ignoring case and leading zeros (Go keeps a leading 0 nibble, Java drops it).
      expect((await withSerial(`00${t.merchant.merchant_serial_no.toLowerCase()}`)).statusCode).toBe(200);
      expect(await rowCount(t, 'orders')).toBe(before);
    });

    it('verifies over the raw bytes: a body with a trailing newline (wechatpay-go) is accepted', async () => {
      const body = jsapiOrder(t);
      const res = await create(body, { rawBody: `${JSON.stringify(body)}\n`, scheme: 'rsa' });
      expect(res.statusCode).toBe(200);
    });

    it('rejects an unknown mchid with MCH_NOT_EXISTS (404 on refund paths)', async () => {
      const other = { ...t, merchant: { ...t.merchant, mchid: '1999999999' } };
      const order = await signedRequest(other, 'GET', '/v3/certificates');
      expect(order.statusCode).toBe(400);
      expect(order.json().code).toBe('MCH_NOT_EXISTS');
      const refund = await signedRequest(other, 'GET', '/v3/refund/domestic/refunds/R1');
      expect(refund.statusCode).toBe(404);
      expect(refund.json().code).toBe('MCH_NOT_EXISTS');
    });

    it('signs 204 responses and chooses public-key mode by Wechatpay-Serial', async () => {
      const order = jsapiOrder(t);
      await create(order);
      const closed = await signedRequest(
        t,
        'POST',
        `/v3/pay/transactions/out-trade-no/${order.out_trade_no}/close`,
        { mchid: t.merchant.mchid },
        {
          scheme: 'rsa',
          headers: { 'wechatpay-serial': t.merchant.platform_public_key_id },
        },
      );
      expect(closed.statusCode).toBe(204);
      expect(closed.body).toBe('');
      expect(closed.headers['wechatpay-serial']).toBe(t.merchant.platform_public_key_id);
      const { createVerify } = await import('node:crypto');
      const message = `${closed.headers['wechatpay-timestamp']}\n${closed.headers['wechatpay-nonce']}\n\n`;
      const ok = createVerify('RSA-SHA256')
        .update(message)
        .verify(t.merchant.platform_public_key_pem, String(closed.headers['wechatpay-signature']), 'base64');
      expect(ok).toBe(true);
    });
  });

  describe('bad input gets a documented error and writes nothing', () => {
    const cases: [string, (o: ReturnType<typeof jsapiOrder>) => unknown, number, string, RegExp?][] = [
      ['missing amount', ({ amount: _a, ...o }) => o, 400, 'PARAM_ERROR', /amount/],
      ['zero amount', (o) => ({ ...o, amount: { total: 0 } }), 400, 'PARAM_ERROR', /total/],
      ['negative amount', (o) => ({ ...o, amount: { total: -5 } }), 400, 'PARAM_ERROR', /total/],
      ['fractional amount', (o) => ({ ...o, amount: { total: 1.5 } }), 400, 'PARAM_ERROR', /integer/],
      ['overflowing amount', (o) => ({ ...o, amount: { total: 2 ** 31 } }), 400, 'PARAM_ERROR', /total/],
      ['amount as a string', (o) => ({ ...o, amount: { total: '100' } }), 400, 'PARAM_ERROR', /integer/],
      [
        'unknown currency',
        (o) => ({ ...o, amount: { total: 1, currency: 'USD' } }),
        400,
        'PARAM_ERROR',
        /currency/,
      ],
      ['extra field', (o) => ({ ...o, surprise: 1 }), 400, 'PARAM_ERROR', /surprise/],
      ['extra nested field', (o) => ({ ...o, amount: { total: 1, tip: 2 } }), 400, 'PARAM_ERROR', /tip/],
      [
        'over-long description',
        (o) => ({ ...o, description: 'x'.repeat(128) }),
        400,
        'PARAM_ERROR',
        /description/,
      ],
      [
        'payer_client_ip not an IP address',
        (o) => ({ ...o, scene_info: { payer_client_ip: '999.1.1.1' } }),
        400,
        'PARAM_ERROR',
        /payer_client_ip/,
      ],
      ['bad out_trade_no', (o) => ({ ...o, out_trade_no: 'has space' }), 400, 'PARAM_ERROR', /out_trade_no/],
      ['missing payer', ({ payer: _p, ...o }) => o, 400, 'PARAM_ERROR', /payer/],
      ['appid not bound', (o) => ({ ...o, appid: 'wx0000000000000000' }), 400, 'APPID_MCHID_NOT_MATCH'],
      ['mchid differs from header', (o) => ({ ...o, mchid: '1234567890' }), 400, 'PARAM_ERROR', /mchid/],
      ['openid of no payer', (o) => ({ ...o, payer: { openid: 'oNOBODY' } }), 400, 'OPENID_MISMATCH'],
      [
        'time_expire not RFC 3339',
        (o) => ({ ...o, time_expire: '2026-01-01 10:00' }),
        400,
        'PARAM_ERROR',
        /time_expire/,
      ],
      [
        'time_expire on a day that does not exist',
        (o) => ({ ...o, time_expire: '2026-02-30T10:00:00+08:00' }),
        400,
        'PARAM_ERROR',
        /time_expire/,
      ],
      [
        'a 4-byte character (emoji)',
        (o) => ({ ...o, description: 'QQ公仔😀' }),
        400,
        'PARAM_ERROR',
        /4-byte/,
      ],
      [
        'time_expire too far',
        (o) => ({ ...o, time_expire: '2099-01-01T10:00:00+08:00' }),
        400,
        'PARAM_ERROR',
        /15 days/,
      ],
    ];
    it.each(cases)('%s', async (_name, mutate, status, code, message) => {
      const before = await rowCount(t, 'orders');
      const res = await create(mutate(jsapiOrder(t)));
      expect(res.statusCode).toBe(status);
      expect(res.json().code).toBe(code);
      if (message) expect(res.json().message).toMatch(message);
      expect(await rowCount(t, 'orders')).toBe(before);
    });

    it('malformed JSON', async () => {
      const before = await rowCount(t, 'orders');
      const res = await create(undefined, { rawBody: '{"appid": ' });
      expect(res.statusCode).toBe(400);
      expect(res.json()).toMatchObject({
        code: 'PARAM_ERROR',
        message: expect.stringMatching(/not valid JSON/),
      });
      expect(await rowCount(t, 'orders')).toBe(before);
    });

    it('a U+0000 in a body string or in a path is PARAM_ERROR on every route, never 500 or stored', async () => {
      const before = await rowCount(t, 'orders');
      const created = await create(jsapiOrder(t, { description: 'a\u0000b' }));
      expect([created.statusCode, created.json().code, created.json().message]).toEqual([
        400,
        'PARAM_ERROR',
        expect.stringMatching(/U\+0000/),
      ]);
      const query = await signedRequest(
        t,
        'GET',
        `/v3/pay/transactions/out-trade-no/abc%00def?mchid=${t.merchant.mchid}`,
      );
      expect([query.statusCode, query.json().code, query.json().detail.location]).toEqual([
        400,
        'PARAM_ERROR',
        'path',
      ]);
      const login = await t.app.inject({
        method: 'POST',
        url: '/sandbox/v1/login',
        payload: { appid: t.merchant.appid, openid: 'o\u0000', device_fingerprint: 'd' },
      });
      expect([login.statusCode, login.json().code]).toEqual([400, 'PARAM_ERROR']);
      expect(await rowCount(t, 'orders')).toBe(before);
    });

    it('a body nested 30,000 levels deep with a \\uD83D escape is PARAM_ERROR, not 500', async () => {
      const depth = 30_000;
      const rawBody = `{"description":${'['.repeat(depth)}"\\ud83d"${']'.repeat(depth)}}`;
      const res = await create(undefined, { rawBody });
      expect([res.statusCode, res.json().code]).toEqual([400, 'PARAM_ERROR']);
    });

    it('an array of 300,000 elements (a 4 MB route) is a schema error, not 500', async () => {
      for (const element of ['0', '{}', '"\\u0000"']) {
        const rawBody = `{"items":[${new Array(300_000).fill(element).join(',')}]}`;
        const res = await signedRequest(t, 'POST', '/v1/risk/assessments/batch', undefined, { rawBody });
        expect([res.statusCode, res.json().code], element).toEqual([400, 'PARAM_ERROR']);
      }
    });

    it('a missing field is named as missing', async () => {
      const { amount: _a, ...body } = jsapiOrder(t);
      const res = await create(body);
      expect(res.json()).toMatchObject({
        code: 'PARAM_ERROR',
        message: expect.stringMatching(/ \/amount is required\.$/),
      });
    });

    it('a correctly signed body that is not valid UTF-8', async () => {
      const { createHmac } = await import('node:crypto');
      const text = JSON.stringify(jsapiOrder(t, { description: 'ABC' }));
      const i = text.indexOf('ABC');
      const body = Buffer.concat([
        Buffer.from(text.slice(0, i)),
        Buffer.from([0xff, 0xfe]),
        Buffer.from(text.slice(i)),
      ]);
      const timestamp = Math.floor(t.ctx.clock.now() / 1000);
      const nonce = `UTF8-${timestamp}`;
      const message = Buffer.concat([
        Buffer.from(`POST\n/v3/pay/transactions/jsapi\n${timestamp}\n${nonce}\n`),
        body,
        Buffer.from('\n'),
      ]);
      const signature = createHmac('sha256', t.merchant.hmac_key).update(message).digest('base64');
      const before = await rowCount(t, 'orders');
      const res = await t.app.inject({
        method: 'POST',
        url: '/v3/pay/transactions/jsapi',
        headers: {
          authorization: `ZHIFU-HMAC-SHA256 mchid="${t.merchant.mchid}",nonce_str="${nonce}",timestamp="${timestamp}",signature="${signature}"`,
          'content-type': 'application/json',
        },
        payload: body,
      });
      expect([res.statusCode, res.json().code, res.json().message]).toEqual([
        400,
        'PARAM_ERROR',
        expect.stringMatching(/UTF-8/),
      ]);
      expect(await rowCount(t, 'orders')).toBe(before);
    });

    it('a 4-byte character written as a JSON escape; a backslash followed by "ud83d" is fine', async () => {
      const before = await rowCount(t, 'orders');
      const escaped = JSON.stringify(jsapiOrder(t)).replace('QQ公仔', String.raw`QQ\ud83d\ude00`);
      const res = await create(undefined, { rawBody: escaped });
      expect([res.statusCode, res.json().code]).toEqual([400, 'PARAM_ERROR']);
      expect(await rowCount(t, 'orders')).toBe(before);
      const literal = await create(jsapiOrder(t, { description: String.raw`C:\ud83d` }));
      expect(literal.statusCode).toBe(200);
    });

    it('a member named twice, or a number written 100.0 or 1e2: PARAM_ERROR, nothing written', async () => {
      const before = await rowCount(t, 'orders');
      const body = JSON.stringify(jsapiOrder(t));
      const twice = body.replace('"amount":{', '"amount":{"total":1,');
      const cases: [string, RegExp][] = [
        [twice, /member twice/],
        [body.replace('{"appid"', '{"description":"other","appid"'), /member twice/],
        [body.replace(/"total":\d+/, '"total":100.0'), /integers/],
        [body.replace(/"total":\d+/, '"total":1e2'), /integers/],
        [body.replace(/"total":\d+/, '"total":1E+2'), /integers/],
      ];
      for (const [rawBody, message] of cases) {
        const res = await create(undefined, { rawBody });
        expect([res.statusCode, res.json().code, res.json().message], rawBody).toEqual([
          400,
          'PARAM_ERROR',
          expect.stringMatching(message),
        ]);
      }
      expect(await rowCount(t, 'orders')).toBe(before);
      // Dots, colons, e's and escaped quotes inside strings are text, not JSON syntax.
      const texty = await create(jsapiOrder(t, { description: String.raw`1.5e3 "a":b \" 2e1` }));
      expect(texty.statusCode).toBe(200);
    });

    it('a URL that is not valid percent-encoding: PARAM_ERROR with Request-ID', async () => {
      const res = await t.app.inject({
        method: 'GET',
        url: `/v3/pay/transactions/out-trade-no/%zz?mchid=${t.merchant.mchid}`,
      });
      expect(res.statusCode).toBe(400);
      expect(res.headers['request-id']).toMatch(/^[0-9A-F]{40}-0$/);
      expect(res.json()).toEqual({
        code: 'PARAM_ERROR',
        message: expect.any(String),
        detail: expect.any(Object),
      });
    });

    it('oversize body', async () => {
      const res = await create(undefined, { rawBody: JSON.stringify({ description: 'x'.repeat(70_000) }) });
      expect(res.statusCode).toBe(413);
      expect(res.json().code).toBe('INVALID_REQUEST');
    });

    it('names the bad field as a JSON pointer', async () => {
      const res = await create({ ...jsapiOrder(t), amount: { total: 0 } });
      expect(res.json().detail).toMatchObject({ field: '/amount/total', location: 'body', value: 0 });
    });

    it('unknown route is an empty 404, wrong method an empty 405', async () => {
      const unknown = await t.app.inject({ method: 'GET', url: '/v3/nope' });
      expect([unknown.statusCode, unknown.body]).toEqual([404, '']);
      expect(unknown.headers['request-id']).toBeTruthy();
      const wrong = await t.app.inject({ method: 'GET', url: '/v3/pay/transactions/jsapi' });
      expect([wrong.statusCode, wrong.body]).toEqual([405, '']);
      const wrongParam = await t.app.inject({
        method: 'DELETE',
        url: '/v3/pay/transactions/out-trade-no/abc123',
      });
      expect(wrongParam.statusCode).toBe(405);
    });
  });

  describe('orders', () => {
    it('returns the same prepay_id for a repeated identical request and refuses changed parameters', async () => {
      const order = jsapiOrder(t);
      const before = await rowCount(t, 'orders');
      const a = await create(order);
      const b = await create({ ...order, amount: { currency: 'CNY', total: 100 } });
      expect(b.json().prepay_id).toBe(a.json().prepay_id);
      expect(await rowCount(t, 'orders')).toBe(before + 1);
      const changed = await create({ ...order, amount: { total: 101, currency: 'CNY' } });
      expect(changed.statusCode).toBe(403);
      expect(changed.json().code).toBe('OUT_TRADE_NO_USED');
      const otherType = await signedRequest(
        t,
        'POST',
        '/v3/pay/transactions/native',
        (({ payer: _p, ...o }) => o)(order),
      );
      expect(otherType.json().code).toBe('OUT_TRADE_NO_USED');
    });

    it('issues a new prepay_id after 2 hours for an identical unpaid order', async () => {
      const order = jsapiOrder(t);
      const a = await create(order);
      const lookup = async (prepayId: string) =>
        (
          await t.app.inject({ method: 'GET', url: `/sandbox/v1/orders/lookup?prepay_id=${prepayId}` })
        ).json();
      expect(await lookup(a.json().prepay_id)).toMatchObject({ trade_state: 'NOTPAY', payable: true });
      t.clock.advance(2 * 3600 * 1000 + 1);
      // The order stays NOTPAY, but its expired prepay_id cannot be paid: the cashier says so.
      expect(await lookup(a.json().prepay_id)).toMatchObject({ trade_state: 'NOTPAY', payable: false });
      const b = await create(order);
      expect(b.statusCode).toBe(200);
      expect(b.json().prepay_id).not.toBe(a.json().prepay_id);
      expect(await lookup(b.json().prepay_id)).toMatchObject({ payable: true });
    });

    it('creates Native, H5 and App orders', async () => {
      const { payer: _p, ...base } = jsapiOrder(t);
      const native = await signedRequest(t, 'POST', '/v3/pay/transactions/native', base);
      expect(native.json().code_url).toMatch(/^weixin:\/\/wxpay\/bizpayurl\/up\?pr=[A-Za-z0-9]+&groupid=00$/);
      const h5 = await signedRequest(t, 'POST', '/v3/pay/transactions/h5', {
        ...base,
        out_trade_no: `${base.out_trade_no}h`,
        scene_info: { payer_client_ip: '14.23.150.211', h5_info: { type: 'Wap' } },
      });
      expect(h5.json().h5_url).toMatch(/\/cashier\?prepay_id=wx/);
      const noScene = await signedRequest(t, 'POST', '/v3/pay/transactions/h5', {
        ...base,
        out_trade_no: `${base.out_trade_no}x`,
      });
      expect(noScene.json().code).toBe('PARAM_ERROR');
      const app = await signedRequest(t, 'POST', '/v3/pay/transactions/app', {
        ...base,
        out_trade_no: `${base.out_trade_no}a`,
      });
      expect(app.json().prepay_id).toMatch(/^wx/);
    });

    it('queries NOTPAY without transaction fields, closes (re-entrant), and refuses to pay a closed order', async () => {
      const order = jsapiOrder(t, { attach: '自定义数据' });
      const { prepay_id } = (await create(order)).json();
      const q = (await query(order.out_trade_no)).json();
      expect(q).toMatchObject({
        trade_state: 'NOTPAY',
        trade_state_desc: '订单未支付',
        attach: '自定义数据',
        amount: { total: 100, currency: 'CNY' },
      });
      expect(q.transaction_id).toBeUndefined();
      expect(q.success_time).toBeUndefined();
      const close = () =>
        signedRequest(t, 'POST', `/v3/pay/transactions/out-trade-no/${order.out_trade_no}/close`, {
          mchid: t.merchant.mchid,
        });
      expect((await close()).statusCode).toBe(204);
      expect((await close()).statusCode).toBe(204);
      expect((await query(order.out_trade_no)).json().trade_state).toBe('CLOSED');
      const paid = await payAs(t, prepay_id, order.payer.openid);
      expect(paid.statusCode).toBe(400);
      expect(paid.json().code).toBe('ORDER_CLOSED');
    });

    it('query with a different mchid in the query string is refused; unknown order is ORDER_NOT_EXIST', async () => {
      const res = await signedRequest(
        t,
        'GET',
        `/v3/pay/transactions/out-trade-no/nothing123?mchid=1999999999`,
      );
      expect(res.json().code).toBe('PARAM_ERROR');
      const none = await query('nothing123');
      expect(none.statusCode).toBe(404);
      expect(none.json().code).toBe('ORDER_NOT_EXIST');
      const noMchid = await signedRequest(t, 'GET', `/v3/pay/transactions/out-trade-no/nothing123`);
      expect(noMchid.json()).toMatchObject({ code: 'PARAM_ERROR', detail: { location: 'query' } });
    });
  });

  describe('paying and refunding', () => {
    it("naming an instrument that is not the payer's writes nothing, not even risk history", async () => {
      const { prepay_id } = (await create(jsapiOrder(t))).json();
      const counts = async () => ({
        events: await rowCount(t, 'risk_events'),
        profiles: await rowCount(t, 'risk_profiles'),
        orders: await rowCount(t, 'orders'),
      });
      await payAs(t, 'wx-warm-up', t.merchant.payers[0]!.openid); // its login rows are by design
      const before = await counts();
      const res = await payAs(t, prepay_id, t.merchant.payers[0]!.openid, { instrumentId: 'ins_nope' });
      expect([res.statusCode, res.json().code]).toEqual([400, 'INVALID_REQUEST']);
      expect(await counts()).toEqual(before);
    });

    it('a promotion counts in the funds check: a payer who can afford the discounted price pays', async () => {
      await createPromotion(t, {
        name: '零钱立减 0.50',
        eligibility: { instrument_kind: 'balance', min_amount_fen: 100 },
        discount_fen: 50,
        budget_fen: 50, // spent by this payment: no other test of the suite gets the discount
        funded_by: 'merchant',
      });
      const payer = (
        await t.app.inject({
          method: 'POST',
          url: '/sandbox/v1/payers',
          payload: { appid: t.merchant.appid, name: 'Short', balance_fen: 100 },
        })
      ).json() as { openid: string };
      const order = jsapiOrder(t, {
        amount: { total: 150, currency: 'CNY' },
        payer: { openid: payer.openid },
      });
      const { prepay_id } = (await create(order)).json();
      const device = 'dev-promotion-funds';
      await trustDevice(t, device);
      const paid = await payAs(t, prepay_id, payer.openid, { device });
      expect([paid.statusCode, paid.json().amount?.payer_total], paid.body).toEqual([200, 100]);
    });

    it('a refund goods_detail line is checked field by field (reference §3.4)', async () => {
      const order = jsapiOrder(t);
      const { prepay_id } = (await create(order)).json();
      expect((await payAs(t, prepay_id, order.payer.openid)).statusCode).toBe(200);
      const refund = (no: string, goods_detail: unknown[]) =>
        signedRequest(t, 'POST', '/v3/refund/domestic/refunds', {
          out_trade_no: order.out_trade_no,
          out_refund_no: `${order.out_trade_no}${no}`,
          amount: { refund: 10, total: 100, currency: 'CNY' },
          goods_detail,
        });
      const before = await rowCount(t, 'refunds');
      for (const line of [
        { surprise: true, merchant_goods_id: 'G1', unit_price: 100, refund_amount: 10, refund_quantity: 1 },
        { merchant_goods_id: 'G1', unit_price: 100, refund_amount: 'ten', refund_quantity: 1 },
        { merchant_goods_id: 'G1', unit_price: 100, refund_amount: 10 },
      ]) {
        const res = await refund('B', [line]);
        expect([res.statusCode, res.json().code], JSON.stringify(line)).toEqual([400, 'PARAM_ERROR']);
      }
      expect(await rowCount(t, 'refunds')).toBe(before);
      const good = {
        merchant_goods_id: 'G1',
        goods_name: '公仔',
        unit_price: 100,
        refund_amount: 10,
        refund_quantity: 1,
      };
      expect((await refund('G', [good])).statusCode).toBe(200);
    });

    it('pays a JSAPI order, then refunds twice partially and refuses an over-refund', async () => {
      const order = jsapiOrder(t, { amount: { total: 1000, currency: 'CNY' } });
      const { prepay_id } = (await create(order)).json();
      const paid = await payAs(t, prepay_id, order.payer.openid);
      expect(paid.statusCode).toBe(200);
      const tx = (await query(order.out_trade_no)).json();
      expect(tx).toMatchObject({
        trade_state: 'SUCCESS',
        trade_state_desc: '支付成功',
        payer: { openid: order.payer.openid },
        amount: { total: 1000, payer_total: 1000, currency: 'CNY', payer_currency: 'CNY' },
        bank_type: 'OTHERS',
      });
      expect(tx.transaction_id).toMatch(/^4200\d{24}$/);
      expect(tx.success_time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$/);
      const byId = await signedRequest(
        t,
        'GET',
        `/v3/pay/transactions/id/${tx.transaction_id}?mchid=${t.merchant.mchid}`,
      );
      expect(byId.json().out_trade_no).toBe(order.out_trade_no);

      const refund = (no: string, amount: number, extra = {}) =>
        signedRequest(t, 'POST', '/v3/refund/domestic/refunds', {
          transaction_id: tx.transaction_id,
          out_refund_no: no,
          amount: { refund: amount, total: 1000, currency: 'CNY' },
          ...extra,
        });
      const r1 = await refund(`${order.out_trade_no}R1`, 300, { reason: '缺货' });
      expect(r1.statusCode).toBe(200);
      expect(r1.json()).toMatchObject({
        status: 'SUCCESS',
        channel: 'ORIGINAL',
        user_received_account: '支付用户零钱',
        amount: { refund: 300, total: 1000 },
      });
      expect(r1.json().refund_id).toMatch(/^\d{29}$/);
      expect((await query(order.out_trade_no)).json().trade_state).toBe('REFUND');
      const replay = await refund(`${order.out_trade_no}R1`, 300, { reason: '缺货' });
      expect(replay.json().refund_id).toBe(r1.json().refund_id);
      const mismatch = await refund(`${order.out_trade_no}R1`, 301, { reason: '缺货' });
      expect([mismatch.statusCode, mismatch.json().code]).toEqual([403, 'REFUND_FEE_MISMATCH']);
      const r2 = await refund(`${order.out_trade_no}R2`, 700);
      expect(r2.statusCode).toBe(200);
      const before = await rowCount(t, 'refunds');
      const over = await refund(`${order.out_trade_no}R3`, 1);
      expect([over.statusCode, over.json().code]).toEqual([400, 'INVALID_REQUEST']);
      expect(over.json().detail.issue).toMatch(/refundable: 0 fen/);
      expect(await rowCount(t, 'refunds')).toBe(before);
      const q1 = await signedRequest(t, 'GET', `/v3/refund/domestic/refunds/${order.out_trade_no}R1`);
      expect(q1.json()).toMatchObject({ out_refund_no: `${order.out_trade_no}R1`, status: 'SUCCESS' });
      const q3 = await signedRequest(t, 'GET', `/v3/refund/domestic/refunds/${order.out_trade_no}R3`);
      expect([q3.statusCode, q3.json().code]).toEqual([404, 'RESOURCE_NOT_EXISTS']);
    });

    it('judges a refund in the context of its payment: the device and address it was paid from', async () => {
      const order = jsapiOrder(t, { amount: { total: 500, currency: 'CNY' } });
      const { prepay_id } = (await create(order)).json();
      const device = `dev-context-${order.out_trade_no}`;
      expect((await payAs(t, prepay_id, order.payer.openid, { device })).statusCode).toBe(200);
      const refundEvents = () =>
        t.ctx.db
          .selectFrom('risk_events')
          .select(['id', 'device_id', 'ip'])
          .where('refund', '=', 1)
          .execute();
      const before = new Set((await refundEvents()).map((e) => e.id));
      const refunded = await signedRequest(t, 'POST', '/v3/refund/domestic/refunds', {
        out_trade_no: order.out_trade_no,
        out_refund_no: `${order.out_trade_no}R1`,
        amount: { refund: 200, total: 500, currency: 'CNY' },
      });
      expect(refunded.statusCode).toBe(200);
      const added = (await refundEvents()).filter((e) => !before.has(e.id));
      // Without the payment's context the refund would come from `merchant:<mchid>`.
      expect(added.map((e) => [e.device_id, e.ip])).toEqual([[device, '127.0.0.1']]);
    });

    it('refuses refunds of unpaid orders and with the wrong order total', async () => {
      const order = jsapiOrder(t);
      await create(order);
      const refund = await signedRequest(t, 'POST', '/v3/refund/domestic/refunds', {
        out_trade_no: order.out_trade_no,
        out_refund_no: `${order.out_trade_no}R`,
        amount: { refund: 1, total: 100, currency: 'CNY' },
      });
      expect([refund.statusCode, refund.json().code]).toEqual([404, 'RESOURCE_NOT_EXISTS']);
    });

    it('pays a Native code_url, paying twice is refused and moves no money', async () => {
      const { payer: _p, ...order } = jsapiOrder(t);
      const { code_url } = (await signedRequest(t, 'POST', '/v3/pay/transactions/native', order)).json();
      const openid = t.merchant.payers[1]!.openid;
      const first = await payAs(t, code_url, openid);
      expect(first.statusCode).toBe(200);
      const journals = await rowCount(t, 'journals');
      const second = await payAs(t, code_url, openid);
      expect([second.statusCode, second.json().code]).toEqual([403, 'ORDER_PAID']);
      expect(await rowCount(t, 'journals')).toBe(journals);
    });

    it('deterministic fixtures: always-declined cards and too little balance leave the order NOTPAY', async () => {
      const declined = jsapiOrder(t, {}, 2);
      const { prepay_id } = (await create(declined)).json();
      const res = await payAs(t, prepay_id, declined.payer.openid);
      expect([res.statusCode, res.json().code]).toEqual([403, 'CARD_DECLINED']);
      expect((await query(declined.out_trade_no)).json().trade_state).toBe('NOTPAY');
      const poor = jsapiOrder(t, { amount: { total: 101, currency: 'CNY' } }, 3);
      const poorRes = await payAs(t, (await create(poor)).json().prepay_id, poor.payer.openid);
      expect([poorRes.statusCode, poorRes.json().code]).toEqual([403, 'INSUFFICIENT_FUNDS']);
      expect((await query(poor.out_trade_no)).json().trade_state).toBe('NOTPAY');
    });

    it('enforces per-card limits and pays with the chosen card', async () => {
      const order = jsapiOrder(t, { amount: { total: 600_000, currency: 'CNY' } });
      const { prepay_id } = (await create(order)).json();
      const device = 'dev-card-limits';
      await trustDevice(t, device);
      const over = await payAs(t, prepay_id, order.payer.openid, {
        instrumentId: 'ins_zhangwei_icbc_debit',
        device,
      });
      expect(over.json().code).toBe('OVER_CARD_LIMIT');
      const ok = await payAs(t, prepay_id, order.payer.openid, {
        instrumentId: 'ins_zhangwei_cmb_credit',
        device,
      });
      expect(ok.json()).toMatchObject({ trade_state: 'SUCCESS', bank_type: 'CMB_CREDIT' });
    });

    it('the payer proof is required: a wrong device, a stale timestamp or a forged signature are refused', async () => {
      const order = jsapiOrder(t);
      const { prepay_id } = (await create(order)).json();
      const openid = order.payer.openid;
      await t.app.inject({
        method: 'POST',
        url: '/sandbox/v1/login',
        payload: { appid: t.merchant.appid, openid, device_fingerprint: 'phone-A' },
      });
      const forged = await t.app.inject({
        method: 'POST',
        url: '/sandbox/v1/pay',
        payload: {
          prepay_id,
          openid,
          device_fingerprint: 'phone-A',
          timestamp: String(Math.floor(t.ctx.clock.now() / 1000)),
          nonce: 'n1',
          signature: Buffer.alloc(32).toString('base64'),
        },
      });
      expect([forged.statusCode, forged.json().code]).toEqual([401, 'PAYER_AUTH_ERROR']);
      const other = await payAs(t, prepay_id, t.merchant.payers[1]!.openid);
      expect([other.statusCode, other.json().code]).toEqual([403, 'OPENID_MISMATCH']);
      expect((await query(order.out_trade_no)).json().trade_state).toBe('NOTPAY');
    });
  });

  describe('code2session and certificates', () => {
    it('a malformed code2session query is answered the WeChat way (HTTP 200, errcode)', async () => {
      const long = await t.app.inject({
        method: 'GET',
        url: `/sns/jscode2session?appid=${t.merchant.appid}&secret=x&js_code=${'c'.repeat(65)}`,
      });
      expect([long.statusCode, long.json()]).toEqual([200, { errcode: 40029, errmsg: 'invalid code' }]);
      const twice = await t.app.inject({
        method: 'GET',
        url: '/sns/jscode2session?appid=a&appid=b&secret=x&js_code=c',
      });
      expect([twice.statusCode, twice.json().errcode]).toEqual([200, 40013]);
    });

    it('the cashier lookup names a query parameter as such', async () => {
      const res = await t.app.inject({ method: 'GET', url: '/sandbox/v1/orders/lookup?prepay_id=wxnope' });
      expect([res.statusCode, res.json().detail.location]).toEqual([404, 'query']);
    });

    it('exchanges a single-use login code for the openid and session_key', async () => {
      const openid = t.merchant.payers[0]!.openid;
      const login = (
        await t.app.inject({
          method: 'POST',
          url: '/sandbox/v1/login',
          payload: { appid: t.merchant.appid, openid, device_fingerprint: 'd1' },
        })
      ).json();
      const secret = (
        await t.ctx.db
          .selectFrom('merchant_apps')
          .select('app_secret')
          .where('appid', '=', t.merchant.appid)
          .executeTakeFirstOrThrow()
      ).app_secret;
      const exchange = (code: string) =>
        t.app.inject({
          method: 'GET',
          url: `/sns/jscode2session?appid=${t.merchant.appid}&secret=${secret}&js_code=${code}&grant_type=authorization_code`,
        });
      const answer = (await exchange(login.code)).json();
      expect(answer).toEqual({ openid, session_key: expect.any(String) });
      expect(Buffer.from(answer.session_key, 'base64')).toHaveLength(16);
      expect((await exchange(login.code)).json()).toMatchObject({ errcode: 40163 });
      const bad = await t.app.inject({
        method: 'GET',
        url: `/sns/jscode2session?appid=${t.merchant.appid}&secret=wrong&js_code=x`,
      });
      expect(bad.json()).toMatchObject({ errcode: 40125 });

      // The merchant's session_key is not the client's: with it alone, a merchant cannot confirm a
      // payment for the payer (DESIGN.md "Sandbox wallet").
      expect(answer.session_key).not.toBe(login.session_key);
      const { prepay_id } = (
        await signedRequest(
          t,
          'POST',
          '/v3/pay/transactions/jsapi',
          jsapiOrder(t, { amount: { total: 499_900 } }),
        )
      ).json();
      const timestamp = String(Math.floor(t.ctx.clock.now() / 1000));
      const forged = (sessionKey: string, nonce: string) => ({
        prepay_id,
        openid,
        device_fingerprint: 'd1',
        timestamp,
        nonce,
        signature: payerProof({
          target: prepay_id,
          openid,
          deviceFingerprint: 'd1',
          timestamp,
          nonce,
          sessionKey,
        }),
      });
      const byMerchant = await t.app.inject({
        method: 'POST',
        url: '/sandbox/v1/pay',
        payload: forged(answer.session_key, 'n-merchant'),
      });
      expect([byMerchant.statusCode, byMerchant.json().code]).toEqual([401, 'PAYER_AUTH_ERROR']);
      const byPayer = await t.app.inject({
        method: 'POST',
        url: '/sandbox/v1/pay',
        payload: forged(login.session_key, 'n-payer'),
      });
      expect(byPayer.json().trade_state).toBe('SUCCESS');

      // A later login on the device ends the first session: its code no longer gives a key.
      const first = (
        await t.app.inject({
          method: 'POST',
          url: '/sandbox/v1/login',
          payload: { appid: t.merchant.appid, openid, device_fingerprint: 'd2' },
        })
      ).json();
      await t.app.inject({
        method: 'POST',
        url: '/sandbox/v1/login',
        payload: { appid: t.merchant.appid, openid, device_fingerprint: 'd2' },
      });
      expect((await exchange(first.code)).json()).toEqual({ errcode: 40029, errmsg: 'invalid code' });
    });

    it('serves the platform certificate encrypted under the APIv3 key', async () => {
      const res = await signedRequest(t, 'GET', '/v3/certificates?algorithm_type=RSA');
      const [cert] = res.json().data;
      expect(cert.serial_no).toBe(t.merchant.platform_serial_no);
      expect(cert.encrypt_certificate.nonce).toHaveLength(12);
      const { createDecipheriv } = await import('node:crypto');
      const raw = Buffer.from(cert.encrypt_certificate.ciphertext, 'base64');
      const d = createDecipheriv(
        'aes-256-gcm',
        Buffer.from(t.merchant.apiv3_key),
        Buffer.from(cert.encrypt_certificate.nonce),
      );
      d.setAAD(Buffer.from('certificate'));
      d.setAuthTag(raw.subarray(raw.length - 16));
      const pem = Buffer.concat([d.update(raw.subarray(0, raw.length - 16)), d.final()]).toString();
      expect(pem).toBe(t.merchant.platform_certificate_pem);
      expect(cert.effective_time).toMatch(/\+08:00$/);
    });
  });
});

describe('requests the HTTP parser refuses, over a real socket', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await openTestApp('sqlite', { listen: true });
  });
  afterAll(() => t.close());

  /** Writes raw bytes to the server and reads until it closes the connection. */
  async function raw(request: string): Promise<string> {
    const { connect } = await import('node:net');
    const { port } = new URL(t.ctx.publicUrl);
    return new Promise((resolve, reject) => {
      let answer = '';
      const socket = connect(Number(port), '127.0.0.1', () => socket.write(request));
      socket.on('data', (chunk) => {
        answer += chunk.toString();
      });
      socket.on('close', () => resolve(answer));
      socket.on('error', reject);
    });
  }

  it('answers headers too large (431) and a request that is not HTTP (400) with Request-ID and an APIv3 body', async () => {
    const big = await raw(`GET /v3/certificates HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(big).toMatch(/^HTTP\/1\.1 431 /);
    expect(big).toMatch(/\r\nRequest-ID: [0-9A-F]{40}-0\r\n/);
    expect(JSON.parse(big.slice(big.indexOf('\r\n\r\n') + 4))).toMatchObject({ code: 'INVALID_REQUEST' });
    const garbage = await raw('NOT HTTP AT ALL\r\n\r\n');
    expect(garbage).toMatch(/^HTTP\/1\.1 400 /);
    expect(garbage).toMatch(/\r\nRequest-ID: /);
    expect(JSON.parse(garbage.slice(garbage.indexOf('\r\n\r\n') + 4))).toMatchObject({
      code: 'INVALID_REQUEST',
      message: expect.stringMatching(/HTTP/),
    });
  });
});
