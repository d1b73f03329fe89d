/**
 * Money amounts in payment chat, Chinese and English, to integer fen: `¥30.5`, `30 yuan`, `RMB 30`,
 * `三十块五` (30.5: a digit after 块 is 角), `两百` (200), `两百五` (250, colloquial), `1.5万`
 * (15,000), `三块二毛五` (3.25), `五毛` (0.5), `thirty yuan`, and a bare `20` when nothing better
 * is there. Hand-written because no maintained npm package reads colloquial 块/毛 amounts (the
 * Chinese-numeral packages convert formal numerals only) and the model must be dependency-free.
 */
import { amount_fen_max } from '../../../lib/limits.ts';

const zh_digits: Record<string, number> = {
  零: 0,
  〇: 0,
  一: 1,
  壹: 1,
  幺: 1,
  二: 2,
  两: 2,
  贰: 2,
  三: 3,
  叁: 3,
  四: 4,
  肆: 4,
  五: 5,
  伍: 5,
  六: 6,
  陆: 6,
  七: 7,
  柒: 7,
  八: 8,
  捌: 8,
  九: 9,
  玖: 9,
};
const zh_units: Record<string, number> = { 十: 10, 拾: 10, 百: 100, 佰: 100, 千: 1000, 仟: 1000 };
const zh_big: Record<string, number> = { 万: 10_000, 萬: 10_000, 亿: 100_000_000 };
const zh_numeral_chars = '零〇一壹幺二两贰三叁四肆五伍六陆七柒八捌九玖十拾百佰千仟万萬亿';

/**
 * A Chinese integer such as 三十五, 一百零五, 两百五 (colloquial 250), 三万五 (35,000), or Arabic
 * digits mixed in (3万). Undefined when `s` is not a number.
 */
export function chineseInteger(s: string): number | undefined {
  if (s.length === 0) return undefined;
  if (/^\d+$/.test(s)) return Number(s);
  let total = 0;
  let section = 0;
  let num = 0;
  let lastUnit = 0;
  let zeroSeen = false;
  let digitsSeen = 0;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (/\d/.test(ch)) {
      let j = i;
      while (j < s.length && /\d/.test(s[j]!)) j++;
      num = Number(s.slice(i, j));
      i = j - 1;
      digitsSeen++;
      continue;
    }
    const d = zh_digits[ch];
    if (d !== undefined) {
      if (d === 0) zeroSeen = true;
      num = d;
      digitsSeen++;
      continue;
    }
    const unit = zh_units[ch];
    if (unit !== undefined) {
      section += (num === 0 && unit === 10 && digitsSeen === 0 ? 1 : num) * unit;
      num = 0;
      lastUnit = unit;
      zeroSeen = false;
      digitsSeen++;
      continue;
    }
    const big = zh_big[ch];
    if (big !== undefined) {
      total += (section + num) * big;
      section = 0;
      num = 0;
      lastUnit = big;
      zeroSeen = false;
      continue;
    }
    return undefined;
  }
  // 两百五 = 250, 一千二 = 1200, 三万五 = 35,000: a lone trailing digit takes the unit below the last.
  if (num > 0 && lastUnit >= 100 && !zeroSeen) num *= lastUnit / 10;
  return total + section + num;
}

function fen(yuan: number): number | undefined {
  const f = Math.round(yuan * 100);
  return Number.isSafeInteger(f) && f > 0 && f <= amount_fen_max ? f : undefined;
}

function digitValue(s: string | undefined): number {
  if (s === undefined || s === '') return 0;
  if (/^\d$/.test(s)) return Number(s);
  return zh_digits[s] ?? 0;
}

/** Full-width digits and punctuation to ASCII, so ３０．５ reads as 30.5. */
export function normalize(text: string): string {
  return text
    .replace(/[０-９]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xfee0))
    .replace(/．/g, '.')
    .replace(/，/g, ',')
    .replace(/：/g, ':')
    .replace(/＃/g, '#');
}

const en_small: Record<string, number> = {
  zero: 0,
  one: 1,
  a: 1,
  an: 1,
  two: 2,
  three: 3,
  four: 4,
  five: 5,
  six: 6,
  seven: 7,
  eight: 8,
  nine: 9,
  ten: 10,
  eleven: 11,
  twelve: 12,
  thirteen: 13,
  fourteen: 14,
  fifteen: 15,
  sixteen: 16,
  seventeen: 17,
  eighteen: 18,
  nineteen: 19,
  twenty: 20,
  thirty: 30,
  forty: 40,
  fifty: 50,
  sixty: 60,
  seventy: 70,
  eighty: 80,
  ninety: 90,
};

/** "thirty", "two hundred and fifty", "a thousand": undefined when the words are not a number. */
export function englishInteger(words: string[]): number | undefined {
  let total = 0;
  let current = 0;
  let seen = false;
  for (const w of words) {
    if (w === 'and') continue;
    const small = en_small[w];
    if (small !== undefined) {
      current += small;
      seen = true;
    } else if (w === 'hundred') {
      current = (current || 1) * 100;
      seen = true;
    } else if (w === 'thousand') {
      total += (current || 1) * 1000;
      current = 0;
      seen = true;
    } else return undefined;
  }
  return seen ? total + current : undefined;
}

const currency_before = /(?:¥|￥|rmb|cny)\s*(\d+(?:\.\d{1,2})?)\s*(万|千|k\b)?/i;
const digits_with_unit =
  /(\d+(?:\.\d+)?)\s*(万|千|k\b)?\s*(块钱|块|元|圆|yuan|rmb|cny|kuai|bucks?)(?:\s*(\d)\s*(毛|角)?(?:\s*(\d)\s*分?)?)?/i;
const zh_money = new RegExp(
  `([${zh_numeral_chars}\\d.点]+)(块钱|块|元|圆)([${zh_numeral_chars}\\d])?(毛|角)?(?:([${zh_numeral_chars}\\d])分?)?`,
);
const zh_jiao = new RegExp(`([${zh_numeral_chars}\\d])(毛|角)(?:([${zh_numeral_chars}\\d])分?)?`);
const digits_wan = /(\d+(?:\.\d+)?)\s*(万|千)/;
const en_words_money =
  /\b((?:(?:zero|one|a|an|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|and)[\s-]+)+)(yuan|rmb|kuai|bucks?)\b/i;
const zh_bare = new RegExp(
  `(?:付|退|转|给|支付|退款|退回|退我|付款)[了我给你]*([${zh_numeral_chars}点]{1,12})`,
);
const zh_numeral_run = new RegExp(`[${zh_numeral_chars}][${zh_numeral_chars}点]*`, 'g');
const bare_number = /(?<![\w.#-])(\d{1,9}(?:\.\d{1,2})?)(?![\w.])/;

function zhDecimal(s: string): number | undefined {
  const [int, dec] = s.replace(/点/g, '.').split('.');
  const i = chineseInteger(int ?? '');
  if (i === undefined) return undefined;
  if (dec === undefined) return i;
  const decimals = [...dec].map((c) => (/\d/.test(c) ? c : String(zh_digits[c] ?? ''))).join('');
  return decimals === '' ? i : Number(`${i}.${decimals}`);
}

function scale(unit: string | undefined): number {
  if (!unit) return 1;
  if (unit === '万') return 10_000;
  return 1000;
}

/**
 * The amount in `text`, in fen, or undefined. Marked amounts (a currency sign or unit) win over
 * bare numbers; order numbers (long digit runs, or after "order"/订单) are never read as amounts.
 */
export function parseAmount(text: string): number | undefined {
  const t = normalize(text).replace(
    /(?:订单号?|order\s*(?:no\.?|number|#|id)?)\s*[:#]?\s*[A-Za-z0-9_|*@-]{6,}/gi,
    ' ',
  );
  let m = currency_before.exec(t);
  if (m) return fen(Number(m[1]) * scale(m[2]));
  m = digits_with_unit.exec(t);
  if (m) {
    return fen(Number(m[1]) * scale(m[2]) + Number(m[4] ?? 0) / 10 + Number(m[6] ?? 0) / 100);
  }
  m = zh_money.exec(t);
  if (m) {
    const yuan = zhDecimal(m[1]!);
    if (yuan !== undefined) return fen(yuan + digitValue(m[3]) / 10 + digitValue(m[5]) / 100);
  }
  m = zh_jiao.exec(t);
  if (m) return fen(digitValue(m[1]) / 10 + digitValue(m[3]) / 100);
  m = digits_wan.exec(t);
  if (m) return fen(Number(m[1]) * scale(m[2]));
  m = en_words_money.exec(t);
  if (m) {
    const n = englishInteger(
      m[1]!
        .toLowerCase()
        .trim()
        .split(/[\s-]+/),
    );
    if (n !== undefined) return fen(n);
  }
  m = zh_bare.exec(t);
  // 付一下 / 退一点 / 退一部分 are "a bit", not one yuan.
  if (m && !/^[下点些部半]/.test(t.slice(m.index + m[0].length))) {
    const n = zhDecimal(m[1]!);
    if (n !== undefined && n > 0) return fen(n);
  }
  // A lone Chinese number (两百, 三万五, 二十): at least two numeral characters, or the whole message.
  for (const run of t.match(zh_numeral_run) ?? []) {
    const number = run.replace(/点$/, '');
    if (number.length < 2 && run !== t.trim()) continue;
    const n = zhDecimal(number);
    if (n !== undefined && n > 0) return fen(n);
  }
  m = bare_number.exec(t);
  if (m) return fen(Number(m[1]));
  const words =
    /\b((?:(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|and)[\s-]+)*(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand))\b/i.exec(
      t,
    );
  if (words) {
    const n = englishInteger(words[1]!.toLowerCase().split(/[\s-]+/));
    if (n !== undefined && n > 0) return fen(n);
  }
  return undefined;
}
