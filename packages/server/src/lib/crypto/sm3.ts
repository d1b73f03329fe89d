/**
 * SM3 (GB/T 32905-2016), the Chinese national 256-bit hash, from Node's OpenSSL; HMAC-SM3 (RFC 2104
 * with SM3, as GB/T 15852.2 uses it) and HKDF-SM3 (RFC 5869 over HMAC-SM3).
 *
 * HKDF is written out here over `hmacSm3` (a dozen lines, RFC 5869 §2.2–2.3) rather than taken
 * from `crypto.hkdfSync('sm3', …)`, so that it does not depend on which digests a given OpenSSL
 * build lets HKDF use; the tests check it against `hkdfSync('sm3')` where that works.
 */
import { createHash, createHmac, getHashes } from 'node:crypto';
import { assert } from '../assert.ts';

/** SM3 digests are 256 bits (GB/T 32905 §5.5). */
export const sm3_bytes = 32;
/** RFC 5869 §2.3: HKDF output is at most 255 hash lengths. */
export const hkdf_sm3_bytes_max = 255 * sm3_bytes;

if (!getHashes().includes('sm3')) {
  throw new Error(
    `Zhifu crypto: Node ${process.version} (OpenSSL ${process.versions.openssl}) does not offer the ` +
      'sm3 digest. SM3 needs an OpenSSL 3 with SM3 enabled: the official Node.js 20+ builds have it; a ' +
      'distribution OpenSSL built with no-sm3, or a FIPS-only provider configuration, does not.',
  );
}

/** Bytes, or a string taken as UTF-8. */
export type Bytes = Uint8Array | string;

/** SM3 digest (32 bytes). `sm3('abc')` is 66c7f0f4…8f4ba8e0 (GB/T 32905 Appendix A.1). */
export function sm3(data: Bytes): Buffer {
  return createHash('sm3').update(data).digest();
}

/** HMAC-SM3 (RFC 2104 with SM3; 64-byte block), 32 bytes. */
export function hmacSm3(key: Bytes, data: Bytes): Buffer {
  return createHmac('sm3', key).update(data).digest();
}

/**
 * HKDF-SM3 (RFC 5869): extract a pseudorandom key from `ikm` with `salt` (empty salt means 32 zero
 * bytes, §2.2), then expand it with `info` to `length` bytes (at most 8160).
 */
export function hkdfSm3(ikm: Bytes, salt: Bytes, info: Bytes, length: number): Buffer {
  assert(
    Number.isInteger(length) && length > 0 && length <= hkdf_sm3_bytes_max,
    `HKDF-SM3 length must be 1…${hkdf_sm3_bytes_max} bytes, got ${length}`,
  );
  const saltBytes = typeof salt === 'string' ? Buffer.from(salt, 'utf8') : salt;
  const prk = hmacSm3(saltBytes.length === 0 ? Buffer.alloc(sm3_bytes) : saltBytes, ikm);
  const infoBytes = typeof info === 'string' ? Buffer.from(info, 'utf8') : info;
  const blocks: Buffer[] = [];
  let previous: Buffer = Buffer.alloc(0);
  for (let i = 1; blocks.length * sm3_bytes < length; i++) {
    // T(i) = HMAC(PRK, T(i − 1) ‖ info ‖ i)
    previous = createHmac('sm3', prk).update(previous).update(infoBytes).update(Uint8Array.of(i)).digest();
    blocks.push(previous);
  }
  const okm = Buffer.concat(blocks, length);
  prk.fill(0);
  for (const block of blocks) block.fill(0);
  return okm;
}
