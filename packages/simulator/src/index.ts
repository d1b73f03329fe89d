/**
 * @zhifu/simulator: seeded, labelled payment and refund traffic for training and evaluating the
 * AI Fraud Shield. See docs/simulator.md for every parameter, pattern and the label semantics.
 */
export {
  type DatasetStats,
  type DatasetSummary,
  datasetStats,
  readDataset,
  writeDataset,
} from './dataset.ts';
export {
  type AccountTakeoverParams,
  type CardTestingParams,
  type DeviceFarmParams,
  defaultParams,
  type LegitParams,
  type MarketParams,
  type MuleParams,
  mergeParams,
  type ParamsPatch,
  type PatternParams,
  type PromotionAbuseParams,
  type Range,
  type RefundAbuseParams,
  type SimParams,
  shiftedPreset,
  trainingPreset,
} from './params.ts';
export { deriveSeed, hashString, Rng, WeightedTable, zipfWeights } from './random.ts';
export { actorCount, simulate, simulateAll } from './simulate.ts';
export { type InstrumentKind, MCCS, type Mcc, PATTERNS, type PatternName, type SimEvent } from './types.ts';
