/**
 * `npm run bench:risk-quality`: Fraud Shield detection quality under drift. Trains on one seed's
 * simulated traffic (the simulator's trainingPreset) and evaluates on another seed's traffic whose
 * fraud patterns are parameterised differently (shiftedPreset), in one run:
 *
 * - the deployed pipeline (trainRiskModel with the data and parameters of `npm run train:risk`,
 *   `shipped_training` in train.ts: the training preset plus default-parameter worlds of other
 *   seeds; isolation forest → GBDT over the features + anomaly score → Platt), scored by the risk
 *   model as deployed;
 * - a logistic-regression baseline on the same replayed features (standardised inside
 *   trainLogistic), trained on the same rows as the GBDT (the oldest 80% of the training traffic);
 * - rules only: the hand-written rule set of bench/risk-rules.ts, score = Σ weights of matched rules;
 * - the model's isolation forest alone (its anomaly score, unsupervised).
 *
 * Prints AUPRC, ROC AUC, recall at 1% and 0.1% FPR, per-pattern recall at each scorer's 1%-FPR
 * threshold, per-rule hits, and the aims (AUPRC ≥ 1.5 × logistic, recall ≥ 0.9 at 1% FPR).
 *
 * Environment (for tuning experiments; the default run evaluates exactly what train:risk ships):
 * RISK_BENCH_GBDT='{"trees":300,...}' (GBDT parameter overrides) and RISK_BENCH_EXTRA_SEEDS=101,102
 * (instead of the shipped extra seeds: the simulator's default parameters with these seeds, appended
 * after the training preset) add a "candidate" row trained with them. RISK_BENCH_TEST_SEED=n
 * evaluates on the shifted preset's parameters with seed n instead of its own: a world of the same
 * drift that no tuning has seen.
 */
import { defaultParams, mergeParams, shiftedPreset, simulateAll, trainingPreset } from '@zhifu/simulator';
import { featureNames } from '../packages/server/src/modules/risk/features.ts';
import type { GbdtParams } from '../packages/server/src/modules/risk/model/gbdt.ts';
import { anomalyScore } from '../packages/server/src/modules/risk/model/isolation-forest.ts';
import { predictLogisticRaw, trainLogistic } from '../packages/server/src/modules/risk/model/logistic.ts';
import { auprc, operatingPointAtFpr, rocAuc } from '../packages/server/src/modules/risk/model/metrics.ts';
import { riskModelOf } from '../packages/server/src/modules/risk/risk-model.ts';
import {
  concatDatasets,
  type Dataset,
  replay,
  shipped_training,
  trainRiskModel,
} from '../packages/server/src/modules/risk/train.ts';
import { fixed, loadAverage, machineLines, metStatus, table } from './risk-machine.ts';
import { compileRiskBenchRules, riskBenchRules } from './risk-rules.ts';

const started = performance.now();
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(1)} s`;
const log = (line = '') => process.stdout.write(`${line}\n`);

const gbdtOverrides = process.env.RISK_BENCH_GBDT
  ? (JSON.parse(process.env.RISK_BENCH_GBDT) as Partial<GbdtParams>)
  : undefined;
const extraSeeds = (process.env.RISK_BENCH_EXTRA_SEEDS ?? '')
  .split(',')
  .filter(Boolean)
  .map((s) => {
    const seed = Number(s);
    if (!Number.isInteger(seed)) throw new Error(`RISK_BENCH_EXTRA_SEEDS: not an integer: ${s}`);
    return seed;
  });
const candidate = gbdtOverrides !== undefined || extraSeeds.length > 0;
/** The held-out world: the shifted preset, or the same parameters with a seed never tuned on. */
const testSeed = process.env.RISK_BENCH_TEST_SEED;
if (testSeed !== undefined && !/^\d+$/.test(testSeed))
  throw new Error(`RISK_BENCH_TEST_SEED: not an integer: ${testSeed}`);
const testPreset = testSeed === undefined ? shiftedPreset : { ...shiftedPreset, seed: Number(testSeed) };

log('# bench:risk-quality: Fraud Shield detection quality under drift');
for (const line of machineLines()) log(line);
log();

// ---------------------------------------------------------------------------------------------
// Data: replay both presets through the in-memory feature store (the featurizer of online scoring).

// The training traffic of `npm run train:risk`: the training preset, then the extra worlds of the
// simulator's default parameters (shipped_training.extraSeeds), each replayed on its own.
const trainingPart = replay(simulateAll(trainingPreset));
const extraParts = shipped_training.extraSeeds.map((seed) =>
  replay(simulateAll(mergeParams(defaultParams, { seed }))),
);
const train = concatDatasets([trainingPart, ...extraParts]);
const test = replay(simulateAll(testPreset));
const count = (y: Uint8Array) => y.reduce((a, b) => a + b, 0);
const patternNames = [...new Set(test.patterns.filter((p): p is string => p !== null))].sort();
const patternCounts = (d: Dataset) =>
  patternNames.map((p) => `${p} ${d.patterns.filter((q) => q === p).length}`).join(', ');
log(
  `train: trainingPreset (seed ${trainingPreset.seed}, ${trainingPreset.days} days from ${new Date(trainingPreset.startMs).toISOString().slice(0, 10)}): ${trainingPart.X.length} events, ${count(trainingPart.y)} fraud`,
);
log(
  `       + default parameters, seeds ${shipped_training.extraSeeds.join(', ')}: ${extraParts.map((p) => `${p.X.length} events, ${count(p.y)} fraud`).join('; ')}`,
);
log(`       = ${train.X.length} events, ${count(train.y)} fraud`);
log(`       ${patternCounts(train)}`);
log(
  `test:  shiftedPreset (seed ${testPreset.seed}${testSeed === undefined ? '' : ', RISK_BENCH_TEST_SEED'}, ${testPreset.days} days from ${new Date(testPreset.startMs).toISOString().slice(0, 10)}, every fraud pattern re-parameterised): ${test.X.length} events, ${count(test.y)} fraud`,
);
log(`       ${patternCounts(test)}`);
log(`(simulated and replayed in ${elapsed()})`);
log();

// ---------------------------------------------------------------------------------------------
// Scorers.

interface Row {
  name: string;
  scores: Float64Array;
  trainSeconds: number | null;
}
const rows: Row[] = [];
const timed = <T>(fn: () => T): [T, number] => {
  const t0 = performance.now();
  const value = fn();
  return [value, (performance.now() - t0) / 1000];
};

// The deployed pipeline, exactly as `npm run train:risk` trains it (same data, parameters, seed).
const [artifact, modelSeconds] = timed(() =>
  trainRiskModel(train, {
    version: 'bench',
    createdAt: new Date(trainingPreset.startMs).toISOString(),
    seed: shipped_training.seed,
    gbdt: shipped_training.gbdt,
  }),
);
const model = riskModelOf(artifact);
rows.push({
  name: 'model (IF → GBDT → Platt)',
  scores: Float64Array.from(test.X, (row) => model.score(row).probability),
  trainSeconds: modelSeconds,
});

// Logistic regression on the same features and the same rows the GBDT trains on.
const gbdtRows = artifact.training.gbdt_rows as number;
const [logistic, logisticSeconds] = timed(() =>
  trainLogistic(train.X.slice(0, gbdtRows), train.y.subarray(0, gbdtRows), { seed: 42 }, [...featureNames]),
);
rows.push({
  name: 'logistic regression',
  scores: Float64Array.from(test.X, (row) => predictLogisticRaw(logistic, row)),
  trainSeconds: logisticSeconds,
});

// Rules only.
const rules = compileRiskBenchRules();
/** Rules score of every event of `d`, counting each rule's hits. */
const scoreRules = (d: Dataset, hits: { all: number; fraud: number }[]) =>
  Float64Array.from(d.X, (row, i) => {
    const record: Record<string, number> = {};
    featureNames.forEach((name, f) => {
      record[name] = row[f]!;
    });
    let s = 0;
    rules.forEach((r, k) => {
      if (!r.rule.evaluate(record)) return;
      s += r.weight;
      hits[k]!.all++;
      if (d.y[i] === 1) hits[k]!.fraud++;
    });
    return s;
  });
const ruleHitsTrain = rules.map(() => ({ all: 0, fraud: 0 }));
scoreRules(train, ruleHitsTrain);
const ruleHits = rules.map(() => ({ all: 0, fraud: 0 }));
const ruleScores = scoreRules(test, ruleHits);
rows.push({ name: `rules only (${rules.length} rules)`, scores: ruleScores, trainSeconds: null });

// The model's isolation forest alone.
rows.push({
  name: 'isolation forest alone',
  scores: Float64Array.from(test.X, (row) => anomalyScore(artifact.isolation_forest, row)),
  trainSeconds: null,
});

// Optional candidate with tuning overrides.
let candidateNote = '';
if (candidate) {
  const data = concatDatasets([
    trainingPart,
    ...extraSeeds.map((seed) => replay(simulateAll(mergeParams(defaultParams, { seed })))),
  ]);
  const [cand, candSeconds] = timed(() =>
    trainRiskModel(data, {
      version: 'bench-candidate',
      createdAt: new Date(trainingPreset.startMs).toISOString(),
      seed: 42,
      gbdt: gbdtOverrides ?? shipped_training.gbdt,
    }),
  );
  const candModel = riskModelOf(cand);
  candidateNote = `candidate: GBDT ${JSON.stringify(gbdtOverrides ?? {})}, training = trainingPreset${extraSeeds.map((s) => ` + default seed ${s}`).join('')} (${data.X.length} events, ${count(data.y)} fraud)`;
  rows.push({
    name: 'candidate (not deployed)',
    scores: Float64Array.from(test.X, (row) => candModel.score(row).probability),
    trainSeconds: candSeconds,
  });
}

// ---------------------------------------------------------------------------------------------
// Report.

const metrics = rows.map((r) => {
  const at1 = operatingPointAtFpr(r.scores, test.y, 0.01);
  const at01 = operatingPointAtFpr(r.scores, test.y, 0.001);
  return { ...r, auprc: auprc(r.scores, test.y), auc: rocAuc(r.scores, test.y), at1, at01 };
});

log('## Held-out (shifted) traffic');
log();
log(
  table([
    ['scorer', 'AUPRC', 'ROC AUC', 'recall@1%FPR', 'recall@0.1%FPR', 'precision@1%FPR', 'train'],
    ...metrics.map((m) => [
      m.name,
      fixed(m.auprc),
      fixed(m.auc),
      fixed(m.at1.recall),
      fixed(m.at01.recall),
      fixed(m.at1.precision),
      m.trainSeconds === null ? '–' : `${m.trainSeconds.toFixed(1)} s`,
    ]),
  ]).join('\n'),
);
if (candidateNote) log(candidateNote);
log('(recall@x%FPR: the largest recall whose false-positive rate on the legitimate events is ≤ x%)');
log();

log("## Per-pattern recall at each scorer's 1%-FPR threshold");
log();
const perPattern = (scores: Float64Array, threshold: number, pattern: string) => {
  let n = 0;
  let hit = 0;
  test.patterns.forEach((p, i) => {
    if (p !== pattern) return;
    n++;
    if (scores[i]! >= threshold) hit++;
  });
  return hit / n;
};
log(
  table([
    ['pattern', 'events', ...metrics.map((m) => m.name.replace(/ \(.*\)$/, ''))],
    ...patternNames.map((p) => [
      p,
      String(test.patterns.filter((q) => q === p).length),
      ...metrics.map((m) => fixed(perPattern(m.scores, m.at1.threshold, p), 3)),
    ]),
  ]).join('\n'),
);
log();

log('## Rules of the rules-only baseline: hits and precision on the training and the held-out traffic');
log();
log(
  table([
    ['rule', 'weight', 'train hits', 'precision', 'held-out hits', 'precision'],
    ...riskBenchRules.map((source, k) => {
      const t = ruleHitsTrain[k]!;
      const h = ruleHits[k]!;
      return [
        source,
        String(rules[k]!.weight),
        String(t.all),
        fixed(t.fraud / t.all, 3),
        String(h.all),
        fixed(h.fraud / h.all, 3),
      ];
    }),
  ]).join('\n'),
);
log();

log('## Aims');
log();
const m0 = metrics[0]!;
const lr = metrics[1]!;
const ratio = m0.auprc / lr.auprc;
log(
  `AUPRC model / logistic = ${fixed(m0.auprc)} / ${fixed(lr.auprc)} = ${ratio.toFixed(2)}×  (aim ≥ 1.5×)  ${metStatus(ratio >= 1.5)}`,
);
log(`recall at 1% FPR (model) = ${fixed(m0.at1.recall)}  (aim ≥ 0.9)  ${metStatus(m0.at1.recall >= 0.9)}`);
if (candidate) {
  const c = metrics[metrics.length - 1]!;
  log(
    `candidate: AUPRC ${fixed(c.auprc)} (${(c.auprc / lr.auprc).toFixed(2)}× logistic) ${metStatus(c.auprc / lr.auprc >= 1.5)}; recall at 1% FPR ${fixed(c.at1.recall)} ${metStatus(c.at1.recall >= 0.9)}`,
  );
}
log(`model vs rules only: AUPRC ${(m0.auprc / metrics[2]!.auprc).toFixed(2)}×`);
log();
log(`total ${elapsed()}; loadavg at end: ${loadAverage()}`);
