/**
 * Histogram gradient-boosted decision trees for binary classification (logloss): the primary Fraud Shield
 * model.
 *
 * Why our own: the npm ML packages were unfit for the core model (/work/shared/reference/ml.md §C). The mljs
 * trees give no usable probabilities or are 100× slower, ml-xgboost (2018) crashes at ≥ 100k rows, tfjs is
 * 272 MB and slow per row, and onnxruntime-node is inference-only and ~290 MB. ml.md measured a compact own
 * histogram GBDT matching LightGBM (AUC 0.892 vs 0.893) while scoring a row in ~9 µs; this is that design,
 * grown to production shape.
 *
 * Design:
 * - Binning: per-feature quantile bins (≤ 255), edges stored in the model. Bin b holds
 *   x ≤ edges[b] (and > edges[b − 1]), so the split "bin ≤ b" is exactly "x ≤ edges[b]" at scoring time.
 *   Edges are midpoints between distinct training values and always finite; ±Infinity land in the
 *   outer bins.
 * - Missing values (NaN) get their own histogram slot (slot 255). Every split
 *   learns a default direction: both "missing goes left" and "missing goes right" are scored and the
 *   better one is kept. If no training row reaching the node was missing, missing values follow the child
 *   with the larger hessian cover.
 * - Growth is depth-wise (level by level) with histogram subtraction: only the smaller child's histogram is
 *   built from rows, the larger one is parent − smaller.
 * - Split gain is the second-order logloss reduction with L2 (`lambda`):
 *   ½·[G_L²/(H_L+λ) + G_R²/(H_R+λ) − G²/(H+λ)], leaf output −G/(H+λ) × learningRate.
 * - Class imbalance: `scalePosWeight` multiplies gradients and hessians of positive rows; this shifts the
 *   raw scores, which calibration.ts (Platt scaling on a held-out slice) corrects.
 * - Explanations: every node stores its hessian cover and its expected value (the cover-weighted mean of
 *   the leaf values beneath it). `contributions` uses the Saabas method: along the row's path, each split
 *   feature is credited with child.value − parent.value. After training each tree is centred (its root
 *   expected value is moved into `baseScore`), so `baseScore` is the model's expected raw score over the
 *   training rows and Σ contributions = predictRaw − baseScore exactly (up to rounding).
 * - The model is plain JSON (number[] arrays, a flat array of nodes per tree, children after parents).
 *   Scoring compiles it once into packed typed arrays (cached per model object), so `predictRaw` does not
 *   allocate. Treat a model object as immutable once scored.
 */
import { createRng, shuffleInPlace } from './random.ts';

export const GBDT_MODEL_VERSION = '1';
/** Largest number of non-missing bins per feature; slot 255 is the missing-value slot. */
export const GBDT_MAX_BINS = 255;
const MISSING_BIN = 255;
const SLOTS = 256;
/** Binning uses at most this many (randomly sampled) values per feature. */
const BIN_SAMPLE = 262_144;

/** Rows of features; `Float64Array[]` and `number[][]` both fit. */
export type FeatureRows = ReadonlyArray<ArrayLike<number>>;

export interface GbdtParams {
  /** Number of boosting rounds (trees). */
  trees: number;
  /** Maximum depth of each tree (≥ 1); a tree has at most 2^depth leaves. */
  depth: number;
  learningRate: number;
  /** Maximum quantile bins per feature, 2..255. */
  bins: number;
  /** Minimum number of (sampled) training rows in a leaf. */
  minLeaf: number;
  /** L2 regularisation on leaf values. */
  lambda: number;
  /** Fraction of rows sampled (Bernoulli) for each tree, (0, 1]. Default 1. */
  rowSubsample?: number;
  /** Fraction of features sampled for each tree, (0, 1]. Default 1. */
  colSubsample?: number;
  seed: number;
  /** Weight of positive rows (e.g. negatives / positives). Default 1. */
  scalePosWeight?: number;
  /** Minimum hessian sum in a leaf. Default 1e-3. */
  minChildWeight?: number;
  /** Minimum loss reduction to make a split. Default 0. */
  minGain?: number;
}

/** One tree, as parallel arrays over its nodes; node 0 is the root, children come after their parent. */
export interface GbdtTree {
  /** Split feature index, −1 for a leaf. */
  feature: number[];
  /** Go left when x ≤ threshold (0 for leaves). */
  threshold: number[];
  /** Where a missing (NaN) value goes. */
  defaultLeft: boolean[];
  /** Child node indices, −1 for leaves. */
  left: number[];
  right: number[];
  /** Leaf: the output added to the raw score. Internal node: cover-weighted mean of the leaves beneath. */
  value: number[];
  /** Sum of hessians of the training rows that reached the node. */
  cover: number[];
  /** Loss reduction of the split (0 for leaves). */
  gain: number[];
}

export interface GbdtModel {
  kind: 'gbdt';
  version: string;
  featureNames: string[];
  /** Expected raw score (log-odds) over the training rows; the bias term of `contributions`. */
  baseScore: number;
  /** Quantile bin edges per feature (kept for retraining / drift checks; scoring uses thresholds). */
  binEdges: number[][];
  trees: GbdtTree[];
  training: {
    rows: number;
    positives: number;
    /** The starting log-odds of boosting (weighted positive rate). */
    initScore: number;
    params: Required<GbdtParams>;
  };
}

/* ------------------------------------------------------------------------------------------------ */
/* Binning                                                                                           */
/* ------------------------------------------------------------------------------------------------ */

function midpoint(a: number, b: number): number {
  const m = a + (b - a) / 2;
  // Guard against rounding: the edge must satisfy a ≤ m < b so that a goes left and b goes right.
  return m >= a && m < b ? m : a;
}

/** Quantile bin edges over sorted finite values: at most maxBins − 1 edges, strictly increasing. */
export function quantileBinEdges(sorted: Float64Array, maxBins: number): number[] {
  const n = sorted.length;
  if (n === 0) return [];
  const distinct: number[] = [];
  const counts: number[] = [];
  for (let i = 0; i < n; i++) {
    const v = sorted[i] as number;
    if (distinct.length > 0 && distinct[distinct.length - 1] === v) counts[counts.length - 1]! += 1;
    else {
      distinct.push(v);
      counts.push(1);
    }
  }
  const edges: number[] = [];
  if (distinct.length <= maxBins) {
    for (let i = 0; i + 1 < distinct.length; i++) edges.push(midpoint(distinct[i]!, distinct[i + 1]!));
    return edges;
  }
  // Greedy equal-frequency cuts; the target size is recomputed after each cut so that a heavy value
  // (e.g. many zeros) does not starve the remaining bins.
  let perBin = n / maxBins;
  let inBin = 0;
  let seen = 0;
  for (let i = 0; i + 1 < distinct.length && edges.length < maxBins - 1; i++) {
    inBin += counts[i]!;
    seen += counts[i]!;
    if (inBin >= perBin) {
      const e = midpoint(distinct[i]!, distinct[i + 1]!);
      if (edges.length === 0 || e > edges[edges.length - 1]!) edges.push(e);
      inBin = 0;
      perBin = (n - seen) / (maxBins - edges.length);
    }
  }
  return edges;
}

/** Bin index of x: the first b with x ≤ edges[b], edges.length if none, MISSING_BIN for NaN. */
function binOf(edges: readonly number[], x: number): number {
  if (Number.isNaN(x)) return MISSING_BIN;
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (x <= edges[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/* ------------------------------------------------------------------------------------------------ */
/* Training                                                                                          */
/* ------------------------------------------------------------------------------------------------ */

interface TreeBuilder {
  feature: number[];
  splitBin: number[];
  threshold: number[];
  defaultLeft: boolean[];
  left: number[];
  right: number[];
  value: number[];
  cover: number[];
  gain: number[];
}

function newNode(t: TreeBuilder): number {
  t.feature.push(-1);
  t.splitBin.push(0);
  t.threshold.push(0);
  t.defaultLeft.push(false);
  t.left.push(-1);
  t.right.push(-1);
  t.value.push(0);
  t.cover.push(0);
  t.gain.push(0);
  return t.feature.length - 1;
}

interface Pending {
  node: number;
  start: number;
  end: number;
  g: number;
  h: number;
  c: number;
  hist: Float64Array | null;
}

interface Split {
  feature: number;
  bin: number;
  gain: number;
  missingLeft: boolean;
  missingCount: number;
  gl: number;
  hl: number;
  cl: number;
  gr: number;
  hr: number;
  cr: number;
}

interface SplitParams {
  lambda: number;
  minLeaf: number;
  minChildWeight: number;
  minGain: number;
}

/**
 * Histogram layout: [(feature · 256 + bin) · 3 + {0: Σg, 1: Σh, 2: count}]. Built row by row from the
 * row-major bins (a row's bins share a cache line); this measured faster than a column-wise pass.
 */
function buildHistogram(
  hist: Float64Array,
  idx: Uint32Array,
  start: number,
  end: number,
  binned: Uint8Array,
  nF: number,
  g: Float64Array,
  h: Float64Array,
  feats: Int32Array,
): void {
  hist.fill(0);
  const k = feats.length;
  for (let i = start; i < end; i++) {
    const r = idx[i]!;
    const gr = g[r]!;
    const hr = h[r]!;
    const base = r * nF;
    for (let j = 0; j < k; j++) {
      const f = feats[j]!;
      const o = (f * SLOTS + binned[base + f]!) * 3;
      hist[o] = hist[o]! + gr;
      hist[o + 1] = hist[o + 1]! + hr;
      hist[o + 2] = hist[o + 2]! + 1;
    }
  }
}

function subtractInPlace(parent: Float64Array, child: Float64Array, feats: Int32Array): void {
  for (let j = 0; j < feats.length; j++) {
    const from = feats[j]! * SLOTS * 3;
    const to = from + SLOTS * 3;
    for (let o = from; o < to; o++) parent[o] = parent[o]! - child[o]!;
  }
}

function findBestSplit(
  hist: Float64Array,
  G: number,
  H: number,
  C: number,
  feats: Int32Array,
  nBins: Int32Array,
  p: SplitParams,
): Split | null {
  const { lambda, minLeaf, minChildWeight } = p;
  const parentScore = (G * G) / (H + lambda);
  let bestGain = Math.max(p.minGain, 1e-12) * 2; // gains are compared before the ½ factor
  let best: Split | null = null;
  for (let j = 0; j < feats.length; j++) {
    const f = feats[j]!;
    const nb = nBins[f]!;
    if (nb < 2) continue;
    const base = f * SLOTS * 3;
    const mo = base + MISSING_BIN * 3;
    const gm = hist[mo]!;
    const hm = hist[mo + 1]!;
    const cm = hist[mo + 2]!;
    const gn = G - gm;
    const hn = H - hm;
    const cn = C - cm;
    let gl = 0;
    let hl = 0;
    let cl = 0;
    for (let b = 0; b < nb - 1; b++) {
      const o = base + b * 3;
      gl += hist[o]!;
      hl += hist[o + 1]!;
      cl += hist[o + 2]!;
      const cr = cn - cl;
      const gr = gn - gl;
      const hr = hn - hl;
      // Missing values go right.
      if (cl >= minLeaf && cr + cm >= minLeaf && hl >= minChildWeight && hr + hm >= minChildWeight) {
        const gain = (gl * gl) / (hl + lambda) + ((gr + gm) * (gr + gm)) / (hr + hm + lambda) - parentScore;
        if (gain > bestGain) {
          bestGain = gain;
          best = { feature: f, bin: b, gain, missingLeft: false, missingCount: cm, gl, hl, cl, gr, hr, cr };
          best.gr += gm;
          best.hr += hm;
          best.cr += cm;
        }
      }
      // Missing values go left.
      if (
        cm > 0 &&
        cl + cm >= minLeaf &&
        cr >= minLeaf &&
        hl + hm >= minChildWeight &&
        hr >= minChildWeight
      ) {
        const gain = ((gl + gm) * (gl + gm)) / (hl + hm + lambda) + (gr * gr) / (hr + lambda) - parentScore;
        if (gain > bestGain) {
          bestGain = gain;
          best = { feature: f, bin: b, gain, missingLeft: true, missingCount: cm, gl, hl, cl, gr, hr, cr };
          best.gl += gm;
          best.hl += hm;
          best.cl += cm;
        }
      }
      // Every non-missing row is on the left now; with missing right this was the last distinct split.
      if (cr <= 0) break;
    }
  }
  if (best) best.gain /= 2;
  return best;
}

function requireInRange(name: string, v: number, lo: number, hi: number, integer = false): void {
  if (!Number.isFinite(v) || v < lo || v > hi || (integer && !Number.isInteger(v)))
    throw new RangeError(`${name} must be ${integer ? 'an integer ' : ''}in [${lo}, ${hi}], got ${v}`);
}

function resolveParams(params: GbdtParams): Required<GbdtParams> {
  const p: Required<GbdtParams> = {
    trees: params.trees,
    depth: params.depth,
    learningRate: params.learningRate,
    bins: params.bins,
    minLeaf: params.minLeaf,
    lambda: params.lambda,
    rowSubsample: params.rowSubsample ?? 1,
    colSubsample: params.colSubsample ?? 1,
    seed: params.seed,
    scalePosWeight: params.scalePosWeight ?? 1,
    minChildWeight: params.minChildWeight ?? 1e-3,
    minGain: params.minGain ?? 0,
  };
  requireInRange('trees', p.trees, 1, 100_000, true);
  requireInRange('depth', p.depth, 1, 20, true);
  requireInRange('learningRate', p.learningRate, Number.MIN_VALUE, 10);
  requireInRange('bins', p.bins, 2, GBDT_MAX_BINS, true);
  requireInRange('minLeaf', p.minLeaf, 1, Number.MAX_SAFE_INTEGER, true);
  requireInRange('lambda', p.lambda, 0, Number.MAX_VALUE);
  requireInRange('rowSubsample', p.rowSubsample, Number.MIN_VALUE, 1);
  requireInRange('colSubsample', p.colSubsample, Number.MIN_VALUE, 1);
  requireInRange('seed', p.seed, 0, 0xffffffff, true);
  requireInRange('scalePosWeight', p.scalePosWeight, Number.MIN_VALUE, Number.MAX_VALUE);
  requireInRange('minChildWeight', p.minChildWeight, 0, Number.MAX_VALUE);
  requireInRange('minGain', p.minGain, 0, Number.MAX_VALUE);
  return p;
}

function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

/** Validates X (rows × features) against y and featureNames; returns the positive count. */
export function validateTrainingSet(X: FeatureRows, y: ArrayLike<number>, nFeatures: number): number {
  if (X.length === 0) throw new RangeError('no training rows');
  if (y.length !== X.length) throw new RangeError(`X has ${X.length} rows but y has ${y.length} labels`);
  let positives = 0;
  for (let r = 0; r < X.length; r++) {
    const row = X[r];
    if (!row || row.length !== nFeatures)
      throw new RangeError(`row ${r} has ${row?.length} features, expected ${nFeatures}`);
    const label = y[r];
    if (label !== 0 && label !== 1) throw new RangeError(`label ${r} must be 0 or 1, got ${label}`);
    positives += label;
  }
  return positives;
}

/** Trains a GBDT for P(y = 1). Deterministic: the same data, params and seed give an identical model. */
export function trainGbdt(
  X: FeatureRows,
  y: ArrayLike<number>,
  params: GbdtParams,
  featureNames: readonly string[],
): GbdtModel {
  const p = resolveParams(params);
  const nF = featureNames.length;
  if (nF === 0) throw new RangeError('featureNames is empty');
  const n = X.length;
  const positives = validateTrainingSet(X, y, nF);
  if (positives === 0 || positives === n) throw new RangeError('training labels must contain both classes');
  const rng = createRng(p.seed);

  // 1. Quantile bins (on a random sample of rows when the set is large) and the binned matrices.
  const sampleRows =
    n <= BIN_SAMPLE
      ? null
      : shuffleInPlace(
          Uint32Array.from({ length: n }, (_, i) => i),
          rng,
        );
  const binCount = sampleRows ? BIN_SAMPLE : n;
  const binEdges: number[][] = [];
  const nBins = new Int32Array(nF);
  // Row-major [r · nF + f] for histograms; column-major [f · n + r] for partitioning a node on one feature.
  const binned = new Uint8Array(n * nF);
  const binnedCol = new Uint8Array(n * nF);
  const column = new Float64Array(binCount);
  for (let f = 0; f < nF; f++) {
    let m = 0;
    for (let i = 0; i < binCount; i++) {
      const v = X[sampleRows ? sampleRows[i]! : i]![f]!;
      if (Number.isFinite(v)) column[m++] = v;
    }
    const edges = quantileBinEdges(column.subarray(0, m).sort(), p.bins);
    binEdges.push(edges);
    nBins[f] = edges.length + 1;
    for (let r = 0; r < n; r++) {
      const b = binOf(edges, X[r]![f]!);
      binned[r * nF + f] = b;
      binnedCol[f * n + r] = b;
    }
  }

  // 2. Boosting.
  const w = new Float64Array(n);
  const label = new Float64Array(n);
  let wPos = 0;
  let wAll = 0;
  for (let r = 0; r < n; r++) {
    label[r] = y[r]!;
    w[r] = y[r] === 1 ? p.scalePosWeight : 1;
    wAll += w[r]!;
    if (y[r] === 1) wPos += w[r]!;
  }
  const initScore = Math.log(wPos / (wAll - wPos));
  const F = new Float64Array(n).fill(initScore);
  const g = new Float64Array(n);
  const h = new Float64Array(n);
  const idx = new Uint32Array(n);
  const scratch = new Uint32Array(n);
  const inSample = new Uint8Array(n);
  const allFeats = Int32Array.from({ length: nF }, (_, i) => i);
  const nColSample = Math.max(1, Math.round(p.colSubsample * nF));
  const pool: Float64Array[] = [];
  const acquire = (): Float64Array => pool.pop() ?? new Float64Array(nF * SLOTS * 3);
  const release = (hist: Float64Array | null): void => {
    if (hist) pool.push(hist);
  };
  const splitParams: SplitParams = {
    lambda: p.lambda,
    minLeaf: p.minLeaf,
    minChildWeight: p.minChildWeight,
    minGain: p.minGain,
  };
  const trees: GbdtTree[] = [];

  for (let t = 0; t < p.trees; t++) {
    for (let r = 0; r < n; r++) {
      const pr = sigmoid(F[r]!);
      g[r] = w[r]! * (pr - label[r]!);
      h[r] = Math.max(w[r]! * pr * (1 - pr), 1e-16);
    }
    let m = 0;
    if (p.rowSubsample < 1) {
      inSample.fill(0);
      for (let r = 0; r < n; r++) {
        if (rng.next() < p.rowSubsample) {
          idx[m++] = r;
          inSample[r] = 1;
        }
      }
      if (m === 0) {
        idx[m] = rng.nextInt(n);
        inSample[idx[m++]!] = 1;
      }
    } else {
      for (let r = 0; r < n; r++) idx[r] = r;
      m = n;
    }
    let feats = allFeats;
    if (nColSample < nF) {
      feats = shuffleInPlace(Int32Array.from(allFeats), rng).subarray(0, nColSample).sort();
    }

    const tree: TreeBuilder = {
      feature: [],
      splitBin: [],
      threshold: [],
      defaultLeft: [],
      left: [],
      right: [],
      value: [],
      cover: [],
      gain: [],
    };
    const root: Pending = { node: newNode(tree), start: 0, end: m, g: 0, h: 0, c: m, hist: null };
    for (let i = 0; i < m; i++) {
      root.g += g[idx[i]!]!;
      root.h += h[idx[i]!]!;
    }
    if (m >= 2 * p.minLeaf) {
      root.hist = acquire();
      buildHistogram(root.hist, idx, 0, m, binned, nF, g, h, feats);
    }
    const makeLeaf = (q: Pending): void => {
      const v = (-q.g / (q.h + p.lambda)) * p.learningRate;
      tree.value[q.node] = v;
      tree.cover[q.node] = q.h;
      // The sampled rows of this leaf are idx[start, end): update their raw scores now.
      for (let i = q.start; i < q.end; i++) F[idx[i]!] = F[idx[i]!]! + v;
      release(q.hist);
      q.hist = null;
    };

    let level: Pending[] = [root];
    for (let d = 0; d < p.depth && level.length > 0; d++) {
      const next: Pending[] = [];
      const childrenSplittable = d + 1 < p.depth;
      for (const q of level) {
        const split = q.hist ? findBestSplit(q.hist, q.g, q.h, q.c, feats, nBins, splitParams) : null;
        if (!split) {
          makeLeaf(q);
          continue;
        }
        const f = split.feature;
        const edges = binEdges[f]!;
        const defaultLeft = split.missingCount > 0 ? split.missingLeft : split.hl >= split.hr;
        const ln = newNode(tree);
        const rn = newNode(tree);
        tree.feature[q.node] = f;
        tree.splitBin[q.node] = split.bin;
        tree.threshold[q.node] = edges[split.bin]!;
        tree.defaultLeft[q.node] = defaultLeft;
        tree.left[q.node] = ln;
        tree.right[q.node] = rn;
        tree.cover[q.node] = q.h;
        tree.gain[q.node] = split.gain;

        // Stable partition of idx[start, end): left rows stay in place, right rows go through scratch.
        let l = q.start;
        let rc = 0;
        const colBase = f * n;
        const splitBin = split.bin;
        for (let i = q.start; i < q.end; i++) {
          const r = idx[i]!;
          const b = binnedCol[colBase + r]!;
          if (b === MISSING_BIN ? defaultLeft : b <= splitBin) idx[l++] = r;
          else scratch[rc++] = r;
        }
        idx.set(scratch.subarray(0, rc), l);

        const L: Pending = {
          node: ln,
          start: q.start,
          end: l,
          g: split.gl,
          h: split.hl,
          c: l - q.start,
          hist: null,
        };
        const R: Pending = {
          node: rn,
          start: l,
          end: q.end,
          g: split.gr,
          h: split.hr,
          c: q.end - l,
          hist: null,
        };
        const needL = childrenSplittable && L.c >= 2 * p.minLeaf;
        const needR = childrenSplittable && R.c >= 2 * p.minLeaf;
        if (needL || needR) {
          const [small, large, needSmall, needLarge] =
            L.c <= R.c ? [L, R, needL, needR] : [R, L, needR, needL];
          const smallHist = acquire();
          buildHistogram(smallHist, idx, small.start, small.end, binned, nF, g, h, feats);
          if (needLarge) {
            subtractInPlace(q.hist!, smallHist, feats);
            large.hist = q.hist;
          } else release(q.hist);
          if (needSmall) small.hist = smallHist;
          else release(smallHist);
        } else release(q.hist);
        q.hist = null;
        next.push(L, R);
      }
      level = next;
    }
    for (const q of level) makeLeaf(q);

    // Rows left out of this tree's sample get their raw-score update by routing their bins through it.
    const { feature, splitBin, defaultLeft, left, right, value } = tree;
    for (let r = 0; r < n && m < n; r++) {
      if (inSample[r] === 1) continue;
      let nd = 0;
      let f = feature[0]!;
      while (f >= 0) {
        const b = binned[r * nF + f]!;
        nd = (b === MISSING_BIN ? defaultLeft[nd] : b <= splitBin[nd]!) ? left[nd]! : right[nd]!;
        f = feature[nd]!;
      }
      F[r] = F[r]! + value[nd]!;
    }
    trees.push({
      feature: tree.feature,
      threshold: tree.threshold,
      defaultLeft: tree.defaultLeft,
      left: tree.left,
      right: tree.right,
      value: tree.value,
      cover: tree.cover,
      gain: tree.gain,
    });
  }

  // 3. Expected values of internal nodes, then centre every tree (root expected value → baseScore).
  let baseScore = initScore;
  for (const tree of trees) {
    const { left, right, value, cover } = tree;
    for (let i = value.length - 1; i >= 0; i--) {
      const l = left[i]!;
      if (l < 0) continue;
      const r = right[i]!;
      const cl = cover[l]!;
      const cr = cover[r]!;
      cover[i] = cl + cr;
      value[i] = cl + cr > 0 ? (cl * value[l]! + cr * value[r]!) / (cl + cr) : (value[l]! + value[r]!) / 2;
    }
    const rootValue = value[0]!;
    for (let i = 0; i < value.length; i++) value[i] = value[i]! - rootValue;
    baseScore += rootValue;
  }

  return {
    kind: 'gbdt',
    version: GBDT_MODEL_VERSION,
    featureNames: [...featureNames],
    baseScore,
    binEdges,
    trees,
    training: { rows: n, positives, initScore, params: p },
  };
}

/* ------------------------------------------------------------------------------------------------ */
/* Scoring                                                                                           */
/* ------------------------------------------------------------------------------------------------ */

/** The packed form of a model used for scoring: all trees concatenated into typed arrays. */
export interface CompiledGbdt {
  readonly nFeatures: number;
  readonly baseScore: number;
  readonly roots: Int32Array;
  readonly feature: Int32Array;
  readonly threshold: Float64Array;
  readonly left: Int32Array;
  readonly right: Int32Array;
  /** The child a missing value goes to. */
  readonly missing: Int32Array;
  readonly value: Float64Array;
}

const compiledCache = new WeakMap<GbdtModel, CompiledGbdt>();

/** Packs a model into typed arrays. `predictRaw` does this once per model object and caches it. */
export function compileGbdt(model: GbdtModel): CompiledGbdt {
  let total = 0;
  for (const t of model.trees) total += t.feature.length;
  const roots = new Int32Array(model.trees.length);
  const feature = new Int32Array(total);
  const threshold = new Float64Array(total);
  const left = new Int32Array(total);
  const right = new Int32Array(total);
  const missing = new Int32Array(total);
  const value = new Float64Array(total);
  let off = 0;
  model.trees.forEach((t, ti) => {
    roots[ti] = off;
    for (let i = 0; i < t.feature.length; i++) {
      const j = off + i;
      feature[j] = t.feature[i]!;
      threshold[j] = t.threshold[i]!;
      value[j] = t.value[i]!;
      if (t.feature[i]! >= 0) {
        left[j] = off + t.left[i]!;
        right[j] = off + t.right[i]!;
        missing[j] = t.defaultLeft[i] ? left[j]! : right[j]!;
      } else {
        left[j] = right[j] = missing[j] = -1;
      }
    }
    off += t.feature.length;
  });
  return {
    nFeatures: model.featureNames.length,
    baseScore: model.baseScore,
    roots,
    feature,
    threshold,
    left,
    right,
    missing,
    value,
  };
}

function compiled(model: GbdtModel): CompiledGbdt {
  let c = compiledCache.get(model);
  if (!c) {
    c = compileGbdt(model);
    compiledCache.set(model, c);
  }
  return c;
}

function checkRow(c: CompiledGbdt, row: ArrayLike<number>): void {
  if (row.length !== c.nFeatures)
    throw new RangeError(`row has ${row.length} features, model expects ${c.nFeatures}`);
}

/** Raw score (log-odds). Missing values are NaN. Does not allocate (after the first call per model). */
export function predictRaw(model: GbdtModel, row: ArrayLike<number>): number {
  const c = compiled(model);
  checkRow(c, row);
  const { roots, feature, threshold, left, right, missing, value } = c;
  let sum = c.baseScore;
  for (let t = 0; t < roots.length; t++) {
    let nd = roots[t]!;
    let f = feature[nd]!;
    while (f >= 0) {
      const x = row[f] as number;
      const thr = threshold[nd]!;
      nd = x <= thr ? left[nd]! : x > thr ? right[nd]! : missing[nd]!;
      f = feature[nd]!;
    }
    sum += value[nd]!;
  }
  return sum;
}

/** P(y = 1) before calibration: sigmoid(predictRaw). Use calibration.ts for a calibrated probability. */
export function predictProba(model: GbdtModel, row: ArrayLike<number>): number {
  return sigmoid(predictRaw(model, row));
}

/**
 * Per-feature contributions to the raw score (Saabas): along each tree's path, child.value − parent.value
 * is credited to the parent's split feature. Σ result = predictRaw(model, row) − model.baseScore.
 */
export function contributions(model: GbdtModel, row: ArrayLike<number>): Float64Array {
  const c = compiled(model);
  checkRow(c, row);
  const { roots, feature, threshold, left, right, missing, value } = c;
  const out = new Float64Array(c.nFeatures);
  for (let t = 0; t < roots.length; t++) {
    let nd = roots[t]!;
    let f = feature[nd]!;
    while (f >= 0) {
      const x = row[f] as number;
      const thr = threshold[nd]!;
      const next = x <= thr ? left[nd]! : x > thr ? right[nd]! : missing[nd]!;
      out[f] = out[f]! + (value[next]! - value[nd]!);
      nd = next;
      f = feature[nd]!;
    }
  }
  return out;
}

/**
 * predictRaw and contributions in one walk of the trees (the online path needs both): fills `out`
 * (length nFeatures, zeroed here) with the Saabas contributions and returns the raw score, equal to
 * predictRaw(model, row) (same summation order). Does not allocate.
 */
export function predictRawWithContributions(
  model: GbdtModel,
  row: ArrayLike<number>,
  out: Float64Array,
): number {
  const c = compiled(model);
  checkRow(c, row);
  if (out.length !== c.nFeatures)
    throw new RangeError(`out has ${out.length} slots, model has ${c.nFeatures}`);
  out.fill(0);
  const { roots, feature, threshold, left, right, missing, value } = c;
  let sum = c.baseScore;
  for (let t = 0; t < roots.length; t++) {
    let nd = roots[t]!;
    let f = feature[nd]!;
    while (f >= 0) {
      const x = row[f] as number;
      const thr = threshold[nd]!;
      const next = x <= thr ? left[nd]! : x > thr ? right[nd]! : missing[nd]!;
      out[f] = out[f]! + (value[next]! - value[nd]!);
      nd = next;
      f = feature[nd]!;
    }
    sum += value[nd]!;
  }
  return sum;
}

export interface FeatureContribution {
  feature: string;
  index: number;
  contribution: number;
}

/** The k features that pushed this row's score up the most (positive contributions only), largest first. */
export function topContributions(model: GbdtModel, row: ArrayLike<number>, k = 3): FeatureContribution[] {
  const contrib = contributions(model, row);
  const out: FeatureContribution[] = [];
  contrib.forEach((v, i) => {
    if (v > 0) out.push({ feature: model.featureNames[i]!, index: i, contribution: v });
  });
  out.sort((a, b) => b.contribution - a.contribution || a.index - b.index);
  return out.slice(0, k);
}

export interface FeatureImportance {
  feature: string;
  /** Total loss reduction of the splits on this feature. */
  gain: number;
  /** Number of splits on this feature. */
  splits: number;
}

/** Gain-based feature importance, largest gain first. */
export function featureImportance(model: GbdtModel): FeatureImportance[] {
  const out = model.featureNames.map((feature) => ({ feature, gain: 0, splits: 0 }));
  for (const t of model.trees) {
    t.feature.forEach((f, i) => {
      const entry = out[f];
      if (entry) {
        entry.gain += t.gain[i]!;
        entry.splits += 1;
      }
    });
  }
  return out.sort((a, b) => b.gain - a.gain);
}

/* ------------------------------------------------------------------------------------------------ */
/* Loading                                                                                           */
/* ------------------------------------------------------------------------------------------------ */

function isNumberArray(v: unknown, length?: number): v is number[] {
  return (
    Array.isArray(v) &&
    (length === undefined || v.length === length) &&
    v.every((x) => typeof x === 'number' && Number.isFinite(x))
  );
}

/**
 * Validates a parsed JSON value as a GbdtModel (e.g. read from storage). Checks the structure, the array
 * lengths, that features are in range and that children come after their parent (so scoring terminates).
 */
export function parseGbdtModel(value: unknown): GbdtModel {
  const fail = (why: string): never => {
    throw new TypeError(`invalid GBDT model: ${why}`);
  };
  if (typeof value !== 'object' || value === null) return fail('not an object');
  const m = value as Partial<Record<keyof GbdtModel, unknown>>;
  if (m.kind !== 'gbdt') fail(`kind is ${String(m.kind)}`);
  if (m.version !== GBDT_MODEL_VERSION) fail(`unsupported version ${String(m.version)}`);
  if (!Array.isArray(m.featureNames) || !m.featureNames.every((s) => typeof s === 'string'))
    fail('featureNames must be strings');
  const nF = (m.featureNames as string[]).length;
  if (typeof m.baseScore !== 'number' || !Number.isFinite(m.baseScore)) fail('baseScore must be finite');
  if (!Array.isArray(m.binEdges) || !m.binEdges.every((e) => isNumberArray(e))) fail('binEdges malformed');
  if (!Array.isArray(m.trees)) return fail('trees must be an array');
  for (let ti = 0; ti < m.trees.length; ti++) {
    const t: unknown = m.trees[ti];
    if (typeof t !== 'object' || t === null) return fail(`tree ${ti} is not an object`);
    const tr = t as Partial<Record<keyof GbdtTree, unknown>>;
    if (!isNumberArray(tr.feature) || tr.feature.length === 0) return fail(`tree ${ti}: feature`);
    const len = tr.feature.length;
    for (const k of ['threshold', 'left', 'right', 'value', 'cover', 'gain'] as const)
      if (!isNumberArray(tr[k], len)) fail(`tree ${ti}: ${k} must be ${len} finite numbers`);
    if (
      !Array.isArray(tr.defaultLeft) ||
      tr.defaultLeft.length !== len ||
      !tr.defaultLeft.every((b) => typeof b === 'boolean')
    )
      fail(`tree ${ti}: defaultLeft`);
    const feature = tr.feature;
    const left = tr.left as number[];
    const right = tr.right as number[];
    for (let i = 0; i < len; i++) {
      const f = feature[i]!;
      if (f === -1) continue;
      if (!Number.isInteger(f) || f < 0 || f >= nF) fail(`tree ${ti} node ${i}: feature ${f} out of range`);
      for (const child of [left[i]!, right[i]!])
        if (!Number.isInteger(child) || child <= i || child >= len) fail(`tree ${ti} node ${i}: bad child`);
    }
  }
  if (typeof m.training !== 'object' || m.training === null) fail('training metadata missing');
  return value as GbdtModel;
}
