/**
 * Request signing, response verification and resource decryption (reference §1, §2, §5.2).
 * Pure functions over node:crypto; the client and merchants' webhook handlers both use them.
 */

import type { KeyObject } from 'node:crypto';
import {
  createDecipheriv,
  createHmac,
  createPrivateKey,
  createPublicKey,
  randomBytes,
  sign,
  timingSafeEqual,
  verify,
  X509Certificate,
} from 'node:crypto';
import { ZhifuSignatureError } from './errors.ts';

/** APIv3 §1.1 / §2.1: signed timestamps further than 5 minutes from the local clock are stale. */
export const signatureWindowSeconds = 300;
/** `Wechatpay-Serial` of responses the server signs with a merchant's HMAC key. */
export const hmacResponseSerial = 'ZHIFU-HMAC';

const ALPHANUMERICS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const GCM_TAG_BYTES = 16;
const APIV3_KEY_BYTES = 32;

/** The server accepts a `nonce_str` of 1 to 64 printable ASCII characters (docs/authentication.md). */
export const nonceMaxLength = 64;

/**
 * A random string of alphanumerics (32 by default, like the official SDKs' `nonce_str`); `length`
 * is 1 to `nonceMaxLength` (64), what the server accepts.
 *
 * @example
 * createNonce(); // 'q3ZL0cS8...' (32 characters)
 */
export function createNonce(length = 32): string {
  if (!Number.isInteger(length) || length < 1 || length > nonceMaxLength) {
    throw new RangeError(`createNonce: length must be an integer from 1 to ${nonceMaxLength}`);
  }
  let nonce = '';
  while (nonce.length < length) {
    for (const byte of randomBytes(length)) {
      // 248 = 4 × 62: dropping bytes ≥ 248 keeps every character equally likely.
      if (byte < 248 && nonce.length < length) nonce += ALPHANUMERICS.charAt(byte % ALPHANUMERICS.length);
    }
  }
  return nonce;
}

/** Current Unix time in whole seconds, as signatures carry it. */
export function unixSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/**
 * The 5-line message both signature schemes sign (APIv3 §1.2); every line ends with `\n`.
 *
 * @example
 * canonicalRequest('GET', '/v3/certificates', 1554208460, 'N0NCE', '');
 * // 'GET\n/v3/certificates\n1554208460\nN0NCE\n\n'
 */
export function canonicalRequest(
  method: string,
  pathWithQuery: string,
  timestamp: number | string,
  nonce: string,
  body: string,
): string {
  return `${method.toUpperCase()}\n${pathWithQuery}\n${timestamp}\n${nonce}\n${body}\n`;
}

/**
 * Base64 RSA-SHA256 (PKCS#1 v1.5) signature of `message`, as APIv3 signs requests.
 *
 * @example
 * signRsa(canonicalRequest('GET', '/v3/certificates', ts, nonce, ''), privateKeyPem);
 */
export function signRsa(message: string, privateKey: KeyObject | string): string {
  return sign('sha256', Buffer.from(message, 'utf8'), privateKey).toString('base64');
}

/**
 * Base64 HMAC-SHA256 of `message`, keyed with the UTF-8 bytes of the merchant's `hmac_key`.
 *
 * @example
 * signHmac('1700000000\nnonce\n{}\n', 'my-hmac-key');
 */
export function signHmac(message: string, hmacKey: string): string {
  return createHmac('sha256', Buffer.from(hmacKey, 'utf8')).update(message, 'utf8').digest('base64');
}

export interface AuthorizationInput {
  mchid: string;
  method: string;
  /** Path with query exactly as sent (`/v3/pay/transactions/id/42?mchid=1`), or an absolute URL. */
  url: string;
  /** The exact body string that will be sent; `''` (default) for none. */
  body?: string;
  /** Unix seconds; defaults to now. */
  timestamp?: number | string;
  /**
   * Defaults to 32 fresh random alphanumerics. The server accepts 1 to 64 printable ASCII characters
   * (0x21–0x7E) other than `"`, and each nonce once per merchant within the 5-minute window.
   */
  nonce?: string;
}

/**
 * `Authorization` header value for the APIv3 RSA scheme (`WECHATPAY2-SHA256-RSA2048`).
 *
 * @example
 * const authorization = rsaAuthorization({
 *   mchid: '1900007291', serialNo: '408B07E7…', privateKey: pem,
 *   method: 'POST', url: '/v3/pay/transactions/native', body,
 * });
 */
export function rsaAuthorization(
  input: AuthorizationInput & { serialNo: string; privateKey: KeyObject | string },
): string {
  const { timestamp, nonce, message } = prepare(input);
  const signature = signRsa(message, input.privateKey);
  return `WECHATPAY2-SHA256-RSA2048 mchid="${input.mchid}",nonce_str="${nonce}",timestamp="${timestamp}",serial_no="${input.serialNo}",signature="${signature}"`;
}

/**
 * `Authorization` header value for Zhifu's HMAC scheme (`ZHIFU-HMAC-SHA256`): the same message as
 * APIv3, signed with HMAC-SHA256 under the merchant's `hmac_key`.
 *
 * @example
 * const authorization = hmacAuthorization({ mchid: '1900007291', hmacKey, method: 'GET', url: '/v3/certificates' });
 */
export function hmacAuthorization(input: AuthorizationInput & { hmacKey: string }): string {
  const { timestamp, nonce, message } = prepare(input);
  const signature = signHmac(message, input.hmacKey);
  return `ZHIFU-HMAC-SHA256 mchid="${input.mchid}",nonce_str="${nonce}",timestamp="${timestamp}",signature="${signature}"`;
}

function prepare(input: AuthorizationInput): { timestamp: number | string; nonce: string; message: string } {
  const timestamp = input.timestamp ?? unixSeconds();
  const nonce = input.nonce ?? createNonce();
  const target = /^https?:\/\//i.test(input.url) ? pathWithQuery(new URL(input.url)) : input.url;
  return {
    timestamp,
    nonce,
    message: canonicalRequest(input.method, target, timestamp, nonce, input.body ?? ''),
  };
}

/** The request target as it goes on the wire: path plus query, no scheme or host (APIv3 §1.2). */
export function pathWithQuery(url: URL): string {
  return `${url.pathname}${url.search}`;
}

/** Keys a response or callback may be signed with. */
export type ResponseKeys =
  | { scheme: 'hmac'; hmacKey: string }
  | {
      scheme: 'rsa';
      /** Platform certificate (PEM); responses whose `Wechatpay-Serial` is its serial verify with it. */
      platformCertificatePem?: string;
      /** Overrides the serial read from `platformCertificatePem`. */
      platformSerialNo?: string;
      /** WeChat Pay public key (PEM) for public-key mode; needs `platformPublicKeyId`. */
      platformPublicKeyPem?: string;
      /** `PUB_KEY_ID_…` that responses signed with `platformPublicKeyPem` carry as `Wechatpay-Serial`. */
      platformPublicKeyId?: string;
    };

/** Response headers: a fetch `Headers` or a plain object such as Node's `IncomingHttpHeaders`. */
export type HeaderSource = Headers | Record<string, string | string[] | undefined>;

export interface SignedMessage {
  headers: HeaderSource;
  /** The raw body exactly as received; `''` for 204. */
  body: string;
  /** Defaults to now. */
  nowSeconds?: number;
}

/** Throws `ZhifuSignatureError` unless the message is authentic and fresh. */
export type ResponseVerifier = (message: SignedMessage) => void;

/**
 * Parses the keys once and returns a verifier for responses (APIv3 §2.2) and callbacks (§5.3):
 * it checks `Wechatpay-Timestamp` / `-Nonce` / `-Signature` / `-Serial` over `${ts}\n${nonce}\n${body}\n`,
 * rejects skew over 5 minutes and unknown serials, and compares HMACs in constant time.
 * Throws `TypeError` for unusable keys.
 *
 * @example
 * const verify = createResponseVerifier({ scheme: 'hmac', hmacKey });
 * verify({ headers: response.headers, body: await response.text() });
 */
export function createResponseVerifier(keys: ResponseKeys): ResponseVerifier {
  const check = keys.scheme === 'hmac' ? hmacCheck(keys.hmacKey) : rsaCheck(keys);
  return ({ headers, body, nowSeconds = unixSeconds() }) => {
    const requestId = header(headers, 'Request-ID');
    const fail = (reason: string): never => {
      throw new ZhifuSignatureError(`response signature rejected: ${reason}`, requestId);
    };
    const timestamp = header(headers, 'Wechatpay-Timestamp');
    const nonce = header(headers, 'Wechatpay-Nonce');
    const signature = header(headers, 'Wechatpay-Signature');
    const serial = header(headers, 'Wechatpay-Serial');
    if (!timestamp || !nonce || !signature || !serial) {
      return fail('Wechatpay-Timestamp, -Nonce, -Signature and -Serial are all required');
    }
    if (!/^\d+$/.test(timestamp)) return fail(`Wechatpay-Timestamp "${timestamp}" is not Unix seconds`);
    if (Math.abs(nowSeconds - Number(timestamp)) > signatureWindowSeconds) {
      return fail(`Wechatpay-Timestamp ${timestamp} is more than ${signatureWindowSeconds} s from now`);
    }
    const problem = check(serial, `${timestamp}\n${nonce}\n${body}\n`, signature);
    if (problem) fail(problem);
  };
}

/** Returns why the signature is not acceptable, or undefined when it is. */
type SignatureCheck = (serial: string, message: string, signature: string) => string | undefined;

function hmacCheck(hmacKey: string): SignatureCheck {
  if (typeof hmacKey !== 'string' || hmacKey === '') {
    throw new TypeError('hmacKey must be a non-empty string');
  }
  return (serial, message, signature) => {
    if (serial !== hmacResponseSerial) return `Wechatpay-Serial "${serial}" is not ${hmacResponseSerial}`;
    const expected = Buffer.from(signHmac(message, hmacKey), 'base64');
    const given = Buffer.from(signature, 'base64');
    const equal = given.length === expected.length && timingSafeEqual(given, expected);
    return equal ? undefined : 'HMAC does not match';
  };
}

function rsaCheck(keys: Extract<ResponseKeys, { scheme: 'rsa' }>): SignatureCheck {
  const { platformCertificatePem, platformSerialNo, platformPublicKeyPem, platformPublicKeyId } = keys;
  if (platformCertificatePem === undefined && platformPublicKeyPem === undefined) {
    throw new TypeError(
      'platformCertificatePem or platformPublicKeyPem is required to verify RSA signatures',
    );
  }
  if (platformSerialNo !== undefined && platformCertificatePem === undefined) {
    throw new TypeError('platformSerialNo needs platformCertificatePem');
  }
  if ((platformPublicKeyPem === undefined) !== (platformPublicKeyId === undefined)) {
    throw new TypeError('platformPublicKeyPem and platformPublicKeyId go together');
  }
  if (platformPublicKeyId !== undefined && !platformPublicKeyId.startsWith('PUB_KEY_ID_')) {
    throw new TypeError(`platformPublicKeyId must start with PUB_KEY_ID_, got "${platformPublicKeyId}"`);
  }
  const certificate =
    platformCertificatePem === undefined ? undefined : parseCertificate(platformCertificatePem);
  const certificateSerial = certificate && normalizeSerial(platformSerialNo ?? certificate.serialNumber);
  const publicKey = platformPublicKeyPem === undefined ? undefined : parsePublicKey(platformPublicKeyPem);
  return (serial, message, signature) => {
    const key =
      serial === platformPublicKeyId
        ? publicKey
        : normalizeSerial(serial) === certificateSerial
          ? certificate?.publicKey
          : undefined;
    if (!key) return `unknown Wechatpay-Serial "${serial}"`;
    const valid = verify('sha256', Buffer.from(message, 'utf8'), key, Buffer.from(signature, 'base64'));
    return valid ? undefined : 'RSA signature does not match';
  };
}

/** SDKs print serials with and without a leading zero nibble and in either case (reference §1.1). */
function normalizeSerial(serial: string): string {
  return serial.toUpperCase().replace(/^0+/, '');
}

function parseCertificate(pem: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (cause) {
    throw new TypeError('platformCertificatePem is not a PEM X.509 certificate', { cause });
  }
}

function parsePublicKey(pem: string): KeyObject {
  try {
    return createPublicKey(pem);
  } catch (cause) {
    throw new TypeError('platformPublicKeyPem is not a PEM public key', { cause });
  }
}

/**
 * Parses a PEM private key, throwing `TypeError` with `name` in the message when it is not one.
 *
 * @example
 * const key = parsePrivateKey(readFileSync('apiclient_key.pem', 'utf8'));
 */
export function parsePrivateKey(pem: string, name = 'privateKeyPem'): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (cause) {
    throw new TypeError(`${name} is not a PEM private key`, { cause });
  }
}

function header(headers: HeaderSource, name: string): string | undefined {
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === wanted) return Array.isArray(value) ? value[0] : value;
  }
  return undefined;
}

/** An AES-256-GCM encrypted resource as found in `/v3/certificates` and callbacks. */
export interface EncryptedResource {
  ciphertext: string;
  nonce: string;
  associated_data?: string;
}

/**
 * Decrypts a `/v3/certificates` certificate or callback resource (reference §2.3, §5.2): AES-256-GCM
 * with the APIv3 key's UTF-8 bytes, the nonce as IV, `associated_data` as AAD and the 16-byte tag at
 * the end of the base64-decoded ciphertext. Throws `ZhifuSignatureError` if authentication fails.
 *
 * @example
 * const transaction = JSON.parse(decryptResource(notification.resource, apiv3Key));
 */
export function decryptResource(resource: EncryptedResource, apiv3Key: string): string {
  const key = Buffer.from(apiv3Key, 'utf8');
  if (key.length !== APIV3_KEY_BYTES) throw new TypeError(`apiv3Key must be ${APIV3_KEY_BYTES} bytes`);
  const data = Buffer.from(resource.ciphertext, 'base64');
  if (data.length < GCM_TAG_BYTES) {
    throw new ZhifuSignatureError('resource ciphertext is shorter than its tag');
  }
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(resource.nonce, 'utf8'));
  decipher.setAuthTag(data.subarray(data.length - GCM_TAG_BYTES));
  decipher.setAAD(Buffer.from(resource.associated_data ?? '', 'utf8'));
  try {
    return Buffer.concat([
      decipher.update(data.subarray(0, data.length - GCM_TAG_BYTES)),
      decipher.final(),
    ]).toString('utf8');
  } catch {
    throw new ZhifuSignatureError('resource failed AES-GCM authentication (wrong APIv3 key or altered data)');
  }
}
