import type { KeyObject } from 'node:crypto';
import { createCipheriv, createHmac, generateKeyPairSync, randomUUID, sign, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ZhifuClientOptions } from '../src/index.ts';
import { ZhifuApiError, ZhifuClient, ZhifuConnectionError, ZhifuSignatureError } from '../src/index.ts';

const hmacKey = 'merchant-hmac-key';
const mchid = '1900000001';
const baseUrl = 'http://zhifu.test';

interface Sent {
  url: string;
  method: string;
  headers: Headers;
  body: string;
}

type Responder = (request: Sent, attempt: number) => Response | Promise<Response>;

/** A fetch that records what it was sent and answers with `responder`. */
function fakeFetch(responder: Responder): { fetch: typeof fetch; sent: Sent[] } {
  const sent: Sent[] = [];
  const fetchFn = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const request: Sent = {
      url: String(input),
      method: init?.method ?? 'GET',
      headers: new Headers(init?.headers),
      body: typeof init?.body === 'string' ? init.body : '',
    };
    sent.push(request);
    return responder(request, sent.length);
  };
  return { fetch: fetchFn as typeof fetch, sent };
}

/** A response signed the way the server signs answers to HMAC-authenticated requests. */
function hmacResponse(status: number, body: string, key = hmacKey): Response {
  const timestamp = String(Math.floor(Date.now() / 1000));
  const nonce = randomUUID();
  const signature = createHmac('sha256', key).update(`${timestamp}\n${nonce}\n${body}\n`).digest('base64');
  return new Response(status === 204 ? null : body, {
    status,
    headers: {
      'Content-Type': 'application/json',
      'Wechatpay-Timestamp': timestamp,
      'Wechatpay-Nonce': nonce,
      'Wechatpay-Signature': signature,
      'Wechatpay-Serial': 'ZHIFU-HMAC',
      'Wechatpay-Signature-Type': 'ZHIFU-HMAC-SHA256',
      'Request-ID': 'req-ok',
    },
  });
}

function errorResponse(status: number, body: object | null): Response {
  return new Response(body === null ? null : JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json', 'Request-ID': `req-${status}` },
  });
}

function hmacClient(responder: Responder, extra: Partial<ZhifuClientOptions> = {}) {
  const fake = fakeFetch(responder);
  const client = new ZhifuClient({
    baseUrl,
    mchid,
    auth: { scheme: 'hmac', hmacKey },
    fetch: fake.fetch,
    ...extra,
  });
  return { client, sent: fake.sent };
}

/** Parses `k="v"` pairs of an Authorization header. */
function authFields(header: string | null): Record<string, string> {
  return Object.fromEntries([...(header ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
}

function expectValidHmac(request: Sent): void {
  const fields = authFields(request.headers.get('Authorization'));
  const url = new URL(request.url);
  const message = `${request.method}\n${url.pathname}${url.search}\n${fields.timestamp}\n${fields.nonce_str}\n${request.body}\n`;
  expect(fields.signature).toBe(createHmac('sha256', hmacKey).update(message).digest('base64'));
}

const order = {
  appid: 'wx0000000000000001',
  description: 'Tea',
  out_trade_no: 'T20240101001',
  notify_url: 'https://shop.example/notify',
  amount: { total: 100, currency: 'CNY' },
};

describe('ZhifuClient options', () => {
  const rsaKeys = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privateKeyPem = rsaKeys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const good: ZhifuClientOptions = { baseUrl, mchid, auth: { scheme: 'hmac', hmacKey } };
  const bad = (patch: Record<string, unknown>) => () =>
    new ZhifuClient({ ...good, ...patch } as unknown as ZhifuClientOptions);

  it('rejects bad options with a TypeError naming the option', () => {
    expect(bad({ baseUrl: 'zhifu.test' })).toThrow(/baseUrl must be an http\(s\) URL/);
    expect(bad({ baseUrl: undefined })).toThrow(TypeError);
    expect(bad({ mchid: '' })).toThrow(/mchid/);
    expect(bad({ auth: { scheme: 'basic' } })).toThrow(/auth.scheme/);
    expect(bad({ auth: { scheme: 'hmac', hmacKey: '' } })).toThrow(/hmacKey/);
    expect(bad({ auth: { scheme: 'rsa', serialNo: 'ABC', privateKeyPem: 'nope' } })).toThrow(/privateKeyPem/);
    expect(bad({ auth: { scheme: 'rsa', serialNo: '', privateKeyPem } })).toThrow(/serialNo/);
    expect(bad({ auth: { scheme: 'rsa', serialNo: 'ABC', privateKeyPem } })).toThrow(
      /verifyResponses: false/,
    );
    expect(
      bad({
        auth: {
          scheme: 'rsa',
          serialNo: 'A',
          privateKeyPem,
          platformPublicKeyPem: 'x',
          platformPublicKeyId: 'K1',
        },
      }),
    ).toThrow(TypeError);
    expect(bad({ maxRetries: -1 })).toThrow(/maxRetries/);
    expect(bad({ maxRetries: 11 })).toThrow(/maxRetries/);
    expect(bad({ maxRetries: 1.5 })).toThrow(/maxRetries/);
    expect(bad({ timeoutMs: 0 })).toThrow(/timeoutMs/);
    expect(bad({ apiv3Key: 'short' })).toThrow(/apiv3Key/);
    expect(bad({ fetch: 'fetch' })).toThrow(/fetch/);
    expect(bad({ verifyResponses: 'yes' })).toThrow(/verifyResponses/);
  });

  it('accepts an RSA client without platform keys once verification is off', () => {
    const auth = { scheme: 'rsa', serialNo: 'ABC', privateKeyPem } as const;
    expect(new ZhifuClient({ ...good, auth, verifyResponses: false }).mchid).toBe(mchid);
  });
});

describe('ZhifuClient requests', () => {
  it('signs exactly the path and body it sends, filling in mchid', async () => {
    const { client, sent } = hmacClient(
      () => hmacResponse(200, '{"code_url":"weixin://wxpay/bizpayurl?pr=1"}'),
      {
        baseUrl: 'http://zhifu.test/prefix/',
      },
    );
    const answer = await client.createNativeOrder(order);
    expect(answer).toEqual({ code_url: 'weixin://wxpay/bizpayurl?pr=1' });
    const [request] = sent;
    expect(request?.url).toBe('http://zhifu.test/prefix/v3/pay/transactions/native');
    expect(JSON.parse(request?.body ?? '')).toEqual({ ...order, mchid });
    expect(request?.headers.get('Content-Type')).toBe('application/json');
    expect(request?.headers.get('Authorization')).toMatch(
      /^ZHIFU-HMAC-SHA256 mchid="1900000001",nonce_str="/,
    );
    expectValidHmac(request!);
  });

  it('puts mchid in the query of order queries and escapes path segments', async () => {
    const { client, sent } = hmacClient(() =>
      hmacResponse(200, JSON.stringify({ ...order, mchid, trade_state: 'NOTPAY' })),
    );
    const transaction = await client.queryOrderByOutTradeNo('T 1/2');
    expect(transaction.trade_state).toBe('NOTPAY');
    expect(sent[0]?.url).toBe(
      'http://zhifu.test/v3/pay/transactions/out-trade-no/T%201%2F2?mchid=1900000001',
    );
    expect(sent[0]?.body).toBe('');
    expectValidHmac(sent[0]!);
  });

  it('closes an order with a signed 204 and rejects an unsigned one', async () => {
    const { client, sent } = hmacClient(() => hmacResponse(204, ''));
    await expect(client.closeOrder('T1')).resolves.toBeUndefined();
    expect(sent[0]?.method).toBe('POST');
    expect(sent[0]?.body).toBe('{"mchid":"1900000001"}');
    const unsigned = hmacClient(() => new Response(null, { status: 204 }));
    await expect(unsigned.client.closeOrder('T1')).rejects.toBeInstanceOf(ZhifuSignatureError);
  });

  it('rejects a response signed with another key and does not retry it', async () => {
    const { client, sent } = hmacClient(() => hmacResponse(200, '{}', 'someone-else'));
    await expect(client.queryRefund('R1')).rejects.toThrow(/HMAC does not match/);
    expect(sent).toHaveLength(1);
  });

  it('skips verification when verifyResponses is false', async () => {
    const { client } = hmacClient(() => new Response('{"prepay_id":"wx1"}', { status: 200 }), {
      verifyResponses: false,
    });
    await expect(client.createAppOrder(order)).resolves.toEqual({ prepay_id: 'wx1' });
  });
});

describe('ZhifuClient retries', () => {
  it('retries a 500 with the same body and a fresh nonce each attempt', async () => {
    const { client, sent } = hmacClient((_, attempt) =>
      attempt < 3
        ? errorResponse(500, { code: 'SYSTEM_ERROR', message: 'busy' })
        : hmacResponse(200, '{"refund_id":"1"}'),
    );
    const refund = await client.createRefund({
      out_trade_no: 'T1',
      out_refund_no: 'R1',
      amount: { refund: 50, total: 100, currency: 'CNY' },
    });
    expect(refund.refund_id).toBe('1');
    expect(sent).toHaveLength(3);
    expect(new Set(sent.map((r) => r.body)).size).toBe(1);
    const nonces = sent.map((r) => authFields(r.headers.get('Authorization')).nonce_str);
    expect(new Set(nonces).size).toBe(3);
    for (const request of sent) expectValidHmac(request);
  });

  it('does not retry a 400 and surfaces code, message, detail and Request-ID', async () => {
    const detail = { field: '/amount/total', value: 0, issue: 'below minimum 1', location: 'body' };
    const { client, sent } = hmacClient(() =>
      errorResponse(400, { code: 'PARAM_ERROR', message: 'amount.total must be at least 1', detail }),
    );
    const error = await client
      .createJsapiOrder({ ...order, payer: { openid: 'o1' } })
      .catch((e: unknown) => e);
    expect(sent).toHaveLength(1);
    expect(error).toBeInstanceOf(ZhifuApiError);
    expect(error).toMatchObject({
      code: 'PARAM_ERROR',
      message: 'amount.total must be at least 1',
      httpStatus: 400,
      detail,
      requestId: 'req-400',
    });
  });

  it('sends a POST the server cannot deduplicate once; a POST marked idempotent and a PUT are retried', async () => {
    const busy = () => errorResponse(503, { code: 'SYSTEM_ERROR', message: 'busy' });
    const promotions = hmacClient(busy);
    const promotion = {
      name: 'x',
      kind: 'amount_off' as const,
      discount_fen: 10,
      eligibility: {},
      budget_fen: 100,
      funded_by: 'merchant' as const,
      starts_at: '2026-01-01T00:00:00+08:00',
      ends_at: '2026-02-01T00:00:00+08:00',
    };
    await expect(promotions.client.createPromotion(promotion)).rejects.toMatchObject({ httpStatus: 503 });
    expect(promotions.sent).toHaveLength(1);
    const marked = hmacClient(busy);
    await expect(marked.client.request('POST', '/v1/x', {}, { idempotent: true })).rejects.toMatchObject({
      httpStatus: 503,
    });
    expect(marked.sent).toHaveLength(3);
    const put = hmacClient(busy);
    await expect(put.client.request('PUT', '/v1/notifications/settings', {})).rejects.toMatchObject({
      httpStatus: 503,
    });
    expect(put.sent).toHaveLength(3);
  });

  it('gives up after maxRetries and throws the last error', async () => {
    const { client, sent } = hmacClient(() => errorResponse(503, { code: 'SYSTEM_ERROR', message: 'down' }));
    await expect(client.queryRefund('R1')).rejects.toMatchObject({ code: 'SYSTEM_ERROR', httpStatus: 503 });
    expect(sent).toHaveLength(3);
    const none = hmacClient(() => errorResponse(429, { code: 'FREQUENCY_LIMITED', message: 'slow down' }), {
      maxRetries: 0,
    });
    await expect(none.client.queryRefund('R1')).rejects.toMatchObject({ code: 'FREQUENCY_LIMITED' });
    expect(none.sent).toHaveLength(1);
  });

  it('retries 429 and network failures, then reports a connection error', async () => {
    const flaky = hmacClient((_, attempt) => {
      if (attempt === 1) throw new TypeError('fetch failed');
      return attempt === 2
        ? errorResponse(429, { code: 'FREQUENCY_LIMITED', message: '' })
        : hmacResponse(200, '{}');
    });
    await expect(flaky.client.request('GET', '/v3/anything')).resolves.toEqual({});
    expect(flaky.sent).toHaveLength(3);
    const dead = hmacClient(
      () => {
        throw new TypeError('fetch failed');
      },
      { maxRetries: 1 },
    );
    await expect(dead.client.queryRefund('R1')).rejects.toMatchObject({ code: 'connection_failed' });
    expect(dead.sent).toHaveLength(2);
  });

  it('waits out a Retry-After before retrying, and gives up at once on one longer than 10 s', async () => {
    const limited = (retryAfter: string) =>
      new Response(JSON.stringify({ code: 'FREQUENCY_LIMITED', message: 'slow down' }), {
        status: 429,
        headers: { 'Content-Type': 'application/json', 'Retry-After': retryAfter },
      });
    const times: number[] = [];
    const once = hmacClient((_, attempt) => {
      times.push(performance.now());
      return attempt === 1 ? limited('1') : hmacResponse(200, '{}');
    });
    await expect(once.client.request('GET', '/v3/anything')).resolves.toEqual({});
    expect(once.sent).toHaveLength(2);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(990);
    const long = hmacClient(() => limited('60'));
    await expect(long.client.request('GET', '/v3/anything')).rejects.toMatchObject({
      code: 'FREQUENCY_LIMITED',
      httpStatus: 429,
    });
    expect(long.sent).toHaveLength(1);
  });

  it('sends any call again after 429 FREQUENCY_LIMITED (refused unread), but not after another 429', async () => {
    const limited = (code: string) =>
      new Response(JSON.stringify({ code, message: 'wait' }), {
        status: 429,
        headers: { 'Content-Type': 'application/json', 'Retry-After': '0' },
      });
    const once = hmacClient((_, attempt) =>
      attempt === 1 ? limited('FREQUENCY_LIMITED') : hmacResponse(200, '{}'),
    );
    await expect(once.client.request('POST', '/v1/checkout/promotions', { name: 'x' })).resolves.toEqual({});
    expect(once.sent).toHaveLength(2);
    const cap = hmacClient(() => limited('CONVERSATION_LIMIT'));
    await expect(cap.client.request('POST', '/v1/conversations', {})).rejects.toMatchObject({
      code: 'CONVERSATION_LIMIT',
      httpStatus: 429,
    });
    expect(cap.sent).toHaveLength(1);
  });

  it('times out an attempt that gets no answer', async () => {
    // Answers only by rejecting when the client's deadline aborts the request.
    const silent = ((_input: string | URL | Request, init?: RequestInit) =>
      new Promise<Response>((_, reject) => {
        init?.signal?.addEventListener('abort', () => reject(init.signal?.reason));
      })) as typeof fetch;
    const client = new ZhifuClient({
      baseUrl,
      mchid,
      auth: { scheme: 'hmac', hmacKey },
      timeoutMs: 20,
      maxRetries: 0,
      fetch: silent,
    });
    const error = await client.queryRefund('R1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ZhifuConnectionError);
    expect(error).toMatchObject({ code: 'timed_out' });
  });

  it('maps an empty-body 404 to code ""', async () => {
    const { client } = hmacClient(() => errorResponse(404, null));
    await expect(client.request('GET', '/v3/nowhere')).rejects.toMatchObject({ code: '', httpStatus: 404 });
  });
});

describe('ZhifuClient with RSA in public-key mode', () => {
  const merchant = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const platform = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = (key: KeyObject, type: 'pkcs8' | 'spki') => key.export({ type, format: 'pem' }).toString();
  const publicKeyId = 'PUB_KEY_ID_0114232134912410000000000000';
  const apiv3Key = '0123456789abcdef0123456789abcdef';

  it('sends Wechatpay-Serial, signs with the merchant key, verifies with the public key and decrypts certificates', async () => {
    const certificatePem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    const cipher = createCipheriv('aes-256-gcm', Buffer.from(apiv3Key), Buffer.from('61f9c719728a'));
    cipher.setAAD(Buffer.from('certificate'));
    const ciphertext = Buffer.concat([cipher.update(certificatePem), cipher.final(), cipher.getAuthTag()]);
    const body = JSON.stringify({
      data: [
        {
          serial_no: '5157F09EFDC096DE15EBE81A47057A7232F1B8E1',
          effective_time: '2024-01-01T00:00:00+08:00',
          expire_time: '2029-01-01T00:00:00+08:00',
          encrypt_certificate: {
            algorithm: 'AEAD_AES_256_GCM',
            nonce: '61f9c719728a',
            associated_data: 'certificate',
            ciphertext: ciphertext.toString('base64'),
          },
        },
      ],
    });
    const fake = fakeFetch(() => {
      const timestamp = String(Math.floor(Date.now() / 1000));
      const signature = sign('sha256', Buffer.from(`${timestamp}\nn\n${body}\n`), platform.privateKey);
      return new Response(body, {
        status: 200,
        headers: {
          'Wechatpay-Timestamp': timestamp,
          'Wechatpay-Nonce': 'n',
          'Wechatpay-Signature': signature.toString('base64'),
          'Wechatpay-Serial': publicKeyId,
        },
      });
    });
    const client = new ZhifuClient({
      baseUrl,
      mchid,
      apiv3Key,
      fetch: fake.fetch,
      auth: {
        scheme: 'rsa',
        serialNo: '408B07E79B8269FEC3D5D3E6AB8ED163A6A380DB',
        privateKeyPem: pem(merchant.privateKey, 'pkcs8'),
        platformPublicKeyPem: pem(platform.publicKey, 'spki'),
        platformPublicKeyId: publicKeyId,
      },
    });
    const { data } = await client.certificates();
    expect(data[0]?.certificate_pem).toBe(certificatePem);

    const request = fake.sent[0]!;
    expect(request.headers.get('Wechatpay-Serial')).toBe(publicKeyId);
    const header = request.headers.get('Authorization') ?? '';
    expect(header.startsWith('WECHATPAY2-SHA256-RSA2048 ')).toBe(true);
    const fields = authFields(header);
    expect(fields.serial_no).toBe('408B07E79B8269FEC3D5D3E6AB8ED163A6A380DB');
    const message = `GET\n/v3/certificates\n${fields.timestamp}\n${fields.nonce_str}\n\n`;
    const signature = Buffer.from(fields.signature ?? '', 'base64');
    expect(verify('sha256', Buffer.from(message), merchant.publicKey, signature)).toBe(true);
  });
});
