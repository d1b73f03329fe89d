/**
 * Type-checks a parsed rule against the attribute schema and compiles it to a tree of closures:
 * evaluation never re-parses, never uses eval/new Function, and never throws. Every value closure
 * returns `undefined` for "no value" (attribute missing or of the wrong runtime type, division by
 * zero, NaN), and every comparison, membership test and string helper with a missing operand is
 * false. `and`/`or`/`not` are plain two-valued logic over those results.
 */
import { RuleSyntaxError, suggest } from './errors.ts';
import {
  type ArithmeticOp,
  type CompareOp,
  type Expr,
  type ListExpr,
  parseRule,
  type RuleAction,
} from './parser.ts';

export type AttributeType = 'number' | 'string' | 'boolean';
/** Attribute name → type. Every attribute a rule uses must be declared here. */
export type RuleSchema = Readonly<Record<string, AttributeType>>;
export type RuleValue = number | string | boolean | undefined;
/** The facts about one payment the rules look at, e.g. `{ amount: 500000, ip_country: 'CN' }`. */
export type RuleContext = Readonly<Record<string, RuleValue>>;
/** A named list's entries. Pass a Set for large lists: arrays are scanned linearly. */
export type RuleList = ReadonlySet<string | number> | readonly (string | number)[];
/** Named lists by name without the `@`, e.g. `{ blocked_ips: new Set(['203.0.113.9']) }`. */
export type RuleLists = Readonly<Record<string, RuleList>>;

export interface CompiledRule {
  /** The rule text as given to compileRule. */
  readonly source: string;
  readonly action: RuleAction;
  /** Attributes the rule reads, in order of first use, without duplicates. */
  readonly attributes: string[];
  /** Named lists the rule reads (without the `@`), in order of first use, without duplicates. */
  readonly lists: string[];
  /** Whether the condition holds. Never throws. An @list missing from `lists` is empty. */
  evaluate(ctx: RuleContext, lists?: RuleLists): boolean;
}

type Fn<T> = (ctx: RuleContext, lists: RuleLists | undefined) => T;

type Typed =
  | { type: 'number'; fn: Fn<number | undefined> }
  | { type: 'string'; fn: Fn<string | undefined> }
  /** `total`: never returns undefined (everything boolean except a boolean attribute). */
  | { type: 'boolean'; fn: Fn<boolean | undefined>; total: boolean };

const attributeTypes: ReadonlySet<string> = new Set<AttributeType>(['number', 'string', 'boolean']);

/** String helpers: `name(text, fragment)`, false when either argument is missing. */
const functions: Readonly<Record<string, (text: string, fragment: string) => boolean>> = {
  starts_with: (text, fragment) => text.startsWith(fragment),
  ends_with: (text, fragment) => text.endsWith(fragment),
  contains: (text, fragment) => text.includes(fragment),
};

/**
 * Parses and type-checks `source` against `schema` and compiles it.
 * @throws RuleSyntaxError with the exact position of the first problem.
 */
export function compileRule(source: string, schema: RuleSchema): CompiledRule {
  const ast = parseRule(source);
  const compiler = new Compiler(source, schema);
  const fn = compiler.condition(ast.condition, 'the condition');
  const attributes = [...compiler.attributes];
  const lists = [...compiler.lists];
  return Object.freeze({
    source,
    action: ast.action,
    attributes,
    lists,
    evaluate: (ctx: RuleContext, namedLists?: RuleLists): boolean => fn(ctx, namedLists),
  });
}

class Compiler {
  readonly attributes = new Set<string>();
  readonly lists = new Set<string>();

  constructor(
    private readonly src: string,
    private readonly schema: RuleSchema,
  ) {}

  private fail(reason: string, position: number, hint?: string): never {
    throw new RuleSyntaxError(reason, position, this.src, hint);
  }

  /** Compiles a boolean expression to a closure that returns exactly true or false. */
  condition(expr: Expr, what: string): Fn<boolean> {
    const typed = this.expr(expr);
    if (typed.type !== 'boolean') this.fail(`${what} must be boolean but is ${typed.type}`, expr.pos);
    if (typed.total) return typed.fn as Fn<boolean>;
    const fn = typed.fn;
    return (c, l) => fn(c, l) === true;
  }

  private number(expr: Expr, what: string): Fn<number | undefined> {
    const typed = this.expr(expr);
    if (typed.type !== 'number') this.fail(`${what} needs numbers but got ${typed.type}`, expr.pos);
    return typed.fn;
  }

  private expr(expr: Expr): Typed {
    switch (expr.kind) {
      case 'number': {
        const value = expr.value;
        return { type: 'number', fn: () => value };
      }
      case 'string': {
        const value = expr.value;
        return { type: 'string', fn: () => value };
      }
      case 'boolean': {
        const value = expr.value;
        return { type: 'boolean', fn: () => value, total: true };
      }
      case 'attribute':
        return this.attribute(expr.name, expr.pos);
      case 'group':
        return this.expr(expr.inner);
      case 'negate': {
        const operand = this.number(expr.operand, "unary '-'");
        return { type: 'number', fn: (c, l) => negate(operand(c, l)) };
      }
      case 'not': {
        const operand = this.condition(expr.operand, "the operand of 'not'");
        return { type: 'boolean', fn: (c, l) => !operand(c, l), total: true };
      }
      case 'logical': {
        const operands = expr.operands.map((operand) =>
          this.condition(operand, `an operand of '${expr.op}'`),
        );
        return { type: 'boolean', fn: expr.op === 'and' ? all(operands) : any(operands), total: true };
      }
      case 'arithmetic': {
        const first = this.number(expr.first, `'${expr.rest[0]!.op}'`);
        const steps = expr.rest.map((step) => ({
          op: step.op,
          fn: this.number(step.operand, `'${step.op}'`),
        }));
        return { type: 'number', fn: arithmetic(first, steps) };
      }
      case 'compare':
        return { type: 'boolean', fn: this.compare(expr.op, expr.left, expr.right), total: true };
      case 'in':
        return { type: 'boolean', fn: this.membership(expr.operand, expr.list, expr.negated), total: true };
      case 'call':
        return { type: 'boolean', fn: this.call(expr.name, expr.args, expr.pos), total: true };
    }
  }

  private attribute(name: string, pos: number): Typed {
    if (!Object.hasOwn(this.schema, name)) {
      this.fail(`unknown attribute '${name}'`, pos, suggest(name, Object.keys(this.schema)));
    }
    const type = this.schema[name];
    if (type === undefined || !attributeTypes.has(type)) {
      throw new TypeError(
        `schema type of '${name}' must be 'number', 'string' or 'boolean', not ${String(type)}`,
      );
    }
    this.attributes.add(name);
    switch (type) {
      case 'number':
        return {
          type,
          fn: (c) => {
            const v = c[name];
            return typeof v === 'number' && !Number.isNaN(v) ? v : undefined; // NaN would make `!=` true
          },
        };
      case 'string':
        return {
          type,
          fn: (c) => {
            const v = c[name];
            return typeof v === 'string' ? v : undefined;
          },
        };
      case 'boolean':
        return {
          type,
          fn: (c) => {
            const v = c[name];
            return typeof v === 'boolean' ? v : undefined;
          },
          total: false,
        };
    }
  }

  private compare(op: CompareOp, leftExpr: Expr, rightExpr: Expr): Fn<boolean> {
    const left = this.expr(leftExpr);
    if (op !== '==' && op !== '!=' && left.type !== 'number') {
      this.fail(`'${op}' needs numbers but got ${left.type}`, leftExpr.pos);
    }
    const right = this.expr(rightExpr);
    if (right.type !== left.type) {
      this.fail(`type mismatch: cannot compare ${left.type} with ${right.type}`, rightExpr.pos);
    }
    const a = left.fn as Fn<number | undefined>;
    const b = right.fn as Fn<number | undefined>;
    switch (op) {
      case '==':
        return (c, l) => {
          const x = a(c, l);
          if (x === undefined) return false;
          const y = b(c, l);
          return y !== undefined && x === y;
        };
      case '!=':
        return (c, l) => {
          const x = a(c, l);
          if (x === undefined) return false;
          const y = b(c, l);
          return y !== undefined && x !== y;
        };
      case '<':
        return (c, l) => {
          const x = a(c, l);
          if (x === undefined) return false;
          const y = b(c, l);
          return y !== undefined && x < y;
        };
      case '<=':
        return (c, l) => {
          const x = a(c, l);
          if (x === undefined) return false;
          const y = b(c, l);
          return y !== undefined && x <= y;
        };
      case '>':
        return (c, l) => {
          const x = a(c, l);
          if (x === undefined) return false;
          const y = b(c, l);
          return y !== undefined && x > y;
        };
      case '>=':
        return (c, l) => {
          const x = a(c, l);
          if (x === undefined) return false;
          const y = b(c, l);
          return y !== undefined && x >= y;
        };
    }
  }

  private membership(operandExpr: Expr, list: ListExpr, negated: boolean): Fn<boolean> {
    const operand = this.expr(operandExpr);
    const keyword = negated ? 'not in' : 'in';
    if (operand.type === 'boolean') {
      this.fail(`'${keyword}' needs a number or string on the left but got boolean`, operandExpr.pos);
    }
    const value = operand.fn;
    if (list.kind === 'named') {
      const name = list.name;
      this.lists.add(name);
      return (c, l) => {
        const x = value(c, l);
        return (
          x !== undefined &&
          isMember(l !== undefined && Object.hasOwn(l, name) ? l[name] : undefined, x) !== negated
        );
      };
    }
    for (const item of list.items) {
      if (typeof item.value !== operand.type) {
        this.fail(
          `type mismatch: cannot compare ${operand.type} with ${typeof item.value} list item`,
          item.pos,
        );
      }
    }
    const items: ReadonlySet<number | string> = new Set(list.items.map((item) => item.value));
    return (c, l) => {
      const x = value(c, l);
      return x !== undefined && items.has(x) !== negated;
    };
  }

  private call(name: string, args: Expr[], pos: number): Fn<boolean> {
    if (!Object.hasOwn(functions, name)) {
      const names = Object.keys(functions);
      this.fail(`unknown function '${name}'`, pos, suggest(name, names) ?? `available: ${names.join(', ')}`);
    }
    const impl = functions[name]!;
    if (args.length !== 2) this.fail(`'${name}' takes 2 arguments but got ${args.length}`, pos);
    const [text, fragment] = args.map((arg, i) => {
      const typed = this.expr(arg);
      if (typed.type !== 'string')
        this.fail(`argument ${i + 1} of '${name}' must be string but is ${typed.type}`, arg.pos);
      return typed.fn;
    }) as [Fn<string | undefined>, Fn<string | undefined>];
    return (c, l) => {
      const x = text(c, l);
      if (x === undefined) return false;
      const y = fragment(c, l);
      return y !== undefined && impl(x, y);
    };
  }
}

function negate(x: number | undefined): number | undefined {
  return x === undefined ? undefined : -x;
}

/** One arithmetic step; x / 0 and NaN results (e.g. Infinity - Infinity) are no value. */
function apply(op: ArithmeticOp, x: number, y: number): number | undefined {
  let r: number;
  switch (op) {
    case '+':
      r = x + y;
      break;
    case '-':
      r = x - y;
      break;
    case '*':
      r = x * y;
      break;
    case '/':
      if (y === 0) return undefined;
      r = x / y;
      break;
  }
  return Number.isNaN(r) ? undefined : r;
}

/**
 * A left-associative chain with "no value" propagation. One step (the usual case) is one closure;
 * longer chains are a loop, so a rule like `1 + 1 + ... + 1` cannot nest closures deeply.
 */
function arithmetic(
  first: Fn<number | undefined>,
  steps: { op: ArithmeticOp; fn: Fn<number | undefined> }[],
): Fn<number | undefined> {
  if (steps.length === 1) {
    const { op, fn: second } = steps[0]!;
    return (c, l) => {
      const x = first(c, l);
      if (x === undefined) return undefined;
      const y = second(c, l);
      return y === undefined ? undefined : apply(op, x, y);
    };
  }
  const ops = steps.map((step) => step.op);
  const fns = steps.map((step) => step.fn);
  return (c, l) => {
    let x = first(c, l);
    for (let i = 0; i < fns.length && x !== undefined; i++) {
      const y = fns[i]!(c, l);
      x = y === undefined ? undefined : apply(ops[i]!, x, y);
    }
    return x;
  };
}

function all(operands: Fn<boolean>[]): Fn<boolean> {
  if (operands.length === 2) {
    const [a, b] = operands as [Fn<boolean>, Fn<boolean>];
    return (c, l) => a(c, l) && b(c, l);
  }
  return (c, l) => {
    for (const operand of operands) if (!operand(c, l)) return false;
    return true;
  };
}

function any(operands: Fn<boolean>[]): Fn<boolean> {
  if (operands.length === 2) {
    const [a, b] = operands as [Fn<boolean>, Fn<boolean>];
    return (c, l) => a(c, l) || b(c, l);
  }
  return (c, l) => {
    for (const operand of operands) if (operand(c, l)) return true;
    return false;
  };
}

/**
 * Named-list membership, comparing string forms: the number 6051 matches the entry '6051' and the
 * string '6051' matches the entry 6051. Anything that is not an array or a Set-like is empty.
 */
function isMember(list: unknown, value: number | string): boolean {
  if (Array.isArray(list)) {
    if (list.includes(value)) return true;
    const other = otherForm(value);
    return other !== undefined && list.includes(other);
  }
  if (typeof list === 'object' && list !== null && typeof (list as { has?: unknown }).has === 'function') {
    const set = list as ReadonlySet<unknown>;
    if (set.has(value)) return true;
    const other = otherForm(value);
    return other !== undefined && set.has(other);
  }
  return false;
}

/** The same value as the other primitive type, when it has one: 6051 ↔ '6051' (but not '06051'). */
function otherForm(value: number | string): number | string | undefined {
  if (typeof value === 'number') return String(value);
  const n = Number(value);
  return String(n) === value ? n : undefined;
}
