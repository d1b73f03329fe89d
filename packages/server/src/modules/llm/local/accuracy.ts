/**
 * Intent and slot accuracy of `zhifu-local` on the labelled corpus (corpus/intents.jsonl): an
 * utterance counts as right when the intent, the amount in fen and the order reference all equal
 * the labels (an absent label means the slot must be absent). Used by the test and bench:agent-safety.
 */
import { readFileSync } from 'node:fs';
import { type Intent, read } from './intents.ts';

export interface LabelledUtterance {
  text: string;
  intent: Intent;
  amount_fen?: number;
  order?: string;
}

export function loadIntentCorpus(): LabelledUtterance[] {
  const text = readFileSync(new URL('./corpus/intents.jsonl', import.meta.url), 'utf8');
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as LabelledUtterance);
}

export interface AccuracyReport {
  total: number;
  zh: number;
  en: number;
  intent_correct: number;
  slots_correct: number;
  all_correct: number;
  misses: { text: string; expected: LabelledUtterance; got: ReturnType<typeof read> }[];
}

export function measureAccuracy(corpus: LabelledUtterance[] = loadIntentCorpus()): AccuracyReport {
  const r: AccuracyReport = {
    total: 0,
    zh: 0,
    en: 0,
    intent_correct: 0,
    slots_correct: 0,
    all_correct: 0,
    misses: [],
  };
  for (const u of corpus) {
    const got = read(u.text);
    r.total++;
    if (got.lang === 'zh') r.zh++;
    else r.en++;
    const intentOk = got.intent === u.intent;
    const slotsOk = got.amount_fen === u.amount_fen && got.order === u.order;
    if (intentOk) r.intent_correct++;
    if (slotsOk) r.slots_correct++;
    if (intentOk && slotsOk) r.all_correct++;
    else r.misses.push({ text: u.text, expected: u, got });
  }
  return r;
}
