/**
 * Calibration of raw model scores and the mapping to the API's `risk_score`, risk level and suggested
 * action.
 *
 * Why our own: npm ML packages were unfit for the core model (/work/shared/reference/ml.md §C), and none of
 * them ships calibration; Platt scaling is ~60 lines.
 *
 * - Raw GBDT scores are log-odds, but boosting with `scalePosWeight` (and boosting in general) does not
 *   give calibrated probabilities. `fitPlatt` fits p = sigmoid(a · score + b) on a held-out slice that the
 *   model did not train on, with Platt's smoothed targets ((N₊ + 1)/(N₊ + 2) and 1/(N₋ + 2)) and the
 *   Newton method with backtracking of Lin, Lin & Weng (2007). It refuses a ≤ 0: a calibration that
 *   inverts the model's ranking means the model or the slice is broken and must not be deployed.
 * - `risk_score` = round(100 × calibrated probability), clamped to 0..100: the score is the estimated
 *   chance of fraud in percent, so thresholds read directly as probabilities (75 ⇒ "≥ 75% likely fraud").
 *   It is monotone (non-decreasing) in the raw score when a > 0.
 * - Thresholds compare with ≥: score ≥ block ⇒ 'high' / 'block'; review ≤ score < block ⇒ 'elevated' /
 *   'review'; below review ⇒ 'low' / 'approve'. Merchants may configure their own thresholds elsewhere;
 *   `DEFAULT_RISK_THRESHOLDS` is the platform default.
 */

export interface PlattCalibration {
  /** Slope: p = sigmoid(a · rawScore + b); a > 0. */
  a: number;
  b: number;
}

export interface RiskThresholds {
  /** Scores at or above this (and below `block`) go to manual review. */
  review: number;
  /** Scores at or above this are blocked. */
  block: number;
}

export type RiskLevel = 'low' | 'elevated' | 'high';
export type SuggestedAction = 'approve' | 'review' | 'block';

export const DEFAULT_RISK_THRESHOLDS: Readonly<RiskThresholds> = Object.freeze({ review: 30, block: 75 });

function softplus(z: number): number {
  return z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
}

function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

/** Fits Platt scaling on held-out raw scores and 0/1 labels. Throws if the fit is not increasing. */
export function fitPlatt(scores: ArrayLike<number>, labels: ArrayLike<number>): PlattCalibration {
  const n = scores.length;
  if (n !== labels.length) throw new RangeError('scores and labels differ in length');
  let pos = 0;
  for (let i = 0; i < n; i++) {
    const l = labels[i];
    if (l !== 0 && l !== 1) throw new RangeError(`label ${i} must be 0 or 1`);
    if (!Number.isFinite(scores[i])) throw new RangeError(`score ${i} is not finite`);
    pos += l;
  }
  const neg = n - pos;
  if (pos === 0 || neg === 0) throw new RangeError('calibration slice must contain both classes');
  const hiT = (pos + 1) / (pos + 2);
  const loT = 1 / (neg + 2);
  const target = (i: number): number => (labels[i] === 1 ? hiT : loT);
  const loss = (a: number, b: number): number => {
    let s = 0;
    for (let i = 0; i < n; i++) {
      const z = a * scores[i]! + b;
      s += softplus(z) - target(i) * z;
    }
    return s;
  };

  let a = 0;
  let b = Math.log((pos + 1) / (neg + 1));
  let f = loss(a, b);
  const sigma = 1e-12;
  for (let iter = 0; iter < 100; iter++) {
    let h11 = sigma;
    let h22 = sigma;
    let h21 = 0;
    let g1 = 0;
    let g2 = 0;
    for (let i = 0; i < n; i++) {
      const s = scores[i]!;
      const p = sigmoid(a * s + b);
      const d1 = p - target(i);
      const d2 = p * (1 - p);
      h11 += s * s * d2;
      h22 += d2;
      h21 += s * d2;
      g1 += s * d1;
      g2 += d1;
    }
    if (Math.abs(g1) < 1e-9 * n && Math.abs(g2) < 1e-9 * n) break;
    const det = h11 * h22 - h21 * h21;
    const da = -(h22 * g1 - h21 * g2) / det;
    const db = -(-h21 * g1 + h11 * g2) / det;
    const gd = g1 * da + g2 * db;
    let stepSize = 1;
    let improved = false;
    while (stepSize >= 1e-10) {
      const na = a + stepSize * da;
      const nb = b + stepSize * db;
      const nf = loss(na, nb);
      if (nf < f + 1e-4 * stepSize * gd) {
        a = na;
        b = nb;
        f = nf;
        improved = true;
        break;
      }
      stepSize /= 2;
    }
    if (!improved) break;
  }
  if (!(a > 0)) throw new RangeError(`calibration slope is ${a}: scores do not rank positives higher`);
  return { a, b };
}

/** Calibrated probability of fraud for a raw model score. */
export function calibrate(platt: PlattCalibration, rawScore: number): number {
  return sigmoid(platt.a * rawScore + platt.b);
}

/** The 0..100 integer `risk_score` for a calibrated probability: round(100 × p). */
export function riskScoreFromProbability(probability: number): number {
  if (Number.isNaN(probability)) throw new RangeError('probability is NaN');
  return Math.min(100, Math.max(0, Math.round(100 * probability)));
}

/** The 0..100 `risk_score` for a raw model score. */
export function riskScore(platt: PlattCalibration, rawScore: number): number {
  return riskScoreFromProbability(calibrate(platt, rawScore));
}

/** Throws unless 0 ≤ review ≤ block ≤ 100. */
export function validateThresholds(t: RiskThresholds): RiskThresholds {
  if (
    !(
      Number.isFinite(t.review) &&
      Number.isFinite(t.block) &&
      0 <= t.review &&
      t.review <= t.block &&
      t.block <= 100
    )
  )
    throw new RangeError(`thresholds must satisfy 0 ≤ review ≤ block ≤ 100, got ${JSON.stringify(t)}`);
  return t;
}

function checkScore(score: number): void {
  if (!(score >= 0 && score <= 100)) throw new RangeError(`risk score must be in 0..100, got ${score}`);
}

export function riskLevel(score: number, thresholds: RiskThresholds = DEFAULT_RISK_THRESHOLDS): RiskLevel {
  checkScore(score);
  validateThresholds(thresholds);
  if (score >= thresholds.block) return 'high';
  if (score >= thresholds.review) return 'elevated';
  return 'low';
}

export function suggestedAction(
  score: number,
  thresholds: RiskThresholds = DEFAULT_RISK_THRESHOLDS,
): SuggestedAction {
  const level = riskLevel(score, thresholds);
  return level === 'high' ? 'block' : level === 'elevated' ? 'review' : 'approve';
}
