/**
 * The two official npm SDKs, unmodified, against the server listening on a real port, on SQLite and
 * PostgreSQL (reference §1–§3, §10.1):
 * - wechatpay-axios-plugin 0.9.6 with `baseURL` pointed here and response verification on (its
 *   default once `certs` is given): every 2xx it accepts was signed with the key we gave it;
 * - wechatpay-node-v3 2.2.x, whose host is hardcoded: its pluggable http service rewrites the host
 *   (its signature covers only the path). It never verifies responses, so statuses and bodies are
 *   asserted instead.
 * Payments are confirmed by a sandbox payer through `/sandbox/v1/login` and `/sandbox/v1/pay`.
 */
import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Aes, Wechatpay } from 'wechatpay-axios-plugin';
import WxPay from 'wechatpay-node-v3';
import type { Output } from 'wechatpay-node-v3/dist/lib/interface-v2.js';
import { PayRequest } from 'wechatpay-node-v3/dist/lib/pay-request.js';
import type { MerchantCredentials } from '../src/modules/merchants/index.ts';
import { dialects, openTestApp, type TestApp } from './harness.ts';
import { seedBillHistory } from './requests.ts';

// ---------------------------------------------------------------------------------------------------
// Shared helpers

const notify_url = 'https://merchant.example.com/wxpay/notify';
const rfc3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const prepayIdFormat = /^wx[0-9A-Za-z]{34}$/;
const codeUrlFormat = /^weixin:\/\/wxpay\/bizpayurl\/up\?pr=[0-9A-Za-z]+&groupid=00$/;

interface Transaction {
  appid: string;
  mchid: string;
  out_trade_no: string;
  transaction_id?: string;
  trade_type: string;
  trade_state: string;
  bank_type?: string;
  success_time?: string;
  payer?: { openid: string };
  amount: { total: number; payer_total?: number; currency: string; payer_currency: string };
}

interface Refund {
  refund_id: string;
  out_refund_no: string;
  transaction_id: string;
  out_trade_no: string;
  status: string;
  success_time?: string;
  create_time: string;
  amount: { total: number; refund: number; payer_refund: number; currency: string };
}

interface ApiError {
  code: string;
  message: string;
}

/** An RFC 3339 time within a minute of now (the suite runs on the real clock). */
function expectRecent(time: string | undefined): void {
  expect(time).toMatch(rfc3339);
  expect(Math.abs(Date.parse(time!) - Date.now())).toBeLessThan(60_000);
}

async function postJson(
  url: string,
  body: object,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/**
 * A sandbox payer logs in on a fresh device and confirms `target` (a prepay_id or a code_url) with
 * the proof HMAC-SHA256(base64-decoded session_key, ZHIFU-PAYER-CONFIRM\n…) — the server's wallet API.
 */
async function payAs(base: string, appid: string, openid: string, target: string) {
  const device_fingerprint = `test-device-${randomUUID()}`;
  const login = await postJson(`${base}/sandbox/v1/login`, { appid, openid, device_fingerprint });
  expect(login.status).toBe(200);
  const timestamp = String(Math.floor(Date.now() / 1000));
  const nonce = randomBytes(16).toString('hex');
  const message = `ZHIFU-PAYER-CONFIRM\n${target}\n${openid}\n\n${device_fingerprint}\n${timestamp}\n${nonce}\n`;
  const signature = createHmac('sha256', Buffer.from(String(login.body.session_key), 'base64'))
    .update(message)
    .digest('base64');
  const field = target.startsWith('weixin://') ? 'code_url' : 'prepay_id';
  return postJson(`${base}/sandbox/v1/pay`, {
    [field]: target,
    openid,
    device_fingerprint,
    timestamp,
    nonce,
    signature,
  });
}

// ---------------------------------------------------------------------------------------------------
// wechatpay-axios-plugin

interface Reply<T> {
  status: number;
  data: T;
  headers: Record<string, string | undefined>;
}

interface Verb {
  get<T = unknown>(config?: object): Promise<Reply<T>>;
  post<T = unknown>(data: object, config?: object): Promise<Reply<T>>;
}

/**
 * The part of the plugin's chain used here (`outTradeNo` → `out-trade-no`, `_x_` → `{x}`). Its own
 * d.ts types every segment through an index signature, which reads as possibly undefined here.
 */
interface AxiosChain {
  v3: {
    certificates: Verb;
    /** No such route. */
    nowhere: Verb;
    pay: {
      transactions: {
        jsapi: Verb;
        native: Verb;
        id: { _transaction_id_: Verb };
        outTradeNo: { _out_trade_no_: Verb & { close: Verb } };
      };
    };
    refund: { domestic: { refunds: Verb & { _out_refund_no_: Verb } } };
  };
}

function axiosClient(
  base: string,
  m: MerchantCredentials,
  certs: Record<string, string>,
  headers: Record<string, string> = {},
): AxiosChain {
  const wxpay = new Wechatpay({
    mchid: m.mchid,
    serial: m.merchant_serial_no,
    privateKey: m.merchant_private_key_pem,
    certs,
    baseURL: `${base}/`,
    headers,
  });
  return wxpay as unknown as AxiosChain;
}

/** What the plugin rejects with: an AxiosError with the HTTP answer, or a verifier error code. */
interface Rejection {
  code?: string;
  response?: Reply<unknown>;
}

async function rejected(request: Promise<unknown>): Promise<Rejection> {
  const outcome = await request.then(
    () => undefined,
    (error: unknown) => error,
  );
  if (!(outcome instanceof Error)) throw new Error('expected the request to be rejected');
  return outcome as Error & Rejection;
}

describe.each(dialects)('wechatpay-axios-plugin 0.9.6 on %s', (dialect) => {
  let t: TestApp;
  let m: MerchantCredentials;
  let base: string;
  let api: AxiosChain;
  let openid: string;

  beforeAll(async () => {
    t = await openTestApp(dialect, { realClock: true, listen: true });
    m = t.merchant;
    base = t.ctx.publicUrl;
    openid = m.payers[0]!.openid;
    api = axiosClient(base, m, { [m.platform_serial_no]: m.platform_certificate_pem });
  });
  afterAll(async () => {
    await t?.close();
  });

  const orders = () => api.v3.pay.transactions;
  const jsapiBody = (out_trade_no: string, total: number) => ({
    appid: m.appid,
    mchid: m.mchid,
    description: 'Zhifu 测试商品',
    out_trade_no,
    notify_url,
    amount: { total, currency: 'CNY' },
    payer: { openid },
  });
  const createJsapi = async (out_trade_no: string, total: number) => {
    const res = await orders().jsapi.post<{ prepay_id: string }>(jsapiBody(out_trade_no, total));
    expect(res.status).toBe(200);
    expect(res.data.prepay_id).toMatch(prepayIdFormat);
    return res.data.prepay_id;
  };
  const byOutTradeNo = (out_trade_no: string) =>
    orders().outTradeNo._out_trade_no_.get<Transaction>({ params: { mchid: m.mchid }, out_trade_no });
  const refund = (out_refund_no: string, transaction_id: string, amount: number, total: number) =>
    api.v3.refund.domestic.refunds.post<Refund>({
      transaction_id,
      out_refund_no,
      reason: '部分退款',
      amount: { refund: amount, total, currency: 'CNY' },
    });
  const queryRefund = (out_refund_no: string) =>
    api.v3.refund.domestic.refunds._out_refund_no_.get<Refund>({ out_refund_no });

  it('creates JSAPI and Native orders, queries one unpaid, closes another (204, signed)', async () => {
    await createJsapi('AX-JSAPI-0001', 1000);

    const native = await orders().native.post<{ code_url: string }>({
      appid: m.appid,
      mchid: m.mchid,
      description: 'Zhifu 扫码商品',
      out_trade_no: 'AX-NATIVE-0001',
      notify_url,
      amount: { total: 2500, currency: 'CNY' },
    });
    expect(native.status).toBe(200);
    expect(native.data.code_url).toMatch(codeUrlFormat);
    // Signed with the platform certificate the client was given (it verified it to resolve at all).
    expect(native.headers['wechatpay-serial']).toBe(m.platform_serial_no);

    const unpaid = await byOutTradeNo('AX-JSAPI-0001');
    expect(unpaid.status).toBe(200);
    expect(unpaid.data).toMatchObject({
      appid: m.appid,
      mchid: m.mchid,
      out_trade_no: 'AX-JSAPI-0001',
      trade_type: 'JSAPI',
      trade_state: 'NOTPAY',
      amount: { total: 1000, currency: 'CNY' },
    });
    expect(unpaid.data.transaction_id).toBeUndefined();
    expect(unpaid.data.success_time).toBeUndefined();

    const closed = await orders().outTradeNo._out_trade_no_.close.post(
      { mchid: m.mchid },
      { out_trade_no: 'AX-NATIVE-0001' },
    );
    expect(closed.status).toBe(204);
    expect(closed.data).toBe('');
    expect(closed.headers['wechatpay-signature']).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect((await byOutTradeNo('AX-NATIVE-0001')).data.trade_state).toBe('CLOSED');
  });

  it('pays through the sandbox, then queries by transaction_id → SUCCESS', async () => {
    const prepayId = await createJsapi('AX-JSAPI-0002', 1234);
    const paid = await payAs(base, m.appid, openid, prepayId);
    expect(paid.status).toBe(200);
    const transactionId = String(paid.body.transaction_id);
    expect(transactionId).toMatch(/^\d{28}$/);

    const res = await orders().id._transaction_id_.get<Transaction>({
      params: { mchid: m.mchid },
      transaction_id: transactionId,
    });
    expect(res.status).toBe(200);
    expect(res.data).toMatchObject({
      appid: m.appid,
      mchid: m.mchid,
      out_trade_no: 'AX-JSAPI-0002',
      transaction_id: transactionId,
      trade_type: 'JSAPI',
      trade_state: 'SUCCESS',
      payer: { openid },
      amount: { total: 1234, payer_total: 1234, currency: 'CNY', payer_currency: 'CNY' },
    });
    expectRecent(res.data.success_time);
    expect(res.data.bank_type).toBe('OTHERS'); // 张伟's wallet balance pays first
  });

  it('refunds partially twice, queries both, rejects an over-refund without creating it', async () => {
    const prepayId = await createJsapi('AX-JSAPI-0003', 1000);
    const transactionId = String((await payAs(base, m.appid, openid, prepayId)).body.transaction_id);

    const first = await refund('AX-REFUND-0003-1', transactionId, 300, 1000);
    const second = await refund('AX-REFUND-0003-2', transactionId, 200, 1000);
    for (const [res, no, amount] of [
      [first, 'AX-REFUND-0003-1', 300],
      [second, 'AX-REFUND-0003-2', 200],
    ] as const) {
      expect(res.status).toBe(200);
      expect(res.data).toMatchObject({
        out_refund_no: no,
        transaction_id: transactionId,
        out_trade_no: 'AX-JSAPI-0003',
        status: 'SUCCESS',
        amount: { total: 1000, refund: amount, payer_refund: amount, currency: 'CNY' },
      });
      expect(res.data.refund_id).toMatch(/^\d{20,32}$/);
      expectRecent(res.data.create_time);
      expectRecent(res.data.success_time);
    }
    expect(first.data.refund_id).not.toBe(second.data.refund_id);

    for (const res of [first, second]) {
      const again = await queryRefund(res.data.out_refund_no);
      expect(again.status).toBe(200);
      expect(again.data).toEqual(res.data);
    }

    // 500 of 1000 fen remain: 501 is too much.
    const over = await rejected(refund('AX-REFUND-0003-3', transactionId, 501, 1000));
    expect(over.response?.status).toBe(400);
    expect(over.response?.data).toMatchObject({ code: 'INVALID_REQUEST' });
    const missing = await rejected(queryRefund('AX-REFUND-0003-3'));
    expect(missing.response?.status).toBe(404);
    expect(missing.response?.data).toMatchObject({ code: 'RESOURCE_NOT_EXISTS' });

    // Any refund moves the order to REFUND (reference §3.2 state machine).
    expect((await byOutTradeNo('AX-JSAPI-0003')).data.trade_state).toBe('REFUND');

    // Both ids, as in the official SDKs' examples: transaction_id finds the order, out_trade_no
    // must be its own.
    const both = (out_refund_no: string, out_trade_no: string) =>
      api.v3.refund.domestic.refunds.post<Refund>({
        transaction_id: transactionId,
        out_trade_no,
        out_refund_no,
        amount: { refund: 100, total: 1000, currency: 'CNY' },
      });
    const third = await both('AX-REFUND-0003-4', 'AX-JSAPI-0003');
    expect(third.data).toMatchObject({ transaction_id: transactionId, amount: { refund: 100 } });
    const mismatched = await rejected(both('AX-REFUND-0003-5', 'AX-JSAPI-OTHER'));
    expect(mismatched.response?.status).toBe(400);
    expect(mismatched.response?.data).toMatchObject({ code: 'INVALID_REQUEST' });
    expect((await rejected(queryRefund('AX-REFUND-0003-5'))).response?.status).toBe(404);
  });

  it('answers a repeated order with the same prepay_id and refuses a changed one (403 OUT_TRADE_NO_USED)', async () => {
    const prepayId = await createJsapi('AX-JSAPI-0004', 800);
    expect(await createJsapi('AX-JSAPI-0004', 800)).toBe(prepayId);

    const changed = await rejected(orders().jsapi.post(jsapiBody('AX-JSAPI-0004', 801)));
    expect(changed.response?.status).toBe(403);
    expect(changed.response?.data).toMatchObject({ code: 'OUT_TRADE_NO_USED' });
    expect((await byOutTradeNo('AX-JSAPI-0004')).data.amount.total).toBe(800);
  });

  it('verifies for real: a wrong key for the platform serial fails the response signature', async () => {
    await createJsapi('AX-JSAPI-0005', 100);
    const wrong = axiosClient(base, m, { [m.platform_serial_no]: m.platform_public_key_pem });
    const failure = await rejected(
      wrong.v3.pay.transactions.outTradeNo._out_trade_no_.get({
        params: { mchid: m.mchid },
        out_trade_no: 'AX-JSAPI-0005',
      }),
    );
    expect(failure.code).toBe('EV3_RES_HEADER_SIGNATURE_DIGEST');
  });

  it('public-key mode: Wechatpay-Serial PUB_KEY_ID_… gets responses signed with the public-key key', async () => {
    await createJsapi('AX-JSAPI-0006', 100);
    const certs = { [m.platform_public_key_id]: m.platform_public_key_pem };
    const query = (client: AxiosChain) =>
      client.v3.pay.transactions.outTradeNo._out_trade_no_.get<Transaction>({
        params: { mchid: m.mchid },
        out_trade_no: 'AX-JSAPI-0006',
      });

    const pubkey = axiosClient(base, m, certs, { 'Wechatpay-Serial': m.platform_public_key_id });
    const res = await query(pubkey);
    expect(res.status).toBe(200);
    expect(res.headers['wechatpay-serial']).toBe(m.platform_public_key_id);
    expect(res.data.trade_state).toBe('NOTPAY');

    // Without the header the server answers in platform-certificate mode, which this client cannot verify.
    const failure = await rejected(query(axiosClient(base, m, certs)));
    expect(failure.code).toBe('EV3_RES_HEADER_PLATFORM_SERIAL');
  });

  it('GET /v3/certificates: the certificate decrypts (AEAD_AES_256_GCM, APIv3 key) to the platform certificate', async () => {
    interface Certificates {
      data: {
        serial_no: string;
        effective_time: string;
        expire_time: string;
        encrypt_certificate: {
          algorithm: string;
          nonce: string;
          associated_data: string;
          ciphertext: string;
        };
      }[];
    }
    const res = await api.v3.certificates.get<Certificates>();
    expect(res.status).toBe(200);
    expect(res.data.data).toHaveLength(1);
    const cert = res.data.data[0]!;
    expect(cert.serial_no).toBe(m.platform_serial_no);
    expect(cert.effective_time).toMatch(rfc3339);
    expect(cert.expire_time).toMatch(rfc3339);
    expect(Date.parse(cert.effective_time)).toBeLessThanOrEqual(Date.now());
    expect(Date.parse(cert.expire_time)).toBeGreaterThan(Date.now());
    const sealed = cert.encrypt_certificate;
    expect(sealed.algorithm).toBe('AEAD_AES_256_GCM');
    expect(sealed.associated_data).toBe('certificate');
    expect(Buffer.byteLength(sealed.nonce)).toBe(12);
    const pem = Aes.AesGcm.decrypt(sealed.ciphertext, m.apiv3_key, sealed.nonce, sealed.associated_data);
    expect(pem).toBe(m.platform_certificate_pem);
  });

  it('unknown route → 404 and wrong method → 405, empty bodies with a Request-ID', async () => {
    const notFound = await rejected(api.v3.nowhere.get());
    expect(notFound.response?.status).toBe(404);
    expect(notFound.response?.data).toBe('');
    expect(notFound.response?.headers['request-id']).toMatch(/^[0-9A-F]{40}-0$/);

    const wrongMethod = await rejected(orders().jsapi.get());
    expect(wrongMethod.response?.status).toBe(405);
    expect(wrongMethod.response?.data).toBe('');
    expect(wrongMethod.response?.headers['request-id']).toMatch(/^[0-9A-F]{40}-0$/);
    expect(wrongMethod.response?.headers['request-id']).not.toBe(notFound.response?.headers['request-id']);
  });
});

// ---------------------------------------------------------------------------------------------------
// wechatpay-node-v3

const wechatpayHost = 'https://api.mch.weixin.qq.com';

/**
 * The SDK's own superagent transport, with its hardcoded host replaced by the test server's
 * (reference §10.1: `pay.createHttp(service)`; the signature covers only the path).
 */
class LocalPayRequest extends PayRequest {
  readonly #base: string;
  constructor(base: string) {
    super();
    this.#base = base;
  }
  #local(url: string): string {
    if (!url.startsWith(`${wechatpayHost}/`)) throw new Error(`unexpected SDK url ${url}`);
    return this.#base + url.slice(wechatpayHost.length);
  }
  override post(url: string, params: Record<string, unknown>, headers: Record<string, unknown>) {
    return super.post(this.#local(url), params, headers);
  }
  override get(url: string, headers: Record<string, unknown>) {
    return super.get(this.#local(url), headers);
  }
}

/** The SDK for the test app's merchant, on the test server. */
function nodeV3(t: TestApp): WxPay {
  const m = t.merchant;
  // No serial_no: the SDK derives it from the merchant certificate (@fidm/x509).
  const pay = new WxPay({
    appid: m.appid,
    mchid: m.mchid,
    publicKey: Buffer.from(m.merchant_certificate_pem),
    privateKey: Buffer.from(m.merchant_private_key_pem),
    key: m.apiv3_key,
  });
  pay.createHttp(new LocalPayRequest(t.ctx.publicUrl));
  return pay;
}

/** The error body of a failed call (the SDK returns `{status, error: <raw text>}` instead of throwing). */
function errorOf(out: Output): ApiError {
  expect(typeof out.error).toBe('string');
  return JSON.parse(String(out.error)) as ApiError;
}

describe.each(dialects)('wechatpay-node-v3 2.2.x on %s', (dialect) => {
  let t: TestApp;
  let m: MerchantCredentials;
  let base: string;
  let pay: WxPay;
  let openid: string;

  beforeAll(async () => {
    t = await openTestApp(dialect, { realClock: true, listen: true });
    m = t.merchant;
    base = t.ctx.publicUrl;
    openid = m.payers[0]!.openid;
    pay = nodeV3(t);
  });
  afterAll(async () => {
    await t?.close();
  });

  const createJsapi = async (out_trade_no: string, total: number) => {
    const res = await pay.transactions_jsapi({
      description: 'Zhifu 测试商品',
      out_trade_no,
      notify_url,
      amount: { total, currency: 'CNY' },
      payer: { openid },
    });
    expect(res.status).toBe(200);
    // The SDK turns {prepay_id} into the front end's pay parameters.
    const params = res.data as { appId: string; package: string; signType: string; paySign: string };
    expect(params.appId).toBe(m.appid);
    expect(params.signType).toBe('RSA');
    expect(params.paySign).not.toBe('');
    expect(params.package).toMatch(/^prepay_id=/);
    const prepayId = params.package.slice('prepay_id='.length);
    expect(prepayId).toMatch(prepayIdFormat);
    return prepayId;
  };
  const createNative = async (out_trade_no: string, total: number) => {
    const res = await pay.transactions_native({
      description: 'Zhifu 扫码商品',
      out_trade_no,
      notify_url,
      amount: { total, currency: 'CNY' },
    });
    expect(res.status).toBe(200);
    const codeUrl = (res.data as { code_url: string }).code_url;
    expect(codeUrl).toMatch(codeUrlFormat);
    return codeUrl;
  };
  const query = async (q: { out_trade_no: string } | { transaction_id: string }) => {
    const res = await pay.query(q);
    expect(res.status).toBe(200);
    return res.data as Transaction;
  };

  it('signs with the serial it derives from the merchant certificate', () => {
    expect(pay.getSN().toUpperCase().replace(/^0+/, '')).toBe(m.merchant_serial_no.replace(/^0+/, ''));
  });

  it('creates JSAPI and Native orders, queries by out_trade_no, closes (204)', async () => {
    await createJsapi('NV-JSAPI-0001', 1000);
    await createNative('NV-NATIVE-0001', 2500);

    expect(await query({ out_trade_no: 'NV-JSAPI-0001' })).toMatchObject({
      appid: m.appid,
      mchid: m.mchid,
      out_trade_no: 'NV-JSAPI-0001',
      trade_type: 'JSAPI',
      trade_state: 'NOTPAY',
      amount: { total: 1000, currency: 'CNY' },
    });

    const closed = await pay.close('NV-NATIVE-0001');
    expect(closed.status).toBe(204);
    expect(closed.error).toBeUndefined();
    expect((await query({ out_trade_no: 'NV-NATIVE-0001' })).trade_state).toBe('CLOSED');
    // Re-entrant (reference §3.3).
    expect((await pay.close('NV-NATIVE-0001')).status).toBe(204);
  });

  it('pays a JSAPI order through the sandbox and queries it by transaction_id → SUCCESS', async () => {
    const prepayId = await createJsapi('NV-JSAPI-0002', 1999);
    const paid = await payAs(base, m.appid, openid, prepayId);
    expect(paid.status).toBe(200);
    const transactionId = String(paid.body.transaction_id);

    const tx = await query({ transaction_id: transactionId });
    expect(tx).toMatchObject({
      out_trade_no: 'NV-JSAPI-0002',
      transaction_id: transactionId,
      trade_state: 'SUCCESS',
      payer: { openid },
      amount: { total: 1999, payer_total: 1999, currency: 'CNY' },
    });
    expectRecent(tx.success_time);
  });

  it('a declined payer leaves a Native order NOTPAY; another payer then pays it by code_url', async () => {
    const codeUrl = await createNative('NV-NATIVE-0002', 600);
    const declined = await payAs(base, m.appid, m.payers[2]!.openid, codeUrl); // 王芳: always declined
    expect(declined.status).toBe(403);
    expect(declined.body.code).toBe('CARD_DECLINED');
    expect((await query({ out_trade_no: 'NV-NATIVE-0002' })).trade_state).toBe('NOTPAY');

    const paid = await payAs(base, m.appid, openid, codeUrl);
    expect(paid.status).toBe(200);
    const tx = await query({ out_trade_no: 'NV-NATIVE-0002' });
    expect(tx).toMatchObject({ trade_type: 'NATIVE', trade_state: 'SUCCESS', payer: { openid } });
    expect(tx.transaction_id).toBe(paid.body.transaction_id);
  });

  it('refunds partially twice, finds both refunds, rejects an over-refund', async () => {
    const prepayId = await createJsapi('NV-JSAPI-0003', 1000);
    expect((await payAs(base, m.appid, openid, prepayId)).status).toBe(200);
    const refund = (out_refund_no: string, amount: number) =>
      pay.refunds({
        out_trade_no: 'NV-JSAPI-0003',
        out_refund_no,
        amount: { refund: amount, total: 1000, currency: 'CNY' },
      });

    for (const [no, amount] of [
      ['NV-REFUND-0003-1', 400],
      ['NV-REFUND-0003-2', 350],
    ] as const) {
      const created = await refund(no, amount);
      expect(created.status).toBe(200);
      expect(created.data).toMatchObject({
        out_refund_no: no,
        out_trade_no: 'NV-JSAPI-0003',
        status: 'SUCCESS',
        amount: { total: 1000, refund: amount, currency: 'CNY' },
      });
      const found = await pay.find_refunds(no);
      expect(found.status).toBe(200);
      expect(found.data).toEqual(created.data);
    }

    // 250 fen remain.
    const over = await refund('NV-REFUND-0003-3', 251);
    expect(over.status).toBe(400);
    expect(errorOf(over).code).toBe('INVALID_REQUEST');
    const missing = await pay.find_refunds('NV-REFUND-0003-3');
    expect(missing.status).toBe(404);
    expect(errorOf(missing).code).toBe('RESOURCE_NOT_EXISTS');

    // The remainder exactly is still refundable, and the order reads REFUND.
    expect((await refund('NV-REFUND-0003-4', 250)).status).toBe(200);
    expect((await query({ out_trade_no: 'NV-JSAPI-0003' })).trade_state).toBe('REFUND');
  });
});

describe('wechatpay-node-v3 2.2.x: bills, with ZHIFU_BILL_DOWNLOAD_URL=https://api.mch.weixin.qq.com', () => {
  let t: TestApp;
  let pay: WxPay;
  let billDate: string;
  beforeAll(async () => {
    t = await openTestApp('sqlite', {
      realClock: true,
      listen: true,
      app: { billDownloadUrl: wechatpayHost },
    });
    pay = nodeV3(t);
    billDate = await seedBillHistory(t);
  });
  afterAll(async () => {
    await t?.close();
  });

  it("downloadBill signs only the path of a download_url on WeChat Pay's host; h5_url keeps the public URL", async () => {
    const q = await pay.tradebill({ bill_date: billDate, bill_type: 'ALL' });
    expect(q.status).toBe(200);
    const { download_url, hash_value } = q.data as { download_url: string; hash_value: string };
    expect(download_url.startsWith(`${wechatpayHost}/v3/billdownload/file?token=`)).toBe(true);
    const file = await pay.downloadBill(download_url);
    expect(file.status).toBe(200);
    expect(createHash('sha1').update(String(file.data), 'utf8').digest('hex')).toBe(hash_value);
    const h5 = await pay.transactions_h5({
      description: 'Zhifu H5',
      out_trade_no: 'NV3-H5-BILLS-1',
      notify_url,
      amount: { total: 1, currency: 'CNY' },
      scene_info: { payer_client_ip: '14.23.150.211', h5_info: { type: 'Wap', app_name: 'Zhifu 商城' } },
    });
    expect((h5.data as { h5_url: string }).h5_url.startsWith(`${t.ctx.publicUrl}/cashier?`)).toBe(true);
  });
});
