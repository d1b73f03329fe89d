/**
 * Errors of the crypto module. Wrong key, IV or tag *lengths* passed by our own code are programmer
 * errors and go through `assert` (lib/assert.ts). Data that comes back from storage or from a peer
 * and fails to authenticate or parse is an operating error: a `CryptoError` with a stable code, so
 * callers can map it (e.g. to a 500 and an alert) without matching on message text.
 *
 * Messages never contain key material, plaintext or the ciphertext itself: they end up in logs.
 */
export type CryptoErrorCode =
  /** The tag did not verify: wrong key, IV or AAD, or the ciphertext or tag was changed or cut. */
  | 'authentication_failed'
  /** A sealed string does not have the documented shape (see docs/crypto.md). */
  | 'malformed_sealed_record'
  /** A sealed record names a key-encryption key that is not in the keyring. */
  | 'unknown_key_id';

export class CryptoError extends Error {
  override name = 'CryptoError';
  readonly code: CryptoErrorCode;

  constructor(code: CryptoErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}
