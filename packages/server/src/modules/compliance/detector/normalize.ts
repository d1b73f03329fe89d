/**
 * Text normalization for restricted-category screening, with a map from every normalized code unit
 * back to the original UTF-16 offsets.
 *
 * One pass over the input, writing into reusable typed arrays (no per-character allocation); the
 * only lookahead is over a run of digits / leet symbols, to decide whether it is leetspeak.
 *
 * Per code point (the folding is computed once per code point and cached):
 *   - zero-width characters, combining marks, variation selectors, soft hyphens, BOM: dropped
 *     (invisible; they never separate anything);
 *   - homoglyphs: Cyrillic / Greek look-alikes and small capitals → Latin (а→a, о→o, е→e, с→c, р→p,
 *     х→x, і→i, ν→v, ρ→p, ᴄ→c, …), uppercase forms included;
 *   - NFKC per code point (full-width ＡＢＣ１２３ → ABC123, ① → 1, 𝐜𝐚𝐬𝐢𝐧𝐨 → casino, ㎏ → kg), then
 *     lowercase, then diacritics stripped (NFD minus marks: é → e, ß → ss);
 *   - Han characters: traditional → simplified through the table in `traditional.ts`;
 *   - separators: ASCII/Unicode whitespace, emoji and other symbols, and the punctuation . - _ * / \ |
 *     ~ ' + = # & · • — are *soft*; line breaks, the clause punctuation , ; : ! ? " ( ) [ ] { } < > and
 *     the CJK punctuation 。、，；：！？“”‘’（）《》【】「」『』…… are *hard*.
 *
 * Then, per folded unit:
 *   - leetspeak, only inside alphabetic tokens (a token is a maximal run of Latin letters, digits and
 *     the symbols @ $ ! | with no separator inside): 0→o 1→i 3→e 4→a 5→s 7→t @→a $→s !→i |→i.
 *     A run of such characters is converted when it is at most 2 long and
 *       · sits between two letters (p0rn, b1tc0in, s3x, c@sino), or
 *       · is a single character ending a token that starts with letters (casin0), or
 *       · is made of symbols only and starts a token followed by letters ($ex, @dult).
 *     A run of digits that starts a token is never converted (5usdt, 100btc, 3d, 1xbet), nor a run of
 *     3 or more (bet365), nor a 2-long run that ends a token (iphone15), nor a run containing 2 6 8 9.
 *     So "100元", "usdt100", "¥5" and "iphone15" keep their numbers; "ps5" becomes "pss" (harmless).
 *     ! and | that are not converted are separators (! hard, | soft); @ $ that are not converted are
 *     soft separators.
 *   - separator runs are removed. A run that is soft (only soft separators, or "." without a space)
 *     disappears and marks the next unit with `gapBefore = 1` (so "赌 博", "b.e.t", "c a s i n o",
 *     "赌-博", "c🎰a🎰s🎰i🎰n🎰o" become contiguous); a run that contains a hard separator, or both a
 *     "." and a space ("end. Next"), becomes one "\n" so that nothing can match across it.
 *
 * Keywords are normalized by the same function, so the lexicon and the text always agree.
 */
import { traditionalToSimplified } from './traditional.ts';

/** The result of {@link normalize}: normalized text plus, per normalized code unit, the original span. */
export interface NormalizedText {
  text: string;
  /** Original UTF-16 start offset of each normalized code unit. */
  start: Int32Array;
  /** Original UTF-16 end offset (exclusive) of each normalized code unit. */
  end: Int32Array;
  /** 1 where a soft separator run was removed just before this unit. */
  gapBefore: Uint8Array;
}

/** Reusable buffers for {@link normalizeInto}; grows as needed. */
export class NormBuffer {
  /** Normalized code units. */
  codes = new Uint16Array(1024);
  /** Original start offset of each unit; every unit comes from one code point [start, endOf). */
  start = new Int32Array(1024);
  /** Bit 1 ({@link GAP}): a soft separator run was removed before the unit; bit 2: from a surrogate pair. */
  gap = new Uint8Array(1024);
  length = 0;

  /** Original end offset (exclusive) of unit `u`. */
  endOf(u: number): number {
    return this.start[u]! + ((this.gap[u]! & WIDE) !== 0 ? 2 : 1);
  }

  ensure(n: number): void {
    if (this.codes.length >= n) return;
    let size = this.codes.length;
    while (size < n) size *= 2;
    const grow16 = (a: Uint16Array) => {
      const b = new Uint16Array(size);
      b.set(a);
      return b;
    };
    const grow32 = (a: Int32Array) => {
      const b = new Int32Array(size);
      b.set(a);
      return b;
    };
    this.codes = grow16(this.codes);
    this.start = grow32(this.start);
    const g = new Uint8Array(size);
    g.set(this.gap);
    this.gap = g;
  }

  /** The normalized text currently held, as a string. */
  text(): string {
    let out = '';
    for (let i = 0; i < this.length; i += 4096) {
      out += String.fromCharCode(...this.codes.subarray(i, Math.min(this.length, i + 4096)));
    }
    return out;
  }
}

/** `NormBuffer.gap` bits. */
export const GAP = 1;
const WIDE = 2;

// Folded units with a special meaning.
const SOFT = 0x20; // ' '
const HARD = 0x0a; // '\n'
const DOT = 0x2e; // '.'

/** Homoglyphs → Latin. Keys are matched before lowercasing, so uppercase forms are listed too. */
const HOMOGLYPHS = new Map<string, string>(
  Object.entries({
    // Cyrillic
    а: 'a',
    А: 'a',
    в: 'b',
    В: 'b',
    е: 'e',
    Е: 'e',
    ё: 'e',
    Ё: 'e',
    к: 'k',
    К: 'k',
    м: 'm',
    М: 'm',
    н: 'h',
    Н: 'h',
    о: 'o',
    О: 'o',
    р: 'p',
    Р: 'p',
    с: 'c',
    С: 'c',
    т: 't',
    Т: 't',
    у: 'y',
    У: 'y',
    х: 'x',
    Х: 'x',
    і: 'i',
    І: 'i',
    ї: 'i',
    Ї: 'i',
    ј: 'j',
    Ј: 'j',
    ѕ: 's',
    Ѕ: 's',
    ԁ: 'd',
    һ: 'h',
    ԛ: 'q',
    ԝ: 'w',
    ү: 'y',
    // Greek
    α: 'a',
    Α: 'a',
    β: 'b',
    Β: 'b',
    ε: 'e',
    Ε: 'e',
    Ζ: 'z',
    η: 'n',
    Η: 'h',
    ι: 'i',
    Ι: 'i',
    κ: 'k',
    Κ: 'k',
    Μ: 'm',
    ν: 'v',
    Ν: 'n',
    ο: 'o',
    Ο: 'o',
    ρ: 'p',
    Ρ: 'p',
    τ: 't',
    Τ: 't',
    υ: 'u',
    Υ: 'y',
    χ: 'x',
    Χ: 'x',
    ω: 'w',
    // Latin look-alikes that NFKC/NFD leave alone
    ı: 'i',
    ł: 'l',
    Ł: 'l',
    ø: 'o',
    Ø: 'o',
    đ: 'd',
    Đ: 'd',
    ħ: 'h',
    ß: 'ss',
    æ: 'ae',
    Æ: 'ae',
    œ: 'oe',
    Œ: 'oe',
    ɡ: 'g',
    ɑ: 'a',
    // Small capitals
    ᴀ: 'a',
    ʙ: 'b',
    ᴄ: 'c',
    ᴅ: 'd',
    ᴇ: 'e',
    ɢ: 'g',
    ʜ: 'h',
    ɪ: 'i',
    ᴊ: 'j',
    ᴋ: 'k',
    ʟ: 'l',
    ᴍ: 'm',
    ɴ: 'n',
    ᴏ: 'o',
    ᴘ: 'p',
    ʀ: 'r',
    ꜱ: 's',
    ᴛ: 't',
    ᴜ: 'u',
    ᴠ: 'v',
    ᴡ: 'w',
    ʏ: 'y',
    ᴢ: 'z',
  }),
);

const HARD_PUNCT = new Set(
  ',;:!?"()[]{}<>。、，；：！？“”‘’（）《》〈〉【】「」『』〔〕…\n\r\u2028\u2029\u0085\v\f',
);
/** Kept as themselves by the folding: possible leetspeak. */
const LEET_SYMBOLS = new Set('@$!|');
// Marks (incl. variation selectors), format characters (zero-width, soft hyphen, BOM), Hangul fillers.
const INVISIBLE = /^(?:[\p{Mn}\p{Me}\p{Cf}]|\u115f|\u1160|\u3164|\uffa0)$/u;
const CONTENT = /^[\p{L}\p{N}]$/u;

const isHan = (c: number): boolean =>
  (c >= 0x4e00 && c <= 0x9fff) || (c >= 0x3400 && c <= 0x4dbf) || (c >= 0xf900 && c <= 0xfaff);

/** Folds one character that is already NFKC'd, lowercased and diacritic-free. */
function foldFinal(ch: string): string {
  const c = ch.charCodeAt(0);
  if (ch.length === 1) {
    if ((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39)) return ch;
    if (c === DOT) return '.';
    if (LEET_SYMBOLS.has(ch)) return ch;
    if (isHan(c)) {
      const s = traditionalToSimplified[c] ?? 0;
      return s ? String.fromCharCode(s) : ch;
    }
  }
  const h = HOMOGLYPHS.get(ch);
  if (h !== undefined) return h;
  if (HARD_PUNCT.has(ch)) return '\n';
  if (INVISIBLE.test(ch)) return '';
  if (CONTENT.test(ch) || (ch.length === 2 && c >= 0xd800 && c <= 0xdbff && /\p{L}/u.test(ch))) return ch;
  return ' '; // whitespace, other punctuation, symbols, emoji: soft separators
}

function computeFold(cp: number): string {
  const ch = String.fromCodePoint(cp);
  const direct = HOMOGLYPHS.get(ch);
  if (direct !== undefined) return direct;
  if (LEET_SYMBOLS.has(ch)) return ch;
  if (INVISIBLE.test(ch)) return '';
  if (HARD_PUNCT.has(ch)) return '\n';
  let out = '';
  const nfkc = ch.normalize('NFKC');
  for (const part of nfkc) {
    const mapped = HOMOGLYPHS.get(part);
    if (mapped !== undefined) {
      out += mapped;
      continue;
    }
    const lower = part.toLowerCase().normalize('NFD');
    for (const piece of lower) {
      if (INVISIBLE.test(piece)) continue; // combining marks from NFD
      out += foldFinal(piece);
    }
  }
  return out;
}

// Caches: BMP code points in a flat table (0 = not computed yet; MULTI = see `multiFold`).
const MULTI = 0xffff;
const DROP = 0xfffe;
const singleFold = new Uint16Array(0x10000);
const multiFold = new Map<number, string>();

/** Surrogates never take the fast path: pre-marked as multi-unit. */
singleFold.fill(MULTI, 0xd800, 0xe000);

function fold(cp: number): string | number {
  const cacheable = cp < 0xd800 || (cp > 0xdfff && cp < 0x10000);
  if (cacheable) {
    const v = singleFold[cp]!;
    if (v !== 0 && v !== MULTI) return v;
  }
  const cached = multiFold.get(cp);
  if (cached !== undefined) return cached;
  const s = computeFold(cp);
  if (cacheable) {
    if (s.length === 1) {
      singleFold[cp] = s.charCodeAt(0);
      return singleFold[cp]!;
    }
    if (s.length === 0) {
      singleFold[cp] = DROP;
      return DROP;
    }
    singleFold[cp] = MULTI;
  }
  multiFold.set(cp, s);
  return s;
}

// Leetspeak: code → letter (0 = not leet).
const LEET = new Uint16Array(128);
for (const [from, to] of Object.entries({
  '0': 'o',
  '1': 'i',
  '3': 'e',
  '4': 'a',
  '5': 's',
  '7': 't',
  '@': 'a',
  $: 's',
  '!': 'i',
  '|': 'i',
})) {
  LEET[from.charCodeAt(0)] = to.charCodeAt(0);
}

const isLetter = (c: number): boolean => c >= 0x61 && c <= 0x7a;
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;

// Kinds of folded ASCII units for the main loop: content, separator, digit / leet symbol.
const K_SEP = 1;
const K_RUN = 2;
const ASCII_KIND = new Uint8Array(128);
ASCII_KIND[SOFT] = K_SEP;
ASCII_KIND[HARD] = K_SEP;
ASCII_KIND[DOT] = K_SEP;
for (const ch of '0123456789@$!|') ASCII_KIND[ch.charCodeAt(0)] = K_RUN;

const isDigitOrLeet = (u: number): boolean =>
  (u >= 0x30 && u <= 0x39) || u === 0x40 || u === 0x24 || u === 0x21 || u === 0x7c;

// Result of `lookahead` (module-level to avoid allocating).
let laRunLen = 0;
let laLeetable = true;
let laSymbolsOnly = true;
let laNextIsLetter = false;

/** Describes the run of digits / leet symbols of the folded stream starting at unit `q` of code point `i`. */
function lookahead(input: string, i: number, q: number): void {
  laRunLen = 0;
  laLeetable = true;
  laSymbolsOnly = true;
  laNextIsLetter = false;
  const n = input.length;
  while (i < n) {
    let cp = input.charCodeAt(i);
    let width = 1;
    if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < n) {
      const lo = input.charCodeAt(i + 1);
      if (lo >= 0xdc00 && lo <= 0xdfff) {
        cp = ((cp - 0xd800) << 10) + (lo - 0xdc00) + 0x10000;
        width = 2;
      }
    }
    const f = fold(cp);
    const str = typeof f === 'number' ? (f === DROP ? '' : String.fromCharCode(f)) : f;
    for (; q < str.length; q++) {
      const u = str.charCodeAt(q);
      if (!isDigitOrLeet(u)) {
        laNextIsLetter = isLetter(u);
        return;
      }
      laRunLen++;
      if (LEET[u] === 0) laLeetable = false;
      if (u <= 0x39 && u >= 0x30) laSymbolsOnly = false;
    }
    i += width;
    q = 0;
  }
}

/** Normalizes `input` into `buf` (see the module comment), in one pass. Returns the normalized length. */
export function normalizeInto(input: string, buf: NormBuffer): number {
  const n = input.length;
  buf.ensure(n + 16);
  const sf = singleFold;
  let codes = buf.codes;
  let start = buf.start;
  let gap = buf.gap;
  let m = 0;
  let pending = false; // a separator run is open
  let pendingHard = false;
  let pendingDot = false;
  let pendingSpace = false;
  let pendingStart = 0; // original span of the run's first unit
  let pendingWide = 0;
  let prevWasLetter = false; // the previous folded unit is a Latin letter (same token)
  let runLeft = 0; // units left in the current digit / leet-symbol run
  let convertRun = false;
  // Units come from the input directly (a code unit that folds to one unit, the common case) or from
  // a queued multi-unit fold result `qs` (NFKC expansions, surrogate pairs).
  let qs = '';
  let qPos = 0;
  let qAt = 0;
  let qWidth = 1;
  let i = 0;
  for (;;) {
    let c: number;
    let at: number; // original span [at, at + width)
    let width: number;
    let q: number; // position of this unit inside its fold result (for the lookahead)
    if (qPos < qs.length) {
      q = qPos;
      c = qs.charCodeAt(qPos++);
      at = qAt;
      width = qWidth;
    } else {
      if (i >= n) break;
      const c0 = input.charCodeAt(i);
      let v = sf[c0]!;
      if (v === 0) {
        fold(c0);
        v = sf[c0]!;
      }
      if (v < DROP) {
        c = v;
        at = i;
        width = 1;
        q = 0;
        i++;
      } else {
        // Dropped, multi-unit or astral: queue the fold result.
        let cp = c0;
        let w = 1;
        if (c0 >= 0xd800 && c0 <= 0xdbff && i + 1 < n) {
          const lo = input.charCodeAt(i + 1);
          if (lo >= 0xdc00 && lo <= 0xdfff) {
            cp = ((c0 - 0xd800) << 10) + (lo - 0xdc00) + 0x10000;
            w = 2;
          }
        }
        const f = fold(cp);
        qs = typeof f === 'number' ? (f === DROP ? '' : String.fromCharCode(f)) : f;
        qPos = 0;
        qAt = i;
        qWidth = w;
        i += w;
        // Outputs never outnumber inputs, except for expansions: keep room for the rest of the input.
        if (m + 2 * qs.length + (n - i) + 2 > codes.length) {
          buf.ensure(m + 2 * qs.length + (n - i) + 16);
          codes = buf.codes;
          start = buf.start;
          gap = buf.gap;
        }
        continue;
      }
    }
    let sep = 0;
    const kind = c < 0x80 ? ASCII_KIND[c]! : 0; // folded non-ASCII units are always content
    if (kind === K_SEP) sep = c;
    else if (kind === K_RUN) {
      if (runLeft === 0) {
        // A new run of digits / leet symbols: decide once whether it is leetspeak.
        lookahead(input, at, q);
        const bang = c === 0x21 || c === 0x7c; // ! and | are leet only between two letters
        convertRun = false;
        if (laLeetable && laRunLen <= 2) {
          if (prevWasLetter && laNextIsLetter) convertRun = true;
          else if (prevWasLetter && laRunLen === 1) convertRun = !bang;
          else if (!prevWasLetter && laNextIsLetter && laSymbolsOnly) convertRun = !bang;
        }
        runLeft = laRunLen;
      }
      runLeft--;
      if (convertRun) c = LEET[c]!;
      else if (c > 0x39 || c < 0x30) sep = c === 0x21 ? HARD : SOFT;
    }
    if (sep !== 0) {
      if (!pending) {
        pending = true;
        pendingStart = at;
        pendingWide = width === 2 ? WIDE : 0;
      }
      if (sep === HARD) pendingHard = true;
      else if (sep === DOT) pendingDot = true;
      else pendingSpace = true;
      prevWasLetter = false;
      continue;
    }
    let g = 0;
    if (pending) {
      if (pendingHard || (pendingDot && pendingSpace)) {
        if (m > 0) {
          codes[m] = HARD;
          start[m] = pendingStart;
          gap[m] = pendingWide;
          m++;
        }
      } else if (m > 0) g = GAP;
      pending = pendingHard = pendingDot = pendingSpace = false;
    }
    codes[m] = c;
    start[m] = at;
    gap[m] = g | (width === 2 ? WIDE : 0);
    m++;
    prevWasLetter = c >= 0x61 && c <= 0x7a;
  }
  buf.length = m;
  return m;
}

const shared = new NormBuffer();

/** Normalizes `input` (see the module comment) and returns copies of the text and the offset map. */
export function normalize(input: string): NormalizedText {
  const buf = input.length > 1 << 18 ? new NormBuffer() : shared; // keep the shared buffer small
  const m = normalizeInto(input, buf);
  return {
    text: buf.text(),
    start: buf.start.slice(0, m),
    end: Int32Array.from({ length: m }, (_, u) => buf.endOf(u)),
    gapBefore: buf.gap.slice(0, m).map((g) => g & GAP),
  };
}

/** Original [start, end) of the normalized range [from, to) (to > from). */
export function originalSpan(
  n: Pick<NormalizedText, 'start' | 'end'>,
  from: number,
  to: number,
): [number, number] {
  return [n.start[from]!, n.end[to - 1]!];
}

/** True for a normalized code unit that is a Latin letter or a digit (word characters for boundaries). */
export const isLatinAlnum = (c: number): boolean => isLetter(c) || isDigit(c);
export { isDigit, isHan, isLetter };
