/**
 * Evaluation metrics for imbalanced binary scoring: AUPRC (average precision), ROC AUC, recall at a fixed
 * false-positive rate, and precision/recall at a threshold.
 *
 * Why our own: npm ML packages were unfit (/work/shared/reference/ml.md §C) and none offers tie-correct
 * AUPRC; ml.md §A.2 shows why AUPRC and recall at fixed FPR, not AUC or accuracy, must be reported (an
 * isolation forest reaches AUC 0.95 with AUPRC 0.14).
 *
 * Conventions: labels are 0/1; a row is flagged when score ≥ threshold. Tied scores are one operating
 * point (they cannot be separated by any threshold), so:
 * - `auprc` is scikit-learn's `average_precision_score`: Σ (R_k − R_{k−1}) · P_k over distinct thresholds.
 * - `rocAuc` counts a tied positive/negative pair as ½ (Mann–Whitney U / (N₊N₋)).
 * Metrics that need both classes return NaN when one is absent.
 */

interface Groups {
  /** Distinct scores, descending. */
  score: Float64Array;
  /** Positives and negatives with exactly that score. */
  pos: Float64Array;
  neg: Float64Array;
  totalPos: number;
  totalNeg: number;
}

function checkInputs(scores: ArrayLike<number>, labels: ArrayLike<number>): void {
  if (scores.length !== labels.length) throw new RangeError('scores and labels differ in length');
  for (let i = 0; i < scores.length; i++) {
    if (Number.isNaN(scores[i])) throw new RangeError(`score ${i} is NaN`);
    const l = labels[i];
    if (l !== 0 && l !== 1) throw new RangeError(`label ${i} must be 0 or 1, got ${l}`);
  }
}

function groupByScore(scores: ArrayLike<number>, labels: ArrayLike<number>): Groups {
  checkInputs(scores, labels);
  const n = scores.length;
  const s = Float64Array.from(scores);
  const order = Uint32Array.from({ length: n }, (_, i) => i).sort((i, j) => s[j]! - s[i]! || i - j);
  const gs: number[] = [];
  const gp: number[] = [];
  const gn: number[] = [];
  let totalPos = 0;
  for (let k = 0; k < n; k++) {
    const i = order[k]!;
    const v = s[i]!;
    const positive = labels[i] === 1;
    totalPos += positive ? 1 : 0;
    if (gs.length === 0 || gs[gs.length - 1] !== v) {
      gs.push(v);
      gp.push(0);
      gn.push(0);
    }
    const last = gs.length - 1;
    if (positive) gp[last]! += 1;
    else gn[last]! += 1;
  }
  return {
    score: Float64Array.from(gs),
    pos: Float64Array.from(gp),
    neg: Float64Array.from(gn),
    totalPos,
    totalNeg: n - totalPos,
  };
}

/** Average precision (area under the precision–recall step curve). NaN without positives. */
export function auprc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const g = groupByScore(scores, labels);
  if (g.totalPos === 0) return Number.NaN;
  let tp = 0;
  let fp = 0;
  let ap = 0;
  for (let k = 0; k < g.score.length; k++) {
    tp += g.pos[k]!;
    fp += g.neg[k]!;
    if (g.pos[k]! > 0) ap += (g.pos[k]! / g.totalPos) * (tp / (tp + fp));
  }
  return ap;
}

/** Area under the ROC curve, ties counted as ½. NaN unless both classes are present. */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const g = groupByScore(scores, labels);
  if (g.totalPos === 0 || g.totalNeg === 0) return Number.NaN;
  let tpAbove = 0;
  let wins = 0;
  for (let k = 0; k < g.score.length; k++) {
    wins += g.neg[k]! * (tpAbove + g.pos[k]! / 2);
    tpAbove += g.pos[k]!;
  }
  return wins / (g.totalPos * g.totalNeg);
}

export interface OperatingPoint {
  /** Flag rows with score ≥ threshold (+Infinity: flag nothing). */
  threshold: number;
  recall: number;
  fpr: number;
  /** NaN when nothing is flagged. */
  precision: number;
}

/**
 * The operating point with the largest recall whose false-positive rate is ≤ maxFpr, the threshold chosen
 * among these scores. If even the top score exceeds maxFpr, nothing is flagged (recall 0).
 */
export function operatingPointAtFpr(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  maxFpr: number,
): OperatingPoint {
  if (!(maxFpr >= 0 && maxFpr <= 1)) throw new RangeError(`fpr must be in [0, 1], got ${maxFpr}`);
  const g = groupByScore(scores, labels);
  if (g.totalPos === 0 || g.totalNeg === 0)
    return { threshold: Number.NaN, recall: Number.NaN, fpr: Number.NaN, precision: Number.NaN };
  let best: OperatingPoint = {
    threshold: Number.POSITIVE_INFINITY,
    recall: 0,
    fpr: 0,
    precision: Number.NaN,
  };
  let tp = 0;
  let fp = 0;
  for (let k = 0; k < g.score.length; k++) {
    tp += g.pos[k]!;
    fp += g.neg[k]!;
    const fpr = fp / g.totalNeg;
    if (fpr > maxFpr) break;
    best = { threshold: g.score[k]!, recall: tp / g.totalPos, fpr, precision: tp / (tp + fp) };
  }
  return best;
}

/** Largest recall with false-positive rate ≤ fpr (e.g. 0.01, 0.001), threshold chosen on these scores. */
export function recallAtFpr(scores: ArrayLike<number>, labels: ArrayLike<number>, fpr: number): number {
  return operatingPointAtFpr(scores, labels, fpr).recall;
}

export interface ConfusionAtThreshold {
  threshold: number;
  tp: number;
  fp: number;
  tn: number;
  fn: number;
  /** NaN when nothing is flagged. */
  precision: number;
  /** NaN without positives. */
  recall: number;
  /** NaN without negatives. */
  fpr: number;
}

/** Confusion counts, precision and recall when rows with score ≥ threshold are flagged. */
export function precisionRecallAt(
  scores: ArrayLike<number>,
  labels: ArrayLike<number>,
  threshold: number,
): ConfusionAtThreshold {
  checkInputs(scores, labels);
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let tn = 0;
  for (let i = 0; i < scores.length; i++) {
    const flagged = scores[i]! >= threshold;
    if (labels[i] === 1) {
      if (flagged) tp++;
      else fn++;
    } else if (flagged) fp++;
    else tn++;
  }
  return {
    threshold,
    tp,
    fp,
    tn,
    fn,
    precision: tp + fp > 0 ? tp / (tp + fp) : Number.NaN,
    recall: tp + fn > 0 ? tp / (tp + fn) : Number.NaN,
    fpr: fp + tn > 0 ? fp / (fp + tn) : Number.NaN,
  };
}
