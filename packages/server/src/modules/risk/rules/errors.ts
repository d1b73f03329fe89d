/**
 * The one error the rules language throws for a rule that cannot be compiled: syntax errors from
 * the lexer and parser and schema/type errors from the compiler alike. It always carries the exact
 * place of the problem as a 0-based character offset (UTF-16 code units, as JavaScript string
 * indices) plus the 1-based line and column derived from it.
 */

export class RuleSyntaxError extends Error {
  override readonly name = 'RuleSyntaxError';
  /** 0-based offset into the rule source. */
  readonly position: number;
  /** 1-based line of `position`. */
  readonly line: number;
  /** 1-based column of `position` (counted in UTF-16 code units). */
  readonly column: number;
  /** The problem without the position and hint, e.g. `unknown attribute 'amout'`. */
  readonly reason: string;
  /** Advice appended to the message after `; `, e.g. `did you mean 'amount'?`. */
  readonly hint: string | undefined;
  /** The rule source the position refers to. */
  readonly source: string;

  constructor(reason: string, position: number, source: string, hint?: string) {
    super(`${reason} at ${position}${hint === undefined ? '' : `; ${hint}`}`);
    this.reason = reason;
    this.hint = hint;
    this.position = position;
    this.source = source;
    const lineStart = source.lastIndexOf('\n', position - 1) + 1;
    let line = 1;
    for (let i = source.indexOf('\n'); i !== -1 && i < lineStart; i = source.indexOf('\n', i + 1)) line++;
    this.line = line;
    this.column = position - lineStart + 1;
  }

  /**
   * The message, the offending source line and a caret under the offending character:
   *
   * ```
   * unknown attribute 'amout' at 9; did you mean 'amount'?
   * block if amout > 1
   *          ^
   * ```
   * Tabs before the caret are kept so the caret lines up in a terminal.
   */
  pretty(): string {
    const lineStart = this.position - (this.column - 1);
    let lineEnd = this.source.indexOf('\n', lineStart);
    if (lineEnd === -1) lineEnd = this.source.length;
    const text = this.source.slice(lineStart, lineEnd).replace(/\r$/, '');
    const pad = text.slice(0, this.column - 1).replace(/[^\t]/g, ' ');
    return `${this.message}\n${text}\n${pad}^`;
  }
}

/** Levenshtein distance, for "did you mean" hints (names are short, so the O(n·m) table is fine). */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * `did you mean 'x'?` for the closest candidate, or undefined when nothing is close: a candidate
 * that differs only in case always qualifies; otherwise at most 1 edit for names of up to 3
 * characters and at most 2 edits for longer ones.
 */
export function suggest(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const distance = candidate.toLowerCase() === name.toLowerCase() ? 0 : editDistance(name, candidate);
    const allowed = Math.max(name.length, candidate.length) <= 3 ? 1 : 2;
    if (distance <= allowed && distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best === undefined ? undefined : `did you mean '${best}'?`;
}
