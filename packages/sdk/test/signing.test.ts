import { createCipheriv, createHmac, generateKeyPairSync, sign, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  canonicalRequest,
  createNonce,
  createResponseVerifier,
  decryptResource,
  hmacAuthorization,
  rsaAuthorization,
  signRsa,
  ZhifuSignatureError,
} from '../src/index.ts';

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
const platformCertPem = fixture('platform-cert.pem');
const platformKeyPem = fixture('platform-key.pem');
const platformSerial = '5157F09EFDC096DE15EBE81A47057A7232F1B8E1';
const merchantKeys = generateKeyPairSync('rsa', { modulusLength: 2048 });

const NOW = 1_700_000_000;
const hmacKey = 'hmac-key-of-merchant-1900000001';

function hmacSigned(body: string, overrides: Record<string, string> = {}): Record<string, string> {
  const timestamp = String(NOW);
  const nonce = 'response-nonce';
  const signature = createHmac('sha256', Buffer.from(hmacKey, 'utf8'))
    .update(`${timestamp}\n${nonce}\n${body}\n`)
    .digest('base64');
  return {
    'Wechatpay-Timestamp': timestamp,
    'Wechatpay-Nonce': nonce,
    'Wechatpay-Signature': signature,
    'Wechatpay-Serial': 'ZHIFU-HMAC',
    'Wechatpay-Signature-Type': 'ZHIFU-HMAC-SHA256',
    ...overrides,
  };
}

function rsaSigned(body: string, key: string, serial: string, timestamp = NOW): Headers {
  const signature = sign('sha256', Buffer.from(`${timestamp}\nn1\n${body}\n`), key).toString('base64');
  return new Headers({
    'Wechatpay-Timestamp': String(timestamp),
    'Wechatpay-Nonce': 'n1',
    'Wechatpay-Signature': signature,
    'Wechatpay-Serial': serial,
    'Request-ID': 'req-1',
  });
}

describe('canonicalRequest', () => {
  it('builds the APIv3 query example byte for byte, upper-casing the method', () => {
    const message = canonicalRequest(
      'get',
      '/v3/pay/transactions/out-trade-no/1217752501201407033233368018?mchid=1230000109',
      1554208460,
      '593BEC0C930BF1AFEB40B4A08C8FB242',
      '',
    );
    expect(message).toBe(
      'GET\n/v3/pay/transactions/out-trade-no/1217752501201407033233368018?mchid=1230000109\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n',
    );
  });

  it('keeps the body verbatim, including a trailing newline, and ends with one more', () => {
    expect(canonicalRequest('POST', '/v3/x', '1', 'n', '{"a":1}\n')).toBe('POST\n/v3/x\n1\nn\n{"a":1}\n\n');
  });
});

describe('createNonce', () => {
  it('gives 32 fresh alphanumerics', () => {
    const a = createNonce();
    expect(a).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(createNonce()).not.toBe(a);
    expect(createNonce(8)).toHaveLength(8);
    expect(createNonce(64)).toMatch(/^[A-Za-z0-9]{64}$/);
  });

  it('refuses a length the server would refuse (1 to 64 characters)', () => {
    for (const length of [0, 65, 1.5]) expect(() => createNonce(length)).toThrow(RangeError);
  });
});

describe('RSA request signing', () => {
  it('produces a PKCS#1 v1.5 SHA-256 signature that verifies with the public key', () => {
    const message = canonicalRequest('POST', '/v3/pay/transactions/jsapi', 1554208460, 'abc', '{"x":1}');
    const signature = signRsa(message, merchantKeys.privateKey);
    const bytes = Buffer.from(signature, 'base64');
    expect(bytes).toHaveLength(256);
    expect(verify('sha256', Buffer.from(message), merchantKeys.publicKey, bytes)).toBe(true);
    expect(verify('sha256', Buffer.from(`${message}x`), merchantKeys.publicKey, bytes)).toBe(false);
  });

  it('formats the header as mchid, nonce_str, timestamp, serial_no, signature and signs the path of an absolute URL', () => {
    const header = rsaAuthorization({
      mchid: '1900007291',
      serialNo: '408B07E79B8269FEC3D5D3E6AB8ED163A6A380DB',
      privateKey: merchantKeys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      method: 'GET',
      url: 'https://zhifu.example:8443/v3/pay/transactions/id/42?mchid=1900007291',
      timestamp: 1554208460,
      nonce: '593BEC0C930BF1AFEB40B4A08C8FB242',
    });
    const match =
      /^WECHATPAY2-SHA256-RSA2048 mchid="1900007291",nonce_str="593BEC0C930BF1AFEB40B4A08C8FB242",timestamp="1554208460",serial_no="408B07E79B8269FEC3D5D3E6AB8ED163A6A380DB",signature="([A-Za-z0-9+/=]+)"$/.exec(
        header,
      );
    expect(match).not.toBeNull();
    const message =
      'GET\n/v3/pay/transactions/id/42?mchid=1900007291\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n';
    expect(
      verify('sha256', Buffer.from(message), merchantKeys.publicKey, Buffer.from(match![1]!, 'base64')),
    ).toBe(true);
  });
});

describe('HMAC request signing', () => {
  it('signs the canonical message with the UTF-8 bytes of hmac_key', () => {
    const body = '{"mchid":"1900000001","description":"茶"}';
    const header = hmacAuthorization({
      mchid: '1900000001',
      hmacKey,
      method: 'POST',
      url: '/v3/pay/transactions/native',
      body,
      timestamp: 1700000000,
      nonce: 'abcdefghijklmnopqrstuvwxyz012345',
    });
    const expected = createHmac('sha256', Buffer.from(hmacKey, 'utf8'))
      .update(
        `POST\n/v3/pay/transactions/native\n1700000000\nabcdefghijklmnopqrstuvwxyz012345\n${body}\n`,
        'utf8',
      )
      .digest('base64');
    expect(header).toBe(
      `ZHIFU-HMAC-SHA256 mchid="1900000001",nonce_str="abcdefghijklmnopqrstuvwxyz012345",timestamp="1700000000",signature="${expected}"`,
    );
  });

  it('uses a fresh nonce and the current time when none is given', () => {
    const a = hmacAuthorization({ mchid: '1', hmacKey, method: 'GET', url: '/v3/certificates' });
    const b = hmacAuthorization({ mchid: '1', hmacKey, method: 'GET', url: '/v3/certificates' });
    const nonceOf = (h: string) => /nonce_str="([^"]+)"/.exec(h)?.[1];
    expect(nonceOf(a)).toMatch(/^[A-Za-z0-9]{32}$/);
    expect(nonceOf(a)).not.toBe(nonceOf(b));
    const timestamp = Number(/timestamp="(\d+)"/.exec(a)?.[1]);
    expect(Math.abs(timestamp - Date.now() / 1000)).toBeLessThan(5);
  });
});

describe('HMAC response verification', () => {
  const verifyHmac = createResponseVerifier({ scheme: 'hmac', hmacKey });
  const body = '{"prepay_id":"wx1"}';

  it('accepts a response signed with the merchant key, from a plain header object of any case', () => {
    const lower = Object.fromEntries(Object.entries(hmacSigned(body)).map(([k, v]) => [k.toLowerCase(), v]));
    expect(() => verifyHmac({ headers: lower, body, nowSeconds: NOW })).not.toThrow();
    expect(() => verifyHmac({ headers: new Headers(hmacSigned(body)), body, nowSeconds: NOW })).not.toThrow();
  });

  it('accepts a 204 signed over an empty body', () => {
    expect(() => verifyHmac({ headers: hmacSigned(''), body: '', nowSeconds: NOW })).not.toThrow();
  });

  it('rejects a tampered body', () => {
    expect(() =>
      verifyHmac({ headers: hmacSigned(body), body: '{"prepay_id":"wx2"}', nowSeconds: NOW }),
    ).toThrow(/HMAC does not match/);
  });

  it('rejects a serial other than ZHIFU-HMAC', () => {
    const headers = hmacSigned(body, { 'Wechatpay-Serial': platformSerial });
    expect(() => verifyHmac({ headers, body, nowSeconds: NOW })).toThrow(ZhifuSignatureError);
  });

  it('rejects timestamps more than 300 s away, and accepts exactly 300 s', () => {
    const headers = hmacSigned(body);
    expect(() => verifyHmac({ headers, body, nowSeconds: NOW + 301 })).toThrow(/more than 300 s/);
    expect(() => verifyHmac({ headers, body, nowSeconds: NOW - 301 })).toThrow(/more than 300 s/);
    expect(() => verifyHmac({ headers, body, nowSeconds: NOW + 300 })).not.toThrow();
  });

  it('rejects missing headers and truncated signatures', () => {
    const { 'Wechatpay-Nonce': _omitted, ...withoutNonce } = hmacSigned(body);
    expect(() => verifyHmac({ headers: withoutNonce, body, nowSeconds: NOW })).toThrow(/are all required/);
    const truncated = hmacSigned(body, { 'Wechatpay-Signature': 'AAAA' });
    expect(() => verifyHmac({ headers: truncated, body, nowSeconds: NOW })).toThrow(/HMAC does not match/);
  });
});

describe('RSA response verification', () => {
  const body = '{"code_url":"weixin://wxpay/bizpayurl?pr=1"}';

  it('verifies platform-certificate signatures, tolerating serial case and leading zeros', () => {
    const check = createResponseVerifier({ scheme: 'rsa', platformCertificatePem: platformCertPem });
    expect(() =>
      check({ headers: rsaSigned(body, platformKeyPem, platformSerial), body, nowSeconds: NOW }),
    ).not.toThrow();
    const loose = `00${platformSerial.toLowerCase()}`;
    expect(() =>
      check({ headers: rsaSigned(body, platformKeyPem, loose), body, nowSeconds: NOW }),
    ).not.toThrow();
  });

  it('rejects a tampered body, carrying the Request-ID', () => {
    const check = createResponseVerifier({ scheme: 'rsa', platformCertificatePem: platformCertPem });
    const headers = rsaSigned(body, platformKeyPem, platformSerial);
    try {
      check({ headers, body: body.replace('pr=1', 'pr=2'), nowSeconds: NOW });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ZhifuSignatureError);
      expect((error as ZhifuSignatureError).message).toMatch(/RSA signature does not match/);
      expect((error as ZhifuSignatureError).requestId).toBe('req-1');
      expect((error as ZhifuSignatureError).code).toBe('signature_invalid');
    }
  });

  it('rejects an unknown serial and a stale timestamp', () => {
    const check = createResponseVerifier({ scheme: 'rsa', platformCertificatePem: platformCertPem });
    const wrongSerial = rsaSigned(body, platformKeyPem, '7132D72A03E93CDDF8C03BBD1F37EEDF00000000');
    expect(() => check({ headers: wrongSerial, body, nowSeconds: NOW })).toThrow(/unknown Wechatpay-Serial/);
    const stale = rsaSigned(body, platformKeyPem, platformSerial, NOW - 301);
    expect(() => check({ headers: stale, body, nowSeconds: NOW })).toThrow(/more than 300 s/);
  });

  it('verifies public-key mode by PUB_KEY_ID and rejects signatures by another key', () => {
    const pub = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const id = 'PUB_KEY_ID_0114232134912410000000000000';
    const check = createResponseVerifier({
      scheme: 'rsa',
      platformPublicKeyPem: pub.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      platformPublicKeyId: id,
    });
    const pubKeyPem = pub.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    expect(() => check({ headers: rsaSigned(body, pubKeyPem, id), body, nowSeconds: NOW })).not.toThrow();
    expect(() => check({ headers: rsaSigned(body, platformKeyPem, id), body, nowSeconds: NOW })).toThrow(
      /RSA signature does not match/,
    );
    expect(() =>
      check({ headers: rsaSigned(body, platformKeyPem, platformSerial), body, nowSeconds: NOW }),
    ).toThrow(/unknown Wechatpay-Serial/);
  });

  it('refuses unusable key configurations', () => {
    expect(() => createResponseVerifier({ scheme: 'rsa' })).toThrow(TypeError);
    expect(() => createResponseVerifier({ scheme: 'rsa', platformPublicKeyPem: 'x' })).toThrow(/go together/);
    expect(() => createResponseVerifier({ scheme: 'rsa', platformCertificatePem: 'not a pem' })).toThrow(
      /not a PEM X.509 certificate/,
    );
    expect(() => createResponseVerifier({ scheme: 'hmac', hmacKey: '' })).toThrow(TypeError);
  });
});

describe('decryptResource', () => {
  // Reference Appendix A.
  const apiv3Key = '0123456789abcdef0123456789abcdef';
  const plaintext =
    '{"mchid":"1230000109","out_trade_no":"T1","trade_state":"SUCCESS","amount":{"total":100,"payer_total":100,"currency":"CNY","payer_currency":"CNY"}}';
  const ciphertext =
    'DUcegK33A8MEOgdJt8PWwAdrzVDy3c3PSUd0ZmYkqr+HZBhZ2IINKIjOKcbe3e1eNfXz6wxj1gnpkfSxBuiofdM+XsZnmix7IwF0B25KWYtGsEOG9BkHkW6vPJWXGb+dDkrMlAqB0z4bBSb3cFNOmBrHPDIQkJh492qwJ25TrIFGX+Ti4gMtcSCH8Gf8xp7FZpaf6ddgVBp3hap8k+ZR8T5BDA==';
  const resource = { ciphertext, nonce: 'fdasflkja484', associated_data: 'transaction' };

  it('decrypts the Appendix A vector', () => {
    expect(decryptResource(resource, apiv3Key)).toBe(plaintext);
  });

  it('round-trips with an independent AES-256-GCM encryption that appends the tag', () => {
    const cipher = createCipheriv('aes-256-gcm', Buffer.from(apiv3Key), Buffer.from(resource.nonce));
    cipher.setAAD(Buffer.from(resource.associated_data));
    const sealed = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    expect(sealed.toString('base64')).toBe(ciphertext);
    expect(decryptResource({ ...resource, ciphertext: sealed.toString('base64') }, apiv3Key)).toBe(plaintext);
  });

  it('rejects altered data, a wrong AAD and a wrong key', () => {
    const bytes = Buffer.from(ciphertext, 'base64');
    bytes[0] = (bytes[0] ?? 0) ^ 1;
    expect(() => decryptResource({ ...resource, ciphertext: bytes.toString('base64') }, apiv3Key)).toThrow(
      ZhifuSignatureError,
    );
    expect(() => decryptResource({ ...resource, associated_data: 'refund' }, apiv3Key)).toThrow(
      ZhifuSignatureError,
    );
    expect(() => decryptResource(resource, 'fedcba9876543210fedcba9876543210')).toThrow(ZhifuSignatureError);
    expect(() => decryptResource(resource, 'short')).toThrow(TypeError);
  });
});
