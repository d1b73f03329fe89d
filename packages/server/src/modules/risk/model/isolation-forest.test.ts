/**
 * Isolation forest tests: far points score higher than the cluster, scores stay in (0, 1), training is
 * deterministic and JSON-safe. Own code because npm ML packages were unfit (/work/shared/reference/ml.md §C).
 */
import { describe, expect, it } from 'vitest';
import { anomalyScore, averagePathLength, trainIsolationForest } from './isolation-forest.ts';
import { createRng } from './random.ts';

function cluster(n: number, dims: number, seed: number, offset = 0): Float64Array[] {
  const rng = createRng(seed);
  return Array.from({ length: n }, () =>
    Float64Array.from({ length: dims }, () => offset + rng.nextNormal()),
  );
}

describe('isolation forest', () => {
  const inliers = cluster(5000, 5, 1);
  const model = trainIsolationForest(inliers, { trees: 100, sampleSize: 256, seed: 7 });
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

  it('scores points far from the cluster clearly higher than inliers', () => {
    const testInliers = cluster(500, 5, 2);
    const outliers = cluster(100, 5, 3, 6);
    const sIn = mean(testInliers.map((r) => anomalyScore(model, r)));
    const sOut = mean(outliers.map((r) => anomalyScore(model, r)));
    console.log(`isolation forest: mean score inliers ${sIn.toFixed(3)}, outliers ${sOut.toFixed(3)}`);
    expect(sOut).toBeGreaterThan(sIn + 0.1);
    expect(sIn).toBeLessThan(0.5);
  });

  it('keeps scores in (0, 1) and treats NaN as a typical value', () => {
    for (const row of [...cluster(50, 5, 4), new Float64Array(5).fill(1e9), new Float64Array(5)]) {
      const s = anomalyScore(model, row);
      expect(s).toBeGreaterThan(0);
      expect(s).toBeLessThan(1);
    }
    const nanRow = new Float64Array(5).fill(Number.NaN);
    const medianRow = Float64Array.from(model.fill);
    expect(anomalyScore(model, nanRow)).toBe(anomalyScore(model, medianRow));
    expect(() => anomalyScore(model, new Float64Array(4))).toThrow(RangeError);
  });

  it('is deterministic and survives a JSON round trip', () => {
    const small = inliers.slice(0, 1000);
    const a = trainIsolationForest(small, { trees: 20, sampleSize: 64, seed: 9 });
    const b = trainIsolationForest(small, { trees: 20, sampleSize: 64, seed: 9 });
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    const loaded = JSON.parse(JSON.stringify(model)) as typeof model;
    for (const row of inliers.slice(0, 200)) expect(anomalyScore(loaded, row)).toBe(anomalyScore(model, row));
  });

  it('uses the standard c(n) normaliser', () => {
    expect(averagePathLength(1)).toBe(0);
    expect(averagePathLength(2)).toBe(1);
    expect(averagePathLength(256)).toBeCloseTo(10.24477, 5);
    expect(model.sampleSize).toBe(256);
    expect(model.heightLimit).toBe(8);
  });
});
