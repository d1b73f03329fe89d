/**
 * Tokenizer of the rules language. Pulled one token at a time by the parser, so the first error in
 * reading order is the one reported (an unknown action is reported before a bad string later on).
 */
import { RuleSyntaxError } from './errors.ts';

export type Punct =
  | '('
  | ')'
  | '['
  | ']'
  | ','
  | '+'
  | '-'
  | '*'
  | '/'
  | '=='
  | '!='
  | '<'
  | '<='
  | '>'
  | '>=';
/** Reserved words, matched case-insensitively. Action words are not reserved (only special first). */
export type Keyword = 'if' | 'and' | 'or' | 'not' | 'in' | 'true' | 'false';

interface Span {
  /** 0-based offset of the first character. */
  pos: number;
  /** Offset just past the last character. */
  end: number;
}

export type Token = Span &
  (
    | { kind: 'ident'; name: string /** written as `:name:` */; quoted: boolean }
    | { kind: 'keyword'; keyword: Keyword }
    | { kind: 'number'; value: number }
    | { kind: 'string'; value: string }
    | { kind: 'list'; name: string }
    | { kind: 'punct'; punct: Punct }
    | { kind: 'eof' }
  );

const keywords: ReadonlySet<string> = new Set<Keyword>(['if', 'and', 'or', 'not', 'in', 'true', 'false']);

const escapes: Readonly<Record<string, string>> = {
  '\\': '\\',
  "'": "'",
  '"': '"',
  n: '\n',
  r: '\r',
  t: '\t',
};

/** Hints for characters people type by mistake, including full-width punctuation from a Chinese IME. */
const lookalikes: Readonly<Record<string, string>> = {
  '=': "did you mean '=='?",
  '!': "use 'not' for negation or '!=' for inequality",
  '&': "use 'and'",
  '|': "use 'or'",
  '.': 'write decimals with a leading digit, e.g. 0.5',
  '（': "use the ASCII '('",
  '）': "use the ASCII ')'",
  '【': "use the ASCII '['",
  '】': "use the ASCII ']'",
  '，': "use the ASCII ','",
  '‘': "use the ASCII quote '",
  '’': "use the ASCII quote '",
  '“': 'use the ASCII quote "',
  '”': 'use the ASCII quote "',
  '＝': "use the ASCII '=='",
  '＜': "use the ASCII '<'",
  '＞': "use the ASCII '>'",
  '：': "use the ASCII ':'",
  '＠': "use the ASCII '@'",
};

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
const isIdentStart = (c: string | undefined): boolean =>
  c !== undefined && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_');
const isIdentPart = (c: string | undefined): boolean => isIdentStart(c) || isDigit(c);
/** ASCII whitespace plus the no-break and ideographic (full-width) spaces. */
const isSpace = (c: string | undefined): boolean =>
  c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\u00a0' || c === '\u3000';

export class Lexer {
  private i = 0;

  constructor(private readonly src: string) {}

  private fail(reason: string, position: number, hint?: string): never {
    throw new RuleSyntaxError(reason, position, this.src, hint);
  }

  next(): Token {
    const src = this.src;
    while (isSpace(src[this.i])) this.i++;
    const pos = this.i;
    const c = src[pos];
    if (c === undefined) return { kind: 'eof', pos, end: pos };
    if (isIdentStart(c)) {
      const name = this.identifier();
      const lower = name.toLowerCase();
      return keywords.has(lower)
        ? { kind: 'keyword', keyword: lower as Keyword, pos, end: this.i }
        : { kind: 'ident', name, quoted: false, pos, end: this.i };
    }
    if (isDigit(c)) return this.number();
    if (c === "'" || c === '"') return this.string(c);
    if (c === ':') {
      this.i++;
      if (!isIdentStart(src[this.i])) this.fail("expected an attribute name after ':'", this.i);
      const name = this.identifier();
      if (src[this.i] !== ':') this.fail(`unterminated attribute ':${name}'`, pos, "close it with ':'");
      this.i++;
      return { kind: 'ident', name, quoted: true, pos, end: this.i };
    }
    if (c === '@') {
      this.i++;
      if (!isIdentStart(src[this.i])) this.fail("expected a list name after '@'", this.i);
      return { kind: 'list', name: this.identifier(), pos, end: this.i };
    }
    const two = src.slice(pos, pos + 2);
    if (two === '==' || two === '!=' || two === '<=' || two === '>=') {
      this.i += 2;
      return { kind: 'punct', punct: two, pos, end: this.i };
    }
    if ('()[],+-*/<>'.includes(c)) {
      this.i++;
      return { kind: 'punct', punct: c as Punct, pos, end: this.i };
    }
    const char = String.fromCodePoint(src.codePointAt(pos)!);
    const shown = /^[\p{L}\p{N}\p{P}\p{S}]$/u.test(char) ? char : JSON.stringify(char).slice(1, -1);
    return this.fail(`unexpected character '${shown}'`, pos, lookalikes[char]);
  }

  private identifier(): string {
    const start = this.i;
    while (isIdentPart(this.src[this.i])) this.i++;
    return this.src.slice(start, this.i);
  }

  /** Digits with optional `_` separators between digits, optionally `.` and more digits. */
  private number(): Token {
    const src = this.src;
    const pos = this.i;
    this.digits();
    let integer = true;
    if (src[this.i] === '.') {
      if (!isDigit(src[this.i + 1])) this.fail("expected a digit after the decimal point '.'", this.i + 1);
      integer = false;
      this.i++;
      this.digits();
    }
    if (isIdentPart(src[this.i]) || src[this.i] === '.') {
      this.fail(`invalid character '${src[this.i]}' in number`, this.i);
    }
    const value = Number(src.slice(pos, this.i).replaceAll('_', ''));
    if (integer ? !Number.isSafeInteger(value) : !Number.isFinite(value)) {
      this.fail('number is too large', pos, 'integers must be at most 9007199254740991');
    }
    return { kind: 'number', value, pos, end: this.i };
  }

  private digits(): void {
    const src = this.src;
    while (isDigit(src[this.i]) || src[this.i] === '_') {
      if (src[this.i] === '_' && !(isDigit(src[this.i - 1]) && isDigit(src[this.i + 1]))) {
        this.fail("numeric separator '_' must be between digits", this.i);
      }
      this.i++;
    }
  }

  /** A quoted string; it may not span lines. Errors about the string as a whole point at its quote. */
  private string(quote: string): Token {
    const src = this.src;
    const pos = this.i;
    let value = '';
    let chunk = ++this.i;
    for (;;) {
      const c = src[this.i];
      if (c === undefined || c === '\n' || c === '\r') {
        return this.fail('unterminated string', pos, `close it with ${quote} on the same line`);
      }
      if (c === quote) break;
      if (c === '\\') {
        const escaped = src[this.i + 1];
        if (escaped === undefined) return this.fail('unterminated string', pos, `close it with ${quote}`);
        const replacement = escapes[escaped];
        if (replacement === undefined) {
          this.fail(`unknown escape '\\${escaped}'`, this.i, "write a backslash as '\\\\'");
        }
        value += src.slice(chunk, this.i) + replacement;
        this.i += 2;
        chunk = this.i;
        continue;
      }
      this.i++;
    }
    value += src.slice(chunk, this.i);
    this.i++;
    return { kind: 'string', value, pos, end: this.i };
  }
}
