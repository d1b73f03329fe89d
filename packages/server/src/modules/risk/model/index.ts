/**
 * The machine-learning core of the AI Fraud Shield: a histogram GBDT (primary score, with Saabas reason
 * contributions), an isolation forest (anomaly feature / cold start), a logistic-regression baseline,
 * Platt calibration to a 0–100 `risk_score` with review/block thresholds, and evaluation metrics.
 *
 * Why our own: the npm ML packages were unfit for the core model (/work/shared/reference/ml.md §C:
 * unmaintained, no usable probabilities, crashes at ≥ 100k rows, or hundreds of MB and slow per row).
 * Everything here is dependency-free, seeded (reproducible training) and serialises to plain JSON.
 */
export {
  calibrate,
  DEFAULT_RISK_THRESHOLDS,
  fitPlatt,
  type PlattCalibration,
  type RiskLevel,
  type RiskThresholds,
  riskLevel,
  riskScore,
  riskScoreFromProbability,
  type SuggestedAction,
  suggestedAction,
  validateThresholds,
} from './calibration.ts';
export {
  type CompiledGbdt,
  compileGbdt,
  contributions,
  type FeatureContribution,
  type FeatureImportance,
  type FeatureRows,
  featureImportance,
  GBDT_MAX_BINS,
  GBDT_MODEL_VERSION,
  type GbdtModel,
  type GbdtParams,
  type GbdtTree,
  parseGbdtModel,
  predictProba,
  predictRaw,
  predictRawWithContributions,
  topContributions,
  trainGbdt,
} from './gbdt.ts';
export {
  anomalyScore,
  averagePathLength,
  ISOLATION_FOREST_MODEL_VERSION,
  type IsolationForestModel,
  type IsolationForestParams,
  type IsolationTree,
  trainIsolationForest,
} from './isolation-forest.ts';
export {
  LOGISTIC_MODEL_VERSION,
  type LogisticModel,
  type LogisticParams,
  predictLogistic,
  predictLogisticRaw,
  trainLogistic,
} from './logistic.ts';
export {
  auprc,
  type ConfusionAtThreshold,
  type OperatingPoint,
  operatingPointAtFpr,
  precisionRecallAt,
  recallAtFpr,
  rocAuc,
} from './metrics.ts';
export { createRng, type Rng } from './random.ts';
