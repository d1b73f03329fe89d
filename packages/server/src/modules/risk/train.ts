/**
 * Training pipeline of the Fraud Shield model (`npm run train:risk`, `npm run bench:risk-quality`):
 * simulated, labelled traffic is replayed in time order through the in-memory feature store —
 * the same featurizer as online scoring — giving one vector per event; an isolation forest is
 * fitted on the training rows, its score appended as a feature, gradient-boosted trees trained on
 * the older 80% and Platt calibration fitted on the newest 20%. Everything is seeded.
 */
import { MemoryFeatureStore } from './feature-store.ts';
import { feature_count, featurize, hourOfDay, type RiskEvent } from './features.ts';
import { fitPlatt } from './model/calibration.ts';
import { type GbdtParams, predictRaw, trainGbdt } from './model/gbdt.ts';
import { trainIsolationForest } from './model/isolation-forest.ts';
import { model_features, type RiskModelArtifact, withAnomaly } from './risk-model.ts';

/** The fields of a simulator event the pipeline needs (see packages/simulator). */
export interface LabelledEvent extends Omit<RiskEvent, 'refund_of_amount_fen' | 'refund_of_ts'> {
  refund_of: string | null;
  outcome: 'success' | 'declined';
  label: 'legit' | 'fraud';
  pattern: string | null;
}

export interface Dataset {
  X: Float64Array[];
  y: Uint8Array;
  patterns: (string | null)[];
  events: LabelledEvent[];
}

/** Replays events through a fresh in-memory feature store: vector of each event before it happens. */
export function replay(events: readonly LabelledEvent[]): Dataset {
  const store = new MemoryFeatureStore();
  const payments = new Map<string, { amount: number; ts: number }>();
  const X: Float64Array[] = [];
  const y = new Uint8Array(events.length);
  const patterns: (string | null)[] = [];
  events.forEach((ev, i) => {
    const paid = ev.refund_of ? payments.get(ev.refund_of) : undefined;
    const e: RiskEvent = {
      ...ev,
      refund_of_amount_fen: paid?.amount ?? null,
      refund_of_ts: paid?.ts ?? null,
    };
    X.push(featurize(e, store.snapshotSync(e)));
    y[i] = ev.label === 'fraud' ? 1 : 0;
    patterns.push(ev.pattern);
    store.recordSync(e, ev.outcome, hourOfDay(e.ts));
    if (ev.type === 'payment') payments.set(ev.id, { amount: ev.amount_fen, ts: ev.ts });
  });
  return { X, y, patterns, events: [...events] };
}

/** Concatenates replayed data sets in order (each replayed on its own: separate worlds). */
export function concatDatasets(parts: readonly Dataset[]): Dataset {
  return {
    X: parts.flatMap((p) => p.X),
    y: Uint8Array.from(parts.flatMap((p) => Array.from(p.y))),
    patterns: parts.flatMap((p) => p.patterns),
    events: parts.flatMap((p) => p.events),
  };
}

/**
 * What `npm run train:risk` trains on and with (and bench:risk-quality evaluates): the simulator's
 * training preset, then `extraSeeds` more worlds of the simulator's default parameters, each
 * replayed on its own and appended in this order (the newest 20% — the end of the last world — is
 * the calibration split); GBDT parameters `gbdt` over defaultGbdtParams. None of this traffic is
 * the evaluation preset's (shiftedPreset, seed 20250401).
 */
export const shipped_training = {
  version: 'risk-gbdt-2.0.0',
  extraSeeds: [101, 102] as readonly number[],
  gbdt: { trees: 400, learningRate: 0.04 } as Partial<GbdtParams>,
  seed: 42,
};

export const defaultGbdtParams: GbdtParams = {
  trees: 160,
  depth: 6,
  learningRate: 0.08,
  bins: 64,
  minLeaf: 20,
  lambda: 1,
  rowSubsample: 0.8,
  colSubsample: 0.8,
  seed: 42,
  scalePosWeight: 4,
};

export function trainRiskModel(
  data: Dataset,
  options: {
    version: string;
    createdAt: string;
    seed: number;
    gbdt?: Partial<GbdtParams>;
    simulator?: unknown;
  },
): RiskModelArtifact {
  const n = data.X.length;
  const cut = Math.floor(n * 0.8);
  const forest = trainIsolationForest(data.X.slice(0, cut), {
    trees: 100,
    sampleSize: 256,
    seed: options.seed,
  });
  const augmented = data.X.map((row) => withAnomaly(forest, row));
  const params = { ...defaultGbdtParams, seed: options.seed, ...options.gbdt };
  const gbdt = trainGbdt(augmented.slice(0, cut), data.y.subarray(0, cut), params, [...model_features]);
  const held = augmented.slice(cut);
  const calibration = fitPlatt(
    held.map((row) => predictRaw(gbdt, row)),
    data.y.subarray(cut),
  );
  let positives = 0;
  for (const v of data.y) positives += v;
  return {
    kind: 'zhifu-risk-model',
    version: options.version,
    created_at: options.createdAt,
    features: [...model_features],
    isolation_forest: forest,
    gbdt,
    calibration,
    training: {
      rows: n,
      positives,
      feature_count: feature_count + 1,
      gbdt_rows: cut,
      calibration_rows: n - cut,
      params,
      simulator: options.simulator,
    },
  };
}
