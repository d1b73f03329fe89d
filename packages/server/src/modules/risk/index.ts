export { pruneWindowCounts, SqlFeatureStore } from './feature-store.sql.ts';
export { type FeatureStore, MemoryFeatureStore } from './feature-store.ts';
export { featureNames, type RiskEvent } from './features.ts';
export { type BatchScorer, InProcessBatchScorer, WorkerBatchScorer } from './risk.batch.ts';
export {
  type Assessment,
  commit,
  evaluate,
  fraud_device_prefix,
  paymentContext,
  type RiskDeps,
  recordOnly,
  type Scored,
  score,
  sweepBatches,
} from './risk.service.ts';
export { default_model_path, loadRiskModel, type RiskModel } from './risk-model.ts';
