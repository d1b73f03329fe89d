import { describe, expect, it } from 'vitest';
import { compileRule, type RuleSchema, RuleSyntaxError } from './index.ts';

const schema: RuleSchema = {
  amount: 'number',
  ip: 'string',
  ip_country: 'string',
  mcc: 'string',
  payer_id: 'string',
  hour_of_day: 'number',
  is_vpn: 'boolean',
};

function errorOf(source: string): RuleSyntaxError {
  try {
    compileRule(source, schema);
  } catch (error) {
    if (error instanceof RuleSyntaxError) return error;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(source)} not to compile`);
}

/** [source, position, line, column, fragments of the message] */
const cases: [string, number, number, number, string[]][] = [
  ['block if amount >', 17, 1, 18, ['unexpected end of input at 17', 'expected a value']],
  ['block amount > 5', 6, 1, 7, ["expected 'if' but found 'amount' at 6"]],
  ['deny if x > 1', 0, 1, 1, ["unknown action 'deny' at 0", "'block', 'review' or 'allow'"]],
  ['blok if amount > 1', 0, 1, 1, ["unknown action 'blok' at 0; did you mean 'block'?"]],
  ["block if amount > 'x'", 18, 1, 19, ['type mismatch: cannot compare number with string at 18']],
  ['block if amout > 1', 9, 1, 10, ["unknown attribute 'amout' at 9; did you mean 'amount'?"]],
  ['block if (amount > 1', 9, 1, 10, ["unclosed '(' at 9", "expected ')'"]],
  ['block if ip in 5', 15, 1, 16, ["expected a list ('[...]' or '@name') after 'in' but found '5' at 15"]],
  ["block if ip not in 'x'", 19, 1, 20, ["after 'not in' but found ''x''"]],
  ["block if ip_country == 'CN", 23, 1, 24, ['unterminated string at 23']],
  ['block if ip_country == "CN\'', 23, 1, 24, ['unterminated string at 23', 'close it with "']],
  [
    'block if amount > 1 1',
    20,
    1,
    21,
    ["unexpected '1' at 20", "expected 'and', 'or' or the end of the rule"],
  ],
  ['', 0, 1, 1, ["expected an action ('block', 'review' or 'allow') but found end of input at 0"]],
  ['   ', 3, 1, 4, ['but found end of input at 3']],
  ['if amount > 1', 0, 1, 1, ["expected an action ('block', 'review' or 'allow') but found 'if' at 0"]],
  ['block', 5, 1, 6, ["expected 'if' but found end of input at 5"]],
  ['block if', 8, 1, 9, ['unexpected end of input at 8']],
  ['block if amount > 1 and', 23, 1, 24, ['unexpected end of input at 23']],
  ['block if amount > and amount < 1', 18, 1, 19, ["expected a value but found 'and' at 18"]],
  ["block if ip in ['a',,'b']", 20, 1, 21, ['empty list item at 20']],
  ["block if ip in ['a',]", 20, 1, 21, ['empty list item at 20']],
  ['block if ip in []', 15, 1, 16, ['empty list at 15']],
  ["block if ip in ['a', 'b'", 15, 1, 16, ["unclosed '[' at 15"]],
  ["block if ip in ['a' 'b']", 20, 1, 21, ["expected ',' or ']' but found ''b'' at 20"]],
  ['block if ip in [ip]', 16, 1, 17, ['list items must be number or string literals']],
  ['block if amount = 1', 16, 1, 17, ["unexpected character '=' at 16; did you mean '=='?"]],
  ['block if amount > 1 &&  amount < 5', 20, 1, 21, ["unexpected character '&' at 20; use 'and'"]],
  ['block if amount > 1 $', 20, 1, 21, ["unexpected character '$' at 20"]],
  ['block if amount < 1 < 2', 20, 1, 21, ['comparisons cannot be chained', 'at 20']],
  ['block if ip not 5', 16, 1, 17, ["expected 'in' after 'not' but found '5' at 16"]],
  ['block if amount', 9, 1, 10, ['the condition must be boolean but is number at 9']],
  ['block if is_vpn and amount', 20, 1, 21, ["an operand of 'and' must be boolean but is number at 20"]],
  ['block if not ip', 13, 1, 14, ["the operand of 'not' must be boolean but is string at 13"]],
  ["block if ip_country > 'CN'", 9, 1, 10, ["'>' needs numbers but got string at 9"]],
  ['block if amount + ip > 1', 18, 1, 19, ["'+' needs numbers but got string at 18"]],
  ["review if -ip_country == 'x'", 11, 1, 12, ["unary '-' needs numbers but got string at 11"]],
  ['block if is_vpn == 1', 19, 1, 20, ['type mismatch: cannot compare boolean with number at 19']],
  [
    "block if mcc in ['6051', 7995]",
    25,
    1,
    26,
    ['type mismatch: cannot compare string with number list item'],
  ],
  ['block if is_vpn in [1]', 9, 1, 10, ["'in' needs a number or string on the left but got boolean at 9"]],
  ['block if amount > 5_', 19, 1, 20, ["numeric separator '_' must be between digits at 19"]],
  ['block if amount > 5__0', 19, 1, 20, ["numeric separator '_' must be between digits at 19"]],
  ['block if amount > 1.', 20, 1, 21, ['expected a digit after the decimal point']],
  ['block if amount > 12abc', 20, 1, 21, ["invalid character 'a' in number at 20"]],
  ['block if amount > 99999999999999999', 18, 1, 19, ['number is too large at 18']],
  ["block if payer_id == 'a\\qb'", 23, 1, 24, ["unknown escape '\\q' at 23"]],
  ['block if :amount > 1', 9, 1, 10, ["unterminated attribute ':amount' at 9; close it with ':'"]],
  ['block if : amount: > 1', 10, 1, 11, ["expected an attribute name after ':' at 10"]],
  ['block if ip in @', 16, 1, 17, ["expected a list name after '@' at 16"]],
  ['block if @blocked_ips', 9, 1, 10, ["a list '@blocked_ips' can only follow 'in' or 'not in' at 9"]],
  [
    "block if starts_wth(ip, 'x')",
    9,
    1,
    10,
    ["unknown function 'starts_wth' at 9; did you mean 'starts_with'?"],
  ],
  ['block if starts_with(ip)', 9, 1, 10, ["'starts_with' takes 2 arguments but got 1 at 9"]],
  ["block if starts_with(ip, 'x'", 20, 1, 21, ["unclosed '(' at 20"]],
  ['block if ()', 10, 1, 11, ["expected a value but found ')' at 10"]],
  ['block if （amount > 1)', 9, 1, 10, ["unexpected character '（' at 9; use the ASCII '('"]],
  // The first problem in reading order wins: the action, not the unterminated string.
  ["deny if amount > 'x", 0, 1, 1, ["unknown action 'deny'"]],
  // Line and column on multi-line rules.
  ['review if amount > 1\nand (hour_of_day < 6\n  or hour_of_day >= 23', 25, 2, 5, ["unclosed '(' at 25"]],
  ['review if amount > 1\r\n  and amout < 5', 28, 2, 7, ["unknown attribute 'amout' at 28"]],
  ['block if\n\n  amount >\n', 21, 4, 1, ['unexpected end of input at 21']],
];

describe('error positions', () => {
  for (const [source, position, line, column, fragments] of cases) {
    it(JSON.stringify(source), () => {
      const error = errorOf(source);
      expect({ position: error.position, line: error.line, column: error.column }).toEqual({
        position,
        line,
        column,
      });
      for (const fragment of fragments) expect(error.message).toContain(fragment);
      expect(error.message).toBe(
        `${error.reason} at ${position}${error.hint === undefined ? '' : `; ${error.hint}`}`,
      );
    });
  }
});

describe('pretty()', () => {
  it('shows the source line and a caret under the offending character', () => {
    expect(errorOf('block if amout > 1').pretty()).toBe(
      "unknown attribute 'amout' at 9; did you mean 'amount'?\nblock if amout > 1\n         ^",
    );
  });

  it('puts the caret just past the end for an unexpected end of input', () => {
    expect(errorOf('block if amount >').pretty().split('\n').slice(1)).toEqual([
      'block if amount >',
      '                 ^',
    ]);
  });

  it('shows only the offending line and keeps tabs so the caret lines up', () => {
    expect(errorOf('block if amount > 1\n\tand amout < 5').pretty().split('\n').slice(1)).toEqual([
      '\tand amout < 5',
      '\t    ^',
    ]);
  });
});

describe('suggestions', () => {
  it('suggest close attribute names, including case differences, and nothing for far ones', () => {
    expect(errorOf('block if ip_contry == 1').hint).toBe("did you mean 'ip_country'?");
    expect(errorOf('block if IP > 1').hint).toBe("did you mean 'ip'?");
    expect(errorOf('block if velocity > 1').hint).toBeUndefined();
  });
});
