/**
 * `npm run train:risk`: trains the Fraud Shield model on the simulator's training preset plus the
 * extra default-parameter worlds of `shipped_training` (fixed seeds → the same artifact) and
 * writes src/modules/risk/artifacts/risk-model.json, printing the quality on a held-out,
 * differently parameterised traffic set (the shifted preset), which training never sees.
 */
import { writeFileSync } from 'node:fs';
import { defaultParams, mergeParams, shiftedPreset, simulateAll, trainingPreset } from '@zhifu/simulator';
import { auprc, recallAtFpr } from '../src/modules/risk/model/metrics.ts';
import { default_model_path, riskModelOf } from '../src/modules/risk/risk-model.ts';
import { concatDatasets, replay, shipped_training, trainRiskModel } from '../src/modules/risk/train.ts';

const version = process.env.ZHIFU_RISK_MODEL_VERSION ?? shipped_training.version;
// For experiments only: other extra seeds, and another output file.
const extraSeeds = process.env.RISK_TRAIN_EXTRA_SEEDS
  ? process.env.RISK_TRAIN_EXTRA_SEEDS.split(',').filter(Boolean).map(Number)
  : shipped_training.extraSeeds;
const out = process.env.RISK_TRAIN_OUT ?? default_model_path;
const started = performance.now();
const train = concatDatasets([
  replay(simulateAll(trainingPreset)),
  ...extraSeeds.map((seed) => replay(simulateAll(mergeParams(defaultParams, { seed })))),
]);
const artifact = trainRiskModel(train, {
  version,
  // The artifact must not change between identical runs: its date is the preset's, not now.
  createdAt: new Date(trainingPreset.startMs).toISOString(),
  seed: shipped_training.seed,
  gbdt: shipped_training.gbdt,
  simulator: {
    preset: 'trainingPreset',
    seed: trainingPreset.seed,
    days: trainingPreset.days,
    payers: trainingPreset.payers,
    extra_default_seeds: extraSeeds,
  },
});
writeFileSync(out, `${JSON.stringify(artifact)}\n`);
const trainedMs = performance.now() - started;

const model = riskModelOf(artifact);
const test = replay(simulateAll(shiftedPreset));
const scores = test.X.map((row) => model.score(row).probability);
const line = (name: string, value: number) => console.log(`  ${name.padEnd(28)} ${value.toFixed(4)}`);
console.log(`risk model ${version} → ${out}`);
console.log(
  `  trained on ${train.X.length} events (${artifact.training.positives} fraud) in ${(trainedMs / 1000).toFixed(1)} s`,
);
console.log(`  evaluated on the shifted preset: ${test.X.length} events`);
line('AUPRC', auprc(scores, test.y));
line('recall at 1% FPR', recallAtFpr(scores, test.y, 0.01));
line('recall at 0.1% FPR', recallAtFpr(scores, test.y, 0.001));
