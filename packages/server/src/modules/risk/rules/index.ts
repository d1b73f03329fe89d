/**
 * Merchant rules of the AI Fraud Shield, in the spirit of Stripe Radar rules:
 * `block if amount > 500000 and device_age_days < 1`, `allow if payer_id in @trusted_payers`.
 * The language is specified in docs/rules.md.
 *
 * Why hand-written: rules are typed by merchants, so errors must point at the exact character
 * (position, line, column, caret) and say something specific ("unknown attribute 'amout' at 9; did
 * you mean 'amount'?"). A tiny recursive-descent parser (lexer.ts + parser.ts, about 500 lines with
 * comments) does that directly, and compiler.ts turns the tree into closures: no eval, no parsing
 * per evaluation. A parser generator (peggy, nearley, chevrotain) would add a dependency and a build
 * step for a grammar this small, and its generic error messages would still need rewriting.
 *
 * Pipeline: source → Lexer (tokens, pulled on demand) → Parser (tree with offsets) → Compiler
 * (schema and type checks, closures) → CompiledRule.evaluate; evaluateRules folds a rule set.
 */
export {
  type AttributeType,
  type CompiledRule,
  compileRule,
  type RuleContext,
  type RuleList,
  type RuleLists,
  type RuleSchema,
  type RuleValue,
} from './compiler.ts';
export { RuleSyntaxError } from './errors.ts';
export { evaluateRules, type RuleDecision } from './evaluate.ts';
export { type RuleAction, rule_nesting_depth_max, rule_source_chars_max } from './parser.ts';
