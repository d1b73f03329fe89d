/**
 * LinUCB with one shared linear model over joint (context × instrument) features (Li et al., WWW
 * 2010, arXiv 1003.0146, "hybrid" form reduced to its shared part). An arm is one of the payer's
 * instruments described by its feature vector x; the expected reward is θᵀx and the upper
 * confidence bound adds α·√(xᵀA⁻¹x). A⁻¹ is kept directly and updated with the Sherman–Morrison
 * identity, so choose + update is O(K·d²) with no matrix inversion.
 *
 * Why our own code: there is no maintained JavaScript bandit library on npm (ml.md §B.4) and the
 * algorithm is about fifty lines; ml.md §B.3 measured ~28 µs per choose + update at d = 32, K = 6.
 * Shared (not per-arm) parameters because instruments are per payer: a per-instrument model would
 * start cold for every new payer, while a shared model transfers what it learns about "a debit card
 * whose channel is degraded" to every payer's debit card.
 *
 * The model starts from a prior: A = λI and b = λ·θ₀, so θ = θ₀ until outcomes arrive and the
 * prior then weighs as λ pseudo-observations. θ₀ is a hand-set ordering (docs/checkout.md).
 */
import { assert } from '../../../lib/assert.ts';

export interface LinUcbOptions {
  /** Width of the confidence bound (exploration by optimism). */
  alpha: number;
  /** Weight of the prior, in pseudo-observations. */
  lambda: number;
  /** Prior coefficients θ₀ (length d). */
  prior: readonly number[];
}

export class LinUcb {
  readonly d: number;
  readonly alpha: number;
  /** Outcomes learned so far. */
  updates = 0;
  private readonly ainv: Float64Array;
  private readonly b: Float64Array;
  private readonly theta: Float64Array;
  private readonly scratch: Float64Array;

  constructor(o: LinUcbOptions) {
    const d = o.prior.length;
    assert(d > 0 && o.lambda > 0 && o.alpha >= 0, 'bad LinUCB options');
    this.d = d;
    this.alpha = o.alpha;
    this.ainv = new Float64Array(d * d);
    this.b = new Float64Array(d);
    this.theta = new Float64Array(d);
    this.scratch = new Float64Array(d);
    for (let i = 0; i < d; i++) {
      this.ainv[i * d + i] = 1 / o.lambda;
      this.b[i] = o.lambda * o.prior[i]!;
      this.theta[i] = o.prior[i]!;
    }
  }

  /** θᵀx: the model's estimate of the reward of showing x first. */
  mean(x: Float64Array): number {
    let s = 0;
    for (let i = 0; i < this.d; i++) s += this.theta[i]! * x[i]!;
    return s;
  }

  /** √(xᵀA⁻¹x): how unsure the model is about x. */
  width(x: Float64Array): number {
    const d = this.d;
    let s = 0;
    for (let i = 0; i < d; i++) {
      let row = 0;
      for (let j = 0; j < d; j++) row += this.ainv[i * d + j]! * x[j]!;
      s += x[i]! * row;
    }
    return Math.sqrt(Math.max(0, s));
  }

  ucb(x: Float64Array): number {
    return this.mean(x) + this.alpha * this.width(x);
  }

  /** Learns reward r (0…1) for x: A += xxᵀ (Sherman–Morrison on A⁻¹), b += r·x, θ = A⁻¹b. */
  update(x: Float64Array, r: number): void {
    assert(x.length === this.d, 'feature length mismatch');
    assert(r >= 0 && r <= 1, `reward ${r} outside 0…1`);
    const d = this.d;
    const u = this.scratch; // u = A⁻¹x (A⁻¹ is symmetric, so xᵀA⁻¹ = uᵀ)
    let denom = 1;
    for (let i = 0; i < d; i++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += this.ainv[i * d + j]! * x[j]!;
      u[i] = s;
      denom += x[i]! * s;
    }
    for (let i = 0; i < d; i++) {
      const ui = u[i]! / denom;
      for (let j = 0; j < d; j++) this.ainv[i * d + j]! -= ui * u[j]!;
    }
    for (let i = 0; i < d; i++) this.b[i]! += r * x[i]!;
    for (let i = 0; i < d; i++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += this.ainv[i * d + j]! * this.b[j]!;
      this.theta[i] = s;
    }
    this.updates++;
  }

  coefficients(): number[] {
    return Array.from(this.theta);
  }
}

export interface Choice {
  /** Index of the arm shown first. */
  top: number;
  /** Index of the arm with the highest upper confidence bound (what a greedy policy shows first). */
  greedy: number;
  /** The first place was drawn uniformly (the exploration share), not the greedy arm. */
  explored: boolean;
  /** Probability that this policy shows `top` first for this context: logged for IPS. */
  propensity: number;
  ucb: number[];
  mean: number[];
}

/**
 * ε-mixed LinUCB: with probability `explorationShare` the first place goes to an arm drawn
 * uniformly, else to the highest UCB. The propensity of the shown arm is
 * (1 − ε)·[top = greedy] + ε / K, exactly what the policy did, so inverse-propensity estimates of
 * other policies are unbiased over the logged data. `u1`, `u2` are uniform draws in [0, 1).
 */
export function choose(
  model: LinUcb,
  arms: readonly Float64Array[],
  explorationShare: number,
  u1: number,
  u2: number,
): Choice {
  const k = arms.length;
  assert(k > 0, 'choose needs at least one arm');
  const ucb = new Array<number>(k);
  const mean = new Array<number>(k);
  let greedy = 0;
  for (let i = 0; i < k; i++) {
    mean[i] = model.mean(arms[i]!);
    ucb[i] = mean[i]! + model.alpha * model.width(arms[i]!);
    if (ucb[i]! > ucb[greedy]!) greedy = i;
  }
  const explored = k > 1 && u1 < explorationShare;
  const top = explored ? Math.min(k - 1, Math.floor(u2 * k)) : greedy;
  const propensity = (top === greedy ? 1 - explorationShare : 0) + explorationShare / k;
  return { top, greedy, explored, propensity: k === 1 ? 1 : propensity, ucb, mean };
}
