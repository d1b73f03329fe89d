import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isPseudonym, pseudonymize, pseudonymizer } from './pseudonym.ts';
import { hmacSm3 } from './sm3.ts';

const key = randomBytes(32);
const openid = 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o';

describe('pseudonymize (HMAC-SM3 keyed pseudonyms)', () => {
  it('is psn_ + the first 22 base64url characters of HMAC-SM3(key, kind \\n value)', () => {
    const expected = `psn_${hmacSm3(key, `openid\n${openid}`).toString('base64url').slice(0, 22)}`;
    expect(pseudonymize(key, 'openid', openid)).toBe(expected);
    expect(isPseudonym(expected)).toBe(true);
    expect(isPseudonym(openid)).toBe(false);
  });

  it('is deterministic per key and differs across keys, kinds and values', () => {
    const p = pseudonymize(key, 'openid', openid);
    expect(pseudonymize(key, 'openid', openid)).toBe(p);
    expect(pseudonymize(randomBytes(32), 'openid', openid)).not.toBe(p);
    expect(pseudonymize(key, 'device', openid)).not.toBe(p);
    expect(pseudonymize(key, 'openid', `${openid}x`)).not.toBe(p);
    expect(pseudonymizer(key)('openid', openid)).toBe(p);
  });

  it('never contains the identifier and has the documented shape', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 4, maxLength: 40 }), (value) => {
        const p = pseudonymize(key, 'phone', value);
        expect(p).toMatch(/^psn_[A-Za-z0-9_-]{22}$/);
        expect(p.includes(value) && value.length > 3).toBe(false);
      }),
      { numRuns: 200 },
    );
  });

  it('keeps kinds apart: the newline separator cannot be smuggled in through the kind', () => {
    expect(() => pseudonymize(key, 'openid\nx', 'y')).toThrow(/newline/);
    expect(() => pseudonymize(key, '', 'y')).toThrow(/non-empty/);
  });

  it('has no collisions over 20,000 distinct phone numbers', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20_000; i++) seen.add(pseudonymize(key, 'phone', `138${String(i).padStart(8, '0')}`));
    expect(seen.size).toBe(20_000);
  });

  it('refuses keys shorter than 16 bytes', () => {
    expect(() => pseudonymize(randomBytes(15), 'openid', openid)).toThrow(/at least 16/);
    expect(() => pseudonymizer(Buffer.alloc(8))).toThrow(/at least 16/);
  });
});
