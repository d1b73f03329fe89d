/**
 * SM3 known answers (GB/T 32905-2016 Appendix A), HMAC-SM3 against HMAC written out by hand from
 * RFC 2104 over our `sm3`, and HKDF-SM3 against OpenSSL's HKDF (`crypto.hkdfSync('sm3')`).
 */
import { hkdfSync, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hkdfSm3, hmacSm3, sm3 } from './sm3.ts';

/** RFC 2104: H((K ⊕ opad) ‖ H((K ⊕ ipad) ‖ m)), K hashed first if longer than the 64-byte block. */
function hmacByHand(key: Uint8Array, message: Uint8Array): Buffer {
  const block = Buffer.alloc(64);
  block.set(key.length > 64 ? sm3(key) : key);
  const inner = Buffer.alloc(64);
  const outer = Buffer.alloc(64);
  for (let i = 0; i < 64; i++) {
    inner[i] = block[i]! ^ 0x36;
    outer[i] = block[i]! ^ 0x5c;
  }
  return sm3(Buffer.concat([outer, sm3(Buffer.concat([inner, message]))]));
}

describe('SM3 (GB/T 32905)', () => {
  it('hashes "abc" to the standard’s example 1', () => {
    expect(sm3('abc').toString('hex')).toBe(
      '66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0',
    );
  });

  it('hashes "abcd" × 16 (64 bytes, two blocks after padding) to the standard’s example 2', () => {
    expect(sm3('abcd'.repeat(16)).toString('hex')).toBe(
      'debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732',
    );
  });

  it('takes strings as UTF-8 and bytes as they are', () => {
    expect(sm3('智付')).toEqual(sm3(Buffer.from('智付', 'utf8')));
    expect(sm3(Uint8Array.of(0x61, 0x62, 0x63))).toEqual(sm3('abc'));
  });
});

describe('HMAC-SM3', () => {
  it('equals HMAC written out with ipad/opad over sm3, for short, block-sized and long keys', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 130 }), fc.uint8Array({ maxLength: 300 }), (key, message) => {
        expect(hmacSm3(key, message)).toEqual(hmacByHand(key, message));
      }),
      { numRuns: 300 },
    );
    for (const length of [0, 63, 64, 65]) {
      const key = randomBytes(length);
      expect(hmacSm3(key, 'data')).toEqual(hmacByHand(key, Buffer.from('data')));
    }
  });
});

describe('HKDF-SM3 (RFC 5869)', () => {
  it('agrees with OpenSSL’s HKDF over SM3 for random inputs and lengths', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 80 }),
        fc.uint8Array({ maxLength: 40 }),
        fc.uint8Array({ maxLength: 40 }),
        fc.integer({ min: 1, max: 200 }),
        (ikm, salt, info, length) => {
          const native = Buffer.from(hkdfSync('sm3', ikm, salt, info, length));
          expect(hkdfSm3(ikm, salt, info, length)).toEqual(native);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('follows RFC 5869’s extract-then-expand steps exactly', () => {
    const ikm = randomBytes(22);
    const salt = randomBytes(13);
    const info = Buffer.from('f0f1f2f3f4f5f6f7f8f9', 'hex');
    const prk = hmacSm3(salt, ikm);
    const t1 = hmacSm3(prk, Buffer.concat([info, Uint8Array.of(1)]));
    const t2 = hmacSm3(prk, Buffer.concat([t1, info, Uint8Array.of(2)]));
    expect(hkdfSm3(ikm, salt, info, 42)).toEqual(Buffer.concat([t1, t2]).subarray(0, 42));
    // Empty salt means HashLen zero bytes (§2.2).
    expect(hkdfSm3(ikm, '', info, 32)).toEqual(hkdfSm3(ikm, Buffer.alloc(32), info, 32));
  });

  it('refuses lengths outside 1…255 × 32 bytes', () => {
    expect(() => hkdfSm3('k', '', '', 0)).toThrow(/length/);
    expect(() => hkdfSm3('k', '', '', 255 * 32 + 1)).toThrow(/length/);
    expect(hkdfSm3('k', '', '', 255 * 32)).toHaveLength(8160);
  });
});
