/**
 * Property tests: random expression trees printed with the fewest parentheses the precedence rules
 * allow must evaluate exactly like the tree itself (so the parser gets precedence and associativity
 * right), and random junk must either compile or fail with a RuleSyntaxError inside the source.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileRule, type RuleContext, type RuleSchema, RuleSyntaxError } from './index.ts';

type Num =
  | { k: 'lit'; v: number }
  | { k: 'attr'; name: 'x' | 'y' | 'z' }
  | { k: 'neg'; e: Num }
  | { k: 'bin'; op: '+' | '-' | '*' | '/'; l: Num; r: Num };

type Bool =
  | { k: 'var'; name: 'a' | 'b' | 'c' | 'd' }
  | { k: 'gt'; e: Num; v: number }
  | { k: 'not'; e: Bool }
  | { k: 'and' | 'or'; l: Bool; r: Bool };

const schema: RuleSchema = {
  x: 'number',
  y: 'number',
  z: 'number',
  a: 'boolean',
  b: 'boolean',
  c: 'boolean',
  d: 'boolean',
};

const { num } = fc.letrec<{ num: Num }>((tie) => ({
  num: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.record({ k: fc.constant('lit' as const), v: fc.integer({ min: 0, max: 20 }) }),
    fc.record({
      k: fc.constant('attr' as const),
      name: fc.constantFrom('x' as const, 'y' as const, 'z' as const),
    }),
    fc.record({ k: fc.constant('neg' as const), e: tie('num') }),
    fc.record({
      k: fc.constant('bin' as const),
      op: fc.constantFrom('+' as const, '-' as const, '*' as const, '/' as const),
      l: tie('num'),
      r: tie('num'),
    }),
  ),
}));

const { bool } = fc.letrec<{ bool: Bool }>((tie) => ({
  bool: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.record({
      k: fc.constant('var' as const),
      name: fc.constantFrom('a' as const, 'b' as const, 'c' as const, 'd' as const),
    }),
    fc.record({ k: fc.constant('gt' as const), e: num, v: fc.integer({ min: -5, max: 5 }) }),
    fc.record({ k: fc.constant('not' as const), e: tie('bool') }),
    fc.record({ k: fc.constantFrom('and' as const, 'or' as const), l: tie('bool'), r: tie('bool') }),
  ),
}));

const numPrec = (e: Num): number =>
  e.k === 'bin' ? (e.op === '+' || e.op === '-' ? 1 : 2) : e.k === 'neg' ? 3 : 4;
const wrap = (text: string, needed: boolean): string => (needed ? `(${text})` : text);

function printNum(e: Num): string {
  switch (e.k) {
    case 'lit':
      return String(e.v);
    case 'attr':
      return e.name;
    case 'neg':
      return `-${wrap(printNum(e.e), numPrec(e.e) < 3)}`;
    case 'bin': {
      const p = numPrec(e);
      // Left-associative: a right operand of the same level needs parentheses.
      return `${wrap(printNum(e.l), numPrec(e.l) < p)} ${e.op} ${wrap(printNum(e.r), numPrec(e.r) <= p)}`;
    }
  }
}

/** The reference semantics: undefined for a missing value, division by zero and NaN. */
function evalNum(e: Num, ctx: RuleContext): number | undefined {
  switch (e.k) {
    case 'lit':
      return e.v;
    case 'attr': {
      const v = ctx[e.name];
      return typeof v === 'number' ? v : undefined;
    }
    case 'neg': {
      const v = evalNum(e.e, ctx);
      return v === undefined ? undefined : -v;
    }
    case 'bin': {
      const l = evalNum(e.l, ctx);
      const r = evalNum(e.r, ctx);
      if (l === undefined || r === undefined || (e.op === '/' && r === 0)) return undefined;
      const v = e.op === '+' ? l + r : e.op === '-' ? l - r : e.op === '*' ? l * r : l / r;
      return Number.isNaN(v) ? undefined : v;
    }
  }
}

const boolPrec = (e: Bool): number => (e.k === 'or' ? 1 : e.k === 'and' ? 2 : e.k === 'not' ? 3 : 4);

function printBool(e: Bool): string {
  switch (e.k) {
    case 'var':
      return e.name;
    case 'gt':
      return `${printNum(e.e)} > ${e.v < 0 ? `-${-e.v}` : e.v}`;
    case 'not':
      return `not ${wrap(printBool(e.e), boolPrec(e.e) < 3)}`;
    case 'and':
    case 'or': {
      const p = boolPrec(e);
      return `${wrap(printBool(e.l), boolPrec(e.l) < p)} ${e.k} ${wrap(printBool(e.r), boolPrec(e.r) <= p)}`;
    }
  }
}

function evalBool(e: Bool, ctx: RuleContext): boolean {
  switch (e.k) {
    case 'var':
      return ctx[e.name] === true;
    case 'gt': {
      const v = evalNum(e.e, ctx);
      return v !== undefined && v > e.v;
    }
    case 'not':
      return !evalBool(e.e, ctx);
    case 'and':
      return evalBool(e.l, ctx) && evalBool(e.r, ctx);
    case 'or':
      return evalBool(e.l, ctx) || evalBool(e.r, ctx);
  }
}

const numValue = fc.option(fc.integer({ min: -10, max: 10 }), { nil: undefined });
const boolValue = fc.option(fc.boolean(), { nil: undefined });
const context = fc.record({
  x: numValue,
  y: numValue,
  z: numValue,
  a: boolValue,
  b: boolValue,
  c: boolValue,
  d: boolValue,
});

/** `v` as a rule literal, when the language can spell it exactly (no exponent notation). */
function literal(v: number): string | undefined {
  const text = String(Math.abs(v));
  if (text.includes('e')) return undefined;
  return v < 0 ? `-${text}` : text;
}

describe('precedence, against a reference evaluator', () => {
  it('arithmetic with minimal parentheses computes exactly the reference value', () => {
    fc.assert(
      fc.property(num, context, (e, ctx) => {
        const source = printNum(e);
        const v = evalNum(e, ctx);
        if (v === undefined) {
          expect(compileRule(`review if ${source} == 0`, schema).evaluate(ctx)).toBe(false);
          expect(compileRule(`review if ${source} != 0`, schema).evaluate(ctx)).toBe(false);
          return;
        }
        const text = literal(v);
        if (text === undefined) return;
        expect(compileRule(`review if ${source} == ${text}`, schema).evaluate(ctx)).toBe(true);
        expect(compileRule(`review if ${source} != ${text}`, schema).evaluate(ctx)).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });

  it('arithmetic with minimal parentheses, compared with a threshold', () => {
    fc.assert(
      fc.property(
        num,
        fc.constantFrom('>', '<=', '==', '!='),
        fc.integer({ min: -3, max: 3 }),
        context,
        (e, op, t, ctx) => {
          const rule = compileRule(`review if ${printNum(e)} ${op} ${t < 0 ? `-${-t}` : t}`, schema);
          const v = evalNum(e, ctx);
          const expected =
            v !== undefined && (op === '>' ? v > t : op === '<=' ? v <= t : op === '==' ? v === t : v !== t);
          expect(rule.evaluate(ctx)).toBe(expected);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('and / or / not / comparisons with minimal parentheses', () => {
    fc.assert(
      fc.property(bool, context, (e, ctx) => {
        expect(compileRule(`block if ${printBool(e)}`, schema).evaluate(ctx)).toBe(evalBool(e, ctx));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('robustness', () => {
  const piece = fc.constantFrom(
    'block',
    'review',
    'allow',
    'if',
    'and',
    'or',
    'not',
    'in',
    'true',
    'false',
    'x',
    'a',
    ':x:',
    ':y',
    '@l',
    '@',
    '1',
    '2.5',
    '0',
    '1_0',
    '_',
    "'s'",
    '"t"',
    "'",
    '"',
    '\\',
    '(',
    ')',
    '[',
    ']',
    ',',
    '+',
    '-',
    '*',
    '/',
    '==',
    '!=',
    '<',
    '<=',
    '>',
    '>=',
    '=',
    '!',
    ' ',
    '\n',
    '$',
    '（',
    'starts_with',
    '.',
  );
  const junk = fc.array(piece, { maxLength: 24 }).map((parts) => parts.join(''));

  it('token soup compiles or fails with a RuleSyntaxError inside the source; evaluation never throws', () => {
    fc.assert(
      fc.property(junk, context, (source, ctx) => {
        let rule: ReturnType<typeof compileRule>;
        try {
          rule = compileRule(source, schema);
        } catch (error) {
          expect(error).toBeInstanceOf(RuleSyntaxError);
          const e = error as RuleSyntaxError;
          expect(e.position).toBeGreaterThanOrEqual(0);
          expect(e.position).toBeLessThanOrEqual(source.length);
          expect(e.message).toContain(` at ${e.position}`);
          expect(e.pretty().split('\n').at(-1)).toMatch(/^[ \t]*\^$/);
          return;
        }
        expect(typeof rule.evaluate(ctx, { l: [1, 's'] })).toBe('boolean');
      }),
      { numRuns: 5000 },
    );
  });
});
