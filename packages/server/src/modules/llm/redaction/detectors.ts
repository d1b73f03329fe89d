/**
 * Detectors of payment identifiers in free text (peers.md §5 idea 4). Hand-written because the
 * checks are small and specific to China's payment identifiers, and a general PII engine
 * (Presidio) is a Python service that fails open when it errors (LiteLLM #30728): each detector
 * here is a regex plus, where the identifier has one, its checksum —
 *   - bank-card numbers: 13–19 digits (optionally grouped by spaces or dashes) passing Luhn;
 *   - Chinese resident ID numbers: 17 digits + check character, ISO 7064 MOD 11-2 (GB 11643-1999);
 *   - Chinese mobile numbers: 1[3-9] + 9 digits, optionally +86;
 *   - OpenIDs: 28 characters starting with `o` (WeChat's and Zhifu's format, wechatpay-v3.md §3.6);
 *   - transaction_id: `4200` + 24 digits; e-mail addresses;
 *   - merchant-configured patterns and the merchant's own out_trade_no values (looked up by caller).
 * A match never overlaps another: the earliest match wins, then the longest.
 */

export type IdentifierKind = 'OPENID' | 'TXN' | 'TRADE' | 'CARD' | 'CNID' | 'PHONE' | 'EMAIL' | 'CUSTOM';

export interface Detection {
  kind: IdentifierKind;
  start: number;
  end: number;
  value: string;
}

export interface CustomPattern {
  name: string;
  regex: RegExp;
}

/** Passes the Luhn check (ISO/IEC 7812-1). `digits` holds only 0-9. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

const id_weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const id_check = '10X98765432';

/** GB 11643-1999 check character (ISO 7064 MOD 11-2) and a plausible birth date. */
export function residentIdValid(id: string): boolean {
  if (!/^\d{17}[\dXx]$/.test(id)) return false;
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += (id.charCodeAt(i) - 48) * id_weights[i]!;
  if (id_check[sum % 11] !== id[17]!.toUpperCase()) return false;
  const month = Number(id.slice(10, 12));
  const day = Number(id.slice(12, 14));
  return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

// Lookarounds instead of \b: `-` and `_` belong to OpenIDs, and digits run into CJK text with no
// word boundary (`手机13800138000`), which \b would miss.
const openid_re = /(?<![A-Za-z0-9_-])o[A-Za-z0-9_-]{27}(?![A-Za-z0-9_-])/g;
const txn_re = /(?<!\d)4200\d{24}(?!\d)/g;
const cnid_re = /(?<![\dA-Za-z])\d{17}[\dXx](?![\dA-Za-z])/g;
const card_re = /(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d])/g;
const phone_re = /(?<![\d+])(?:\+?86[ -]?)?1[3-9]\d{9}(?!\d)/g;
const email_re = /[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}/g;
/** Tokens that could be an out_trade_no (APIv3: 6–32 of [A-Za-z0-9_-|*@]) with at least one digit. */
const trade_candidate_re = /(?<![A-Za-z0-9_\-|*@])[A-Za-z0-9_\-|*@]{6,32}(?![A-Za-z0-9_\-|*@])/g;

function scan(
  text: string,
  re: RegExp,
  kind: IdentifierKind,
  out: Detection[],
  check?: (v: string) => boolean,
) {
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const value = m[0];
    if (value.length === 0) {
      re.lastIndex++;
      continue;
    }
    if (!check || check(value)) out.push({ kind, start: m.index, end: m.index + value.length, value });
  }
}

/** Candidate out_trade_no tokens in `text`, for the caller to look up among the merchant's orders. */
export function tradeCandidates(text: string, into: Set<string>): void {
  trade_candidate_re.lastIndex = 0;
  for (let m = trade_candidate_re.exec(text); m !== null; m = trade_candidate_re.exec(text)) {
    if (/\d/.test(m[0])) into.add(m[0]);
  }
}

/**
 * Every identifier in `text`, sorted by position, non-overlapping. `trades` are the merchant's
 * out_trade_no values known to occur in the text.
 */
export function detect(
  text: string,
  custom: readonly CustomPattern[],
  trades: ReadonlySet<string>,
): Detection[] {
  const found: Detection[] = [];
  scan(text, openid_re, 'OPENID', found);
  scan(text, txn_re, 'TXN', found);
  scan(text, cnid_re, 'CNID', found, residentIdValid);
  scan(text, card_re, 'CARD', found, (v) => luhnValid(v.replace(/[ -]/g, '')));
  scan(text, phone_re, 'PHONE', found);
  scan(text, email_re, 'EMAIL', found);
  for (const p of custom) scan(text, new RegExp(p.regex.source, 'gu'), 'CUSTOM', found);
  if (trades.size > 0) {
    trade_candidate_re.lastIndex = 0;
    for (let m = trade_candidate_re.exec(text); m !== null; m = trade_candidate_re.exec(text)) {
      if (trades.has(m[0]))
        found.push({ kind: 'TRADE', start: m.index, end: m.index + m[0].length, value: m[0] });
    }
  }
  found.sort((a, b) => a.start - b.start || b.end - a.end);
  const kept: Detection[] = [];
  let end = -1;
  for (const d of found) {
    if (d.start < end) continue;
    kept.push(d);
    end = d.end;
  }
  return kept;
}
