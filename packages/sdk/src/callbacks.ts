/**
 * APIv3 HTTP callbacks (`notify_url`, reference §5): verify the `Wechatpay-*` signature over the
 * raw body, check the serial and the timestamp window, then decrypt the AES-256-GCM resource. The
 * checks are the response verifier's and `decryptResource` from signing.ts; this file only puts
 * them together for a webhook handler.
 */
import { ZhifuSignatureError } from './errors.ts';
import { isRecord } from './events.ts';
import type { HeaderSource } from './signing.ts';
import { createResponseVerifier, decryptResource, signatureWindowSeconds } from './signing.ts';
import type { RefundStatus, Transaction } from './types.ts';

export type CallbackEventType =
  | 'TRANSACTION.SUCCESS'
  | 'REFUND.SUCCESS'
  | 'REFUND.ABNORMAL'
  | 'REFUND.CLOSED';

/** The decrypted resource of `REFUND.*` callbacks (`refund_status`, not `status`). */
export interface RefundCallbackResource {
  mchid: string;
  transaction_id: string;
  out_trade_no: string;
  refund_id: string;
  out_refund_no: string;
  refund_status: RefundStatus;
  /** RFC 3339; present once the refund succeeded. */
  success_time?: string;
  user_received_account: string;
  amount: { total: number; refund: number; payer_total: number; payer_refund: number };
}

/** A verified, decrypted callback. `resource` is a `Transaction` for TRANSACTION.SUCCESS. */
export interface VerifiedCallback<R = Transaction | RefundCallbackResource> {
  /** The callback id; the same on every retry of one notification, so use it to deduplicate. */
  id: string;
  event_type: CallbackEventType;
  create_time: string;
  resource_type: string;
  summary: string;
  /** `transaction` or `refund`. */
  original_type: string;
  resource: R;
}

export interface VerifyCallbackInput {
  /** The request headers (Node's `req.headers`, a fetch `Headers`, or a plain object). */
  headers: HeaderSource;
  /** The RAW body exactly as received — not re-serialized JSON, which would not verify. */
  body: string | Buffer;
  /** Platform certificate (PEM): callbacks whose `Wechatpay-Serial` is its serial verify with it. */
  platformCertificatePem?: string;
  /** Overrides the serial read from `platformCertificatePem`. */
  platformSerialNo?: string;
  /** WeChat Pay public key (PEM), for public-key mode; needs `platformPublicKeyId`. */
  platformPublicKeyPem?: string;
  platformPublicKeyId?: string;
  /** The 32-byte APIv3 key that encrypts the resource. */
  apiv3Key: string;
  /** Defaults to now. */
  nowSeconds?: number;
  /** Largest accepted distance between `Wechatpay-Timestamp` and now (default 300). */
  maxSkewSeconds?: number;
}

/**
 * Verifies and decrypts an APIv3 callback. Throws `ZhifuSignatureError` on any failure: a missing
 * header, a timestamp outside the window, an unknown serial, a signature that does not match the
 * raw body, a body that is not a callback, or a resource that fails AES-GCM authentication; a
 * `TypeError` for unusable keys. Answer the callback with 2xx only after it returned.
 *
 * @example
 * app.post('/notify', { config: { rawBody: true } }, (req, reply) => {
 *   const cb = verifyCallback({
 *     headers: req.headers, body: req.rawBody,
 *     platformCertificatePem: c.platform_certificate_pem, apiv3Key: c.apiv3_key,
 *   });
 *   if (cb.event_type === 'TRANSACTION.SUCCESS') markPaid(cb.resource);
 *   reply.code(204).send();
 * });
 */
export function verifyCallback<R = Transaction | RefundCallbackResource>(
  input: VerifyCallbackInput,
): VerifiedCallback<R> {
  const maxSkew = input.maxSkewSeconds ?? signatureWindowSeconds;
  if (!Number.isFinite(maxSkew) || maxSkew < 0) throw new TypeError('maxSkewSeconds must be a number ≥ 0');
  if (typeof input.apiv3Key !== 'string' || Buffer.byteLength(input.apiv3Key, 'utf8') !== 32) {
    throw new TypeError('apiv3Key must be 32 bytes');
  }
  const body = typeof input.body === 'string' ? input.body : input.body.toString('utf8');
  const verify = createResponseVerifier({
    scheme: 'rsa',
    platformCertificatePem: input.platformCertificatePem,
    platformSerialNo: input.platformSerialNo,
    platformPublicKeyPem: input.platformPublicKeyPem,
    platformPublicKeyId: input.platformPublicKeyId,
  });
  const now = input.nowSeconds ?? Math.floor(Date.now() / 1000);
  const timestamp = headerOf(input.headers, 'Wechatpay-Timestamp');
  if (timestamp !== undefined && /^\d+$/.test(timestamp) && Math.abs(now - Number(timestamp)) > maxSkew) {
    throw new ZhifuSignatureError(
      `callback rejected: Wechatpay-Timestamp ${timestamp} is more than ${maxSkew} s from now`,
    );
  }
  try {
    // The window was checked above with maxSkewSeconds; the verifier checks everything else.
    const signedAt = timestamp !== undefined && /^\d+$/.test(timestamp) ? Number(timestamp) : now;
    verify({ headers: input.headers, body, nowSeconds: signedAt });
  } catch (error) {
    if (error instanceof ZhifuSignatureError) {
      throw new ZhifuSignatureError(
        error.message.replace(/^response signature/, 'callback signature'),
        error.requestId,
      );
    }
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new ZhifuSignatureError('callback rejected: the signed body is not JSON');
  }
  const resource = isRecord(parsed) ? parsed.resource : undefined;
  if (
    !isRecord(parsed) ||
    typeof parsed.id !== 'string' ||
    typeof parsed.event_type !== 'string' ||
    !isRecord(resource) ||
    typeof resource.ciphertext !== 'string' ||
    typeof resource.nonce !== 'string'
  ) {
    throw new ZhifuSignatureError('callback rejected: the body has no id, event_type or encrypted resource');
  }
  if (resource.algorithm !== undefined && resource.algorithm !== 'AEAD_AES_256_GCM') {
    throw new ZhifuSignatureError(`callback rejected: unsupported algorithm ${String(resource.algorithm)}`);
  }
  const plain = decryptResource(
    {
      ciphertext: resource.ciphertext,
      nonce: resource.nonce,
      ...(typeof resource.associated_data === 'string' ? { associated_data: resource.associated_data } : {}),
    },
    input.apiv3Key,
  );
  let decrypted: unknown;
  try {
    decrypted = JSON.parse(plain);
  } catch {
    throw new ZhifuSignatureError('callback rejected: the decrypted resource is not JSON');
  }
  return {
    id: parsed.id,
    event_type: parsed.event_type as CallbackEventType,
    create_time: String(parsed.create_time ?? ''),
    resource_type: String(parsed.resource_type ?? ''),
    summary: String(parsed.summary ?? ''),
    original_type: String(resource.original_type ?? ''),
    resource: decrypted as R,
  };
}

function headerOf(headers: HeaderSource, name: string): string | undefined {
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === wanted) return Array.isArray(value) ? value[0] : value;
  }
  return undefined;
}
