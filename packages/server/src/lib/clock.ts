/**
 * Time port (STYLE.md rule 11). Domain code never calls Date.now(): it asks the injected clock, so
 * 5-minute windows, 2-hour prepay validity and 1-year refund windows are testable without waiting.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that only moves when told to; used by tests and by deterministic demos. */
export class FakeClock implements Clock {
  constructor(private ms: number = Date.UTC(2026, 0, 1, 4, 0, 0)) {}
  now(): number {
    return this.ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
  set(ms: number): void {
    this.ms = ms;
  }
}

const china_offset_ms = 8 * 3600 * 1000;

/** RFC 3339 in China Standard Time, the format of every APIv3 time field: 2018-06-08T10:34:56+08:00. */
export function rfc3339(ms: number): string {
  const d = new Date(Math.floor(ms / 1000) * 1000 + china_offset_ms);
  return `${d.toISOString().slice(0, 19)}+08:00`;
}

/**
 * Parses an RFC 3339 time with an explicit offset; returns undefined when it is not one, including
 * a date that does not exist (Date.parse would turn 2027-02-30 into 2 March) or a field out of range.
 */
export function parseRfc3339(text: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:Z|[+-](\d{2}):(\d{2}))$/.exec(text);
  if (!m) return undefined;
  const field = (i: number) => Number(m[i] ?? 0); // 1 year … 6 second, 7–8 the offset (Z: none)
  const daysInMonth = new Date(Date.UTC(field(1), field(2), 0)).getUTCDate();
  if (field(2) < 1 || field(2) > 12 || field(3) < 1 || field(3) > daysInMonth) return undefined;
  if (field(4) > 23 || field(5) > 59 || field(6) > 59 || field(7) > 23 || field(8) > 59) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
}

/** yyyymmdd of a time in China Standard Time (used in APIv3-style ids and bill dates). */
export function chinaDate(ms: number): string {
  return new Date(ms + china_offset_ms).toISOString().slice(0, 10).replaceAll('-', '');
}
