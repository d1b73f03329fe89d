/** PRNG tests: seeded streams are reproducible, distinct per seed and roughly uniform / normal. */
import { describe, expect, it } from 'vitest';
import { createRng, shuffleInPlace } from './random.ts';

describe('createRng', () => {
  it('reproduces a stream for a seed and differs between seeds', () => {
    const a = createRng(123);
    const b = createRng(123);
    const c = createRng(124);
    const xs = Array.from({ length: 100 }, () => a.next());
    expect(Array.from({ length: 100 }, () => b.next())).toEqual(xs);
    expect(Array.from({ length: 100 }, () => c.next())).not.toEqual(xs);
    expect(() => createRng(Number.NaN)).toThrow(RangeError);
  });

  it('is uniform on [0, 1) and standard normal within sampling error', () => {
    const rng = createRng(1);
    const n = 200_000;
    const buckets = new Array<number>(10).fill(0);
    let sum = 0;
    let sq = 0;
    let outOfRange = 0;
    for (let i = 0; i < n; i++) {
      const u = rng.next();
      if (!(u >= 0 && u < 1)) outOfRange++;
      buckets[Math.floor(u * 10)]! += 1;
      const z = rng.nextNormal();
      sum += z;
      sq += z * z;
    }
    expect(outOfRange).toBe(0);
    for (const count of buckets) expect(Math.abs(count - n / 10)).toBeLessThan(800); // ~6 σ
    expect(Math.abs(sum / n)).toBeLessThan(0.015);
    expect(Math.abs(sq / n - 1)).toBeLessThan(0.02);
  });

  it('nextInt stays in range and shuffle is a permutation', () => {
    const rng = createRng(2);
    for (let i = 0; i < 1000; i++) {
      const k = rng.nextInt(7);
      expect(Number.isInteger(k) && k >= 0 && k < 7).toBe(true);
    }
    const arr = shuffleInPlace(
      Int32Array.from({ length: 50 }, (_, i) => i),
      rng,
    );
    expect(Array.from(arr).sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(Array.from(arr)).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
  });
});
