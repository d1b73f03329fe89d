/**
 * Billing periods in China Standard Time (UTC+8, no daylight saving): statements are per calendar
 * month and APIv3 bills per calendar day, both as a merchant in China reads its calendar.
 */
const china_offset_ms = 8 * 3600 * 1000;

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** YYYY-MM of a time. */
export function chinaMonth(ms: number): string {
  return new Date(ms + china_offset_ms).toISOString().slice(0, 7);
}

/** YYYY-MM-DD of a time. */
export function chinaDay(ms: number): string {
  return new Date(ms + china_offset_ms).toISOString().slice(0, 10);
}

/** `YYYY-MM-DD HH:mm:ss`, the time format of APIv3 bills. */
export function chinaDateTime(ms: number): string {
  const iso = new Date(ms + china_offset_ms).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}`;
}

/** [start, end) of a YYYY-MM month, or undefined when `month` is not one. */
export function monthRange(month: string): { start: number; end: number } | undefined {
  const m = /^(\d{4})-(\d{2})$/.exec(month);
  if (!m) return undefined;
  const year = Number(m[1]);
  const mon = Number(m[2]);
  if (mon < 1 || mon > 12 || year < 1970) return undefined;
  return {
    start: Date.UTC(year, mon - 1, 1) - china_offset_ms,
    end: Date.UTC(year, mon, 1) - china_offset_ms,
  };
}

/** [start, end) of a YYYY-MM-DD day, or undefined when `day` is not a real date. */
export function dayRange(day: string): { start: number; end: number } | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  if (!m) return undefined;
  const [year, mon, date] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const utc = Date.UTC(year, mon - 1, date);
  const check = new Date(utc);
  if (
    year < 1970 ||
    check.getUTCFullYear() !== year ||
    check.getUTCMonth() !== mon - 1 ||
    check.getUTCDate() !== date
  )
    return undefined;
  return { start: utc - china_offset_ms, end: utc + 24 * 3600 * 1000 - china_offset_ms };
}

/** The China day `months` calendar months before the day of `ms` (day of month clamped to the month's end). */
export function chinaDayMonthsBefore(ms: number, months: number): string {
  const d = new Date(ms + china_offset_ms);
  const year = d.getUTCFullYear();
  const month = d.getUTCMonth() - months;
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  const target = new Date(Date.UTC(year, month, Math.min(d.getUTCDate(), lastDay)));
  return `${target.getUTCFullYear()}-${pad(target.getUTCMonth() + 1)}-${pad(target.getUTCDate())}`;
}
