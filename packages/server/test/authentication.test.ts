/**
 * Request authentication defects found in review, each a regression test named after it: nonces
 * of unbounded length and one tenant filling the shared nonce store, non-ASCII header fields that
 * could never verify, HEAD answered with a signature over a body it does not send, and an
 * absolute-form request target verified over the scheme and host (docs/authentication.md).
 */
import { connect } from 'node:net';
import { canonicalRequest, hmacAuthorization, rsaAuthorization, signHmac } from '@zhifu/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryNonceStore } from '../src/modules/idempotency/index.ts';
import { addMerchant, openTestApp, type TestApp } from './harness.ts';
import { authorizationFor, signedRequest } from './requests.ts';

/** Writes raw bytes (UTF-8) to the server and parses its answer once it closes the connection. */
async function rawRequest(
  t: TestApp,
  head: string,
): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const { port } = new URL(t.ctx.publicUrl);
  const answer = await new Promise<string>((resolve, reject) => {
    let text = '';
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(Buffer.from(head, 'utf8')));
    socket.on('data', (chunk) => {
      text += chunk.toString();
    });
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
  });
  const split = answer.indexOf('\r\n\r\n');
  const [status, ...lines] = answer.slice(0, split).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(status!.split(' ')[1]), headers, body: answer.slice(split + 4) };
}

const now = (t: TestApp) => Math.floor(t.ctx.clock.now() / 1000);

describe('request authentication over a real socket (sqlite)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await openTestApp('sqlite', { listen: true, app: { background: false } });
  });
  afterAll(() => t.close());

  /** A signed GET whose request line carries `target` and whose signature covers `signed`. */
  const get = (target: string, signed: string, o: { nonce?: string; method?: string } = {}) => {
    const authorization = authorizationFor(t, o.method ?? 'GET', signed, '', { nonce: o.nonce });
    return rawRequest(
      t,
      `${o.method ?? 'GET'} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${authorization}\r\n` +
        'Connection: close\r\n\r\n',
    );
  };

  it('a non-ASCII nonce_str is refused as malformed, naming the field, not as a signature that does not verify', async () => {
    // Node reads header bytes as latin1, so a UTF-8 nonce could never verify: refuse it plainly.
    const res = await get('/v3/certificates', '/v3/certificates', { nonce: 'nonce-é-1' });
    expect(res.status).toBe(401);
    const body = JSON.parse(res.body);
    expect(body).toMatchObject({ code: 'SIGN_ERROR', detail: { field: 'nonce_str', location: 'header' } });
    expect(body.message).toMatch(/nonce_str/);
    expect(res.headers['request-id']).toMatch(/^[0-9A-F]{40}-0$/);
    // The SDK's own nonces (32 alphanumerics) pass.
    expect((await get('/v3/certificates', '/v3/certificates')).status).toBe(200);
  });

  it('a non-ASCII timestamp or serial_no is refused as malformed, naming the field', async () => {
    const timestamp = hmacAuthorization({
      mchid: t.merchant.mchid,
      hmacKey: t.merchant.hmac_key,
      method: 'GET',
      url: '/v3/certificates',
      timestamp: `${now(t)}é`,
    });
    const serial = rsaAuthorization({
      mchid: t.merchant.mchid,
      serialNo: `${t.merchant.merchant_serial_no}é`,
      privateKey: t.merchant.merchant_private_key_pem,
      method: 'GET',
      url: '/v3/certificates',
      timestamp: now(t),
    });
    for (const [authorization, field] of [
      [timestamp, 'timestamp'],
      [serial, 'serial_no'],
    ] as const) {
      const res = await rawRequest(
        t,
        `GET /v3/certificates HTTP/1.1\r\nHost: x\r\nAuthorization: ${authorization}\r\nConnection: close\r\n\r\n`,
      );
      expect([res.status, JSON.parse(res.body).detail?.field]).toEqual([401, field]);
      expect(JSON.parse(res.body).message).toMatch(new RegExp(field));
    }
  });

  it('an absolute-form request target verifies over the path and query only (RFC 9112 §3.2.2)', async () => {
    const { host } = new URL(t.ctx.publicUrl);
    const path = `/v3/pay/transactions/out-trade-no/NOPE?mchid=${t.merchant.mchid}`;
    const absolute = `http://${host}${path}`;
    // Signed over the path, as the reference (§1.2) and every SDK sign: verified, routed, answered.
    const res = await get(absolute, path);
    expect([res.status, JSON.parse(res.body).code]).toEqual([404, 'ORDER_NOT_EXIST']);
    expect((await get(`http://${host}/v3/certificates`, '/v3/certificates')).status).toBe(200);
    // A signature over the scheme and host is not over the canonical target.
    const timestamp = now(t);
    const signature = signHmac(
      canonicalRequest('GET', absolute, timestamp, 'HOST-SIGNED-1', ''),
      t.merchant.hmac_key,
    );
    const hostSigned = await rawRequest(
      t,
      `GET ${absolute} HTTP/1.1\r\nHost: x\r\nAuthorization: ZHIFU-HMAC-SHA256 mchid="${t.merchant.mchid}",` +
        `nonce_str="HOST-SIGNED-1",timestamp="${timestamp}",signature="${signature}"\r\nConnection: close\r\n\r\n`,
    );
    expect(hostSigned.status).toBe(401);
    // A wrong method on an absolute-form target is still APIv3's empty 405.
    const wrong = await get(`http://${host}/v3/certificates`, '/v3/certificates', { method: 'DELETE' });
    expect([wrong.status, wrong.body]).toEqual([405, '']);
  });
});

describe('HEAD requests (sqlite)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await openTestApp('sqlite', { app: { background: false } });
  });
  afterAll(() => t.close());

  it('a signed HEAD on a GET route is an empty 405 with Request-ID, not a 200 signed over a GET body', async () => {
    const authorization = authorizationFor(t, 'HEAD', '/v3/certificates');
    const res = await t.app.inject({ method: 'HEAD', url: '/v3/certificates', headers: { authorization } });
    expect([res.statusCode, res.body]).toEqual([405, '']);
    expect(res.headers['request-id']).toMatch(/^[0-9A-F]{40}-0$/);
    expect(res.headers['wechatpay-signature']).toBeUndefined();
    const unknown = await t.app.inject({ method: 'HEAD', url: '/v3/nope' });
    expect([unknown.statusCode, unknown.body]).toEqual([404, '']);
  });

  it('HEAD /healthz answers 200 without a body, for monitors that probe with HEAD', async () => {
    const res = await t.app.inject({ method: 'HEAD', url: '/healthz' });
    expect([res.statusCode, res.body]).toEqual([200, '']);
    expect(res.headers['request-id']).toBeTruthy();
    expect((await t.app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    const page = await t.app.inject({ method: 'HEAD', url: '/cashier' });
    expect([page.statusCode, page.body, page.headers['content-type']]).toEqual([
      200,
      '',
      'text/html; charset=utf-8',
    ]);
  });
});

describe('nonce store bounds (sqlite)', () => {
  it('a nonce_str longer than 64 characters is refused with SIGN_ERROR before it is stored; 64 pass', async () => {
    const t = await openTestApp('sqlite', { app: { background: false } });
    try {
      const long = await signedRequest(t, 'GET', '/v3/certificates', undefined, { nonce: 'N'.repeat(65) });
      expect(long.statusCode).toBe(401);
      expect(long.json()).toMatchObject({ code: 'SIGN_ERROR', detail: { field: 'nonce_str' } });
      expect(long.json().message).toMatch(/nonce_str.*64/);
      const ok = await signedRequest(t, 'GET', '/v3/certificates', undefined, { nonce: 'N'.repeat(64) });
      expect(ok.statusCode).toBe(200);
      const spaced = await signedRequest(t, 'GET', '/v3/certificates', undefined, { nonce: 'two words' });
      expect(spaced.json().detail?.field).toBe('nonce_str');
    } finally {
      await t.close();
    }
  });

  it('one merchant filling its share of the nonce store gets 429; another merchant is still served', async () => {
    const t = await openTestApp('sqlite', {
      app: { background: false, nonces: new MemoryNonceStore({ entries_max: 6, signer_entries_max: 3 }) },
    });
    try {
      const other = await addMerchant(t);
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++)
        statuses.push((await signedRequest(t, 'GET', '/v3/certificates')).statusCode);
      expect(statuses).toEqual([200, 200, 200, 429, 429, 429]);
      const refused = await signedRequest(t, 'GET', '/v3/certificates');
      expect(refused.json()).toMatchObject({ code: 'FREQUENCY_LIMITED' });
      expect((await signedRequest(other, 'GET', '/v3/certificates')).statusCode).toBe(200);
      // Once the first merchant's nonces leave the window (10 min 1 s at most), it is served again.
      t.clock.set(t.clock.now() + 601_000);
      expect((await signedRequest(t, 'GET', '/v3/certificates')).statusCode).toBe(200);
    } finally {
      await t.close();
    }
  });
});

describe('MemoryNonceStore', () => {
  it('keeps each signer within its share, forgets expired nonces, and never forgets a live one', () => {
    const store = new MemoryNonceStore({ entries_max: 5, signer_entries_max: 2 });
    expect(store.claim('mch:1', 'a', 0, 1_000)).toBe('claimed');
    expect(store.claim('mch:1', 'a', 10, 1_000)).toBe('replayed');
    expect(store.claim('mch:2', 'a', 10, 1_000)).toBe('claimed');
    expect(store.claim('mch:1', 'b', 10, 2_000)).toBe('claimed');
    expect(store.claim('mch:1', 'c', 10, 1_000)).toBe('full');
    expect(store.claim('payer:u1', 'x', 10, 1_000)).toBe('claimed');
    expect(store.claim('payer:u2', 'x', 10, 1_000)).toBe('claimed');
    // The store as a whole is full of live nonces: refused, rather than forgetting one.
    expect(store.claim('mch:3', 'a', 20, 1_000)).toBe('full');
    // After 1 s, 'a' expired: room again, and 'b' (live until 2 s) is still remembered.
    expect(store.claim('mch:1', 'c', 1_500, 3_000)).toBe('claimed');
    expect(store.claim('mch:1', 'b', 1_500, 3_000)).toBe('replayed');
    expect(store.claim('mch:3', 'a', 1_500, 3_000)).toBe('claimed');
  });

  it('remembers a long nonce as a fixed-size digest: the same nonce is a replay, a one-character change is not', () => {
    const store = new MemoryNonceStore();
    const nonce = 'x'.repeat(64);
    expect(store.claim('mch:1', nonce, 0, 1_000)).toBe('claimed');
    expect(store.claim('mch:1', nonce, 1, 1_000)).toBe('replayed');
    expect(store.claim('mch:1', `${nonce.slice(0, 63)}y`, 1, 1_000)).toBe('claimed');
  });
});
