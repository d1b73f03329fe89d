/**
 * Merchant request authentication and response signing (reference §1–§2, docs/authentication.md).
 *
 * Two schemes over the same canonical message `METHOD\nPATH?QUERY\nTIMESTAMP\nNONCE\nBODY\n`:
 * - `WECHATPAY2-SHA256-RSA2048` — APIv3's, RSA PKCS#1 v1.5 / SHA-256 with the merchant key;
 * - `ZHIFU-HMAC-SHA256` — Zhifu's, HMAC-SHA256 under the merchant's hmac_key (no RSA cost).
 * Checks run in APIv3's order: header format, timestamp window, merchant and serial, signature
 * over the raw bytes received, then the nonce (only a verified request may claim one).
 */
import { createHmac, timingSafeEqual, verify } from 'node:crypto';
import { fail } from '../../lib/errors.ts';
import type { Ids } from '../../lib/ids.ts';
import { hex } from '../../lib/ids.ts';
import { nonce_chars_max, signature_window_s } from '../../lib/limits.ts';
import { rsaSign } from '../../lib/rsa.ts';
import { type NonceStore, windowEndMs, withinWindow } from '../../modules/idempotency/index.ts';
import type { MerchantKeyCache, MerchantKeys } from '../../modules/merchants/index.ts';

export type Scheme = 'rsa' | 'hmac';
export const rsa_scheme = 'WECHATPAY2-SHA256-RSA2048';
export const hmac_scheme = 'ZHIFU-HMAC-SHA256';

export interface AuthenticatedMerchant {
  keys: MerchantKeys;
  scheme: Scheme;
}

/** `key="value"` pairs in any order, as the SDKs send them in different orders (reference §1.1). */
export function parseAuthorization(header: string | undefined): {
  scheme: string;
  params: Map<string, string>;
} {
  if (!header) fail('signature_missing');
  const space = header.indexOf(' ');
  if (space <= 0) fail('signature_missing');
  const scheme = header.slice(0, space);
  const params = new Map<string, string>();
  for (const m of header.slice(space + 1).matchAll(/(\w+)="([^"]*)"/g)) params.set(m[1]!, m[2]!);
  return { scheme, params };
}

/** 0x21–0x7E without `"` (which ends a header value): what nonce_str and serial_no may hold. */
const printable_ascii = /^[!#-~]+$/;

function malformed(field: 'nonce_str' | 'timestamp' | 'serial_no', issue: string): never {
  fail('signature_field_malformed', { field, location: 'header', issue });
}

/** Serial numbers compare case-insensitively and ignoring leading zeros (Go vs Java formatting). */
export function sameSerial(a: string, b: string): boolean {
  const norm = (s: string) => s.toUpperCase().replace(/^0+/, '');
  return norm(a) === norm(b);
}

export function canonicalRequest(
  method: string,
  target: string,
  timestamp: string,
  nonce: string,
  body: Buffer,
): Buffer {
  return Buffer.concat([
    Buffer.from(`${method}\n${target}\n${timestamp}\n${nonce}\n`),
    body,
    Buffer.from('\n'),
  ]);
}

export async function authenticate(
  req: { method: string; url: string; authorization: string | undefined; body: Buffer },
  nowMs: number,
  merchants: MerchantKeyCache,
  nonces: NonceStore,
): Promise<AuthenticatedMerchant> {
  const { scheme: schemeName, params } = parseAuthorization(req.authorization);
  let scheme: Scheme;
  if (schemeName === rsa_scheme) scheme = 'rsa';
  else if (schemeName === hmac_scheme) scheme = 'hmac';
  else fail('signature_scheme_unknown');
  const mchid = params.get('mchid');
  const nonce = params.get('nonce_str');
  const timestamp = params.get('timestamp');
  const signature = params.get('signature');
  const serial = params.get('serial_no');
  if (!mchid || !nonce || !timestamp || !signature || (scheme === 'rsa' && !serial)) {
    fail(
      'signature_missing',
      undefined,
      'Required: mchid, nonce_str, timestamp, signature (and serial_no for RSA).',
    );
  }
  // Printable ASCII only: Node reads header bytes as latin1, so any other byte would be signed as
  // one text and verified as another. The nonce is bounded too, as the server stores it.
  if (nonce.length > nonce_chars_max || !printable_ascii.test(nonce)) {
    malformed('nonce_str', `1 to ${nonce_chars_max} printable ASCII characters (0x21–0x7E) other than "`);
  }
  if (!/^\d{1,12}$/.test(timestamp)) malformed('timestamp', 'Unix seconds in ASCII digits');
  if (scheme === 'rsa' && !printable_ascii.test(serial!)) {
    malformed(
      'serial_no',
      'printable ASCII characters (0x21–0x7E) other than ", as the certificate serial in hex',
    );
  }
  if (!withinWindow(Number(timestamp), nowMs, signature_window_s)) fail('signature_timestamp_stale');
  const keys = await merchants.get(mchid);
  if (!keys) fail('merchant_unknown', { field: 'mchid', value: mchid, location: 'header' });
  const message = canonicalRequest(req.method, req.url, timestamp, nonce, req.body);
  if (scheme === 'rsa') {
    if (!sameSerial(serial!, keys.merchantSerialNo)) fail('signature_serial_unknown');
    const ok = verify('sha256', message, keys.merchantPublicKey, Buffer.from(signature, 'base64'));
    if (!ok) fail('signature_invalid');
  } else {
    const expected = createHmac('sha256', keys.hmacKey).update(message).digest();
    const given = Buffer.from(signature, 'base64');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) fail('signature_invalid');
  }
  const claim = await nonces.claim(
    `mch:${mchid}`,
    nonce,
    nowMs,
    windowEndMs(Number(timestamp), signature_window_s),
  );
  if (claim === 'full') fail('nonce_store_full');
  if (claim === 'replayed') fail('signature_nonce_replayed');
  return { keys, scheme };
}

/**
 * The `Wechatpay-*` headers for a 2xx response body (204: empty body). RSA requests get an APIv3
 * signature — with the public-key-mode key when the request named `PUB_KEY_ID_…` in
 * Wechatpay-Serial (reference §2.4), else with the platform certificate key; HMAC requests get an
 * HMAC signature under the merchant's hmac_key.
 */
export async function responseSignatureHeaders(
  who: AuthenticatedMerchant,
  requestSerial: string | undefined,
  body: string,
  nowMs: number,
  ids: Ids,
): Promise<Record<string, string>> {
  const timestamp = String(Math.floor(nowMs / 1000));
  const nonce = hex(ids, 32);
  const message = `${timestamp}\n${nonce}\n${body}\n`;
  const k = who.keys;
  if (who.scheme === 'hmac') {
    return {
      'Wechatpay-Timestamp': timestamp,
      'Wechatpay-Nonce': nonce,
      'Wechatpay-Signature': createHmac('sha256', k.hmacKey).update(message).digest('base64'),
      'Wechatpay-Serial': 'ZHIFU-HMAC',
      'Wechatpay-Signature-Type': hmac_scheme,
    };
  }
  const publicKeyMode = requestSerial !== undefined && requestSerial === k.platformPublicKeyId;
  return {
    'Wechatpay-Timestamp': timestamp,
    'Wechatpay-Nonce': nonce,
    'Wechatpay-Signature': await rsaSign(message, publicKeyMode ? k.pubkeyPrivateKey : k.platformPrivateKey),
    'Wechatpay-Serial': publicKeyMode ? k.platformPublicKeyId : k.platformSerialNo,
    'Wechatpay-Signature-Type': rsa_scheme,
  };
}
