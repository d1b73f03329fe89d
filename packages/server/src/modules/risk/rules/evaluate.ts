/**
 * Runs a merchant's rule set on one payment and folds the matches into one decision.
 */
import type { CompiledRule, RuleContext, RuleLists } from './compiler.ts';
import type { RuleAction } from './parser.ts';

export interface RuleDecision {
  /** `allow` if any allow rule matched, else `block` if any block rule matched, else `review`, else null. */
  action: RuleAction | null;
  /** Sources of every rule that matched, in the order the rules were given. */
  matched: string[];
}

/**
 * Evaluates every rule (no short-circuit, so `matched` is complete) and applies the precedence
 * allow > block > review: an allow rule is an allow-list entry and overrides any block or review.
 */
export function evaluateRules(
  rules: readonly CompiledRule[],
  ctx: RuleContext,
  lists?: RuleLists,
): RuleDecision {
  const matched: string[] = [];
  let allow = false;
  let block = false;
  let review = false;
  for (const rule of rules) {
    if (!rule.evaluate(ctx, lists)) continue;
    matched.push(rule.source);
    if (rule.action === 'allow') allow = true;
    else if (rule.action === 'block') block = true;
    else review = true;
  }
  return { action: allow ? 'allow' : block ? 'block' : review ? 'review' : null, matched };
}
