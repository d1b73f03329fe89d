/**
 * Every price of Zhifu in one place (DESIGN.md "Billing", docs/billing.md). Amounts are integer fen;
 * the processing fee rate and every rounding rule live in lib/money.ts.
 */
import { conversation_tiers_max, conversation_unit_price_fen_max } from '../../lib/limits.ts';
import { discounted, processing_fee_rate } from '../../lib/money.ts';

export { processing_fee_rate };

/**
 * What is metered: one Smart Checkout query, one Fraud Shield assessment (single or in a batch), one
 * conversation-month, and LLM gateway traffic in units of 10,000 tokens (started units, per call).
 */
export type UsageKind = 'checkout' | 'risk' | 'risk_batch' | 'conversation' | 'llm';
export const usage_kinds: readonly UsageKind[] = ['checkout', 'risk', 'risk_batch', 'conversation', 'llm'];

/**
 * The LLM gateway's own fee (docs/llm-gateway.md "Billing"): 0.01 CNY per started 10,000 tokens
 * (prompt + completion) of each successful call. The provider's own price is the operator's cost,
 * shown per call in the request log and counted against key budgets; it is not resold here.
 */
export const llm_tokens_per_unit = 10_000;
export function llmUnits(total_tokens: number): number {
  return Math.max(1, Math.ceil(total_tokens / llm_tokens_per_unit));
}

/** The batch endpoint is 40% cheaper than single assessments (DESIGN.md "AI Fraud Shield"). */
export const risk_batch_percent_off = 40;

/** Fixed unit prices per call: Smart Checkout 0.01 CNY, Fraud Shield 0.05 CNY, in batch 0.03 CNY. */
export const unit_price_fen = {
  checkout: 1,
  risk: 5,
  risk_batch: discounted(5, risk_batch_percent_off),
  llm: 1,
} as const satisfies Record<Exclude<UsageKind, 'conversation'>, number>;

export const usage_descriptions: Record<UsageKind, string> = {
  checkout: 'Smart Checkout query',
  risk: 'Fraud Shield assessment',
  risk_batch: 'Fraud Shield assessment in a batch (40% off)',
  conversation: 'Conversation (monthly volume tier)',
  llm: 'LLM gateway tokens (per started 10,000 per call)',
};

/**
 * A conversation tier: conversations numbered up to `up_to` in a month (1-based, counted per
 * merchant; null = no upper bound) cost `unit_price_fen` each.
 */
export interface ConversationTier {
  up_to: number | null;
  unit_price_fen: number;
}

/** Defaults: the first 1,000 conversations of a month 0.10 CNY each, the next 9,000 0.08, beyond 0.05. */
export const default_conversation_tiers: readonly ConversationTier[] = [
  { up_to: 1_000, unit_price_fen: 10 },
  { up_to: 10_000, unit_price_fen: 8 },
  { up_to: null, unit_price_fen: 5 },
];

/** The price of the n-th conversation of a month (n ≥ 1) under `tiers`. */
export function conversationUnitPrice(n: number, tiers: readonly ConversationTier[]): number {
  for (const tier of tiers) if (tier.up_to === null || n <= tier.up_to) return tier.unit_price_fen;
  // validateTiers guarantees an open last tier; keep the last price if a stored table lacks one.
  return tiers[tiers.length - 1]?.unit_price_fen ?? 0;
}

/** Why a tier table is not acceptable, or undefined when it is. */
export function tiersProblem(tiers: readonly ConversationTier[]): string | undefined {
  if (tiers.length === 0 || tiers.length > conversation_tiers_max)
    return `give 1 to ${conversation_tiers_max} tiers`;
  let previous = 0;
  for (const [i, t] of tiers.entries()) {
    if (!Number.isSafeInteger(t.unit_price_fen) || t.unit_price_fen < 0)
      return `tier ${i}: unit_price_fen must be a non-negative integer`;
    if (t.unit_price_fen > conversation_unit_price_fen_max)
      return `tier ${i}: unit_price_fen must be at most ${conversation_unit_price_fen_max}`;
    const last = i === tiers.length - 1;
    if (last !== (t.up_to === null)) return 'only the last tier has up_to null (no upper bound)';
    if (t.up_to !== null) {
      if (!Number.isSafeInteger(t.up_to) || t.up_to <= previous)
        return `tier ${i}: up_to must be an integer above the previous tier's`;
      previous = t.up_to;
    }
  }
  return undefined;
}
