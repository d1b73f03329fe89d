import { describe, expect, it } from 'vitest';
import { cryptoIds, hex } from './ids.ts';

describe('cryptoIds (pooled CSPRNG bytes)', () => {
  it('gives every caller its own bytes: no repeats, no shared memory, any length', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 5_000; i++) seen.add(hex(cryptoIds, 32));
    expect(seen.size).toBe(5_000);
    const a = cryptoIds.bytes(16);
    const copy = Buffer.from(a);
    a.fill(0xff);
    const b = cryptoIds.bytes(16);
    expect(b.equals(a)).toBe(false);
    expect(copy.equals(Buffer.alloc(16, 0xff))).toBe(false);
    expect(cryptoIds.bytes(5_000)).toHaveLength(5_000);
    expect(cryptoIds.bytes(0)).toHaveLength(0);
  });
});
