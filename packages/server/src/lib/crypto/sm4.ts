/**
 * SM4 (GB/T 32907-2016), the Chinese national 128-bit block cipher, in the modes Zhifu needs.
 *
 * - ECB, CBC and CTR come straight from Node's OpenSSL (`sm4-ecb`, `sm4-cbc`, `sm4-ctr`). These modes
 *   do not authenticate: use them only to talk to a peer that requires them, never for data at rest.
 * - SM4-GCM (RFC 8998 §3 / NIST SP 800-38D) and SM4-CCM (RFC 8998 / SP 800-38C) are built here,
 *   because Node 20's OpenSSL 3.0 has no `sm4-gcm` or `sm4-ccm` (`createCipheriv('sm4-gcm')` throws
 *   ERR_CRYPTO_UNKNOWN_CIPHER; OpenSSL 3.5 has them, Node 22+/24 may, so this can be swapped out
 *   later behind the same API).
 *
 * Why our own GHASH over native SM4 rather than a pure-JS package (`sm-crypto-v2`): the block cipher
 * is the expensive part, and native SM4 runs ~57k 1-KB encryptions/s on the project's machine against
 * 10–12k/s for pure-JS SM4 (shared/reference/machine-limits.md). So the counter-mode keystream is
 * produced by one native `sm4-ctr` call over the whole message (initial counter J0, whose first block
 * E_K(J0) masks the tag, then J0+1, J0+2, … for the data), and only GHASH, a multiply in GF(2^128)
 * that JavaScript does well with 32-bit words, runs in JS. `sm-crypto-v2` is used in a cross-check
 * test only (when installed), next to the RFC 8998 known answers.
 *
 * OpenSSL's `sm4-ctr` increments the whole 128-bit counter, GCM's inc32 only the low 32 bits. With a
 * 96-bit IV the low word starts at 1 and a GCM message has at most 2^32 − 2 blocks, so the low word
 * never wraps and the two agree; `gcm_plaintext_bytes_max` enforces the SP 800-38D bound anyway.
 *
 * Constant time: GHASH here uses Shoup's 8-bit tables (a 4 KB table per key plus a shared 1 KB
 * reduction table). Table lookups indexed by secret-dependent values are NOT constant-time: an
 * attacker who can run code on the same CPU (shared cache: co-tenant VM, another process, SMT
 * sibling) and trigger many operations under one key could in principle learn bits of the hash key
 * H and then forge tags for that key; confidentiality does not depend on H. For Zhifu's use (data at
 * rest, sealed and opened on our own servers, fresh data key per record, no attacker-chosen inputs at
 * high volume) this is an accepted risk. Native SM4 in OpenSSL 3.0 is table-based too (OpenSSL's
 * EVP_CIPHER-SM4 doc says it "may use secret-dependent table lookups"), as is every pure-JS SM4.
 * Tag comparison is constant-time (`timingSafeEqual`), and no plaintext is released before the tag
 * has been checked.
 */
import { createCipheriv, createDecipheriv, getCiphers, timingSafeEqual } from 'node:crypto';
import { assert } from '../assert.ts';
import { CryptoError } from './errors.ts';

/** SM4 has a 128-bit key and a 128-bit block (GB/T 32907 §5). */
export const sm4_key_bytes = 16;
export const sm4_block_bytes = 16;
/** RFC 8998 §3.1: SM4-GCM and SM4-CCM in TLS use a 12-byte nonce and a 16-byte tag; so do we. */
export const gcm_iv_bytes = 12;
export const gcm_tag_bytes = 16;
export const ccm_nonce_bytes = 12;
export const ccm_tag_bytes = 16;
/** SP 800-38D §5.2.1.1: at most 2^39 − 256 bits of plaintext per (key, IV), i.e. 2^32 − 2 blocks. */
export const gcm_plaintext_bytes_max = 2 ** 36 - 32;
/** CCM with a 12-byte nonce leaves 3 bytes for the message length (SP 800-38C A.1): < 16 MiB. */
export const ccm_plaintext_bytes_max = 2 ** 24 - 1;

const native_sm4_modes = ['sm4-ecb', 'sm4-cbc', 'sm4-ctr'] as const;

/** The SM4 modes this module needs that the running Node's OpenSSL lacks (empty when all are there). */
export function missingNativeSm4Modes(available: readonly string[] = getCiphers()): string[] {
  const have = new Set(available);
  return native_sm4_modes.filter((name) => !have.has(name));
}

const missing = missingNativeSm4Modes();
if (missing.length > 0) {
  throw new Error(
    `Zhifu crypto: Node ${process.version} (OpenSSL ${process.versions.openssl}) does not offer ` +
      `${missing.join(', ')}. SM4 needs an OpenSSL 3 with SM4 enabled: the official Node.js 20+ ` +
      'builds have it; a distribution OpenSSL built with no-sm4, or a FIPS-only provider ' +
      "configuration, does not. Check with: node -p \"require('crypto').getCiphers().filter(c => c.startsWith('sm4'))\"",
  );
}

const zero_block = Buffer.alloc(sm4_block_bytes);
const empty = Buffer.alloc(0);

function checkKey(key: Uint8Array): void {
  assert(key.length === sm4_key_bytes, `SM4 key must be ${sm4_key_bytes} bytes, got ${key.length}`);
}

function checkBlockIv(iv: Uint8Array): void {
  assert(iv.length === sm4_block_bytes, `SM4 CBC/CTR IV must be ${sm4_block_bytes} bytes, got ${iv.length}`);
}

/** `pkcs7` pads to whole blocks (the usual choice for interop); `none` requires whole blocks. */
export type Sm4Padding = 'pkcs7' | 'none';

function runNative(
  cipher: { update(data: Uint8Array): Buffer; final(): Buffer; setAutoPadding(on: boolean): unknown },
  data: Uint8Array,
  padding: Sm4Padding,
): Buffer {
  cipher.setAutoPadding(padding === 'pkcs7');
  const head = cipher.update(data);
  const tail = cipher.final();
  return tail.length === 0 ? head : Buffer.concat([head, tail]);
}

function checkUnpadded(data: Uint8Array, padding: Sm4Padding): void {
  assert(
    padding === 'pkcs7' || data.length % sm4_block_bytes === 0,
    `SM4 without padding needs a multiple of ${sm4_block_bytes} bytes, got ${data.length}`,
  );
}

/** SM4-ECB encryption (GB/T 32907). Deterministic and unauthenticated: interop and test vectors only. */
export function sm4EcbEncrypt(key: Uint8Array, data: Uint8Array, padding: Sm4Padding = 'pkcs7'): Buffer {
  checkKey(key);
  checkUnpadded(data, padding);
  return runNative(createCipheriv('sm4-ecb', key, null), data, padding);
}

export function sm4EcbDecrypt(key: Uint8Array, data: Uint8Array, padding: Sm4Padding = 'pkcs7'): Buffer {
  checkKey(key);
  checkUnpadded(data, 'none');
  return runNative(createDecipheriv('sm4-ecb', key, null), data, padding);
}

/** SM4-CBC encryption. Unauthenticated (padding-oracle prone if decryption errors are observable). */
export function sm4CbcEncrypt(
  key: Uint8Array,
  iv: Uint8Array,
  data: Uint8Array,
  padding: Sm4Padding = 'pkcs7',
): Buffer {
  checkKey(key);
  checkBlockIv(iv);
  checkUnpadded(data, padding);
  return runNative(createCipheriv('sm4-cbc', key, iv), data, padding);
}

export function sm4CbcDecrypt(
  key: Uint8Array,
  iv: Uint8Array,
  data: Uint8Array,
  padding: Sm4Padding = 'pkcs7',
): Buffer {
  checkKey(key);
  checkBlockIv(iv);
  checkUnpadded(data, 'none');
  return runNative(createDecipheriv('sm4-cbc', key, iv), data, padding);
}

/**
 * SM4-CTR with a 16-byte initial counter block, incremented as one 128-bit big-endian integer
 * (OpenSSL's convention). Encryption and decryption are the same operation. Unauthenticated.
 */
export function sm4Ctr(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Buffer {
  checkKey(key);
  checkBlockIv(iv);
  const cipher = createCipheriv('sm4-ctr', key, iv);
  const out = cipher.update(data);
  cipher.final();
  return out;
}

// ---------------------------------------------------------------------------------------------
// GHASH (SP 800-38D §6.4) with Shoup's tables.
//
// A field element is four big-endian 32-bit words (w0 = bytes 0–3). GCM's bit order puts the
// coefficient of x^0 in the most significant bit of byte 0, so "multiply by x" is a right shift by
// one bit, folding the bit shifted out of byte 15 back in as R = 0xE1 ‖ 0^120 (x^128 = 1 + x + x^2 +
// x^7). A block X = Σ byte_p · x^(8p), so X·H = Σ M[byte_p]·x^(8p) with M[b] = b·H for the 256
// polynomials b of degree < 8.
//
// Two table sizes, chosen per key by how much it has hashed:
// - small (4 KB, built in a few µs): M only; Y·H by Horner's rule, last byte first, Z = Z·x^8 ⊕
//   M[byte], where Z·x^8 is a right shift by 8 whose shifted-out byte is folded back with the
//   key-independent table R8. Right for a fresh data key per 1-KB record.
// - large (64 KB, ~40 µs to build): T[p][b] = M[b]·x^(8p) for all 16 byte positions, so a block is
//   16 lookups and XORs, no shifting: about twice as fast. Built once a key has hashed
//   `ghash_large_table_after_bytes` (the build pays for itself after roughly 12 KB).
// Words are kept in Int32Array so V8 stays on small integers (no heap numbers for values ≥ 2^31).

/** Hashing this many bytes under one key switches it to the 64 KB table (break-even ≈ 12 KB). */
const ghash_large_table_after_bytes = 16 * 1024;

/** R8[b]: what shifting the byte b out of the bottom of a field element by 8 bits adds to word 0. */
const R8 = (() => {
  const table = new Int32Array(256);
  for (let b = 0; b < 256; b++) {
    let w3 = b;
    let w0 = 0;
    for (let k = 0; k < 8; k++) {
      const out = w3 & 1;
      w3 >>>= 1;
      w0 = (w0 >>> 1) ^ (-out & 0xe1000000);
    }
    table[b] = w0;
  }
  return table;
})();

/** M[b] = b·H, 256 entries of 4 words (4 KB). */
function smallTable(h: Uint8Array): Int32Array {
  assert(h.length === 16, 'GHASH key must be 16 bytes');
  const view = new DataView(h.buffer, h.byteOffset, 16);
  let v0 = view.getInt32(0);
  let v1 = view.getInt32(4);
  let v2 = view.getInt32(8);
  let v3 = view.getInt32(12);
  const m = new Int32Array(256 * 4);
  // M[0x80] = H (0x80 is the polynomial 1), M[0x40] = H·x, …, M[0x01] = H·x^7.
  for (let i = 0x80; i >= 1; i >>= 1) {
    m[i * 4] = v0;
    m[i * 4 + 1] = v1;
    m[i * 4 + 2] = v2;
    m[i * 4 + 3] = v3;
    const out = v3 & 1;
    v3 = (v3 >>> 1) | (v2 << 31);
    v2 = (v2 >>> 1) | (v1 << 31);
    v1 = (v1 >>> 1) | (v0 << 31);
    v0 = (v0 >>> 1) ^ (-out & 0xe1000000);
  }
  // Multiplication by H is linear: M[i ⊕ j] = M[i] ⊕ M[j].
  for (let i = 2; i < 256; i <<= 1) {
    const a0 = m[i * 4]!;
    const a1 = m[i * 4 + 1]!;
    const a2 = m[i * 4 + 2]!;
    const a3 = m[i * 4 + 3]!;
    for (let j = 1; j < i; j++) {
      const to = (i + j) * 4;
      const from = j * 4;
      m[to] = a0 ^ m[from]!;
      m[to + 1] = a1 ^ m[from + 1]!;
      m[to + 2] = a2 ^ m[from + 2]!;
      m[to + 3] = a3 ^ m[from + 3]!;
    }
  }
  return m;
}

/** T[p][b] = M[b]·x^(8p) for byte positions p = 0…15, 16 × 256 × 4 words (64 KB). */
function largeTable(m: Int32Array): Int32Array {
  const t = new Int32Array(16 * 1024);
  t.set(m, 0);
  for (let p = 1; p < 16; p++) {
    const from = (p - 1) * 1024;
    const to = p * 1024;
    for (let e = 0; e < 1024; e += 4) {
      const z0 = t[from + e]!;
      const z1 = t[from + e + 1]!;
      const z2 = t[from + e + 2]!;
      const z3 = t[from + e + 3]!;
      t[to + e] = (z0 >>> 8) ^ R8[z3 & 0xff]!;
      t[to + e + 1] = (z1 >>> 8) | (z0 << 24);
      t[to + e + 2] = (z2 >>> 8) | (z1 << 24);
      t[to + e + 3] = (z3 >>> 8) | (z2 << 24);
    }
  }
  return t;
}

/** Which GHASH tables to use: `auto` picks by volume; the others are for tests and benchmarks. */
export type GhashTables = 'auto' | 'small' | 'large';

/** The hash key's tables; the large one is built on demand. */
class GhashKey {
  readonly small: Int32Array;
  #large: Int32Array | undefined;
  #hashed = 0;

  constructor(h: Uint8Array, tables: GhashTables = 'auto') {
    this.small = smallTable(h);
    if (tables === 'large') this.#large = largeTable(this.small);
    if (tables === 'small') this.#hashed = -Infinity;
  }

  /** The large table if this key has hashed enough (counting `bytes` about to be hashed). */
  largeFor(bytes: number): Int32Array | undefined {
    this.#hashed += bytes;
    if (this.#large === undefined && this.#hashed >= ghash_large_table_after_bytes) {
      this.#large = largeTable(this.small);
    }
    return this.#large;
  }
}

/** Running GHASH state Y (four words) over one message. */
class GhashState {
  private y0 = 0;
  private y1 = 0;
  private y2 = 0;
  private y3 = 0;
  private readonly pad = new Uint8Array(16);
  private readonly small: Int32Array;
  private readonly large: Int32Array | undefined;

  /** `bytes`: how much this message will hash (AAD + ciphertext), to pick the tables. */
  constructor(key: GhashKey, bytes: number) {
    this.small = key.small;
    this.large = key.largeFor(bytes);
  }

  /** Absorbs `data` zero-padded to whole blocks (GCM pads A and C separately, SP 800-38D §7.1). */
  absorbPadded(data: Uint8Array): void {
    const whole = data.length - (data.length % 16);
    if (whole > 0) this.blocks(new DataView(data.buffer, data.byteOffset, whole), whole);
    if (whole < data.length) {
      this.pad.fill(0);
      this.pad.set(data.subarray(whole));
      this.blocks(new DataView(this.pad.buffer, 0, 16), 16);
    }
  }

  /** Absorbs the length block len(A)‖len(C) (bit lengths, 64-bit big-endian each) and returns S. */
  finish(aadBytes: number, ciphertextBytes: number): Buffer {
    const view = new DataView(this.pad.buffer, 0, 16);
    view.setUint32(0, Math.floor(aadBytes / 0x20000000));
    view.setUint32(4, (aadBytes % 0x20000000) * 8);
    view.setUint32(8, Math.floor(ciphertextBytes / 0x20000000));
    view.setUint32(12, (ciphertextBytes % 0x20000000) * 8);
    this.blocks(view, 16);
    const s = Buffer.allocUnsafe(16);
    s.writeInt32BE(this.y0, 0);
    s.writeInt32BE(this.y1, 4);
    s.writeInt32BE(this.y2, 8);
    s.writeInt32BE(this.y3, 12);
    return s;
  }

  private blocks(view: DataView, bytes: number): void {
    if (this.large === undefined) this.blocksSmall(view, bytes, this.small);
    else this.blocksLarge(view, bytes, this.large);
  }

  private blocksSmall(view: DataView, bytes: number, m: Int32Array): void {
    let y0 = this.y0;
    let y1 = this.y1;
    let y2 = this.y2;
    let y3 = this.y3;
    for (let p = 0; p < bytes; p += 16) {
      const x0 = y0 ^ view.getInt32(p);
      const x1 = y1 ^ view.getInt32(p + 4);
      const x2 = y2 ^ view.getInt32(p + 8);
      const x3 = y3 ^ view.getInt32(p + 12);
      // Byte 15 (the low byte of x3) first, byte 0 (the high byte of x0) last.
      let i = (x3 & 0xff) << 2;
      let z0 = m[i]!;
      let z1 = m[i + 1]!;
      let z2 = m[i + 2]!;
      let z3 = m[i + 3]!;
      for (let k = 1; k < 16; k++) {
        const w = k < 4 ? x3 : k < 8 ? x2 : k < 12 ? x1 : x0;
        const r = z3 & 0xff;
        z3 = (z3 >>> 8) | (z2 << 24);
        z2 = (z2 >>> 8) | (z1 << 24);
        z1 = (z1 >>> 8) | (z0 << 24);
        z0 = (z0 >>> 8) ^ R8[r]!;
        i = ((w >>> ((k & 3) << 3)) & 0xff) << 2;
        z0 ^= m[i]!;
        z1 ^= m[i + 1]!;
        z2 ^= m[i + 2]!;
        z3 ^= m[i + 3]!;
      }
      y0 = z0;
      y1 = z1;
      y2 = z2;
      y3 = z3;
    }
    this.y0 = y0;
    this.y1 = y1;
    this.y2 = y2;
    this.y3 = y3;
  }

  private blocksLarge(view: DataView, bytes: number, t: Int32Array): void {
    let y0 = this.y0;
    let y1 = this.y1;
    let y2 = this.y2;
    let y3 = this.y3;
    for (let p = 0; p < bytes; p += 16) {
      let z0 = 0;
      let z1 = 0;
      let z2 = 0;
      let z3 = 0;
      // Word w holds byte positions 4w (its high byte) … 4w + 3 (its low byte).
      for (let w = 0; w < 4; w++) {
        const x = (w === 0 ? y0 : w === 1 ? y1 : w === 2 ? y2 : y3) ^ view.getInt32(p + 4 * w);
        const base = w * 4096;
        for (let s = 0; s < 4; s++) {
          const i = base + s * 1024 + (((x >>> (24 - 8 * s)) & 0xff) << 2);
          z0 ^= t[i]!;
          z1 ^= t[i + 1]!;
          z2 ^= t[i + 2]!;
          z3 ^= t[i + 3]!;
        }
      }
      y0 = z0;
      y1 = z1;
      y2 = z2;
      y3 = z3;
    }
    this.y0 = y0;
    this.y1 = y1;
    this.y2 = y2;
    this.y3 = y3;
  }
}

/**
 * GHASH_H(A ‖ 0* ‖ C ‖ 0* ‖ len(A) ‖ len(C)) — the value S of SP 800-38D §7.1 step 5. Exported as a
 * building block and for tests (which check it against OpenSSL's AES-GCM, with AES as the cipher).
 */
export function ghash(
  h: Uint8Array,
  aad: Uint8Array,
  ciphertext: Uint8Array,
  tables: GhashTables = 'auto',
): Buffer {
  const state = new GhashState(new GhashKey(h, tables), aad.length + ciphertext.length);
  state.absorbPadded(aad);
  state.absorbPadded(ciphertext);
  return state.finish(aad.length, ciphertext.length);
}

// ---------------------------------------------------------------------------------------------
// SM4-GCM

export interface AeadSealed {
  ciphertext: Buffer;
  tag: Buffer;
}

/**
 * SM4-GCM under one key, with the hash key H = E_K(0^128) and its table computed once. Use it when
 * one key seals many messages (a key-encryption key); `sm4GcmEncrypt` builds one per call.
 */
export class Sm4Gcm {
  readonly #key: Buffer;
  readonly #ghashKey: GhashKey;

  constructor(key: Uint8Array) {
    checkKey(key);
    this.#key = Buffer.from(key);
    const h = sm4EcbEncrypt(this.#key, zero_block, 'none');
    this.#ghashKey = new GhashKey(h);
    h.fill(0);
  }

  /** Encrypts and authenticates. `iv` must be 12 bytes and never repeat under this key. */
  encrypt(iv: Uint8Array, plaintext: Uint8Array, aad: Uint8Array = empty): AeadSealed {
    checkGcmIv(iv);
    assert(plaintext.length <= gcm_plaintext_bytes_max, 'SM4-GCM plaintext too long for one IV');
    const ctr = createCipheriv('sm4-ctr', this.#key, j0(iv));
    const mask = ctr.update(zero_block); // E_K(J0)
    const ciphertext = plaintext.length === 0 ? Buffer.alloc(0) : ctr.update(plaintext);
    ctr.final();
    return { ciphertext, tag: this.#tag(mask, aad, ciphertext) };
  }

  /**
   * Verifies the tag (constant-time) and only then decrypts. Throws `CryptoError`
   * ('authentication_failed') on any mismatch, including a tag that is not exactly 16 bytes.
   */
  decrypt(iv: Uint8Array, ciphertext: Uint8Array, tag: Uint8Array, aad: Uint8Array = empty): Buffer {
    checkGcmIv(iv);
    if (tag.length !== gcm_tag_bytes) {
      throw new CryptoError(
        'authentication_failed',
        `SM4-GCM: tag must be ${gcm_tag_bytes} bytes, got ${tag.length} (truncated tags are not accepted)`,
      );
    }
    const ctr = createCipheriv('sm4-ctr', this.#key, j0(iv));
    const mask = ctr.update(zero_block);
    const expected = this.#tag(mask, aad, ciphertext);
    if (!timingSafeEqual(expected, tag)) {
      throw new CryptoError(
        'authentication_failed',
        'SM4-GCM: authentication failed (wrong key, IV or AAD, or the ciphertext or tag was modified)',
      );
    }
    const plaintext = ciphertext.length === 0 ? Buffer.alloc(0) : ctr.update(ciphertext);
    ctr.final();
    return plaintext;
  }

  #tag(mask: Buffer, aad: Uint8Array, ciphertext: Uint8Array): Buffer {
    const state = new GhashState(this.#ghashKey, aad.length + ciphertext.length);
    state.absorbPadded(aad);
    state.absorbPadded(ciphertext);
    const tag = state.finish(aad.length, ciphertext.length);
    for (let i = 0; i < 16; i++) tag[i] = tag[i]! ^ mask[i]!;
    return tag;
  }
}

function checkGcmIv(iv: Uint8Array): void {
  assert(iv.length === gcm_iv_bytes, `SM4-GCM IV must be ${gcm_iv_bytes} bytes (RFC 8998), got ${iv.length}`);
}

/** J0 = IV ‖ 0^31 ‖ 1 for a 96-bit IV (SP 800-38D §7.1 step 2). */
function j0(iv: Uint8Array): Buffer {
  const block = Buffer.alloc(16);
  block.set(iv);
  block[15] = 1;
  return block;
}

/**
 * SM4-GCM encryption (RFC 8998, SP 800-38D). `key` 16 bytes, `iv` 12 bytes, unique per key (a
 * repeated IV leaks the XOR of plaintexts and lets an attacker forge tags). Returns the ciphertext
 * (same length as the plaintext) and a 16-byte tag.
 *
 * @example
 * const { ciphertext, tag } = sm4GcmEncrypt(key, randomBytes(12), Buffer.from('hello'), aad);
 */
export function sm4GcmEncrypt(
  key: Uint8Array,
  iv: Uint8Array,
  plaintext: Uint8Array,
  aad?: Uint8Array,
): AeadSealed {
  return new Sm4Gcm(key).encrypt(iv, plaintext, aad);
}

/** SM4-GCM decryption; throws `CryptoError` ('authentication_failed') if the tag does not verify. */
export function sm4GcmDecrypt(
  key: Uint8Array,
  iv: Uint8Array,
  ciphertext: Uint8Array,
  tag: Uint8Array,
  aad?: Uint8Array,
): Buffer {
  return new Sm4Gcm(key).decrypt(iv, ciphertext, tag, aad);
}

// ---------------------------------------------------------------------------------------------
// SM4-CCM (RFC 8998 §3.2, SP 800-38C) with a 12-byte nonce and a 16-byte tag: CBC-MAC through
// native `sm4-cbc`, the keystream through native `sm4-ctr`. Offered because RFC 8998 defines it;
// Zhifu's own formats use GCM.

function ccmMac(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Buffer {
  assert(aad.length < 2 ** 32, 'SM4-CCM AAD must be shorter than 4 GiB');
  const aadHeader = aad.length === 0 ? 0 : aad.length < 0xff00 ? 2 : 6;
  const aadBlocks = Math.ceil((aadHeader + aad.length) / 16) * 16;
  const input = Buffer.alloc(16 + aadBlocks + Math.ceil(plaintext.length / 16) * 16);
  // B0: flags = Adata·64 + ((t − 2)/2)·8 + (q − 1), with t = 16 and q = 15 − 12 = 3.
  input[0] = (aad.length > 0 ? 0x40 : 0) | (((ccm_tag_bytes - 2) / 2) << 3) | 2;
  input.set(nonce, 1);
  input.writeUIntBE(plaintext.length, 13, 3);
  if (aadHeader === 2) input.writeUInt16BE(aad.length, 16);
  if (aadHeader === 6) {
    input[16] = 0xff;
    input[17] = 0xfe;
    input.writeUInt32BE(aad.length, 18);
  }
  input.set(aad, 16 + aadHeader);
  input.set(plaintext, 16 + aadBlocks);
  const cbc = createCipheriv('sm4-cbc', key, zero_block).setAutoPadding(false);
  const out = cbc.update(input);
  cbc.final();
  return out.subarray(out.length - 16);
}

/** Counter block A0 = (q − 1) ‖ N ‖ 0^24; the keystream starts with S0 (which masks the tag). */
function ccmCounter(key: Uint8Array, nonce: Uint8Array) {
  const a0 = Buffer.alloc(16);
  a0[0] = 2;
  a0.set(nonce, 1);
  return createCipheriv('sm4-ctr', key, a0);
}

function checkCcm(key: Uint8Array, nonce: Uint8Array, length: number): void {
  checkKey(key);
  assert(
    nonce.length === ccm_nonce_bytes,
    `SM4-CCM nonce must be ${ccm_nonce_bytes} bytes, got ${nonce.length}`,
  );
  assert(
    length <= ccm_plaintext_bytes_max,
    `SM4-CCM message must be at most ${ccm_plaintext_bytes_max} bytes`,
  );
}

/** SM4-CCM encryption (RFC 8998 profile: 12-byte nonce, 16-byte tag). */
export function sm4CcmEncrypt(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array = empty,
): AeadSealed {
  checkCcm(key, nonce, plaintext.length);
  const mac = ccmMac(key, nonce, aad, plaintext);
  const ctr = ccmCounter(key, nonce);
  const s0 = ctr.update(zero_block);
  const ciphertext = plaintext.length === 0 ? Buffer.alloc(0) : ctr.update(plaintext);
  ctr.final();
  const tag = Buffer.allocUnsafe(16);
  for (let i = 0; i < 16; i++) tag[i] = mac[i]! ^ s0[i]!;
  return { ciphertext, tag };
}

/** SM4-CCM decryption; throws `CryptoError` ('authentication_failed') if the tag does not verify. */
export function sm4CcmDecrypt(
  key: Uint8Array,
  nonce: Uint8Array,
  ciphertext: Uint8Array,
  tag: Uint8Array,
  aad: Uint8Array = empty,
): Buffer {
  checkCcm(key, nonce, ciphertext.length);
  if (tag.length !== ccm_tag_bytes) {
    throw new CryptoError(
      'authentication_failed',
      `SM4-CCM: tag must be ${ccm_tag_bytes} bytes, got ${tag.length}`,
    );
  }
  const ctr = ccmCounter(key, nonce);
  const s0 = ctr.update(zero_block);
  const plaintext = ciphertext.length === 0 ? Buffer.alloc(0) : ctr.update(ciphertext);
  ctr.final();
  const mac = ccmMac(key, nonce, aad, plaintext);
  for (let i = 0; i < 16; i++) mac[i] = mac[i]! ^ s0[i]!;
  if (!timingSafeEqual(mac, tag)) {
    plaintext.fill(0);
    throw new CryptoError(
      'authentication_failed',
      'SM4-CCM: authentication failed (wrong key, nonce or AAD, or the ciphertext or tag was modified)',
    );
  }
  return plaintext;
}
