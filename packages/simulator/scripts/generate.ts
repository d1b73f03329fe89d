/**
 * Write a labelled data set as JSON Lines.
 *
 *   node --import tsx packages/simulator/scripts/generate.ts --preset training --out data/sim/training.jsonl
 *   node --import tsx packages/simulator/scripts/generate.ts --preset shifted --out data/sim/shifted.jsonl
 *   node --import tsx packages/simulator/scripts/generate.ts --preset default --seed 7 --days 7 --payers 1000 --out x.jsonl
 */
import { parseArgs } from 'node:util';
import {
  defaultParams,
  mergeParams,
  type SimParams,
  shiftedPreset,
  trainingPreset,
  writeDataset,
} from '../src/index.ts';

const { values } = parseArgs({
  options: {
    preset: { type: 'string', default: 'training' },
    out: { type: 'string' },
    seed: { type: 'string' },
    days: { type: 'string' },
    payers: { type: 'string' },
    merchants: { type: 'string' },
  },
});

const presets: Record<string, SimParams> = {
  default: defaultParams,
  training: trainingPreset,
  shifted: shiftedPreset,
};
const base = presets[values.preset ?? 'training'];
if (!base || !values.out) {
  console.error(
    'usage: generate.ts --preset default|training|shifted --out FILE [--seed N] [--days N] [--payers N]',
  );
  process.exit(2);
}
const int = (s: string | undefined): number | undefined =>
  s === undefined ? undefined : Number.parseInt(s, 10);
const params = mergeParams(base, {
  seed: int(values.seed),
  days: int(values.days),
  payers: int(values.payers),
  merchants: int(values.merchants),
});
const t0 = performance.now();
const summary = writeDataset(params, values.out);
console.log(
  JSON.stringify({
    out: values.out,
    preset: values.preset,
    seed: params.seed,
    days: params.days,
    payers: params.payers,
    ...summary,
    fraudShare: Number((summary.fraud / summary.events).toFixed(4)),
    ms: Math.round(performance.now() - t0),
  }),
);
