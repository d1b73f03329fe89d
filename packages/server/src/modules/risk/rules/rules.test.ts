import { describe, expect, it } from 'vitest';
import {
  type CompiledRule,
  compileRule,
  evaluateRules,
  type RuleContext,
  type RuleLists,
  type RuleSchema,
  RuleSyntaxError,
  rule_source_chars_max,
} from './index.ts';

const schema: RuleSchema = {
  amount: 'number',
  device_age_days: 'number',
  ip_country: 'string',
  risk_score: 'number',
  payer_id: 'string',
  ip: 'string',
  device_id: 'string',
  hour_of_day: 'number',
  mcc: 'string',
  account_age_days: 'number',
  payer_txn_count_1h: 'number',
  is_vpn: 'boolean',
  card_bin: 'number',
};

const compile = (source: string): CompiledRule => compileRule(source, schema);
const holds = (source: string, ctx: RuleContext, lists?: RuleLists): boolean =>
  compile(source).evaluate(ctx, lists);

describe('the examples', () => {
  const lists: RuleLists = {
    trusted_payers: ['o-alice', 'o-bob'],
    blocked_ips: new Set(['203.0.113.9']),
    farm_devices: ['dev-farm-1'],
  };
  const cases: {
    source: string;
    action: string;
    attributes: string[];
    lists?: string[];
    yes: RuleContext;
    no: RuleContext;
  }[] = [
    {
      source: 'block if amount > 500000 and device_age_days < 1',
      action: 'block',
      attributes: ['amount', 'device_age_days'],
      yes: { amount: 500_001, device_age_days: 0 },
      no: { amount: 500_000, device_age_days: 0 },
    },
    {
      source: "review if ip_country != 'CN'",
      action: 'review',
      attributes: ['ip_country'],
      yes: { ip_country: 'US' },
      no: { ip_country: 'CN' },
    },
    {
      source: 'block if :risk_score: >= 90',
      action: 'block',
      attributes: ['risk_score'],
      yes: { risk_score: 90 },
      no: { risk_score: 89.9 },
    },
    {
      source: 'allow if payer_id in @trusted_payers',
      action: 'allow',
      attributes: ['payer_id'],
      lists: ['trusted_payers'],
      yes: { payer_id: 'o-bob' },
      no: { payer_id: 'o-mallory' },
    },
    {
      source: 'block if ip in @blocked_ips or device_id in @farm_devices',
      action: 'block',
      attributes: ['ip', 'device_id'],
      lists: ['blocked_ips', 'farm_devices'],
      yes: { ip: '198.51.100.1', device_id: 'dev-farm-1' },
      no: { ip: '198.51.100.1', device_id: 'dev-ok' },
    },
    {
      source: 'review if amount >= 100000 and (hour_of_day < 6 or hour_of_day >= 23)',
      action: 'review',
      attributes: ['amount', 'hour_of_day'],
      yes: { amount: 100_000, hour_of_day: 23 },
      no: { amount: 100_000, hour_of_day: 6 },
    },
    {
      source: "block if mcc in ['6051', '7995'] and account_age_days < 3",
      action: 'block',
      attributes: ['mcc', 'account_age_days'],
      yes: { mcc: '7995', account_age_days: 2 },
      no: { mcc: '5411', account_age_days: 2 },
    },
    {
      source: "review if not (ip_country == 'CN')",
      action: 'review',
      attributes: ['ip_country'],
      yes: { ip_country: 'HK' },
      no: { ip_country: 'CN' },
    },
    {
      source: 'block if payer_txn_count_1h > 20 and amount / 100 < 2',
      action: 'block',
      attributes: ['payer_txn_count_1h', 'amount'],
      yes: { payer_txn_count_1h: 21, amount: 199 },
      no: { payer_txn_count_1h: 21, amount: 200 },
    },
  ];

  for (const c of cases) {
    it(c.source, () => {
      const rule = compile(c.source);
      expect(rule.source).toBe(c.source);
      expect(rule.action).toBe(c.action);
      expect(rule.attributes).toEqual(c.attributes);
      expect(rule.lists).toEqual(c.lists ?? []);
      expect(rule.evaluate(c.yes, lists)).toBe(true);
      expect(rule.evaluate(c.no, lists)).toBe(false);
    });
  }

  it('the 500000 example is about the amount and the device age together', () => {
    const rule = compile('block if amount > 500000 and device_age_days < 1');
    expect(rule.evaluate({ amount: 900_000, device_age_days: 5 })).toBe(false);
    expect(rule.evaluate({ amount: 900_000, device_age_days: 0.5 })).toBe(true);
  });
});

describe('lexical details', () => {
  it('actions and keywords are case-insensitive; attribute names are not', () => {
    const rule = compile("BLOCK IF amount > 1 AND NOT (ip_country In ['CN']) Or False");
    expect(rule.action).toBe('block');
    expect(rule.evaluate({ amount: 2, ip_country: 'US' })).toBe(true);
    expect(rule.evaluate({ amount: 2, ip_country: 'CN' })).toBe(false);
    expect(() => compile('block if Amount > 1')).toThrow(
      "unknown attribute 'Amount' at 9; did you mean 'amount'?",
    );
  });

  it(':name: and bare names are the same attribute, listed once', () => {
    const rule = compile('block if :amount: > 10 and amount < 20');
    expect(rule.attributes).toEqual(['amount']);
    expect(rule.evaluate({ amount: 15 })).toBe(true);
    expect(rule.evaluate({ amount: 25 })).toBe(false);
  });

  it(':name: may spell a reserved word as an attribute', () => {
    const rule = compileRule('review if :in: and :not: > 2', { in: 'boolean', not: 'number' });
    expect(rule.attributes).toEqual(['in', 'not']);
    expect(rule.evaluate({ in: true, not: 3 })).toBe(true);
    expect(rule.evaluate({ in: false, not: 3 })).toBe(false);
  });

  it('action words are only special at the start', () => {
    const rule = compileRule('block if block > 1 and allow', { block: 'number', allow: 'boolean' });
    expect(rule.evaluate({ block: 2, allow: true })).toBe(true);
  });

  it('numbers: separators and decimals', () => {
    expect(holds('block if amount == 500_000', { amount: 500000 })).toBe(true);
    expect(holds('block if amount == 1_000.000_5', { amount: 1000.0005 })).toBe(true);
    expect(holds('block if risk_score > 0.5', { risk_score: 0.51 })).toBe(true);
    expect(holds('block if risk_score > 0.5', { risk_score: 0.5 })).toBe(false);
    expect(holds('block if amount == 007', { amount: 7 })).toBe(true);
  });

  it('strings: both quotes and escapes', () => {
    expect(holds('block if payer_id == "it\'s"', { payer_id: "it's" })).toBe(true);
    expect(holds("block if payer_id == 'it\\'s'", { payer_id: "it's" })).toBe(true);
    expect(holds('block if payer_id == \'say "hi"\'', { payer_id: 'say "hi"' })).toBe(true);
    expect(holds("block if payer_id == 'a\\\\b'", { payer_id: 'a\\b' })).toBe(true);
    expect(holds("block if payer_id == 'a\\\\b'", { payer_id: 'a\\\\b' })).toBe(false);
    expect(holds("block if payer_id == 'tab\\there\\n'", { payer_id: 'tab\there\n' })).toBe(true);
    expect(holds("block if payer_id == '支付宝'", { payer_id: '支付宝' })).toBe(true);
    expect(holds("block if payer_id == ''", { payer_id: '' })).toBe(true);
  });

  it('booleans, bare and compared', () => {
    expect(holds('block if is_vpn', { is_vpn: true })).toBe(true);
    expect(holds('block if is_vpn', { is_vpn: false })).toBe(false);
    expect(holds('block if is_vpn == false', { is_vpn: false })).toBe(true);
    expect(holds('block if is_vpn != true', { is_vpn: true })).toBe(false);
    expect(holds('block if true', {})).toBe(true);
    expect(holds('block if (amount > 1) == (risk_score > 1)', { amount: 2, risk_score: 2 })).toBe(true);
    expect(holds('block if (amount > 1) == (risk_score > 1)', { amount: 2, risk_score: 0 })).toBe(false);
  });

  it('whitespace includes newlines, tabs and the full-width space', () => {
    expect(holds('block\n\tif amount\u3000>\r\n1', { amount: 2 })).toBe(true);
  });
});

describe('logical precedence: not > and > or', () => {
  const s: RuleSchema = { a: 'boolean', b: 'boolean', c: 'boolean', n: 'number' };
  const all = [false, true].flatMap((a) =>
    [false, true].flatMap((b) => [false, true].map((c) => ({ a, b, c }))),
  );

  it('a or b and c == a or (b and c)', () => {
    const rule = compileRule('block if a or b and c', s);
    for (const v of all) expect(rule.evaluate(v), JSON.stringify(v)).toBe(v.a || (v.b && v.c));
  });

  it('a and b or c == (a and b) or c', () => {
    const rule = compileRule('block if a and b or c', s);
    for (const v of all) expect(rule.evaluate(v), JSON.stringify(v)).toBe((v.a && v.b) || v.c);
  });

  it('not a and b == (not a) and b; not binds tighter than or as well', () => {
    const rule = compileRule('block if not a and b', s);
    for (const v of all) expect(rule.evaluate(v), JSON.stringify(v)).toBe(!v.a && v.b);
    const rule2 = compileRule('block if not a or b', s);
    for (const v of all) expect(rule2.evaluate(v), JSON.stringify(v)).toBe(!v.a || v.b);
  });

  it('not applies to a whole comparison', () => {
    const rule = compileRule('block if not n > 5 and a', s);
    expect(rule.evaluate({ n: 6, a: true })).toBe(false);
    expect(rule.evaluate({ n: 4, a: true })).toBe(true);
  });

  it('not not, and parentheses override', () => {
    const rule = compileRule('block if not not a', s);
    expect(rule.evaluate({ a: true })).toBe(true);
    const rule2 = compileRule('block if (a or b) and c', s);
    for (const v of all) expect(rule2.evaluate(v), JSON.stringify(v)).toBe((v.a || v.b) && v.c);
  });

  it('long chains', () => {
    const rule = compileRule('block if a and b and c and not a or c or b or a', s);
    for (const v of all) {
      expect(rule.evaluate(v), JSON.stringify(v)).toBe((v.a && v.b && v.c && !v.a) || v.c || v.b || v.a);
    }
  });
});

describe('arithmetic', () => {
  const equals = (expression: string, expected: number, ctx: RuleContext = {}): void => {
    const rule = compile(`block if ${expression} == ${expected < 0 ? `-${-expected}` : expected}`);
    expect(rule.evaluate(ctx), `${expression} == ${expected}`).toBe(true);
    const off = compile(
      `block if ${expression} == ${expected + 1 < 0 ? `-${-(expected + 1)}` : expected + 1}`,
    );
    expect(off.evaluate(ctx), `${expression} != ${expected + 1}`).toBe(false);
  };

  it('* and / bind tighter than + and -, all left-associative', () => {
    equals('2 + 3 * 4', 14);
    equals('(2 + 3) * 4', 20);
    equals('10 - 4 - 3', 3);
    equals('10 - (4 - 3)', 9);
    equals('100 / 10 / 5', 2);
    equals('100 / (10 / 5)', 50);
    equals('2 * 3 + 4 * 5', 26);
    equals('20 - 6 / 2', 17);
    equals('amount / 100 * 3', 9, { amount: 300 });
  });

  it('unary minus', () => {
    equals('-2 * 3', -6);
    equals('- -2', 2);
    equals('2 - -3', 5);
    equals('-amount + 1', -4, { amount: 5 });
    equals('-(2 + 3)', -5);
  });

  it('arithmetic binds tighter than comparison', () => {
    expect(holds('block if amount + 1 > 2 * 3', { amount: 6 })).toBe(true);
    expect(holds('block if amount + 1 > 2 * 3', { amount: 5 })).toBe(false);
  });

  it('division by zero makes the comparison false and never throws', () => {
    const ctx = { amount: 100, device_age_days: 0 };
    for (const op of ['>', '>=', '<', '<=', '==', '!=']) {
      expect(holds(`block if amount / device_age_days ${op} 1`, ctx), op).toBe(false);
      expect(holds(`block if 1 ${op} amount / 0`, ctx), op).toBe(false);
    }
    expect(holds('block if (amount / 0) * 0 == 0', ctx)).toBe(false);
    expect(holds('block if amount / 0 in [1]', ctx)).toBe(false);
    expect(holds('block if amount / 0 not in [1]', ctx)).toBe(false);
    expect(holds('block if not (amount / 0 > 1)', ctx)).toBe(true);
    expect(holds('block if amount / device_age_days > 1', { amount: 100, device_age_days: 50 })).toBe(true);
    expect(holds('block if 0 / amount == 0', ctx)).toBe(true);
  });
});

describe('in and not in', () => {
  it('literal lists of strings and numbers', () => {
    expect(holds("block if mcc in ['6051', '7995']", { mcc: '6051' })).toBe(true);
    expect(holds("block if mcc in ['6051', '7995']", { mcc: '5411' })).toBe(false);
    expect(holds("block if mcc not in ['6051', '7995']", { mcc: '5411' })).toBe(true);
    expect(holds("block if mcc not in ['6051', '7995']", { mcc: '7995' })).toBe(false);
    expect(holds('block if card_bin in [622202, -1, 1.5]', { card_bin: 622202 })).toBe(true);
    expect(holds('block if card_bin in [622202, -1, 1.5]', { card_bin: -1 })).toBe(true);
    expect(holds('block if card_bin in [622202, -1, 1.5]', { card_bin: 1 })).toBe(false);
    expect(holds('block if amount * 2 in [10]', { amount: 5 })).toBe(true);
  });

  it('in binds tighter than not and and', () => {
    const rule = compile("block if not ip_country in ['CN'] and amount > 1");
    expect(rule.evaluate({ ip_country: 'US', amount: 2 })).toBe(true);
    expect(rule.evaluate({ ip_country: 'CN', amount: 2 })).toBe(false);
    expect(rule.evaluate({ ip_country: 'US', amount: 0 })).toBe(false);
  });

  for (const [kind, make] of [
    ['arrays', (xs: (string | number)[]) => xs],
    ['Sets', (xs: (string | number)[]) => new Set(xs)],
  ] as const) {
    it(`@lists given as ${kind}`, () => {
      const lists: RuleLists = {
        blocked_ips: make(['203.0.113.9', '198.51.100.7']),
        bins: make([622202, '622848']),
      };
      const inList = compile('block if ip in @blocked_ips');
      const notInList = compile('block if ip not in @blocked_ips');
      expect(inList.evaluate({ ip: '203.0.113.9' }, lists)).toBe(true);
      expect(inList.evaluate({ ip: '203.0.113.10' }, lists)).toBe(false);
      expect(notInList.evaluate({ ip: '203.0.113.10' }, lists)).toBe(true);
      expect(notInList.evaluate({ ip: '198.51.100.7' }, lists)).toBe(false);
      // Entries are compared by their string form.
      expect(holds('block if card_bin in @bins', { card_bin: 622202 }, lists)).toBe(true);
      expect(holds('block if card_bin in @bins', { card_bin: 622848 }, lists)).toBe(true);
      expect(holds('block if card_bin in @bins', { card_bin: 622203 }, lists)).toBe(false);
      expect(holds('block if payer_id in @bins', { payer_id: '622202' }, lists)).toBe(true);
      expect(holds('block if payer_id in @bins', { payer_id: '0622202' }, lists)).toBe(false);
    });
  }

  it('an unknown @list is empty', () => {
    expect(holds('block if ip in @nope', { ip: '1.2.3.4' }, {})).toBe(false);
    expect(holds('block if ip in @nope', { ip: '1.2.3.4' })).toBe(false);
    expect(holds('block if ip not in @nope', { ip: '1.2.3.4' }, {})).toBe(true);
    expect(holds('block if ip in @constructor or ip in @toString', { ip: '1.2.3.4' }, {})).toBe(false);
    const bogus = { weird: 'not a list' } as unknown as RuleLists;
    expect(holds('block if ip in @weird', { ip: 'not a list' }, bogus)).toBe(false);
  });

  it('a missing attribute is in no list and not-in no list', () => {
    const lists: RuleLists = { blocked_ips: ['1.2.3.4'] };
    expect(holds('block if ip in @blocked_ips', {}, lists)).toBe(false);
    expect(holds('block if ip not in @blocked_ips', {}, lists)).toBe(false);
    expect(holds("block if ip not in ['1.2.3.4']", {}, lists)).toBe(false);
  });
});

describe('missing and ill-typed values', () => {
  it('every comparison with a missing attribute is false', () => {
    for (const op of ['>', '>=', '<', '<=', '==', '!=']) {
      expect(holds(`block if amount ${op} 1`, {}), op).toBe(false);
      expect(holds(`block if 1 ${op} amount`, {}), op).toBe(false);
      expect(holds(`block if amount + 0 ${op} 1`, { amount: undefined }), op).toBe(false);
    }
    expect(holds("block if ip_country != 'CN'", {})).toBe(false);
    expect(holds('block if is_vpn', {})).toBe(false);
    expect(holds('block if is_vpn == false', {})).toBe(false);
  });

  it('not negates the false of a missing comparison (documented)', () => {
    expect(holds("block if not (ip_country == 'CN')", {})).toBe(true);
    expect(holds('block if not is_vpn', {})).toBe(true);
  });

  it('a value of the wrong runtime type, or NaN, counts as missing', () => {
    const ctx = {
      amount: '500' as unknown as number,
      ip_country: 7 as unknown as string,
      risk_score: Number.NaN,
    };
    expect(holds('block if amount > 1', ctx)).toBe(false);
    expect(holds("block if ip_country != 'CN'", ctx)).toBe(false);
    expect(holds('block if risk_score != 1', ctx)).toBe(false);
    expect(holds('block if is_vpn', { is_vpn: 1 as unknown as boolean })).toBe(false);
  });

  it('attributes named like Object.prototype members are ordinary unknown attributes', () => {
    expect(() => compile('block if constructor > 1')).toThrow(RuleSyntaxError);
    const rule = compileRule('block if toString == 1', { toString: 'number' as const });
    expect(rule.evaluate({})).toBe(false);
    expect(rule.evaluate({ toString: 1 } as RuleContext)).toBe(true);
  });
});

describe('string helpers', () => {
  it('starts_with, ends_with, contains', () => {
    expect(holds("block if starts_with(ip, '203.0.')", { ip: '203.0.113.9' })).toBe(true);
    expect(holds("block if starts_with(ip, '203.0.')", { ip: '198.51.100.1' })).toBe(false);
    expect(holds("block if ends_with(payer_id, '_test')", { payer_id: 'o_test' })).toBe(true);
    expect(holds("block if contains(device_id, 'emu')", { device_id: 'android-emulator' })).toBe(true);
    expect(holds("block if not starts_with(ip, '10.') and amount > 1", { ip: '10.0.0.1', amount: 5 })).toBe(
      false,
    );
    expect(holds("block if starts_with(ip, '203.0.')", {})).toBe(false);
  });
});

describe('evaluateRules', () => {
  const rules = [
    'review if amount >= 100000',
    'block if ip in @blocked_ips',
    'allow if payer_id in @trusted_payers',
    'block if risk_score >= 90',
  ].map(compile);
  const lists: RuleLists = { blocked_ips: new Set(['203.0.113.9']), trusted_payers: ['o-vip'] };

  it('allow beats block beats review; matched lists every match in rule order', () => {
    expect(evaluateRules(rules, { amount: 1, ip: '1.1.1.1' }, lists)).toEqual({ action: null, matched: [] });
    expect(evaluateRules(rules, { amount: 100_000 }, lists)).toEqual({
      action: 'review',
      matched: ['review if amount >= 100000'],
    });
    expect(evaluateRules(rules, { amount: 100_000, risk_score: 95, ip: '203.0.113.9' }, lists)).toEqual({
      action: 'block',
      matched: ['review if amount >= 100000', 'block if ip in @blocked_ips', 'block if risk_score >= 90'],
    });
    expect(evaluateRules(rules, { amount: 100_000, risk_score: 95, payer_id: 'o-vip' }, lists)).toEqual({
      action: 'allow',
      matched: [
        'review if amount >= 100000',
        'allow if payer_id in @trusted_payers',
        'block if risk_score >= 90',
      ],
    });
  });

  it('precedence does not depend on rule order', () => {
    const reversed = [...rules].reverse();
    expect(evaluateRules(reversed, { amount: 100_000, risk_score: 95 }, lists).action).toBe('block');
    expect(evaluateRules(reversed, { risk_score: 95, payer_id: 'o-vip' }, lists).action).toBe('allow');
  });

  it('an empty rule set decides nothing', () => {
    expect(evaluateRules([], { amount: 1 })).toEqual({ action: null, matched: [] });
  });
});

describe('compiled rules', () => {
  it('are frozen and reusable', () => {
    const rule = compile('block if amount > 1');
    expect(Object.isFrozen(rule)).toBe(true);
    for (let i = 0; i < 3; i++) expect(rule.evaluate({ amount: i })).toBe(i > 1);
  });

  it('report errors as RuleSyntaxError with line and column on multi-line rules', () => {
    const source = 'block if amount > 1\n  and ip_countyr == "CN"';
    try {
      compile(source);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(RuleSyntaxError);
      expect(error).toBeInstanceOf(Error);
      const e = error as RuleSyntaxError;
      expect(e.name).toBe('RuleSyntaxError');
      expect(e.position).toBe(26);
      expect(e.line).toBe(2);
      expect(e.column).toBe(7);
      expect(e.message).toBe("unknown attribute 'ip_countyr' at 26; did you mean 'ip_country'?");
      expect(e.pretty()).toBe(`${e.message}\n  and ip_countyr == "CN"\n      ^`);
    }
  });

  it('reject over-long rules and deep nesting with RuleSyntaxError, not a stack overflow', () => {
    expect(() => compile(`block if amount > ${'1'.repeat(rule_source_chars_max)}`)).toThrow(
      /rule is too long/,
    );
    expect(() => compile(`block if ${'('.repeat(2000)}amount > 1${')'.repeat(2000)}`)).toThrow(
      /nested too deeply at 73/,
    );
    expect(() => compile(`block if ${'not '.repeat(100)}is_vpn`)).toThrow(/nested too deeply/);
    expect(() => compile(`block if ${'-'.repeat(100)}amount > 1`)).toThrow(/nested too deeply/);
  });

  it('accept long flat chains up to the length limit', () => {
    const clauses = Array.from({ length: 500 }, (_, i) => `amount == ${i}`).join(' or ');
    const rule = compile(`block if ${clauses}`);
    expect(rule.evaluate({ amount: 499 })).toBe(true);
    expect(rule.evaluate({ amount: 500 })).toBe(false);
    const sum = `block if ${Array.from({ length: 4900 }, () => '1').join('+')} == 4900`;
    expect(sum.length).toBeLessThanOrEqual(rule_source_chars_max);
    expect(compile(sum).evaluate({})).toBe(true);
  });
});
