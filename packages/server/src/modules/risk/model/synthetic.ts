/**
 * A seeded synthetic fraud data set for tests and benchmarks of the risk models (not for production).
 *
 * Why our own models at all: npm ML packages were unfit (/work/shared/reference/ml.md §C); this generator
 * gives the tests a data set whose signal is known: fraud when (a > 0.8 and b < 0.2) or c·d > 0.9, i.e.
 * non-linear interactions a linear model cannot express. Rows matching a rule are fraud with probability
 * 0.6, other rows with probability 0.003 (label noise), so about 3% of rows are positive. Features after
 * the first four are noise: uniform, normal, or uniform with 5% missing (NaN).
 */
import { createRng } from './random.ts';

export interface SyntheticData {
  X: Float64Array[];
  y: Uint8Array;
  featureNames: string[];
  /** The rule (noise-free) indicator of each row. */
  signal: Uint8Array;
}

export const SIGNAL_FEATURES = ['a', 'b', 'c', 'd'] as const;

export function syntheticFraudData(rows: number, features: number, seed: number): SyntheticData {
  if (features < 4) throw new RangeError('need at least the 4 signal features');
  const rng = createRng(seed);
  const featureNames = [...SIGNAL_FEATURES, ...Array.from({ length: features - 4 }, (_, i) => `noise_${i}`)];
  const X: Float64Array[] = [];
  const y = new Uint8Array(rows);
  const signal = new Uint8Array(rows);
  for (let r = 0; r < rows; r++) {
    const row = new Float64Array(features);
    for (let f = 0; f < features; f++) {
      const kind = f < 4 ? 0 : f % 3;
      if (f === 2 || f === 3) row[f] = rng.nextNormal();
      else if (kind === 0) row[f] = rng.next();
      else if (kind === 1) row[f] = rng.nextNormal();
      else row[f] = rng.next() < 0.05 ? Number.NaN : rng.next();
    }
    const [a, b, c, d] = [row[0]!, row[1]!, row[2]!, row[3]!];
    const s = (a > 0.8 && b < 0.2) || c * d > 2;
    signal[r] = s ? 1 : 0;
    y[r] = rng.next() < (s ? 0.4 : 0.003) ? 1 : 0;
    X.push(row);
  }
  return { X, y, featureNames, signal };
}
