/**
 * Logistic regression: the baseline the GBDT must beat (and a fallback model that is easy to audit).
 *
 * Why our own: npm ML packages were unfit (/work/shared/reference/ml.md §C). `ml-logistic-regression` has
 * no intercept, no regularisation, fixed-step batch gradient descent (300 steps took 20 s on 20k rows) and is unmaintained
 * since 2022. This one is ~100 lines, seeded and JSON-serialisable.
 *
 * Training: features are standardised (training mean and standard deviation stored in the model; a
 * constant feature gets std 1; a missing or non-finite value is imputed with the mean, i.e. contributes
 * 0). The weights are fitted by mini-batch SGD with Adam steps on the (optionally positive-weighted) logloss plus
 * ½·l2·‖w‖² (the bias is not penalised). Rows are shuffled each epoch with the seeded PRNG, and the step
 * size decays linearly to 10% over the epochs, so the same data and seed give an identical model.
 */
import type { FeatureRows } from './gbdt.ts';
import { validateTrainingSet } from './gbdt.ts';
import { createRng, shuffleInPlace } from './random.ts';

export const LOGISTIC_MODEL_VERSION = '1';

export interface LogisticParams {
  seed: number;
  /** Passes over the data. Default 30. */
  epochs?: number;
  /** Default 256. */
  batchSize?: number;
  /** Adam step size. Default 0.01. */
  learningRate?: number;
  /** L2 penalty on the weights (not the bias). Default 1e-4. */
  l2?: number;
  /** Weight of positive rows. Default 1. */
  scalePosWeight?: number;
}

export interface LogisticModel {
  kind: 'logistic';
  version: string;
  featureNames: string[];
  means: number[];
  stds: number[];
  /** Weights on the standardised features. */
  weights: number[];
  bias: number;
  params: Required<LogisticParams>;
}

function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

export function trainLogistic(
  X: FeatureRows,
  y: ArrayLike<number>,
  params: LogisticParams,
  featureNames: readonly string[],
): LogisticModel {
  const p: Required<LogisticParams> = {
    seed: params.seed,
    epochs: params.epochs ?? 30,
    batchSize: params.batchSize ?? 256,
    learningRate: params.learningRate ?? 0.01,
    l2: params.l2 ?? 1e-4,
    scalePosWeight: params.scalePosWeight ?? 1,
  };
  if (!Number.isInteger(p.epochs) || p.epochs < 1) throw new RangeError('epochs must be a positive integer');
  if (!Number.isInteger(p.batchSize) || p.batchSize < 1)
    throw new RangeError('batchSize must be a positive integer');
  if (!(p.learningRate > 0) || !(p.l2 >= 0) || !(p.scalePosWeight > 0))
    throw new RangeError('learningRate and scalePosWeight must be > 0, l2 ≥ 0');
  const nF = featureNames.length;
  const n = X.length;
  const positives = validateTrainingSet(X, y, nF);
  if (positives === 0 || positives === n) throw new RangeError('training labels must contain both classes');
  const rng = createRng(p.seed);

  // Standardise into a row-major matrix.
  const means: number[] = [];
  const stds: number[] = [];
  const Z = new Float64Array(n * nF);
  for (let f = 0; f < nF; f++) {
    let sum = 0;
    let sq = 0;
    let m = 0;
    for (let r = 0; r < n; r++) {
      const v = X[r]![f]!;
      if (Number.isFinite(v)) {
        sum += v;
        m++;
      }
    }
    const mean = m > 0 ? sum / m : 0;
    for (let r = 0; r < n; r++) {
      const v = X[r]![f]!;
      if (Number.isFinite(v)) sq += (v - mean) * (v - mean);
    }
    const sd = m > 1 ? Math.sqrt(sq / m) : 0;
    const std = sd > 1e-12 ? sd : 1;
    means.push(mean);
    stds.push(std);
    for (let r = 0; r < n; r++) {
      const v = X[r]![f]!;
      Z[r * nF + f] = Number.isFinite(v) ? (v - mean) / std : 0;
    }
  }

  const wPos = positives * p.scalePosWeight;
  const w = new Float64Array(nF);
  let b = Math.log(wPos / (n - positives));
  // Adam state; index nF is the bias.
  const m1 = new Float64Array(nF + 1);
  const m2 = new Float64Array(nF + 1);
  const grad = new Float64Array(nF + 1);
  const beta1 = 0.9;
  const beta2 = 0.999;
  let step = 0;
  const order = Uint32Array.from({ length: n }, (_, i) => i);
  for (let epoch = 0; epoch < p.epochs; epoch++) {
    shuffleInPlace(order, rng);
    const lr = p.learningRate * (1 - (0.9 * epoch) / Math.max(1, p.epochs - 1));
    for (let start = 0; start < n; start += p.batchSize) {
      const end = Math.min(n, start + p.batchSize);
      grad.fill(0);
      let wsum = 0;
      for (let i = start; i < end; i++) {
        const r = order[i]!;
        const base = r * nF;
        let z = b;
        for (let f = 0; f < nF; f++) z += w[f]! * Z[base + f]!;
        const yr = y[r]!;
        const rw = yr === 1 ? p.scalePosWeight : 1;
        const e = rw * (sigmoid(z) - yr);
        wsum += rw;
        for (let f = 0; f < nF; f++) grad[f] = grad[f]! + e * Z[base + f]!;
        grad[nF] = grad[nF]! + e;
      }
      step++;
      const c1 = 1 - beta1 ** step;
      const c2 = 1 - beta2 ** step;
      for (let k = 0; k <= nF; k++) {
        const gk = grad[k]! / wsum + (k < nF ? p.l2 * w[k]! : 0);
        m1[k] = beta1 * m1[k]! + (1 - beta1) * gk;
        m2[k] = beta2 * m2[k]! + (1 - beta2) * gk * gk;
        const delta = (lr * (m1[k]! / c1)) / (Math.sqrt(m2[k]! / c2) + 1e-8);
        if (k < nF) w[k] = w[k]! - delta;
        else b -= delta;
      }
    }
  }
  return {
    kind: 'logistic',
    version: LOGISTIC_MODEL_VERSION,
    featureNames: [...featureNames],
    means,
    stds,
    weights: Array.from(w),
    bias: b,
    params: p,
  };
}

/** Log-odds. Missing values (NaN) contribute 0 (mean imputation). */
export function predictLogisticRaw(model: LogisticModel, row: ArrayLike<number>): number {
  const { means, stds, weights } = model;
  if (row.length !== weights.length)
    throw new RangeError(`row has ${row.length} features, model expects ${weights.length}`);
  let z = model.bias;
  for (let f = 0; f < weights.length; f++) {
    const v = row[f]!;
    if (Number.isFinite(v)) z += (weights[f]! * (v - means[f]!)) / stds[f]!;
  }
  return z;
}

/** P(y = 1) (uncalibrated if scalePosWeight ≠ 1). */
export function predictLogistic(model: LogisticModel, row: ArrayLike<number>): number {
  return sigmoid(predictLogisticRaw(model, row));
}
