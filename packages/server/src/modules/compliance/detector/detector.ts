/**
 * Restricted-category screening (gambling, cryptocurrency, adult content) of order descriptions, goods
 * details, merchant profiles and conversation text, in Chinese and English.
 *
 * `screen(text)` normalizes the text (`normalize.ts`: full-width, case, traditional characters,
 * homoglyphs, leetspeak, separators inside words), finds the lexicon's keywords and their pinyin,
 * mixed and variant forms with one Aho–Corasick scan (`matcher.ts`), drops hits that fail a boundary
 * rule or overlap a benign compound, and scores each category as the sum of the weights of its
 * distinct keywords found. A category whose score reaches the threshold (1 by default) is a hit; the
 * result's category is the highest-scoring one. Matches carry original offsets and text.
 *
 * `mislabelled(description, declaredMcc)` (in `mislabelled.ts`, re-exported here) is the documented
 * check that a transaction description fits the merchant's declared category.
 */
import { CATEGORIES, type Category, HIT_THRESHOLD, type KeywordDef, LEXICON } from './lexicon.ts';
import { type BenignInput, type PhraseInput, PhraseMatcher } from './matcher.ts';
import { normalize } from './normalize.ts';

export type { Category } from './lexicon.ts';
export { type MislabelledResult, mislabelled } from './mislabelled.ts';

export interface ScreenMatch {
  /** The lexicon term (display form), whichever spelling matched. */
  keyword: string;
  category: Category;
  weight: number;
  /** [start, end) in the original text, UTF-16 code units. */
  start: number;
  end: number;
  /** The original text of the match (with whatever obfuscation it had). */
  original: string;
}

export interface ScreenResult {
  hit: boolean;
  /** Highest-scoring category at or above the threshold, or null. */
  category: Category | null;
  /** Score of `category` when hit; otherwise the highest score found (below the threshold). */
  score: number;
  scores: Record<Category, number>;
  /** Accepted matches in the screened categories, by start offset (also when below the threshold). */
  matches: ScreenMatch[];
}

export interface ScreenOptions {
  /** Categories to screen for (default: all). */
  categories?: readonly Category[];
  /** Score at which a category is a hit (default {@link HIT_THRESHOLD}). */
  threshold?: number;
}

interface CompiledKeyword {
  term: string;
  category: Category;
  weight: number;
}

const isLatinForm = (form: string): boolean => /^[a-z0-9]+$/.test(normalize(form).text);

/** `l`→`i` spellings (1 is read as i by the normalizer, so "1ottery"-style leet needs them). */
function lToI(form: string): string[] {
  const at: number[] = [];
  for (let i = 0; i < form.length; i++) if (form[i] === 'l') at.push(i);
  if (at.length === 0) return [];
  const out: string[] = [];
  const masks = at.length <= 3 ? (1 << at.length) - 1 : 1;
  for (let mask = 1; mask <= masks; mask++) {
    const chars = [...form];
    at.forEach((pos, b) => {
      if (at.length > 3 || mask & (1 << b)) chars[pos] = 'i';
    });
    out.push(chars.join(''));
  }
  return out;
}

/** Expands a lexicon into matcher phrases (see `lexicon.ts` for what each field adds). */
export function compileLexicon(lexicon: Readonly<Record<Category, readonly KeywordDef[]>>): {
  keywords: CompiledKeyword[];
  phrases: PhraseInput[];
  benign: BenignInput[];
} {
  const keywords: CompiledKeyword[] = [];
  const phrases: PhraseInput[] = [];
  const benign: BenignInput[] = [];
  const addLatinAware = (id: number, form: string, boundary: boolean) => {
    phrases.push({ id, form, boundary });
    if (isLatinForm(form)) for (const v of lToI(form.toLowerCase())) phrases.push({ id, form: v, boundary });
  };
  for (const category of CATEGORIES) {
    for (const def of lexicon[category]) {
      const id = keywords.length;
      keywords.push({ term: def.term, category, weight: def.weight });
      const latin = isLatinForm(def.term);
      const defaultBoundary = latin && normalize(def.term).text.length <= 4;
      addLatinAware(id, def.term, def.boundary ?? defaultBoundary);
      for (const v of def.variants ?? []) {
        const form = typeof v === 'string' ? v : v.form;
        const vb = typeof v === 'string' ? undefined : v.boundary;
        addLatinAware(id, form, vb ?? (isLatinForm(form) && normalize(form).text.length <= 4));
      }
      for (const b of def.benign ?? []) benign.push({ id, form: b });
      if (def.pinyin !== undefined) {
        const syllables = def.pinyin.split(' ');
        const chars = [...def.term];
        if (syllables.length !== chars.length) throw new Error(`pinyin of ${def.term} has the wrong length`);
        let pinyinId = id;
        if (def.pinyinWeight !== undefined) {
          pinyinId = keywords.length;
          keywords.push({ term: def.term, category, weight: def.pinyinWeight });
          for (const b of def.benign ?? []) benign.push({ id: pinyinId, form: b });
        }
        addLatinAware(pinyinId, def.pinyin, syllables.join('').length <= 7);
        if (chars.length <= 4) {
          for (let mask = 1; mask < (1 << chars.length) - 1; mask++) {
            const form = chars.map((c, i) => (mask & (1 << i) ? syllables[i]! : c)).join('');
            phrases.push({ id, form, boundary: false });
          }
        }
      }
    }
  }
  return { keywords, phrases, benign };
}

/** A compiled detector; {@link screen} uses one built from {@link LEXICON}. */
export class RestrictedDetector {
  readonly keywords: readonly CompiledKeyword[];
  readonly #matcher: PhraseMatcher;
  readonly #seen: Int32Array;
  #stamp = 0;

  constructor(lexicon: Readonly<Record<Category, readonly KeywordDef[]>> = LEXICON) {
    const { keywords, phrases, benign } = compileLexicon(lexicon);
    this.keywords = keywords;
    this.#matcher = new PhraseMatcher(phrases, benign);
    this.#seen = new Int32Array(keywords.length);
  }

  get patternCount(): number {
    return this.#matcher.patternCount;
  }

  get stateCount(): number {
    return this.#matcher.stateCount;
  }

  screen(text: string, options: ScreenOptions = {}): ScreenResult {
    const threshold = options.threshold ?? HIT_THRESHOLD;
    const wanted = options.categories;
    const scores: Record<Category, number> = { gambling: 0, cryptocurrency: 0, adult: 0 };
    const matches: ScreenMatch[] = [];
    let stamp = (this.#stamp + 1) | 0;
    if (stamp <= 0) {
      this.#seen.fill(0);
      stamp = 1;
    }
    this.#stamp = stamp;
    const seen = this.#seen;
    this.#matcher.run(text, (id, start, end) => {
      const kw = this.keywords[id]!;
      if (wanted !== undefined && !wanted.includes(kw.category)) return;
      if (seen[id] !== stamp) {
        seen[id] = stamp;
        scores[kw.category] += kw.weight;
      }
      matches.push({
        keyword: kw.term,
        category: kw.category,
        weight: kw.weight,
        start,
        end,
        original: text.slice(start, end),
      });
    });
    let category: Category | null = null;
    let best = 0;
    for (const c of CATEGORIES) {
      scores[c] = Math.round(scores[c] * 1000) / 1000;
      if (scores[c] > best) {
        best = scores[c];
        category = c;
      }
    }
    const hit = category !== null && best >= threshold;
    if (matches.length > 1) matches.sort((a, b) => a.start - b.start || b.end - a.end);
    return { hit, category: hit ? category : null, score: best, scores, matches };
  }
}

let shared: RestrictedDetector | undefined;

/** The detector built from the shipped lexicon (compiled on first use, ~ms). */
export function defaultDetector(): RestrictedDetector {
  shared ??= new RestrictedDetector();
  return shared;
}

/** Screens `text` for restricted categories with the shipped lexicon (see the module comment). */
export function screen(text: string, options?: ScreenOptions): ScreenResult {
  return defaultDetector().screen(text, options);
}
