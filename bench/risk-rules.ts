/**
 * The hand-written rule set of bench:risk-quality's rules-only baseline: what a careful merchant
 * would write in the Fraud Shield rules language (docs/rules.md) from the usual Radar-style
 * signals, over the feature names only (no model score, no anomaly score). Written from the
 * pattern descriptions in docs/simulator.md; thresholds were checked by backtesting on the
 * training traffic only (as a merchant would with POST /v1/risk/rules/backtest), never on the
 * held-out traffic.
 *
 * Score of an event = Σ weights of the matched rules (block rules weigh 2, review rules 1), so the
 * rules can be ranked like a model; with no rule matched the score is 0.
 */
import { featureNames } from '../packages/server/src/modules/risk/features.ts';
import { type CompiledRule, compileRule } from '../packages/server/src/modules/risk/rules/index.ts';

export const riskBenchRules = [
  // Account takeover: a device the account never used, from abroad, at night, or with an unusual amount.
  'block if device_new_for_payer == 1 and ip_foreign == 1',
  'review if device_new_for_payer == 1 and region_new_for_payer == 1 and amount_zscore >= 1.5',
  'review if device_new_for_payer == 1 and hour_of_day < 6',
  'review if device_age_days < 1 and amount_fen >= 50000',
  // Card testing: bursts of tiny payments, repeated declines, a card bound minutes ago.
  'block if payer_txn_count_1h >= 5 and amount_fen <= 500',
  'review if device_txn_count_1h >= 8 and amount_fen <= 500',
  'review if payer_failures_1h >= 2',
  'review if instrument_age_days < 0.05 and amount_fen >= 20000',
  // Device farms: many (young) accounts on one device.
  'review if device_payers_24h >= 4',
  'review if device_payers_24h >= 3 and account_age_days < 30',
  // Promotion abuse: promotions redeemed from shared devices.
  'block if has_promotion == 1 and device_payers_24h >= 3',
  // Mules: young accounts moving large amounts through quasi-cash and gambling merchants.
  'block if mcc_risk >= 0.9 and account_age_days < 60 and amount_fen >= 50000',
  // Refund abuse: refunds from payers who refund a lot.
  'review if is_refund == 1 and payer_refund_ratio >= 0.3 and payer_payments >= 3',
  'review if is_refund == 1 and payer_refunds_24h >= 1 and payer_refund_ratio >= 0.15',
] as const;

export const riskBenchRuleSchema: Record<string, 'number'> = Object.fromEntries(
  featureNames.map((name) => [name, 'number' as const]),
);

export interface WeightedRule {
  rule: CompiledRule;
  weight: number;
}

export function compileRiskBenchRules(): WeightedRule[] {
  return riskBenchRules.map((source) => {
    const rule = compileRule(source, riskBenchRuleSchema);
    return { rule, weight: rule.action === 'block' ? 2 : 1 };
  });
}
