export { type AcMatch, AhoCorasick } from './aho-corasick.ts';
export {
  compileLexicon,
  defaultDetector,
  RestrictedDetector,
  type ScreenMatch,
  type ScreenOptions,
  type ScreenResult,
  screen,
} from './detector.ts';
export { CATEGORIES, type Category, HIT_THRESHOLD, type KeywordDef, LEXICON } from './lexicon.ts';
export { MARKER_GROUPS, MCC_PROFILES, type MislabelledResult, mislabelled } from './mislabelled.ts';
export { type NormalizedText, NormBuffer, normalize, normalizeInto, originalSpan } from './normalize.ts';
