/**
 * Historical note: these six candidates were adopted in model 2 (risk-gbdt-2.0.0) and are now part
 * of the shipped featurizer (features.ts), so the default is `none` (the shipped features alone);
 * naming candidates again appends duplicates of shipped features.
 *
 * Experiment behind the feature suggestions of docs/benchmarks.md (## Fraud Shield), not a
 * benchmark: does the model catch more of the shifted traffic's fraud with a few payer- and
 * device-level features the featurizer does not have yet? Replays both presets like train.ts
 * (in-memory store, the shipped featurizer) and computes the candidate features next to it from
 * the same event stream (history before each event only). Then it fits the pipeline as
 * trainRiskModel does (isolation forest on the 38 features of the oldest 80%, GBDT with
 * defaultGbdtParams on the oldest 80%) and prints AUPRC and recall at 1% / 0.1% FPR on the shifted
 * preset. Platt calibration is left out: it does not change the ranking.
 *
 *   node --import tsx bench/risk-features-experiment.ts
 *   RISK_FEATURES=payer_mean_amount_log RISK_BENCH_EXTRA_SEEDS=101,102 node --import tsx bench/risk-features-experiment.ts
 *
 * RISK_FEATURES: comma-separated candidates (default: `none`);
 * RISK_BENCH_EXTRA_SEEDS and RISK_BENCH_GBDT as in bench/risk-quality.bench.ts.
 */
import {
  defaultParams,
  mergeParams,
  type SimEvent,
  shiftedPreset,
  simulateAll,
  trainingPreset,
} from '@zhifu/simulator';
import { MemoryFeatureStore } from '../packages/server/src/modules/risk/feature-store.ts';
import {
  featureNames,
  featurize,
  hourOfDay,
  type RiskEvent,
} from '../packages/server/src/modules/risk/features.ts';
import { type GbdtParams, predictRaw, trainGbdt } from '../packages/server/src/modules/risk/model/gbdt.ts';
import {
  anomalyScore,
  trainIsolationForest,
} from '../packages/server/src/modules/risk/model/isolation-forest.ts';
import {
  auprc,
  operatingPointAtFpr,
  recallAtFpr,
} from '../packages/server/src/modules/risk/model/metrics.ts';
import { defaultGbdtParams } from '../packages/server/src/modules/risk/train.ts';
import { fixed, machineLines, table } from './risk-machine.ts';

const candidates = [
  /** The payer's usual ticket: mean ln(1 + amount) of past successful payments (this amount if none). */
  'payer_mean_amount_log',
  /** Successful payments per day of account age (young accounts that pay a lot). */
  'payer_payments_per_age_day',
  /** Distinct payers that ever paid from this device (not only in 24 hours). */
  'device_payers_ever',
  /** Distinct devices the payer ever paid from. */
  'payer_devices_ever',
  /** Share of the payer's successful payments at quasi-cash and gambling merchants (6051, 7995). */
  'payer_quasi_cash_share',
  /** For refunds: hours since the refunded payment (−1 for payments). */
  'refund_delay_hours',
] as const;

const requested = process.env.RISK_FEATURES ?? 'none';
const use =
  requested === 'none'
    ? []
    : requested.split(',').map((name) => {
        const k = candidates.indexOf(name as (typeof candidates)[number]);
        if (k < 0) throw new Error(`RISK_FEATURES: unknown candidate ${name}`);
        return k;
      });
const extraSeeds = (process.env.RISK_BENCH_EXTRA_SEEDS ?? '').split(',').filter(Boolean).map(Number);
const gbdtOverrides = JSON.parse(process.env.RISK_BENCH_GBDT ?? '{}') as Partial<GbdtParams>;
const quasiCash = new Set(['6051', '7995']);

interface Replayed {
  X: Float64Array[];
  extra: Float64Array[];
  y: Uint8Array;
  patterns: (string | null)[];
}

function replayWithCandidates(events: readonly SimEvent[]): Replayed {
  const store = new MemoryFeatureStore();
  const payments = new Map<string, { amount: number; ts: number }>();
  const devicePayers = new Map<string, Set<string>>();
  const payerDevices = new Map<string, Set<string>>();
  const payerQuasi = new Map<string, number>();
  const out: Replayed = { X: [], extra: [], y: new Uint8Array(events.length), patterns: [] };
  events.forEach((ev, i) => {
    const paid = ev.refund_of ? payments.get(ev.refund_of) : undefined;
    const e: RiskEvent = { ...ev, refund_of_amount_fen: paid?.amount ?? null };
    const snapshot = store.snapshotSync(e);
    out.X.push(featurize(e, snapshot));
    const p = snapshot.profile;
    const ageDays = Math.max(1, (e.ts - e.payer_created_ts) / 86_400_000);
    out.extra.push(
      Float64Array.of(
        p.payments > 0 ? p.meanLog : Math.log1p(e.amount_fen),
        p.payments / ageDays,
        devicePayers.get(e.device_id)?.size ?? 0,
        payerDevices.get(e.payer_id)?.size ?? 0,
        p.payments > 0 ? (payerQuasi.get(e.payer_id) ?? 0) / p.payments : 0,
        paid ? (e.ts - paid.ts) / 3_600_000 : -1,
      ),
    );
    out.y[i] = ev.label === 'fraud' ? 1 : 0;
    out.patterns.push(ev.pattern);
    store.recordSync(e, ev.outcome, hourOfDay(e.ts));
    if (ev.type === 'payment') {
      payments.set(ev.id, { amount: ev.amount_fen, ts: ev.ts });
      const payers = devicePayers.get(e.device_id) ?? new Set<string>();
      payers.add(e.payer_id);
      devicePayers.set(e.device_id, payers);
      const devices = payerDevices.get(e.payer_id) ?? new Set<string>();
      devices.add(e.device_id);
      payerDevices.set(e.payer_id, devices);
      if (ev.outcome === 'success' && quasiCash.has(e.mcc))
        payerQuasi.set(e.payer_id, (payerQuasi.get(e.payer_id) ?? 0) + 1);
    }
  });
  return out;
}

const started = performance.now();
console.log('# risk-features-experiment: candidate features on the shifted preset');
for (const line of machineLines()) console.log(line);
const parts = [trainingPreset, ...extraSeeds.map((seed) => mergeParams(defaultParams, { seed }))].map(
  (params) => replayWithCandidates(simulateAll(params)),
);
const train: Replayed = {
  X: parts.flatMap((p) => p.X),
  extra: parts.flatMap((p) => p.extra),
  y: Uint8Array.from(parts.flatMap((p) => Array.from(p.y))),
  patterns: parts.flatMap((p) => p.patterns),
};
const test = replayWithCandidates(simulateAll(shiftedPreset));
const cut = Math.floor(train.X.length * 0.8);
const forest = trainIsolationForest(train.X.slice(0, cut), { trees: 100, sampleSize: 256, seed: 42 });
const inputs = (d: Replayed) =>
  d.X.map((row, i) => {
    const v = new Float64Array(row.length + 1 + use.length);
    v.set(row);
    v[row.length] = anomalyScore(forest, row);
    use.forEach((k, j) => {
      v[row.length + 1 + j] = d.extra[i]![k]!;
    });
    return v;
  });
const names = [...featureNames, 'anomaly_score', ...use.map((k) => candidates[k]!)];
const gbdt = trainGbdt(
  inputs(train).slice(0, cut),
  train.y.subarray(0, cut),
  { ...defaultGbdtParams, ...gbdtOverrides },
  names,
);
const scores = inputs(test).map((row) => predictRaw(gbdt, row));
const at1 = operatingPointAtFpr(scores, test.y, 0.01);
const patterns = [...new Set(test.patterns.filter((p): p is string => p !== null))].sort();
console.log(
  `candidates: ${use.length ? use.map((k) => candidates[k]).join(', ') : 'none'}; extra training seeds: ${extraSeeds.join(', ') || 'none'}; GBDT overrides: ${JSON.stringify(gbdtOverrides)}`,
);
console.log(
  `AUPRC ${fixed(auprc(scores, test.y))}, recall@1%FPR ${fixed(at1.recall)}, recall@0.1%FPR ${fixed(recallAtFpr(scores, test.y, 0.001))}`,
);
console.log(
  table([
    ['pattern', 'recall@1%FPR'],
    ...patterns.map((p) => {
      let n = 0;
      let hit = 0;
      test.patterns.forEach((q, i) => {
        if (q !== p) return;
        n++;
        if (scores[i]! >= at1.threshold) hit++;
      });
      return [p, fixed(hit / n, 3)];
    }),
  ]).join('\n'),
);
console.log(`total ${((performance.now() - started) / 1000).toFixed(1)} s`);
