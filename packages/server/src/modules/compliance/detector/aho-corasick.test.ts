import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type AcMatch, AhoCorasick } from './aho-corasick.ts';

const naive = (patterns: readonly string[], text: string): AcMatch[] => {
  const out: AcMatch[] = [];
  for (let end = 1; end <= text.length; end++) {
    patterns.forEach((p, pattern) => {
      if (end >= p.length && text.slice(end - p.length, end) === p)
        out.push({ pattern, start: end - p.length, end });
    });
  }
  return out;
};

const sorted = (m: AcMatch[]) => [...m].sort((a, b) => a.end - b.end || a.pattern - b.pattern);

describe('AhoCorasick', () => {
  it('finds the textbook example (he, she, his, hers) with overlaps', () => {
    const ac = new AhoCorasick(['he', 'she', 'his', 'hers']);
    expect(sorted(ac.findAll('ushers'))).toEqual([
      { pattern: 0, start: 2, end: 4 },
      { pattern: 1, start: 1, end: 4 },
      { pattern: 3, start: 2, end: 6 },
    ]);
  });

  it('matches Han code units and mixed text, reporting positions', () => {
    const ac = new AhoCorasick(['赌博', '博彩', 'usdt', '比特币']);
    expect(ac.findAll('网上赌博彩票usdt比特币')).toEqual([
      { pattern: 0, start: 2, end: 4 },
      { pattern: 1, start: 3, end: 5 },
      { pattern: 2, start: 6, end: 10 },
      { pattern: 3, start: 10, end: 13 },
    ]);
  });

  it('reports a pattern that is a suffix of another, and repeated patterns', () => {
    const ac = new AhoCorasick(['abc', 'bc', 'c', 'bc']);
    expect(sorted(ac.findAll('abc'))).toEqual([
      { pattern: 0, start: 0, end: 3 },
      { pattern: 1, start: 1, end: 3 },
      { pattern: 2, start: 2, end: 3 },
      { pattern: 3, start: 1, end: 3 },
    ]);
  });

  it('resets on characters outside the alphabet and handles empty text', () => {
    const ac = new AhoCorasick(['casino']);
    expect(ac.findAll('cas ino')).toEqual([]);
    expect(ac.findAll('')).toEqual([]);
    expect(ac.findAll('xcasinocasino').map((m) => m.start)).toEqual([1, 7]);
  });

  it('rejects empty patterns', () => {
    expect(() => new AhoCorasick(['a', ''])).toThrow(/empty/);
  });

  it('scans a Uint16Array prefix only', () => {
    const ac = new AhoCorasick(['ab']);
    const codes = Uint16Array.from('abab', (c) => c.charCodeAt(0));
    const ends: number[] = [];
    ac.scan(codes, 3, (_p, end) => ends.push(end));
    expect(ends).toEqual([2]);
  });

  it('scans the same with a full table and with sparse edges', () => {
    const patterns = ['he', 'she', 'his', 'hers', '赌博', '博彩'];
    const dfa = new AhoCorasick(patterns);
    const sparse = new AhoCorasick(patterns, { maxTableEntries: 0 });
    expect(dfa.isDfa).toBe(true);
    expect(sparse.isDfa).toBe(false);
    const text = 'ushers his 赌博彩 hershe';
    expect(sparse.findAll(text)).toEqual(dfa.findAll(text));
  });

  it('agrees with a naive search (property)', () => {
    const alphabet = fc.constantFrom('a', 'b', 'c', '赌', '博');
    const word = fc.array(alphabet, { minLength: 1, maxLength: 5 }).map((a) => a.join(''));
    fc.assert(
      fc.property(
        fc.array(word, { minLength: 1, maxLength: 12 }),
        fc.array(alphabet, { maxLength: 60 }),
        (patterns, chars) => {
          const text = chars.join('');
          const expected = sorted(naive(patterns, text));
          expect(sorted(new AhoCorasick(patterns).findAll(text))).toEqual(expected);
          expect(sorted(new AhoCorasick(patterns, { maxTableEntries: 0 }).findAll(text))).toEqual(expected);
        },
      ),
      { numRuns: 300 },
    );
  });
});
