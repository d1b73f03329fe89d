/**
 * Calibration tests: Platt fit recovers a known link, the risk score is monotone and within 0..100, and
 * the level/action thresholds hold at their boundaries. Own code because npm ML packages were unfit
 * (/work/shared/reference/ml.md §C).
 */
import { describe, expect, it } from 'vitest';
import {
  calibrate,
  DEFAULT_RISK_THRESHOLDS,
  fitPlatt,
  riskLevel,
  riskScore,
  riskScoreFromProbability,
  suggestedAction,
  validateThresholds,
} from './calibration.ts';
import { createRng } from './random.ts';

function sigmoid(z: number): number {
  return 1 / (1 + Math.exp(-z));
}

describe('fitPlatt', () => {
  it('recovers the slope and intercept of a known logistic link', () => {
    const rng = createRng(3);
    const scores: number[] = [];
    const labels: number[] = [];
    for (let i = 0; i < 20_000; i++) {
      const s = rng.nextNormal() * 2;
      scores.push(s);
      labels.push(rng.next() < sigmoid(0.5 * s - 2) ? 1 : 0);
    }
    const { a, b } = fitPlatt(scores, labels);
    expect(a).toBeGreaterThan(0.4);
    expect(a).toBeLessThan(0.6);
    expect(b).toBeGreaterThan(-2.2);
    expect(b).toBeLessThan(-1.8);
  });

  it('refuses a calibration slice that inverts the ranking or lacks a class', () => {
    expect(() => fitPlatt([3, 2, 1, 0, -1, -2], [0, 0, 0, 1, 1, 1])).toThrow(/slope/);
    expect(() => fitPlatt([1, 2], [0, 0])).toThrow(/both classes/);
    expect(() => fitPlatt([1, 2], [0, 3])).toThrow(RangeError);
  });
});

describe('risk score', () => {
  it('is monotone in the raw score and an integer in 0..100', () => {
    const platt = { a: 1.3, b: -2 };
    let previous = -1;
    const violations: number[] = [];
    for (let raw = -50; raw <= 50; raw += 0.01) {
      const score = riskScore(platt, raw);
      if (!Number.isInteger(score) || score < previous || score < 0 || score > 100) violations.push(raw);
      previous = score;
    }
    expect(violations).toEqual([]);
    expect(riskScore(platt, -50)).toBe(0);
    expect(riskScore(platt, 50)).toBe(100);
    expect(calibrate(platt, 2 / 1.3)).toBeCloseTo(0.5, 12);
    expect(riskScoreFromProbability(0.304)).toBe(30);
    expect(riskScoreFromProbability(0.305)).toBe(31);
    expect(() => riskScoreFromProbability(Number.NaN)).toThrow(RangeError);
  });
});

describe('riskLevel and suggestedAction', () => {
  const t = { review: 40, block: 80 };

  it('switch exactly at the thresholds (≥)', () => {
    expect([39, 40, 79, 80].map((s) => riskLevel(s, t))).toEqual(['low', 'elevated', 'elevated', 'high']);
    expect([39, 40, 79, 80].map((s) => suggestedAction(s, t))).toEqual([
      'approve',
      'review',
      'review',
      'block',
    ]);
    expect(suggestedAction(0, t)).toBe('approve');
    expect(suggestedAction(100, t)).toBe('block');
  });

  it('uses the defaults when no thresholds are given', () => {
    const { review, block } = DEFAULT_RISK_THRESHOLDS;
    expect(suggestedAction(review - 1)).toBe('approve');
    expect(suggestedAction(review)).toBe('review');
    expect(suggestedAction(block)).toBe('block');
    expect(riskLevel(block - 1)).toBe('elevated');
  });

  it('allows review = block (no review band) and rejects invalid inputs', () => {
    expect(suggestedAction(59, { review: 60, block: 60 })).toBe('approve');
    expect(suggestedAction(60, { review: 60, block: 60 })).toBe('block');
    expect(() => validateThresholds({ review: 80, block: 40 })).toThrow(RangeError);
    expect(() => riskLevel(50, { review: -1, block: 40 })).toThrow(RangeError);
    expect(() => riskLevel(101, t)).toThrow(RangeError);
    expect(() => riskLevel(Number.NaN, t)).toThrow(RangeError);
  });
});
