import { describe, expect, it } from 'vitest';
import { choose, LinUcb } from './linucb.ts';

/** Solves A θ = b by Gaussian elimination (the reference the Sherman–Morrison updates must match). */
function solve(a: number[][], b: number[]): number[] {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i]!]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r]![c]!) > Math.abs(m[p]![c]!)) p = r;
    [m[c], m[p]] = [m[p]!, m[c]!];
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r]![c]! / m[c]![c]!;
      for (let k = c; k <= n; k++) m[r]![k]! -= f * m[c]![k]!;
    }
  }
  return m.map((row, i) => row[n]! / row[i]!);
}

/** A small deterministic generator for the tests. */
function lcg(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('LinUCB', () => {
  it('keeps θ equal to the ridge solution (λI + Σxxᵀ)⁻¹(λθ₀ + Σrx) after Sherman–Morrison updates', () => {
    const prior = [0.2, -0.1, 0.05, 0.3];
    const lambda = 3;
    const model = new LinUcb({ alpha: 0.5, lambda, prior });
    const rnd = lcg(7);
    const a = prior.map((_, i) => prior.map((__, j) => (i === j ? lambda : 0)));
    const b = prior.map((p) => lambda * p);
    for (let t = 0; t < 200; t++) {
      const x = Float64Array.from(prior, () => rnd());
      const r = rnd() < 0.5 ? 1 : 0;
      model.update(x, r);
      for (let i = 0; i < 4; i++) {
        b[i]! += r * x[i]!;
        for (let j = 0; j < 4; j++) a[i]![j]! += x[i]! * x[j]!;
      }
    }
    const expected = solve(a, b);
    model.coefficients().forEach((c, i) => {
      expect(c).toBeCloseTo(expected[i]!, 8);
    });
    expect(model.updates).toBe(200);
  });

  it('learns to show first the arm that pays off, starting from a prior that prefers the other', () => {
    // Arm 0 succeeds 30% of the time, arm 1 90%; the prior says arm 0 is better.
    const arms = [Float64Array.from([1, 1, 0]), Float64Array.from([1, 0, 1])];
    const model = new LinUcb({ alpha: 0.2, lambda: 5, prior: [0.5, 0.3, 0] });
    const rnd = lcg(11);
    let second = 0;
    for (let t = 0; t < 2_000; t++) {
      const c = choose(model, arms, 0.05, rnd(), rnd());
      const reward = rnd() < (c.top === 0 ? 0.3 : 0.9) ? 1 : 0;
      model.update(arms[c.top]!, reward);
      if (t >= 1_000 && c.top === 1) second++;
    }
    expect(model.mean(arms[1]!)).toBeGreaterThan(model.mean(arms[0]!));
    expect(second / 1_000).toBeGreaterThan(0.9);
  });

  it('logs the propensity of what it showed: (1 − ε)·[greedy] + ε/K', () => {
    const arms = [Float64Array.from([1, 0]), Float64Array.from([0, 1]), Float64Array.from([0.5, 0.5])];
    const model = new LinUcb({ alpha: 0, lambda: 1, prior: [1, 0] });
    const greedy = choose(model, arms, 0.1, 0.5, 0.9);
    expect(greedy).toMatchObject({ top: 0, greedy: 0, explored: false });
    expect(greedy.propensity).toBeCloseTo(0.9 + 0.1 / 3, 12);
    const explored = choose(model, arms, 0.1, 0.05, 0.9);
    expect(explored).toMatchObject({ top: 2, greedy: 0, explored: true });
    expect(explored.propensity).toBeCloseTo(0.1 / 3, 12);
    const onlyOne = choose(model, [arms[0]!], 0.1, 0.01, 0.5);
    expect(onlyOne).toMatchObject({ top: 0, explored: false, propensity: 1 });
  });
});
