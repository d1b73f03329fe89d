/**
 * Logistic baseline tests: it learns a linear signal, is deterministic, handles NaN and constant features.
 * Own code because npm ML packages were unfit (/work/shared/reference/ml.md §C).
 */
import { describe, expect, it } from 'vitest';
import { predictLogistic, predictLogisticRaw, trainLogistic } from './logistic.ts';
import { rocAuc } from './metrics.ts';
import { createRng } from './random.ts';

function linearData(n: number, seed: number): { X: number[][]; y: number[] } {
  const rng = createRng(seed);
  const X: number[][] = [];
  const y: number[] = [];
  for (let i = 0; i < n; i++) {
    const row = [rng.nextNormal() * 10 + 100, rng.nextNormal(), 7];
    X.push(row);
    y.push(rng.next() < 1 / (1 + Math.exp(-(0.3 * (row[0]! - 100) - 1.5 * row[1]! - 1))) ? 1 : 0);
  }
  return { X, y };
}

describe('logistic regression', () => {
  const data = linearData(5000, 1);
  const model = trainLogistic(data.X, data.y, { seed: 1 }, ['x', 'z', 'constant']);

  it('recovers the direction of the weights and ranks well', () => {
    // Standardised weights: x has std ≈ 10, so its weight ≈ 3; z ≈ −1.5; the constant feature ≈ 0.
    expect(model.weights[0]!).toBeGreaterThan(2);
    expect(model.weights[1]!).toBeLessThan(-1);
    expect(Math.abs(model.weights[2]!)).toBeLessThan(0.05);
    const test = linearData(3000, 2);
    expect(
      rocAuc(
        test.X.map((r) => predictLogisticRaw(model, r)),
        test.y,
      ),
    ).toBeGreaterThan(0.9);
  });

  it('is deterministic for a seed and imputes NaN with the mean', () => {
    const again = trainLogistic(data.X, data.y, { seed: 1 }, ['x', 'z', 'constant']);
    expect(JSON.stringify(again)).toBe(JSON.stringify(model));
    const atMean = [model.means[0]!, model.means[1]!, 7];
    expect(predictLogistic(model, [Number.NaN, Number.NaN, Number.NaN])).toBeCloseTo(
      predictLogistic(model, atMean),
      12,
    );
    expect(() => predictLogistic(model, [1, 2])).toThrow(RangeError);
  });
});
