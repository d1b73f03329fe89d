/**
 * Metric tests against hand-computed examples (conventions of scikit-learn's average_precision_score and
 * roc_auc_score). Own metrics because npm ML packages were unfit (/work/shared/reference/ml.md §C).
 */
import { describe, expect, it } from 'vitest';
import { auprc, operatingPointAtFpr, precisionRecallAt, recallAtFpr, rocAuc } from './metrics.ts';

// Ranked: + − + + − −
const SCORES = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4];
const LABELS = [1, 0, 1, 1, 0, 0];

describe('auprc', () => {
  it('is 1 for a perfect ranking and equals the positive rate for a constant score', () => {
    expect(auprc([0.9, 0.8, 0.1, 0.05], [1, 1, 0, 0])).toBe(1);
    expect(auprc([0.5, 0.5, 0.5, 0.5], [1, 0, 0, 0])).toBe(0.25);
  });

  it('matches the 6-point example: (1/1 + 2/3 + 3/4) / 3', () => {
    expect(auprc(SCORES, LABELS)).toBeCloseTo((1 + 2 / 3 + 3 / 4) / 3, 12);
  });

  it('treats tied scores as one operating point, independent of row order', () => {
    // Threshold 0.5 flags {+, −}: recall 1, precision 1/2.
    expect(auprc([0.5, 0.5, 0.2], [1, 0, 0])).toBe(0.5);
    expect(auprc([0.5, 0.5, 0.2], [0, 1, 0])).toBe(0.5);
    // 0.9: + (P=1, R=1/3); 0.5: {+, +, −} (P=3/4, R=1): 1/3·1 + 2/3·3/4 = 5/6.
    expect(auprc([0.9, 0.5, 0.5, 0.5, 0.1], [1, 1, 0, 1, 0])).toBeCloseTo(5 / 6, 12);
  });

  it('is NaN without positives and rejects bad input', () => {
    expect(auprc([0.1, 0.2], [0, 0])).toBeNaN();
    expect(() => auprc([0.1], [2])).toThrow(RangeError);
    expect(() => auprc([0.1, 0.2], [1])).toThrow(RangeError);
    expect(() => auprc([Number.NaN], [1])).toThrow(RangeError);
  });
});

describe('rocAuc', () => {
  it('matches the 6-point example: 7 of 9 pairs ordered', () => {
    expect(rocAuc(SCORES, LABELS)).toBeCloseTo(7 / 9, 12);
  });

  it('is 1 / 0 / 0.5 for perfect, inverted and constant scores, ties count ½', () => {
    expect(rocAuc([3, 2, 1], [1, 0, 0])).toBe(1);
    expect(rocAuc([1, 2, 3], [1, 0, 0])).toBe(0);
    expect(rocAuc([1, 1, 1, 1], [1, 0, 1, 0])).toBe(0.5);
    expect(rocAuc([0.5, 0.5, 0.2], [1, 0, 0])).toBe(0.75);
    expect(rocAuc([0.5, 0.2], [1, 1])).toBeNaN();
  });
});

describe('recallAtFpr', () => {
  it('picks the largest recall whose FPR stays within the limit', () => {
    // Negatives: 3. FPR ≤ 0: only 0.9 → recall 1/3. FPR ≤ 1/3: down to 0.6 → recall 1.
    expect(recallAtFpr(SCORES, LABELS, 0)).toBeCloseTo(1 / 3, 12);
    expect(recallAtFpr(SCORES, LABELS, 0.01)).toBeCloseTo(1 / 3, 12);
    expect(recallAtFpr(SCORES, LABELS, 0.34)).toBe(1);
    expect(operatingPointAtFpr(SCORES, LABELS, 0.34)).toEqual({
      threshold: 0.6,
      recall: 1,
      fpr: 1 / 3,
      precision: 3 / 4,
    });
  });

  it('flags nothing when even the top score is a false positive beyond the limit', () => {
    expect(recallAtFpr([0.9, 0.1], [0, 1], 0.001)).toBe(0);
    expect(operatingPointAtFpr([0.9, 0.1], [0, 1], 0.001).threshold).toBe(Number.POSITIVE_INFINITY);
    // A tie between a positive and a negative cannot be split: it counts as one point.
    expect(recallAtFpr([0.9, 0.9, 0.1], [1, 0, 0], 0.4)).toBe(0);
    expect(recallAtFpr([0.9, 0.9, 0.1], [1, 0, 0], 0.5)).toBe(1);
  });

  it('handles 0.1% FPR on a larger ranking', () => {
    // 2000 negatives ranked below 10 positives, except 3 negatives on top: FPR ≤ 0.001 allows 2 of them.
    const scores: number[] = [];
    const labels: number[] = [];
    const add = (score: number, label: number): void => {
      scores.push(score);
      labels.push(label);
    };
    for (let i = 0; i < 3; i++) add(100 - i, 0);
    for (let i = 0; i < 10; i++) add(50 - i, 1);
    for (let i = 0; i < 1997; i++) add(-i, 0);
    expect(recallAtFpr(scores, labels, 0.001)).toBe(0);
    expect(recallAtFpr(scores, labels, 0.0015)).toBe(1);
  });
});

describe('precisionRecallAt', () => {
  it('counts rows with score ≥ threshold as flagged', () => {
    expect(precisionRecallAt(SCORES, LABELS, 0.7)).toEqual({
      threshold: 0.7,
      tp: 2,
      fp: 1,
      tn: 2,
      fn: 1,
      precision: 2 / 3,
      recall: 2 / 3,
      fpr: 1 / 3,
    });
    const none = precisionRecallAt(SCORES, LABELS, 1);
    expect(none.tp + none.fp).toBe(0);
    expect(none.precision).toBeNaN();
    expect(none.recall).toBe(0);
  });
});
