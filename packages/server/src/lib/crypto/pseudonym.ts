/**
 * Keyed pseudonyms for personal identifiers (PIPL). Logs, exports, analytics and any integration
 * marked foreign see `psn_…` instead of an openid, device id, phone number or similar:
 *
 *     pseudonym = "psn_" + base64url(HMAC-SM3(key, kind ‖ "\n" ‖ value))[0:22]
 *
 * - Deterministic per key: the same person gets the same pseudonym, so analytics can count and join
 *   without seeing the identifier. 22 base64url characters keep 132 bits: collisions are out of
 *   reach (birthday bound ~2^66 identifiers).
 * - Not reversible without the key, and not even checkable: a plain hash of a phone number falls to
 *   enumerating 10^11 numbers, an HMAC without the key does not. So the pseudonym key is a secret
 *   of the same class as an encryption key: kept in configuration/KMS, never shipped with the data
 *   it pseudonymises, separate from the encryption KEKs. Rotating it breaks linkability with older
 *   exports (that can be the point: a fresh key per recipient or per export period).
 * - `kind` separates namespaces, so an openid and a device id with equal text never share a pseudonym.
 *
 * Under PIPL this is de-identification (去标识化, Art. 73(3)), not anonymisation (匿名化, Art.
 * 73(4)): whoever holds the key can re-link, so pseudonymised data is still personal information
 * (Art. 4 excludes only anonymised data). It is one of the security measures Art. 51(3) names
 * ("encryption, de-identification"), but consent and cross-border rules still apply to it.
 */
import { assert } from '../assert.ts';
import { hmacSm3 } from './sm3.ts';

export const pseudonym_prefix = 'psn_';
/** 22 base64url characters = 132 bits of the HMAC. */
export const pseudonym_chars = 22;
/** Keys shorter than 16 bytes are refused; 32 random bytes (one SM3 output) is the recommended size. */
export const pseudonym_key_bytes_min = 16;

/** Identifier kinds Zhifu pseudonymises; any other short label works too. */
export type PseudonymKind = 'openid' | 'unionid' | 'device' | 'phone' | 'ip' | (string & {});

/**
 * @example
 * pseudonymize(key, 'openid', 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o'); // 'psn_' + 22 characters
 */
export function pseudonymize(key: Uint8Array, kind: PseudonymKind, value: string): string {
  assert(
    key.length >= pseudonym_key_bytes_min,
    `pseudonym key must be at least ${pseudonym_key_bytes_min} bytes`,
  );
  assert(kind.length > 0 && !kind.includes('\n'), 'pseudonym kind must be non-empty and contain no newline');
  const mac = hmacSm3(key, `${kind}\n${value}`);
  return pseudonym_prefix + mac.toString('base64url').slice(0, pseudonym_chars);
}

/** A pseudonymiser bound to one key, for handing to a logger or an exporter. */
export function pseudonymizer(key: Uint8Array): (kind: PseudonymKind, value: string) => string {
  assert(
    key.length >= pseudonym_key_bytes_min,
    `pseudonym key must be at least ${pseudonym_key_bytes_min} bytes`,
  );
  const copy = Buffer.from(key);
  return (kind, value) => pseudonymize(copy, kind, value);
}

/** True if `text` has the shape of a pseudonym (for assertions that no raw identifier leaves). */
export function isPseudonym(text: string): boolean {
  return text.length === pseudonym_prefix.length + pseudonym_chars && /^psn_[A-Za-z0-9_-]{22}$/.test(text);
}
