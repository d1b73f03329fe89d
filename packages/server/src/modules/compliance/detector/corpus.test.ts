/**
 * Precision and recall of the restricted-category screen on the labelled corpus
 * (../corpus/restricted-corpus.jsonl). A text counts as predicted `c` when `screen` hits with category
 * `c`, as `clean` otherwise. Per category: precision = TP / predicted c, recall = TP / labelled c.
 * "overall" is micro-averaged over the three categories (the category must be right); "flagged" is
 * the freeze decision alone (restricted vs clean).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { screen } from './detector.ts';
import { CATEGORIES } from './lexicon.ts';

interface Row {
  text: string;
  label: 'gambling' | 'cryptocurrency' | 'adult' | 'clean';
  kind: 'positive' | 'obfuscated' | 'hard_negative' | 'negative';
  source: 'order' | 'goods' | 'merchant' | 'chat';
}

const rows: Row[] = readFileSync(new URL('../corpus/restricted-corpus.jsonl', import.meta.url), 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
  .map((l) => JSON.parse(l) as Row);

const ratio = (a: number, b: number) => (b === 0 ? 1 : a / b);
const fmt = (x: number) => x.toFixed(3);

describe('restricted-category corpus', () => {
  it('is well formed: ≥ 400 rows, all labels, kinds and sources, both languages', () => {
    expect(rows.length).toBeGreaterThanOrEqual(400);
    const labels = new Set(rows.map((r) => r.label));
    expect([...labels].sort()).toEqual(['adult', 'clean', 'cryptocurrency', 'gambling']);
    expect(new Set(rows.map((r) => r.kind))).toEqual(
      new Set(['positive', 'obfuscated', 'hard_negative', 'negative']),
    );
    expect(new Set(rows.map((r) => r.source))).toEqual(new Set(['order', 'goods', 'merchant', 'chat']));
    for (const r of rows) {
      expect(r.kind === 'hard_negative' || r.kind === 'negative').toBe(r.label === 'clean');
    }
    expect(rows.filter((r) => /\p{Script=Han}/u.test(r.text)).length).toBeGreaterThan(150);
    expect(rows.filter((r) => !/\p{Script=Han}/u.test(r.text)).length).toBeGreaterThan(150);
    expect(rows.filter((r) => r.kind === 'hard_negative').length).toBeGreaterThanOrEqual(100);
    expect(new Set(rows.map((r) => r.text)).size).toBe(rows.length);
  });

  it('precision ≥ 0.95 and recall ≥ 0.9 overall', () => {
    const stats = Object.fromEntries(CATEGORIES.map((c) => [c, { tp: 0, fp: 0, fn: 0 }]));
    const byKind: Record<string, { n: number; right: number }> = {};
    let flaggedTp = 0;
    let flaggedFp = 0;
    let flaggedFn = 0;
    const errors: string[] = [];
    for (const r of rows) {
      const res = screen(r.text);
      const predicted = res.hit && res.category ? res.category : 'clean';
      const kind = byKind[r.kind] ?? { n: 0, right: 0 };
      byKind[r.kind] = kind;
      kind.n++;
      if (predicted === r.label) kind.right++;
      else errors.push(`${r.label}/${r.kind} → ${predicted} (${res.score}): ${r.text}`);
      if (predicted !== 'clean' && predicted === r.label) stats[predicted]!.tp++;
      if (predicted !== 'clean' && predicted !== r.label) stats[predicted]!.fp++;
      if (r.label !== 'clean' && predicted !== r.label) stats[r.label]!.fn++;
      if (r.label !== 'clean' && predicted !== 'clean') flaggedTp++;
      if (r.label === 'clean' && predicted !== 'clean') flaggedFp++;
      if (r.label !== 'clean' && predicted === 'clean') flaggedFn++;
    }
    const lines = ['category        precision  recall   tp  fp  fn'];
    let tp = 0;
    let fp = 0;
    let fn = 0;
    for (const c of CATEGORIES) {
      const s = stats[c]!;
      tp += s.tp;
      fp += s.fp;
      fn += s.fn;
      lines.push(
        `${c.padEnd(15)} ${fmt(ratio(s.tp, s.tp + s.fp)).padStart(9)}  ${fmt(ratio(s.tp, s.tp + s.fn)).padStart(6)}  ${String(s.tp).padStart(3)} ${String(s.fp).padStart(3)} ${String(s.fn).padStart(3)}`,
      );
    }
    const precision = ratio(tp, tp + fp);
    const recall = ratio(tp, tp + fn);
    lines.push(
      `${'overall'.padEnd(15)} ${fmt(precision).padStart(9)}  ${fmt(recall).padStart(6)}  ${String(tp).padStart(3)} ${String(fp).padStart(3)} ${String(fn).padStart(3)}`,
    );
    lines.push(
      `${'flagged'.padEnd(15)} ${fmt(ratio(flaggedTp, flaggedTp + flaggedFp)).padStart(9)}  ${fmt(ratio(flaggedTp, flaggedTp + flaggedFn)).padStart(6)}`,
    );
    lines.push(
      `by kind: ${Object.entries(byKind)
        .map(([k, v]) => `${k} ${v.right}/${v.n}`)
        .join(', ')}`,
    );
    lines.push(`${rows.length} rows; misclassified:`, ...errors.map((e) => `  ${e}`));
    console.log(lines.join('\n'));
    expect(precision).toBeGreaterThanOrEqual(0.95);
    expect(recall).toBeGreaterThanOrEqual(0.9);
    for (const c of CATEGORIES) {
      const s = stats[c]!;
      expect(ratio(s.tp, s.tp + s.fp), c).toBeGreaterThanOrEqual(0.9);
      expect(ratio(s.tp, s.tp + s.fn), c).toBeGreaterThanOrEqual(0.85);
    }
  });
});
