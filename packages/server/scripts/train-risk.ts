/**
 * `npm run train:risk`: trains the Fraud Shield model on the simulator's training preset (fixed
 * seed → the same artifact) and writes src/modules/risk/artifacts/risk-model.json, printing the
 * quality on a held-out, differently parameterised traffic set (the shifted preset).
 */
import { writeFileSync } from 'node:fs';
import { shiftedPreset, simulateAll, trainingPreset } from '@zhifu/simulator';
import { auprc, recallAtFpr } from '../src/modules/risk/model/metrics.ts';
import { default_model_path, riskModelOf } from '../src/modules/risk/risk-model.ts';
import { replay, trainRiskModel } from '../src/modules/risk/train.ts';

const version = process.env.ZHIFU_RISK_MODEL_VERSION ?? 'risk-gbdt-1.0.0';
const started = performance.now();
const train = replay(simulateAll(trainingPreset));
const artifact = trainRiskModel(train, {
  version,
  // The artifact must not change between identical runs: its date is the preset's, not now.
  createdAt: new Date(trainingPreset.startMs).toISOString(),
  seed: 42,
  simulator: {
    preset: 'trainingPreset',
    seed: trainingPreset.seed,
    days: trainingPreset.days,
    payers: trainingPreset.payers,
  },
});
writeFileSync(default_model_path, `${JSON.stringify(artifact)}\n`);
const trainedMs = performance.now() - started;

const model = riskModelOf(artifact);
const test = replay(simulateAll(shiftedPreset));
const scores = test.X.map((row) => model.score(row).probability);
const line = (name: string, value: number) => console.log(`  ${name.padEnd(28)} ${value.toFixed(4)}`);
console.log(`risk model ${version} → ${default_model_path}`);
console.log(
  `  trained on ${train.X.length} events (${artifact.training.positives} fraud) in ${(trainedMs / 1000).toFixed(1)} s`,
);
console.log(`  evaluated on the shifted preset: ${test.X.length} events`);
line('AUPRC', auprc(scores, test.y));
line('recall at 1% FPR', recallAtFpr(scores, test.y, 0.01));
line('recall at 0.1% FPR', recallAtFpr(scores, test.y, 0.001));
