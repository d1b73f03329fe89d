/**
 * Isolation forest (Liu, Ting & Zhou, ICDM 2008): an unsupervised anomaly score for cold-start and
 * unlabeled segments, and an input feature for the GBDT. On its own it is weak on AUPRC (ml.md §A.2/A.4:
 * ULB AUPRC 0.14 vs 0.86 for XGBoost), so it is never the primary score.
 *
 * Why our own: npm ML packages were unfit (/work/shared/reference/ml.md §C). The `isolation-forest`
 * package is unmaintained since 2021, takes rows as objects and scores at 31 µs/row from object-key
 * overhead; this version is seeded, JSON-serialisable and scores from packed typed arrays.
 *
 * Score: s(x) = 2^(−E[h(x)] / c(ψ)), in (0, 1); ≈ 1 is anomalous, ≤ 0.5 is normal. h(x) is the depth at
 * which x reaches a leaf plus c(leaf size) for the unbuilt subtree; c(n) is the average path length of an
 * unsuccessful BST search, 2H(n − 1) − 2(n − 1)/n (c(2) = 1, c(≤ 1) = 0), as in the paper and scikit-learn.
 * Splits send x < threshold left. Missing values (NaN) are replaced by the feature's training median
 * (stored in `fill`), i.e. a missing value is treated as typical.
 */
import type { FeatureRows } from './gbdt.ts';
import { createRng, type Rng, shuffleInPlace } from './random.ts';

export const ISOLATION_FOREST_MODEL_VERSION = '1';

export interface IsolationForestParams {
  /** Number of trees. Default 100. */
  trees?: number;
  /** Rows per tree (ψ). Default 256; capped at the number of rows. */
  sampleSize?: number;
  seed: number;
}

export interface IsolationTree {
  /** Split feature, −1 for a leaf. */
  feature: number[];
  /** x < threshold goes left. */
  threshold: number[];
  left: number[];
  right: number[];
  /** Number of sample rows in a leaf (0 for internal nodes). */
  size: number[];
}

export interface IsolationForestModel {
  kind: 'isolation-forest';
  version: string;
  nFeatures: number;
  /** The effective ψ used for each tree. */
  sampleSize: number;
  /** Depth limit, ceil(log2 ψ). */
  heightLimit: number;
  /** Per-feature replacement for missing values (training median). */
  fill: number[];
  trees: IsolationTree[];
  seed: number;
}

const EULER_GAMMA = 0.5772156649015329;

/** Average path length of an unsuccessful search in a BST of n nodes. */
export function averagePathLength(n: number): number {
  if (n <= 1) return 0;
  if (n === 2) return 1;
  return 2 * (Math.log(n - 1) + EULER_GAMMA) - (2 * (n - 1)) / n;
}

function buildTree(
  data: Float64Array,
  nF: number,
  sample: Uint32Array,
  heightLimit: number,
  rng: Rng,
): IsolationTree {
  const tree: IsolationTree = { feature: [], threshold: [], left: [], right: [], size: [] };
  const newNode = (): number => {
    tree.feature.push(-1);
    tree.threshold.push(0);
    tree.left.push(-1);
    tree.right.push(-1);
    tree.size.push(0);
    return tree.feature.length - 1;
  };
  const featOrder = Int32Array.from({ length: nF }, (_, i) => i);
  const scratch = new Uint32Array(sample.length);
  // Explicit stack of (node, start, end, depth) over ranges of `sample`.
  const stack: number[] = [newNode(), 0, sample.length, 0];
  while (stack.length > 0) {
    const depth = stack.pop()!;
    const end = stack.pop()!;
    const start = stack.pop()!;
    const node = stack.pop()!;
    const count = end - start;
    let split = false;
    if (depth < heightLimit && count > 1) {
      // Try features in random order until one is not constant on this node.
      shuffleInPlace(featOrder, rng);
      for (let k = 0; k < nF && !split; k++) {
        const f = featOrder[k]!;
        let lo = Number.POSITIVE_INFINITY;
        let hi = Number.NEGATIVE_INFINITY;
        for (let i = start; i < end; i++) {
          const v = data[sample[i]! * nF + f]!;
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
        if (!(hi > lo)) continue;
        // Threshold in (lo, hi]: lo always goes left.
        let thr = lo + (1 - rng.next()) * (hi - lo);
        if (!(thr > lo)) thr = hi;
        let l = start;
        let rc = 0;
        for (let i = start; i < end; i++) {
          const r = sample[i]!;
          if (data[r * nF + f]! < thr) sample[l++] = r;
          else scratch[rc++] = r;
        }
        sample.set(scratch.subarray(0, rc), l);
        const ln = newNode();
        const rn = newNode();
        tree.feature[node] = f;
        tree.threshold[node] = thr;
        tree.left[node] = ln;
        tree.right[node] = rn;
        stack.push(rn, l, end, depth + 1, ln, start, l, depth + 1);
        split = true;
      }
    }
    if (!split) tree.size[node] = count;
  }
  return tree;
}

/** Trains an isolation forest. Deterministic for a given seed. */
export function trainIsolationForest(X: FeatureRows, params: IsolationForestParams): IsolationForestModel {
  const trees = params.trees ?? 100;
  const requested = params.sampleSize ?? 256;
  if (!Number.isInteger(trees) || trees < 1)
    throw new RangeError(`trees must be a positive integer, got ${trees}`);
  if (!Number.isInteger(requested) || requested < 2)
    throw new RangeError(`sampleSize must be an integer ≥ 2, got ${requested}`);
  const n = X.length;
  if (n < 2) throw new RangeError('need at least 2 rows');
  const nF = X[0]!.length;
  if (nF === 0) throw new RangeError('rows have no features');
  const rng = createRng(params.seed);

  // Row-major copy with missing values replaced by the median.
  const data = new Float64Array(n * nF);
  const fill: number[] = [];
  const column = new Float64Array(n);
  for (let f = 0; f < nF; f++) {
    let m = 0;
    for (let r = 0; r < n; r++) {
      const row = X[r]!;
      if (row.length !== nF) throw new RangeError(`row ${r} has ${row.length} features, expected ${nF}`);
      const v = row[f]!;
      if (!Number.isNaN(v)) column[m++] = v;
    }
    const sorted = column.subarray(0, m).sort();
    const median =
      m === 0 ? 0 : m % 2 === 1 ? sorted[(m - 1) / 2]! : (sorted[m / 2 - 1]! + sorted[m / 2]!) / 2;
    fill.push(Number.isFinite(median) ? median : 0);
    for (let r = 0; r < n; r++) {
      const v = X[r]![f]!;
      data[r * nF + f] = Number.isNaN(v) ? fill[f]! : v;
    }
  }

  const psi = Math.min(requested, n);
  const heightLimit = Math.ceil(Math.log2(psi));
  const perm = Uint32Array.from({ length: n }, (_, i) => i);
  const out: IsolationTree[] = [];
  for (let t = 0; t < trees; t++) {
    // Partial Fisher–Yates: the first ψ entries of perm are a uniform sample without replacement.
    for (let i = 0; i < psi; i++) {
      const j = i + rng.nextInt(n - i);
      const tmp = perm[i]!;
      perm[i] = perm[j]!;
      perm[j] = tmp;
    }
    out.push(buildTree(data, nF, perm.slice(0, psi), heightLimit, rng));
  }
  return {
    kind: 'isolation-forest',
    version: ISOLATION_FOREST_MODEL_VERSION,
    nFeatures: nF,
    sampleSize: psi,
    heightLimit,
    fill,
    trees: out,
    seed: params.seed,
  };
}

interface CompiledForest {
  nFeatures: number;
  norm: number;
  roots: Int32Array;
  feature: Int32Array;
  threshold: Float64Array;
  left: Int32Array;
  right: Int32Array;
  /** Leaf: c(size), the expected extra depth below an unbuilt leaf. */
  leafExtra: Float64Array;
  fill: Float64Array;
}

const cache = new WeakMap<IsolationForestModel, CompiledForest>();

function compile(model: IsolationForestModel): CompiledForest {
  let c = cache.get(model);
  if (c) return c;
  let total = 0;
  for (const t of model.trees) total += t.feature.length;
  const roots = new Int32Array(model.trees.length);
  const feature = new Int32Array(total);
  const threshold = new Float64Array(total);
  const left = new Int32Array(total);
  const right = new Int32Array(total);
  const leafExtra = new Float64Array(total);
  let off = 0;
  model.trees.forEach((t, ti) => {
    roots[ti] = off;
    for (let i = 0; i < t.feature.length; i++) {
      const f = t.feature[i]!;
      feature[off + i] = f;
      threshold[off + i] = t.threshold[i]!;
      left[off + i] = f >= 0 ? off + t.left[i]! : -1;
      right[off + i] = f >= 0 ? off + t.right[i]! : -1;
      leafExtra[off + i] = f >= 0 ? 0 : averagePathLength(t.size[i]!);
    }
    off += t.feature.length;
  });
  c = {
    nFeatures: model.nFeatures,
    norm: model.trees.length * averagePathLength(model.sampleSize),
    roots,
    feature,
    threshold,
    left,
    right,
    leafExtra,
    fill: Float64Array.from(model.fill),
  };
  cache.set(model, c);
  return c;
}

/** Anomaly score in (0, 1): 2^(−E[h(x)]/c(ψ)). Higher is more anomalous. Does not allocate. */
export function anomalyScore(model: IsolationForestModel, row: ArrayLike<number>): number {
  const c = compile(model);
  if (row.length !== c.nFeatures)
    throw new RangeError(`row has ${row.length} features, model expects ${c.nFeatures}`);
  const { roots, feature, threshold, left, right, leafExtra, fill } = c;
  let total = 0;
  for (let t = 0; t < roots.length; t++) {
    let nd = roots[t]!;
    let depth = 0;
    let f = feature[nd]!;
    while (f >= 0) {
      let x = row[f] as number;
      if (Number.isNaN(x)) x = fill[f]!;
      nd = x < threshold[nd]! ? left[nd]! : right[nd]!;
      depth++;
      f = feature[nd]!;
    }
    total += depth + leafExtra[nd]!;
  }
  return 2 ** (-total / c.norm);
}
