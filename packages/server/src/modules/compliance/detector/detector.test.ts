import { describe, expect, it } from 'vitest';
import { compileLexicon, RestrictedDetector, screen } from './detector.ts';
import { CATEGORIES, LEXICON } from './lexicon.ts';
import { normalize } from './normalize.ts';
import { traditionalPairs } from './traditional.ts';

/** The single match of `keyword` in `text`: its original slice must equal `expected`. */
const matchOf = (text: string, keyword: string) => {
  const r = screen(text);
  const m = r.matches.find((x) => x.keyword === keyword);
  if (!m) throw new Error(`no ${keyword} in ${JSON.stringify(text)}: ${JSON.stringify(r.matches)}`);
  return { r, m };
};

describe('screen: obfuscation classes, with original offsets', () => {
  const cases: { name: string; text: string; keyword: string; original: string; category: string }[] = [
    { name: 'plain Chinese', text: '网上赌博充值', keyword: '赌博', original: '赌博', category: 'gambling' },
    {
      name: 'plain English',
      text: 'Online casino deposit',
      keyword: 'casino',
      original: 'casino',
      category: 'gambling',
    },
    {
      name: 'spaces in Han',
      text: '在线赌 博平台',
      keyword: '赌博',
      original: '赌 博',
      category: 'gambling',
    },
    { name: 'hyphens in Han', text: '赌-博-网站', keyword: '赌博', original: '赌-博', category: 'gambling' },
    { name: 'dots in Latin', text: 'try b.e.t now', keyword: 'bet', original: 'b.e.t', category: 'gambling' },
    {
      name: 'spaced letters',
      text: '来 c a s i n o 玩',
      keyword: 'casino',
      original: 'c a s i n o',
      category: 'gambling',
    },
    {
      name: 'zero-width',
      text: 'ca\u200bsino',
      keyword: 'casino',
      original: 'ca\u200bsino',
      category: 'gambling',
    },
    { name: 'emoji between', text: '赌🎲博 平台', keyword: '赌博', original: '赌🎲博', category: 'gambling' },
    {
      name: 'full-width',
      text: '充值ＵＳＤＴ',
      keyword: 'usdt',
      original: 'ＵＳＤＴ',
      category: 'cryptocurrency',
    },
    { name: 'traditional', text: '澳門賭場', keyword: '赌场', original: '賭場', category: 'gambling' },
    { name: 'pinyin', text: 'dubo pingtai', keyword: '赌博', original: 'dubo', category: 'gambling' },
    {
      name: 'pinyin, spaced',
      text: 'zaixian du bo',
      keyword: '赌博',
      original: 'du bo',
      category: 'gambling',
    },
    { name: 'pinyin + Han', text: '在线du博', keyword: '赌博', original: 'du博', category: 'gambling' },
    { name: 'initials', text: 'bjl 稳赢', keyword: '百家乐', original: 'bjl', category: 'gambling' },
    { name: 'homoglyphs', text: 'саsіnо night', keyword: 'casino', original: 'саsіnо', category: 'gambling' },
    {
      name: 'homoglyph capitals',
      text: 'ВТС 0.1',
      keyword: 'btc',
      original: 'ВТС',
      category: 'cryptocurrency',
    },
    {
      name: 'leetspeak',
      text: 'b1tc0in otc',
      keyword: 'bitcoin',
      original: 'b1tc0in',
      category: 'cryptocurrency',
    },
    {
      name: 'leet symbols',
      text: 'e$cort service',
      keyword: 'escort service',
      original: 'e$cort service',
      category: 'adult',
    },
    { name: 'homophone', text: '涩情网站', keyword: '色情', original: '涩情', category: 'adult' },
    { name: 'math letters', text: '𝐩𝐨𝐫𝐧 pack', keyword: 'porn', original: '𝐩𝐨𝐫𝐧', category: 'adult' },
    {
      name: 'mixed',
      text: 'ＶＩＰ 賭-bo 平台',
      keyword: '赌博',
      original: '賭-bo',
      category: 'gambling',
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const { r, m } = matchOf(c.text, c.keyword);
      expect(m.original).toBe(c.original);
      expect(c.text.slice(m.start, m.end)).toBe(c.original);
      expect(m.category).toBe(c.category);
      if (m.weight >= 1) {
        expect(r.hit).toBe(true);
        expect(r.category).toBe(c.category);
      }
    });
  }
});

describe('screen: hard negatives are not flagged', () => {
  const clean = [
    '我跟他打赌博物馆周一闭馆', // 赌博 inside 打赌 + 博物馆
    '赌气不吃饭',
    '打赌谁先到',
    '人民币找零',
    '游戏厅游戏币 100枚',
    '福利彩票站',
    '体育彩票投注站',
    '比特率 320kbps',
    '以太网交换机',
    '成人教育',
    '成人纸尿裤',
    '色彩搭配',
    '本店特色情侣套餐',
    '以下注意事项',
    '支援交通',
    '18K彩金项链',
    '人民币安全支付',
    '一次性交易',
    '有机菠菜 500g',
    '挖掘机配件',
    '矿泉水',
    '煤矿机电设备',
    'ethernet cable',
    'ethics book',
    'alphabet soup',
    'better coffee',
    "Betty's bakery",
    'Casino Royale DVD',
    'Baccarat Rouge 540 perfume',
    'top ornament',
    'PO RN staffing',
    'Unisex hoodie',
    'Applied Cryptography',
    'Nude lipstick',
    'Ford Escort brake pads',
    'I bet you will love it',
    'xxx先生 收',
  ];
  for (const text of clean) {
    it(text, () => {
      const r = screen(text);
      expect(r.hit, JSON.stringify(r.matches)).toBe(false);
      expect(r.category).toBeNull();
    });
  }
});

describe('screen: boundaries and spread-out Latin words', () => {
  it('requires boundaries for short Latin tokens', () => {
    expect(screen('btc').hit).toBe(true);
    expect(screen('BTC充值').hit).toBe(true);
    expect(screen('100btc').hit).toBe(true);
    expect(screen('btcc').matches).toEqual([]);
    expect(screen('usdtx').matches).toEqual([]);
    expect(screen('better').matches).toEqual([]);
    expect(screen('alphabet').matches).toEqual([]);
  });

  it('accepts spread-out letters only on word boundaries', () => {
    expect(screen('p o r n').hit).toBe(true);
    expect(screen('por n').hit).toBe(false); // unnatural split of a short word
    expect(screen('cas ino').hit).toBe(true); // long words may be split anywhere
    expect(screen('top ornament').hit).toBe(false);
    expect(screen('sic bo').hit).toBe(true); // the keyword's own space
  });

  it('does not match across hard separators', () => {
    expect(screen('打赌，博彩').matches.map((m) => m.keyword)).toEqual(['博彩']);
    expect(screen('赌。博').hit).toBe(false);
    expect(screen('cas\nino').hit).toBe(false);
  });
});

describe('screen: scoring', () => {
  it('needs a second signal for weak keywords', () => {
    const weak = screen('新鲜菠菜');
    expect(weak.hit).toBe(false);
    expect(weak.score).toBeCloseTo(0.4);
    expect(weak.matches[0]?.keyword).toBe('菠菜');
    const both = screen('菠菜平台 下注');
    expect(both.hit).toBe(true);
    expect(both.score).toBeCloseTo(1.4);
  });

  it('counts each keyword once however often it occurs', () => {
    const r = screen('xxx xxx xxx xxx');
    expect(r.matches).toHaveLength(4);
    expect(r.score).toBeCloseTo(0.5);
    expect(r.hit).toBe(false);
  });

  it('picks the highest-scoring category and reports all scores', () => {
    const r = screen('比特币 赌场 赌博 百家乐');
    expect(r.category).toBe('gambling');
    expect(r.scores.gambling).toBe(3);
    expect(r.scores.cryptocurrency).toBe(1);
    expect(r.matches.map((m) => m.start)).toEqual([0, 4, 7, 10]);
  });

  it('screens only the requested categories, with a custom threshold', () => {
    const r = screen('比特币 赌场', { categories: ['cryptocurrency'] });
    expect(r.category).toBe('cryptocurrency');
    expect(r.matches.map((m) => m.keyword)).toEqual(['比特币']);
    expect(screen('新鲜菠菜', { threshold: 0.3 }).hit).toBe(true);
  });

  it('handles empty and separator-only text', () => {
    for (const t of ['', '   ', '，。！']) {
      const r = screen(t);
      expect(r).toEqual({
        hit: false,
        category: null,
        score: 0,
        scores: { gambling: 0, cryptocurrency: 0, adult: 0 },
        matches: [],
      });
    }
  });

  it('builds a detector from a custom lexicon', () => {
    const d = new RestrictedDetector({
      gambling: [{ term: '斗鸡', weight: 1 }],
      cryptocurrency: [],
      adult: [],
    });
    expect(d.screen('斗 雞 比赛').category).toBe('gambling');
    expect(d.screen('比特币').hit).toBe(false);
  });
});

describe('lexicon', () => {
  it('every form normalizes to something matchable', () => {
    const { phrases, benign, keywords } = compileLexicon(LEXICON);
    expect(keywords.length).toBeGreaterThan(150);
    for (const p of [...phrases, ...benign]) {
      const n = normalize(p.form).text;
      expect(n.length, p.form).toBeGreaterThan(0);
      expect(n.includes('\n'), p.form).toBe(false);
    }
  });

  it('every keyword is found in its own display form, and in traditional characters', () => {
    const toTraditional = new Map(traditionalPairs().map(([t, s]) => [s, t]));
    for (const c of CATEGORIES) {
      for (const def of LEXICON[c]) {
        const r = screen(def.term);
        expect(
          r.matches.some((m) => m.keyword === def.term),
          def.term,
        ).toBe(true);
        const trad = [...def.term].map((ch) => toTraditional.get(ch) ?? ch).join('');
        expect(
          screen(trad).matches.some((m) => m.keyword === def.term),
          trad,
        ).toBe(true);
      }
    }
  });
});
