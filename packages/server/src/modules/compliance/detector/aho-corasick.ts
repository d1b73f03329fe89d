/**
 * Aho–Corasick multi-pattern matcher over UTF-16 code units.
 *
 * Why our own (~200 lines) rather than a package: the detector scans the *normalized* code-unit
 * buffer that `normalize.ts` fills (a reused Uint16Array, not a string) and maps every hit back to the
 * original text through that buffer's offset arrays. The pure-JS packages on npm take a string (the
 * normalized text would have to be built per call), keep their goto function in plain objects keyed by
 * character, and return the matched words with positions (`modern-ahocorasick`: `[end, words[]]`),
 * so pattern ids — which carry the keyword, boundary flags and benign links — would need a second
 * lookup; the fast ones (`@blackglory/aho-corasick`, `@stll/aho-corasick`) are native bindings, a
 * prebuilt binary per platform for a few hundred patterns. This one has no dependency, builds once
 * (~ms), and scans with no allocation: the caller gets `(patternId, end)` callbacks.
 *
 * Layout after build: code units are first mapped to a dense alphabet of the symbols that occur in
 * some pattern (every other unit resets to the root). When states × symbols is small enough (the
 * shipped lexicon: ~1.9k states × ~300 symbols, a 1.1 MB Uint16Array) the failure links are folded
 * into a full transition table (a DFA: one table read per code unit); otherwise the root has a dense
 * row and the other states sorted sparse edge lists, followed with failure links. Dictionary-suffix links (the
 * nearest suffix state that ends a pattern) list the outputs, so a scan is O(text + matches).
 */
export interface AcMatch {
  pattern: number;
  start: number;
  end: number;
}

export class AhoCorasick {
  readonly patterns: readonly string[];
  readonly stateCount: number;
  readonly symbolCount: number;
  /** Length (code units) of each pattern. */
  readonly patternLength: Int32Array;
  readonly #sym = new Uint16Array(0x10000);
  readonly #rootNext: Int32Array;
  readonly #edgeStart: Int32Array;
  readonly #edgeSym: Uint16Array;
  readonly #edgeTo: Int32Array;
  readonly #fail: Int32Array;
  readonly #outStart: Int32Array;
  readonly #outIds: Int32Array;
  readonly #dict: Int32Array;
  /** Full transition table (row per state, `symbolCount + 1` columns), or null when too large. */
  readonly #delta: Uint16Array | null;
  /** 1 for states that end a pattern or have a dictionary-suffix link. */
  readonly #emits: Uint8Array;

  /** `maxTableEntries`: largest transition table built as a DFA (default 8M entries, 16 MB). */
  constructor(patterns: readonly string[], options: { maxTableEntries?: number } = {}) {
    this.patterns = patterns;
    this.patternLength = Int32Array.from(patterns, (p) => p.length);
    // Alphabet.
    let symbols = 0;
    for (const p of patterns) {
      if (p.length === 0) throw new Error('AhoCorasick: empty pattern');
      for (let i = 0; i < p.length; i++) {
        const c = p.charCodeAt(i);
        if (this.#sym[c] === 0) this.#sym[c] = ++symbols;
      }
    }
    if (symbols >= 0xffff) throw new Error('AhoCorasick: alphabet too large');
    this.symbolCount = symbols;
    // Trie.
    const children: Map<number, number>[] = [new Map()];
    const own: number[][] = [[]];
    patterns.forEach((p, id) => {
      let s = 0;
      for (let i = 0; i < p.length; i++) {
        const a = this.#sym[p.charCodeAt(i)]!;
        let t = children[s]!.get(a);
        if (t === undefined) {
          t = children.length;
          children.push(new Map());
          own.push([]);
          children[s]!.set(a, t);
        }
        s = t;
      }
      own[s]!.push(id);
    });
    const n = children.length;
    this.stateCount = n;
    // Failure and dictionary links, breadth first.
    const fail = new Int32Array(n);
    const dict = new Int32Array(n);
    const queue: number[] = [];
    for (const t of children[0]!.values()) queue.push(t);
    for (let head = 0; head < queue.length; head++) {
      const s = queue[head]!;
      for (const [a, t] of children[s]!) {
        let f = fail[s]!;
        while (f !== 0 && !children[f]!.has(a)) f = fail[f]!;
        const g = children[f]!.get(a);
        fail[t] = g !== undefined && g !== t ? g : 0;
        const ft = fail[t]!;
        dict[t] = own[ft]!.length > 0 ? ft : dict[ft]!;
        queue.push(t);
      }
    }
    this.#fail = fail;
    this.#dict = dict;
    // Compact edges.
    this.#rootNext = new Int32Array(symbols + 1);
    for (const [a, t] of children[0]!) this.#rootNext[a] = t;
    this.#edgeStart = new Int32Array(n + 1);
    let edges = 0;
    for (let s = 0; s < n; s++) {
      this.#edgeStart[s] = edges;
      if (s !== 0) edges += children[s]!.size;
    }
    this.#edgeStart[n] = edges;
    this.#edgeSym = new Uint16Array(edges);
    this.#edgeTo = new Int32Array(edges);
    for (let s = 1; s < n; s++) {
      let e = this.#edgeStart[s]!;
      for (const [a, t] of [...children[s]!].sort((x, y) => x[0] - y[0])) {
        this.#edgeSym[e] = a;
        this.#edgeTo[e] = t;
        e++;
      }
    }
    this.#outStart = new Int32Array(n + 1);
    let outs = 0;
    for (let s = 0; s < n; s++) {
      this.#outStart[s] = outs;
      outs += own[s]!.length;
    }
    this.#outStart[n] = outs;
    this.#outIds = new Int32Array(outs);
    for (let s = 0, o = 0; s < n; s++) for (const id of own[s]!) this.#outIds[o++] = id;
    this.#emits = new Uint8Array(n);
    for (let s = 0; s < n; s++) this.#emits[s] = own[s]!.length > 0 || dict[s] !== 0 ? 1 : 0;
    // Full DFA when it fits: rows in breadth-first order, so a failure state's row is always ready.
    const width = symbols + 1;
    if (n < 0xffff && n * width <= (options.maxTableEntries ?? 8_000_000)) {
      const delta = new Uint16Array(n * width);
      for (const [a, t] of children[0]!) delta[a] = t;
      for (const s of queue) {
        const row = s * width;
        const failRow = fail[s]! * width;
        delta.copyWithin(row + 1, failRow + 1, failRow + width);
        for (const [a, t] of children[s]!) delta[row + a] = t;
      }
      this.#delta = delta;
    } else this.#delta = null;
  }

  /** Whether this automaton scans with a full transition table. */
  get isDfa(): boolean {
    return this.#delta !== null;
  }

  /**
   * Scans `codes[0, length)` and calls `onMatch(patternId, end)` for every occurrence of every pattern
   * (`end` exclusive; the start is `end - patternLength[patternId]`), in order of `end`.
   */
  scan(codes: Uint16Array, length: number, onMatch: (pattern: number, end: number) => void): void {
    const delta = this.#delta;
    if (delta !== null) {
      const sym = this.#sym;
      const width = this.symbolCount + 1;
      const emits = this.#emits;
      let s = 0;
      for (let i = 0; i < length; i++) {
        s = delta[s * width + sym[codes[i]!]!]!;
        if (emits[s] === 1) this.#emit(s, i + 1, onMatch);
      }
      return;
    }
    const sym = this.#sym;
    const rootNext = this.#rootNext;
    const edgeStart = this.#edgeStart;
    const edgeSym = this.#edgeSym;
    const edgeTo = this.#edgeTo;
    const fail = this.#fail;
    const outStart = this.#outStart;
    const outIds = this.#outIds;
    const dict = this.#dict;
    let s = 0;
    for (let i = 0; i < length; i++) {
      const a = sym[codes[i]!]!;
      if (a === 0) {
        s = 0;
        continue;
      }
      for (;;) {
        if (s === 0) {
          s = rootNext[a]!;
          break;
        }
        let t = -1;
        for (let e = edgeStart[s]!, stop = edgeStart[s + 1]!; e < stop; e++) {
          const b = edgeSym[e]!;
          if (b === a) {
            t = edgeTo[e]!;
            break;
          }
          if (b > a) break;
        }
        if (t >= 0) {
          s = t;
          break;
        }
        s = fail[s]!;
      }
      let o = outStart[s + 1]! > outStart[s]! ? s : dict[s]!;
      while (o !== 0) {
        for (let k = outStart[o]!, stop = outStart[o + 1]!; k < stop; k++) onMatch(outIds[k]!, i + 1);
        o = dict[o]!;
      }
    }
  }

  #emit(s: number, end: number, onMatch: (pattern: number, end: number) => void): void {
    const outStart = this.#outStart;
    const outIds = this.#outIds;
    let o = outStart[s + 1]! > outStart[s]! ? s : this.#dict[s]!;
    while (o !== 0) {
      for (let k = outStart[o]!, stop = outStart[o + 1]!; k < stop; k++) onMatch(outIds[k]!, end);
      o = this.#dict[o]!;
    }
  }

  /** Every occurrence in a plain string (convenience; allocates). */
  findAll(text: string): AcMatch[] {
    const codes = new Uint16Array(text.length);
    for (let i = 0; i < text.length; i++) codes[i] = text.charCodeAt(i);
    const out: AcMatch[] = [];
    this.scan(codes, codes.length, (pattern, end) => {
      out.push({ pattern, start: end - this.patternLength[pattern]!, end });
    });
    return out;
  }
}
