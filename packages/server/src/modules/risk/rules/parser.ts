/**
 * Recursive-descent parser: rule source → syntax tree with the source offset of every node. One
 * function per precedence level (see the grammar in docs/rules.md), one token of lookahead.
 */
import { RuleSyntaxError, suggest } from './errors.ts';
import { type Keyword, Lexer, type Punct, type Token } from './lexer.ts';

export type RuleAction = 'block' | 'review' | 'allow';
export type CompareOp = '==' | '!=' | '<' | '<=' | '>' | '>=';
export type ArithmeticOp = '+' | '-' | '*' | '/';

export interface ArithmeticStep {
  op: ArithmeticOp;
  operand: Expr;
  opPos: number;
}

export type ListExpr =
  | { kind: 'literal'; items: { value: number | string; pos: number }[]; pos: number }
  | { kind: 'named'; name: string; pos: number };

/** `pos` is where the node's text starts; `opPos` is where its operator is. */
export type Expr =
  | { kind: 'number'; value: number; pos: number }
  | { kind: 'string'; value: string; pos: number }
  | { kind: 'boolean'; value: boolean; pos: number }
  | { kind: 'attribute'; name: string; pos: number }
  | { kind: 'group'; inner: Expr; pos: number }
  | { kind: 'negate'; operand: Expr; pos: number }
  | { kind: 'not'; operand: Expr; pos: number }
  /** n-ary so that long `or` chains do not nest deeply. `opPos[i]` precedes `operands[i + 1]`. */
  | { kind: 'logical'; op: 'and' | 'or'; operands: Expr[]; opPos: number[]; pos: number }
  /** Left-associative chain of one precedence level, `first op operand op operand ...` (flat). */
  | { kind: 'arithmetic'; first: Expr; rest: ArithmeticStep[]; pos: number }
  | { kind: 'compare'; op: CompareOp; left: Expr; right: Expr; opPos: number; pos: number }
  | { kind: 'in'; negated: boolean; operand: Expr; list: ListExpr; opPos: number; pos: number }
  | { kind: 'call'; name: string; args: Expr[]; pos: number };

export interface RuleAst {
  action: RuleAction;
  condition: Expr;
}

/** Longest rule accepted: rules are merchant input, and this bounds parse time and tree depth. */
export const rule_source_chars_max = 10_000;
/** Deepest nesting of parentheses, brackets, `not` and unary minus (keeps recursion off the stack limit). */
export const rule_nesting_depth_max = 64;

const actions: ReadonlySet<string> = new Set<RuleAction>(['block', 'review', 'allow']);
const compareOps: ReadonlySet<string> = new Set<CompareOp>(['==', '!=', '<', '<=', '>', '>=']);

export function parseRule(source: string): RuleAst {
  return new Parser(source).rule();
}

class Parser {
  private readonly lexer: Lexer;
  private tok: Token;
  private depth = 0;

  constructor(private readonly src: string) {
    if (src.length > rule_source_chars_max) {
      throw new RuleSyntaxError(
        `rule is too long (${src.length} characters)`,
        rule_source_chars_max,
        src,
        `at most ${rule_source_chars_max} characters are allowed; put long lists in an @list`,
      );
    }
    this.lexer = new Lexer(src);
    this.tok = this.lexer.next();
  }

  private fail(reason: string, position: number, hint?: string): never {
    throw new RuleSyntaxError(reason, position, this.src, hint);
  }

  private advance(): Token {
    const tok = this.tok;
    this.tok = this.lexer.next();
    return tok;
  }

  private describe(tok: Token): string {
    if (tok.kind === 'eof') return 'end of input';
    const text = this.src.slice(tok.pos, tok.end);
    return `'${text.length > 24 ? `${text.slice(0, 21)}...` : text}'`;
  }

  private isKeyword(word: Keyword): boolean {
    return this.tok.kind === 'keyword' && this.tok.keyword === word;
  }

  private isPunct(punct: Punct): boolean {
    return this.tok.kind === 'punct' && this.tok.punct === punct;
  }

  private enter(pos: number): void {
    if (++this.depth > rule_nesting_depth_max) {
      this.fail(
        'expression is nested too deeply',
        pos,
        `at most ${rule_nesting_depth_max} levels are allowed`,
      );
    }
  }

  /** Expects the closer of an opener at `openPos`; at the end of input the opener is what is reported. */
  private close(closer: ')' | ']', openPos: number, expected: string): void {
    if (this.isPunct(closer)) {
      this.advance();
      return;
    }
    const opener = closer === ')' ? '(' : '[';
    if (this.tok.kind === 'eof')
      this.fail(`unclosed '${opener}'`, openPos, `expected '${closer}' before the end`);
    this.fail(`expected ${expected} but found ${this.describe(this.tok)}`, this.tok.pos);
  }

  rule(): RuleAst {
    const first = this.tok;
    if (first.kind !== 'ident' || first.quoted) {
      this.fail(
        `expected an action ('block', 'review' or 'allow') but found ${this.describe(first)}`,
        first.pos,
      );
    }
    const action = first.name.toLowerCase();
    if (!actions.has(action)) {
      const hint = suggest(action, actions);
      this.fail(`unknown action '${first.name}'`, first.pos, hint ?? "expected 'block', 'review' or 'allow'");
    }
    this.advance();
    if (!this.isKeyword('if')) this.fail(`expected 'if' but found ${this.describe(this.tok)}`, this.tok.pos);
    this.advance();
    const condition = this.or();
    if (this.tok.kind !== 'eof') {
      this.fail(
        `unexpected ${this.describe(this.tok)}`,
        this.tok.pos,
        "expected 'and', 'or' or the end of the rule",
      );
    }
    return { action: action as RuleAction, condition };
  }

  private or(): Expr {
    return this.logical('or', () => this.and());
  }

  private and(): Expr {
    return this.logical('and', () => this.not());
  }

  private logical(op: 'and' | 'or', operand: () => Expr): Expr {
    const first = operand();
    if (!this.isKeyword(op)) return first;
    const operands = [first];
    const opPos: number[] = [];
    while (this.isKeyword(op)) {
      opPos.push(this.advance().pos);
      operands.push(operand());
    }
    return { kind: 'logical', op, operands, opPos, pos: first.pos };
  }

  private not(): Expr {
    if (!this.isKeyword('not')) return this.comparison();
    const pos = this.advance().pos;
    this.enter(pos);
    const operand = this.not();
    this.depth--;
    return { kind: 'not', operand, pos };
  }

  private comparison(): Expr {
    const left = this.additive();
    let node: Expr;
    const tok = this.tok;
    if (tok.kind === 'punct' && compareOps.has(tok.punct)) {
      this.advance();
      const right = this.additive();
      node = { kind: 'compare', op: tok.punct as CompareOp, left, right, opPos: tok.pos, pos: left.pos };
    } else if (tok.kind === 'keyword' && (tok.keyword === 'in' || tok.keyword === 'not')) {
      this.advance();
      const negated = tok.keyword === 'not';
      if (negated) {
        if (!this.isKeyword('in'))
          this.fail(`expected 'in' after 'not' but found ${this.describe(this.tok)}`, this.tok.pos);
        this.advance();
      }
      node = {
        kind: 'in',
        negated,
        operand: left,
        list: this.list(negated ? 'not in' : 'in'),
        opPos: tok.pos,
        pos: left.pos,
      };
    } else {
      return left;
    }
    const next = this.tok;
    if (
      (next.kind === 'punct' && compareOps.has(next.punct)) ||
      (next.kind === 'keyword' && next.keyword === 'in')
    ) {
      this.fail(
        `comparisons cannot be chained: unexpected ${this.describe(next)}`,
        next.pos,
        "combine them with 'and'",
      );
    }
    return node;
  }

  private list(after: string): ListExpr {
    const tok = this.tok;
    if (tok.kind === 'list') {
      this.advance();
      return { kind: 'named', name: tok.name, pos: tok.pos };
    }
    if (!this.isPunct('[')) {
      this.fail(
        `expected a list ('[...]' or '@name') after '${after}' but found ${this.describe(tok)}`,
        tok.pos,
      );
    }
    this.advance();
    this.enter(tok.pos);
    const items: { value: number | string; pos: number }[] = [];
    if (this.isPunct(']')) this.fail('empty list', tok.pos, 'a list needs at least one item');
    for (;;) {
      if (this.isPunct(',') || this.isPunct(']')) this.fail('empty list item', this.tok.pos);
      const item = this.tok;
      if (item.kind === 'eof') this.fail("unclosed '['", tok.pos, "expected ']' before the end");
      if (item.kind === 'number' || item.kind === 'string') {
        this.advance();
        items.push({ value: item.value, pos: item.pos });
      } else if (item.kind === 'punct' && item.punct === '-') {
        this.advance();
        const number = this.tok;
        if (number.kind !== 'number')
          this.fail(`expected a number after '-' but found ${this.describe(number)}`, number.pos);
        this.advance();
        items.push({ value: -number.value, pos: item.pos });
      } else {
        this.fail(`list items must be number or string literals, found ${this.describe(item)}`, item.pos);
      }
      if (!this.isPunct(',')) break;
      this.advance();
    }
    this.close(']', tok.pos, "',' or ']'");
    this.depth--;
    return { kind: 'literal', items, pos: tok.pos };
  }

  private additive(): Expr {
    return this.arithmetic(
      (p) => p === '+' || p === '-',
      () => this.multiplicative(),
    );
  }

  private multiplicative(): Expr {
    return this.arithmetic(
      (p) => p === '*' || p === '/',
      () => this.unary(),
    );
  }

  private arithmetic(isOp: (punct: Punct) => punct is ArithmeticOp, operand: () => Expr): Expr {
    const first = operand();
    const rest: ArithmeticStep[] = [];
    for (let tok = this.tok; tok.kind === 'punct' && isOp(tok.punct); tok = this.tok) {
      this.advance();
      rest.push({ op: tok.punct, operand: operand(), opPos: tok.pos });
    }
    return rest.length === 0 ? first : { kind: 'arithmetic', first, rest, pos: first.pos };
  }

  private unary(): Expr {
    if (!this.isPunct('-')) return this.primary();
    const pos = this.advance().pos;
    this.enter(pos);
    const operand = this.unary();
    this.depth--;
    return { kind: 'negate', operand, pos };
  }

  private primary(): Expr {
    const tok = this.tok;
    switch (tok.kind) {
      case 'number':
        this.advance();
        return { kind: 'number', value: tok.value, pos: tok.pos };
      case 'string':
        this.advance();
        return { kind: 'string', value: tok.value, pos: tok.pos };
      case 'keyword':
        if (tok.keyword === 'true' || tok.keyword === 'false') {
          this.advance();
          return { kind: 'boolean', value: tok.keyword === 'true', pos: tok.pos };
        }
        break;
      case 'ident':
        this.advance();
        if (!tok.quoted && this.isPunct('(')) return this.call(tok.name, tok.pos);
        return { kind: 'attribute', name: tok.name, pos: tok.pos };
      case 'punct':
        if (tok.punct === '(') {
          this.advance();
          this.enter(tok.pos);
          if (this.isPunct(')'))
            this.fail(`expected a value but found ${this.describe(this.tok)}`, this.tok.pos);
          const inner = this.or();
          this.close(')', tok.pos, "')'");
          this.depth--;
          return { kind: 'group', inner, pos: tok.pos };
        }
        break;
      case 'list':
        this.fail(`a list ${this.describe(tok)} can only follow 'in' or 'not in'`, tok.pos);
    }
    if (tok.kind === 'eof') this.fail('unexpected end of input', tok.pos, 'expected a value');
    return this.fail(`expected a value but found ${this.describe(tok)}`, tok.pos);
  }

  /** `name(arg, ...)`; the current token is the `(`. */
  private call(name: string, pos: number): Expr {
    const open = this.advance();
    this.enter(open.pos);
    const args: Expr[] = [];
    if (!this.isPunct(')')) {
      for (;;) {
        if (this.isPunct(',')) this.fail(`expected an argument but found ','`, this.tok.pos);
        args.push(this.or());
        if (!this.isPunct(',')) break;
        this.advance();
      }
    }
    this.close(')', open.pos, "',' or ')'");
    this.depth--;
    return { kind: 'call', name, args, pos };
  }
}
