/**
 * The Fraud Shield's model as deployed: a versioned JSON artifact (artifacts/risk-model.json,
 * written by `npm run train:risk`) holding an isolation forest — whose anomaly score is the last
 * input feature, so patterns never seen in training still raise the score — the gradient-boosted
 * trees over the features plus that score, and the Platt calibration to a 0–100 risk score.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { feature_count, featureNames } from './features.ts';
import type { PlattCalibration, RiskThresholds } from './model/calibration.ts';
import {
  calibrate,
  DEFAULT_RISK_THRESHOLDS,
  riskLevel,
  riskScoreFromProbability,
} from './model/calibration.ts';
import { type GbdtModel, parseGbdtModel, predictRawWithContributions } from './model/gbdt.ts';
import { anomalyScore, type IsolationForestModel } from './model/isolation-forest.ts';

export type Action = 'approve' | 'review' | 'block';
export type Thresholds = RiskThresholds;
export const defaultThresholds: Thresholds = DEFAULT_RISK_THRESHOLDS;
export const levelOf = riskLevel;

export const default_model_path = fileURLToPath(new URL('./artifacts/risk-model.json', import.meta.url));
export const model_features = [...featureNames, 'anomaly_score'] as const;

export interface RiskModelArtifact {
  kind: 'zhifu-risk-model';
  version: string;
  created_at: string;
  features: string[];
  isolation_forest: IsolationForestModel;
  gbdt: GbdtModel;
  calibration: PlattCalibration;
  training: Record<string, unknown>;
}

export interface ModelScore {
  score: number;
  probability: number;
  anomaly: number;
  reasons: { feature: string; value: number; contribution: number }[];
}

export interface RiskModel {
  version: string;
  score(vector: Float64Array): ModelScore;
}

/** Adds the anomaly score to a feature vector (the model's input). */
export function withAnomaly(
  forest: IsolationForestModel,
  vector: ArrayLike<number>,
  out = new Float64Array(feature_count + 1),
): Float64Array {
  for (let i = 0; i < feature_count; i++) out[i] = vector[i]!;
  out[feature_count] = anomalyScore(forest, vector);
  return out;
}

export function riskModelOf(artifact: RiskModelArtifact): RiskModel {
  if (artifact.kind !== 'zhifu-risk-model') throw new Error('not a Zhifu risk model artifact');
  const expected = model_features.join(',');
  if (artifact.features.join(',') !== expected) {
    throw new Error(
      `risk model features differ from this build's (${artifact.version}): retrain with npm run train:risk`,
    );
  }
  const gbdt = parseGbdtModel(artifact.gbdt);
  // Scratch buffers reused by every call (scoring is synchronous): no per-call typed arrays.
  const input = new Float64Array(feature_count + 1);
  const contrib = new Float64Array(feature_count + 1);
  return {
    version: artifact.version,
    score(vector) {
      withAnomaly(artifact.isolation_forest, vector, input);
      // One walk of the trees gives the raw score and the reason contributions.
      const raw = predictRawWithContributions(gbdt, input, contrib);
      const probability = calibrate(artifact.calibration, raw);
      const reasons: ModelScore['reasons'] = [];
      for (let i = 0; i < contrib.length; i++) {
        const c = contrib[i]!;
        if (c > 0)
          reasons.push({ feature: model_features[i]!, value: round(input[i]!), contribution: round(c) });
      }
      reasons.sort((a, b) => b.contribution - a.contribution);
      return {
        score: riskScoreFromProbability(probability),
        probability,
        anomaly: input[feature_count]!,
        reasons,
      };
    },
  };
}

const round = (x: number) => Math.round(x * 1e4) / 1e4;

export function loadRiskModel(path: string = default_model_path): RiskModel {
  return riskModelOf(JSON.parse(readFileSync(path, 'utf8')) as RiskModelArtifact);
}
