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
export interface LabelledEvent extends Omit<RiskEvent, 'refund_of_amount_fen'> {
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
  const amounts = new Map<string, number>();
  const X: Float64Array[] = [];
  const y = new Uint8Array(events.length);
  const patterns: (string | null)[] = [];
  events.forEach((ev, i) => {
    const e: RiskEvent = {
      ...ev,
      refund_of_amount_fen: ev.refund_of ? (amounts.get(ev.refund_of) ?? null) : null,
    };
    X.push(featurize(e, store.snapshotSync(e)));
    y[i] = ev.label === 'fraud' ? 1 : 0;
    patterns.push(ev.pattern);
    store.recordSync(e, ev.outcome, hourOfDay(e.ts));
    if (ev.type === 'payment') amounts.set(ev.id, ev.amount_fen);
  });
  return { X, y, patterns, events: [...events] };
}

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
