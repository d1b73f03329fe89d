/**
 * Phrase matcher: normalizes phrases and text the same way (`normalize.ts`), finds every phrase with
 * one Aho–Corasick scan, and keeps the hits that pass the acceptance rules:
 *
 * 1. Boundary (per phrase): a Latin end of the match (a letter or digit) must sit on a word boundary:
 *    start/end of text, a removed soft separator, or a change of class (letter / digit / other).
 * 2. Spread-out Latin phrases: if a Latin-only phrase matched across removed separators at places
 *    where the phrase itself has no space ("c a s i n o", "cas-ino" but not "crypto exchange"), both
 *    ends must be on word boundaries, and either the phrase is at least 6 letters long or *every*
 *    letter is separated (p o r n). So "top ornament" or "PO RN staffing" do not read as 'porn'.
 *    Han phrases may be spread out freely ("赌 博", "比特 币"); benign compounds handle the rest.
 * 3. Benign compounds: a hit that overlaps an occurrence of one of its keyword's benign compounds is
 *    dropped.
 *
 * Hard separators (line breaks, clause punctuation) are a "\n" in the normalized text, which no phrase
 * contains, so nothing matches across them.
 */
import { AhoCorasick } from './aho-corasick.ts';
import { GAP, isDigit, isLatinAlnum, isLetter, NormBuffer, normalize, normalizeInto } from './normalize.ts';

export interface PhraseInput {
  /** Caller's id for what the phrase stands for (e.g. a keyword index); several phrases may share it. */
  id: number;
  form: string;
  boundary: boolean;
}

export interface BenignInput {
  /** The id whose hits this compound cancels. */
  id: number;
  form: string;
}

interface Variant {
  id: number;
  boundary: boolean;
  latinOnly: boolean;
  /** 1 at offsets where the phrase itself had a separator. */
  natural: Uint8Array;
}

interface PatternInfo {
  variants: Variant[];
  benignFor: number[];
}

const cls = (c: number): number => (isLetter(c) ? 1 : isDigit(c) ? 2 : 0);

export class PhraseMatcher {
  readonly #ac: AhoCorasick;
  readonly #info: PatternInfo[];
  readonly #buf = new NormBuffer();
  // Per-scan scratch.
  #hitPattern = new Int32Array(64);
  #hitEnd = new Int32Array(64);
  #hits = 0;
  #benignId = new Int32Array(32);
  #benignStart = new Int32Array(32);
  #benignEnd = new Int32Array(32);
  #benigns = 0;
  readonly #onMatch: (pattern: number, end: number) => void;

  constructor(phrases: readonly PhraseInput[], benign: readonly BenignInput[] = []) {
    const byForm = new Map<string, number>();
    const info: PatternInfo[] = [];
    const patterns: string[] = [];
    const slot = (text: string): PatternInfo => {
      let i = byForm.get(text);
      if (i === undefined) {
        i = patterns.length;
        byForm.set(text, i);
        patterns.push(text);
        info.push({ variants: [], benignFor: [] });
      }
      return info[i]!;
    };
    for (const p of phrases) {
      const n = normalize(p.form);
      if (n.text.length === 0 || n.text.includes('\n')) throw new Error(`unusable phrase: ${p.form}`);
      let latinOnly = true;
      for (let i = 0; i < n.text.length; i++) if (!isLatinAlnum(n.text.charCodeAt(i))) latinOnly = false;
      const target = slot(n.text);
      if (!target.variants.some((v) => v.id === p.id && v.boundary === p.boundary)) {
        target.variants.push({ id: p.id, boundary: p.boundary, latinOnly, natural: n.gapBefore });
      }
    }
    for (const b of benign) {
      const n = normalize(b.form);
      if (n.text.length === 0 || n.text.includes('\n'))
        throw new Error(`unusable benign compound: ${b.form}`);
      const target = slot(n.text);
      if (!target.benignFor.includes(b.id)) target.benignFor.push(b.id);
    }
    this.#ac = new AhoCorasick(patterns);
    this.#info = info;
    this.#onMatch = (pattern, end) => {
      const inf = this.#info[pattern]!;
      const len = this.#ac.patternLength[pattern]!;
      for (const id of inf.benignFor) {
        if (this.#benigns === this.#benignId.length) this.#growBenign();
        this.#benignId[this.#benigns] = id;
        this.#benignStart[this.#benigns] = end - len;
        this.#benignEnd[this.#benigns] = end;
        this.#benigns++;
      }
      if (inf.variants.length > 0) {
        if (this.#hits === this.#hitPattern.length) this.#growHits();
        this.#hitPattern[this.#hits] = pattern;
        this.#hitEnd[this.#hits] = end;
        this.#hits++;
      }
    };
  }

  get patternCount(): number {
    return this.#ac.patterns.length;
  }

  get stateCount(): number {
    return this.#ac.stateCount;
  }

  /**
   * Finds accepted phrase hits in `text`. Calls `onHit(id, start, end)` with original UTF-16 offsets
   * ([start, end) of the original text), in order of the normalized end, once per (id, span).
   */
  run(text: string, onHit: (id: number, start: number, end: number) => void): void {
    // Texts over 256 K units get their own buffers, so the shared ones stay small.
    const buf = text.length > 1 << 18 ? new NormBuffer() : this.#buf;
    const len = normalizeInto(text, buf);
    this.#hits = 0;
    this.#benigns = 0;
    this.#ac.scan(buf.codes, len, this.#onMatch);
    const codes = buf.codes;
    const gap = buf.gap;
    let lastId = -1;
    let lastS = -1;
    let lastE = -1;
    for (let h = 0; h < this.#hits; h++) {
      const pattern = this.#hitPattern[h]!;
      const e = this.#hitEnd[h]!;
      const s = e - this.#ac.patternLength[pattern]!;
      const c0 = codes[s]!;
      const c1 = codes[e - 1]!;
      const leftOk = !isLatinAlnum(c0) || s === 0 || (gap[s]! & GAP) !== 0 || cls(codes[s - 1]!) !== cls(c0);
      const rightOk = !isLatinAlnum(c1) || e === len || (gap[e]! & GAP) !== 0 || cls(codes[e]!) !== cls(c1);
      for (const v of this.#info[pattern]!.variants) {
        if (v.boundary && !(leftOk && rightOk)) continue;
        if (v.latinOnly && e - s > 1) {
          let unnatural = false;
          let allSpread = true;
          for (let i = s + 1; i < e; i++) {
            if (v.natural[i - s] === 1) continue;
            if ((gap[i]! & GAP) !== 0) unnatural = true;
            else allSpread = false;
          }
          if (unnatural && (!(leftOk && rightOk) || (e - s < 6 && !allSpread))) continue;
        }
        if (this.#isBenign(v.id, s, e)) continue;
        const os = buf.start[s]!;
        const oe = buf.endOf(e - 1);
        if (v.id === lastId && os === lastS && oe === lastE) continue;
        lastId = v.id;
        lastS = os;
        lastE = oe;
        onHit(v.id, os, oe);
      }
    }
  }

  #isBenign(id: number, s: number, e: number): boolean {
    for (let b = 0; b < this.#benigns; b++) {
      if (this.#benignId[b] === id && this.#benignStart[b]! < e && this.#benignEnd[b]! > s) return true;
    }
    return false;
  }

  #growHits(): void {
    const n = this.#hitPattern.length * 2;
    const p = new Int32Array(n);
    p.set(this.#hitPattern);
    const e = new Int32Array(n);
    e.set(this.#hitEnd);
    this.#hitPattern = p;
    this.#hitEnd = e;
  }

  #growBenign(): void {
    const n = this.#benignId.length * 2;
    const grow = (a: Int32Array) => {
      const b = new Int32Array(n);
      b.set(a);
      return b;
    };
    this.#benignId = grow(this.#benignId);
    this.#benignStart = grow(this.#benignStart);
    this.#benignEnd = grow(this.#benignEnd);
  }
}
