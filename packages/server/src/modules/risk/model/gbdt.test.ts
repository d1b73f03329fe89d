/**
 * GBDT tests on the seeded synthetic fraud set (synthetic.ts: non-linear rules, ~3% positives): quality
 * against the logistic baseline, determinism, JSON round trip, Saabas contributions, missing values and
 * single-row latency. Own models because npm ML packages were unfit (/work/shared/reference/ml.md §C).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  contributions,
  featureImportance,
  type GbdtModel,
  type GbdtParams,
  parseGbdtModel,
  predictProba,
  predictRaw,
  predictRawWithContributions,
  quantileBinEdges,
  topContributions,
  trainGbdt,
} from './gbdt.ts';
import { predictLogisticRaw, trainLogistic } from './logistic.ts';
import { auprc, recallAtFpr, rocAuc } from './metrics.ts';
import { createRng } from './random.ts';
import { SIGNAL_FEATURES, type SyntheticData, syntheticFraudData } from './synthetic.ts';

const FEATURES = 10;
const PARAMS: GbdtParams = {
  trees: 150,
  depth: 4,
  learningRate: 0.1,
  bins: 64,
  minLeaf: 20,
  lambda: 1,
  rowSubsample: 0.8,
  colSubsample: 0.8,
  seed: 42,
};

let train: SyntheticData;
let test: SyntheticData;
let model: GbdtModel;
let labels: number[];

beforeAll(() => {
  train = syntheticFraudData(20_000, FEATURES, 1);
  test = syntheticFraudData(20_000, FEATURES, 2);
  labels = Array.from(test.y);
  model = trainGbdt(train.X, train.y, PARAMS, train.featureNames);
});

/** An ordinary row: signal features away from the rules, noise at typical values. */
function typicalRow(): Float64Array {
  const row = new Float64Array(FEATURES).fill(0.5);
  row[2] = 0;
  row[3] = 0;
  return row;
}

describe('trainGbdt quality', () => {
  it('has a realistic, imbalanced data set', () => {
    const rate = labels.reduce((a, b) => a + b, 0) / labels.length;
    expect(rate).toBeGreaterThan(0.02);
    expect(rate).toBeLessThan(0.045);
  });

  it('beats logistic regression clearly on AUPRC (≥ 1.3×) and reaches AUC > 0.9', () => {
    const lr = trainLogistic(train.X, train.y, { seed: 42 }, train.featureNames);
    const gbdtScores = test.X.map((r) => predictRaw(model, r));
    const lrScores = test.X.map((r) => predictLogisticRaw(lr, r));
    const g = { auprc: auprc(gbdtScores, labels), auc: rocAuc(gbdtScores, labels) };
    const l = { auprc: auprc(lrScores, labels), auc: rocAuc(lrScores, labels) };
    const oracle = auprc(Array.from(test.signal), labels);
    console.log(
      `GBDT AUPRC ${g.auprc.toFixed(4)} AUC ${g.auc.toFixed(4)} recall@1%FPR ${recallAtFpr(gbdtScores, labels, 0.01).toFixed(3)} | ` +
        `LR AUPRC ${l.auprc.toFixed(4)} AUC ${l.auc.toFixed(4)} recall@1%FPR ${recallAtFpr(lrScores, labels, 0.01).toFixed(3)} | ` +
        `rule oracle AUPRC ${oracle.toFixed(4)} | ratio ${(g.auprc / l.auprc).toFixed(2)}`,
    );
    expect(g.auprc).toBeGreaterThanOrEqual(1.3 * l.auprc);
    expect(g.auc).toBeGreaterThan(0.9);
  });

  it('ranks the signal features first by gain', () => {
    const top4 = featureImportance(model)
      .slice(0, 4)
      .map((f) => f.feature)
      .sort();
    expect(top4).toEqual([...SIGNAL_FEATURES].sort());
  });
});

describe('trainGbdt determinism and serialisation', () => {
  it('gives an identical JSON model for the same seed, a different one for another seed', () => {
    const small = { X: train.X.slice(0, 5000), y: train.y.slice(0, 5000) };
    const p = { ...PARAMS, trees: 30 };
    const a = JSON.stringify(trainGbdt(small.X, small.y, p, train.featureNames));
    const b = JSON.stringify(trainGbdt(small.X, small.y, p, train.featureNames));
    const c = JSON.stringify(trainGbdt(small.X, small.y, { ...p, seed: 43 }, train.featureNames));
    expect(a).toBe(b);
    expect(c).not.toBe(a);
  });

  it('predicts identically after a JSON round trip', () => {
    const loaded = parseGbdtModel(JSON.parse(JSON.stringify(model)));
    expect(loaded).not.toBe(model);
    for (const row of test.X.slice(0, 2000)) {
      expect(predictRaw(loaded, row)).toBe(predictRaw(model, row));
    }
    const row = test.X[0]!;
    expect(Array.from(contributions(loaded, row))).toEqual(Array.from(contributions(model, row)));
  });

  it('accepts number[] rows like Float64Array rows', () => {
    for (const row of test.X.slice(0, 50))
      expect(predictRaw(model, Array.from(row))).toBe(predictRaw(model, row));
  });

  it('rejects malformed models and rows of the wrong width', () => {
    const json = JSON.parse(JSON.stringify(model)) as GbdtModel;
    expect(() => parseGbdtModel({ ...json, version: '999' })).toThrow(/version/);
    expect(() => parseGbdtModel({ ...json, kind: 'other' })).toThrow(/kind/);
    const cyclic = JSON.parse(JSON.stringify(model)) as GbdtModel;
    cyclic.trees[0]!.left[0] = 0;
    expect(() => parseGbdtModel(cyclic)).toThrow(/bad child/);
    const badFeature = JSON.parse(JSON.stringify(model)) as GbdtModel;
    badFeature.trees[0]!.feature[0] = FEATURES;
    expect(() => parseGbdtModel(badFeature)).toThrow(/out of range/);
    expect(() => predictRaw(model, new Float64Array(FEATURES - 1))).toThrow(RangeError);
  });

  it('validates training input', () => {
    const X = [
      [1, 2],
      [3, 4],
    ];
    expect(() => trainGbdt(X, [0, 0], { ...PARAMS, trees: 1 }, ['x', 'y'])).toThrow(/both classes/);
    expect(() => trainGbdt(X, [0, 2], { ...PARAMS, trees: 1 }, ['x', 'y'])).toThrow(/0 or 1/);
    expect(() => trainGbdt(X, [0, 1], { ...PARAMS, bins: 256 }, ['x', 'y'])).toThrow(/bins/);
    expect(() => trainGbdt(X, [0, 1], PARAMS, ['x'])).toThrow(/features/);
  });
});

describe('contributions (Saabas)', () => {
  it('sum to predictRaw − baseScore', () => {
    for (const row of test.X.slice(0, 500)) {
      const c = contributions(model, row);
      const sum = c.reduce((a, b) => a + b, 0);
      expect(Math.abs(sum - (predictRaw(model, row) - model.baseScore))).toBeLessThan(1e-9);
    }
  });

  it('predictRawWithContributions gives exactly predictRaw and contributions in one walk', () => {
    const out = new Float64Array(model.featureNames.length).fill(7);
    for (const row of test.X.slice(0, 500)) {
      expect(predictRawWithContributions(model, row, out)).toBe(predictRaw(model, row));
      expect(Array.from(out)).toEqual(Array.from(contributions(model, row)));
    }
    expect(() => predictRawWithContributions(model, test.X[0]!, new Float64Array(2))).toThrow(RangeError);
  });

  it('name a true signal feature as the top reason for obvious positives', () => {
    const ruleAB = typicalRow();
    ruleAB[0] = 0.95;
    ruleAB[1] = 0.05;
    const ruleCD = typicalRow();
    ruleCD[2] = 2.5;
    ruleCD[3] = 2.5;
    for (const [row, expected] of [
      [ruleAB, ['a', 'b']],
      [ruleCD, ['c', 'd']],
    ] as const) {
      expect(predictProba(model, row)).toBeGreaterThan(0.2);
      const top = topContributions(model, row, 2);
      expect(expected).toContain(top[0]!.feature);
      expect(top[0]!.contribution).toBeGreaterThan(0);
    }
    expect(predictProba(model, typicalRow())).toBeLessThan(0.02);
  });
});

describe('missing values', () => {
  it('learn a default direction for NaN', () => {
    // Missingness is the signal: positives lack the feature 70% of the time, negatives 5%.
    const rng = createRng(5);
    const X: number[][] = [];
    const y: number[] = [];
    for (let i = 0; i < 5000; i++) {
      const label = rng.next() < 0.1 ? 1 : 0;
      const missing = rng.next() < (label ? 0.7 : 0.05);
      X.push([missing ? Number.NaN : rng.next(), rng.next()]);
      y.push(label);
    }
    const m = trainGbdt(X, y, { ...PARAMS, trees: 30, depth: 2, rowSubsample: 1, colSubsample: 1 }, [
      'u',
      'v',
    ]);
    const pMissing = predictProba(m, [Number.NaN, 0.5]);
    const pPresent = predictProba(m, [0.5, 0.5]);
    expect(pMissing).toBeGreaterThan(0.4);
    expect(pPresent).toBeLessThan(0.06);
    // The first split is on u, and missing values go to the riskier child.
    const t0 = m.trees[0]!;
    expect(t0.feature[0]).toBe(0);
    const [missingChild, otherChild] = t0.defaultLeft[0]
      ? [t0.left[0]!, t0.right[0]!]
      : [t0.right[0]!, t0.left[0]!];
    expect(t0.value[missingChild]!).toBeGreaterThan(t0.value[otherChild]!);
  });

  it('bins edges strictly increasing and route ties consistently', () => {
    const sorted = Float64Array.from([0, 0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const edges = quantileBinEdges(sorted, 4);
    expect(edges.length).toBeLessThanOrEqual(3);
    for (let i = 1; i < edges.length; i++) expect(edges[i]!).toBeGreaterThan(edges[i - 1]!);
    expect(quantileBinEdges(Float64Array.from([1, 2, 3]), 255)).toEqual([1.5, 2.5]);
    expect(quantileBinEdges(new Float64Array(0), 255)).toEqual([]);
  });
});

describe('scoring latency', () => {
  it('scores one row of a 200-tree depth-6 model in well under 100 µs (p50)', () => {
    const big = trainGbdt(
      train.X,
      train.y,
      { trees: 200, depth: 6, learningRate: 0.05, bins: 255, minLeaf: 5, lambda: 1, seed: 1 },
      train.featureNames,
    );
    const nodes = big.trees.reduce((a, t) => a + t.feature.length, 0);
    const rows = test.X;
    let sink = 0;
    for (let i = 0; i < 20_000; i++) sink += predictRaw(big, rows[i % rows.length]!);
    const samples = new Float64Array(20_000);
    for (let i = 0; i < samples.length; i++) {
      const row = rows[i % rows.length]!;
      const t0 = process.hrtime.bigint();
      sink += predictRaw(big, row);
      samples[i] = Number(process.hrtime.bigint() - t0) / 1000;
    }
    samples.sort();
    const p50 = samples[samples.length >> 1]!;
    const p99 = samples[Math.floor(samples.length * 0.99)]!;
    console.log(
      `predictRaw, 200 trees × depth 6 (${nodes} nodes): p50 ${p50.toFixed(1)} µs, p99 ${p99.toFixed(1)} µs`,
    );
    expect(Number.isFinite(sink)).toBe(true);
    expect(p50).toBeLessThan(100);
  });
});
