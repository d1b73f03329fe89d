import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { screen } from './detector.ts';
import { normalize, originalSpan } from './normalize.ts';
import { traditionalPairs, traditionalToSimplified } from './traditional.ts';

const norm = (s: string) => normalize(s).text;

describe('normalize', () => {
  it('folds full-width forms, case and mathematical letters (NFKC)', () => {
    expect(norm('ＣＡＳＩＮＯ')).toBe('casino');
    expect(norm('ＵＳＤＴ１００')).toBe('usdt100');
    expect(norm('𝐜𝐚𝐬𝐢𝐧𝐨')).toBe('casino');
    expect(norm('Cásino')).toBe('casino');
  });

  it('maps Cyrillic and Greek homoglyphs to Latin', () => {
    expect(norm('саsіnо')).toBe('casino'); // с а і о are Cyrillic
    expect(norm('ВТС')).toBe('btc'); // Cyrillic capitals
    expect(norm('ΒΕΤ')).toBe('bet'); // Greek capitals
    expect(norm('ρоrn')).toBe('porn');
  });

  it('converts traditional characters to simplified', () => {
    expect(norm('賭場')).toBe('赌场');
    expect(norm('比特幣')).toBe('比特币');
    expect(norm('約砲')).toBe('约炮');
    expect(norm('百家樂')).toBe('百家乐');
  });

  it('applies leetspeak only inside alphabetic tokens', () => {
    expect(norm('p0rn')).toBe('porn');
    expect(norm('b1tc0in')).toBe('bitcoin');
    expect(norm('c@sino')).toBe('casino');
    expect(norm('casin0')).toBe('casino');
    expect(norm('$ex')).toBe('sex');
    expect(norm('p!rn')).toBe('pirn');
    // numbers stay numbers
    expect(norm('100元')).toBe('100元');
    expect(norm('usdt100')).toBe('usdt100');
    expect(norm('5usdt')).toBe('5usdt');
    expect(norm('bet365')).toBe('bet365');
    expect(norm('iphone15')).toBe('iphone15');
    expect(norm('¥5')).toBe('5');
    expect(norm('hi!')).toBe('hi');
  });

  it('removes soft separators inside words and records the gap', () => {
    for (const s of ['赌 博', '赌-博', '赌·博', '赌\u200b博', '赌🎲博', '赌　博'])
      expect(norm(s)).toBe('赌博');
    expect(norm('c a s i n o')).toBe('casino');
    expect(norm('b.e.t')).toBe('bet');
    expect(Array.from(normalize('b.e.t').gapBefore)).toEqual([0, 1, 1]);
    // zero-width characters are invisible: no gap
    expect(Array.from(normalize('ca\u200bsino').gapBefore)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('turns hard separators into a line break that nothing matches across', () => {
    expect(norm('打赌，博物馆')).toBe('打赌\n博物馆');
    expect(norm('End. Next')).toBe('end\nnext');
    expect(norm('a,b;c')).toBe('a\nb\nc');
    expect(norm('  ，，hello  ')).toBe('hello');
  });

  it('maps every normalized unit back to its original span', () => {
    const input = 'Ｃ🎰а s\u200bі.n0 賭 場';
    const n = normalize(input);
    expect(n.text).toBe('casino赌场');
    expect(originalSpan(n, 0, 6)).toEqual([0, input.indexOf('0') + 1]);
    expect(input.slice(...originalSpan(n, 0, 6))).toBe('Ｃ🎰а s\u200bі.n0');
    expect(input.slice(...originalSpan(n, 6, 8))).toBe('賭 場');
    expect(input.slice(...originalSpan(n, 1, 2))).toBe('а');
    // astral input: the emoji is a separator, the math letter maps to its two code units
    const m = normalize('x🎲𝐲');
    expect(m.text).toBe('xy');
    expect(Array.from(m.start)).toEqual([0, 3]);
    expect(Array.from(m.end)).toEqual([1, 5]);
  });

  it('keeps offsets ordered and inside the input; matches map back exactly (property)', () => {
    const piece = fc.constantFrom(
      'a',
      'Z',
      '0',
      '1',
      '5',
      '@',
      '$',
      '!',
      '|',
      '.',
      ' ',
      '-',
      ',',
      '，',
      '。',
      '\n',
      '赌',
      '賭',
      '博',
      'с',
      'Ａ',
      '１',
      '𝐜',
      '🎲',
      '\u200b',
      '\u0301',
      'ß',
      '㎏',
      '\ud800',
      'é',
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 40 }), (pieces) => {
        const input = pieces.join('');
        const n = normalize(input);
        let last = 0;
        for (let u = 0; u < n.text.length; u++) {
          expect(n.start[u]!).toBeGreaterThanOrEqual(last);
          expect(n.end[u]!).toBeGreaterThan(n.start[u]!);
          expect(n.end[u]!).toBeLessThanOrEqual(input.length);
          last = n.start[u]!;
        }
        for (const m of screen(input).matches) expect(input.slice(m.start, m.end)).toBe(m.original);
      }),
      { numRuns: 500 },
    );
  });

  it('has a consistent traditional table', () => {
    const pairs = traditionalPairs();
    expect(pairs.length).toBeGreaterThan(500);
    for (const [t, s] of pairs) {
      expect(traditionalToSimplified[t.charCodeAt(0)]).toBe(s.charCodeAt(0));
      // no chains: a simplified character is not itself converted
      expect(traditionalToSimplified[s.charCodeAt(0)]).toBe(0);
    }
  });
});
