/**
 * Per-merchant request rate limits (docs/authentication.md "Rate limits"): WeChat Pay limits each
 * merchant's calls per second and answers `429 FREQUENCY_LIMITED` beyond them (reference §9:
 * refund create 150/s, the fund-flow bill 3/s); Zhifu does the same, with 1,000/s over all of a
 * merchant's signed requests by default (ZHIFU_RATE_LIMITS, docs/configuration.md).
 *
 * A request is counted after its signature and nonce are verified (so nobody can spend another
 * merchant's allowance with a forged mchid, nor a merchant's with a replayed request) and before
 * its handler runs (so a limited request writes nothing). It counts against the merchant's overall
 * limit and, for a route of a limited class, against that class's limit too: admitted only when
 * every one has room, and then counted in every one.
 *
 * The algorithm is GCRA (the generic cell rate algorithm, ITU-T I.371) in its continuous-state
 * leaky bucket form: per merchant and class a bucket `level` at the time `at` of its last request.
 * It drains `rate` units a microsecond, each request adds one second's worth (10^6 units), and a
 * request that would fill it past one second's requests (`rate × 10^6`) is refused, and may come
 * back when the excess has drained. So a merchant may send a one-second burst of `rate` requests
 * at once and then `rate` per second, exactly: counting in units of 1/rate µs, not in a `1 s / rate`
 * interval rounded to whole microseconds, every number is an integer (exact in a double and in
 * Redis's Lua: a level is at most 10^12) and a burst of 150 refunds fits in every second, not 149.
 * Times are microseconds from the injected clock (STYLE.md rule 11), not Redis TIME, as for nonces.
 * A clock that went back (an NTP step, or another node's clock in Redis) drains nothing: the bucket
 * holds at most one second's burst, so a merchant waits one interval at most, not the step.
 *
 * Hand-written rather than @fastify/rate-limit (10.x, well kept): its stores count a fixed window
 * (Redis: INCR, PEXPIRE on the first), which lets through twice the limit across a window boundary
 * and counts refused requests too; its key runs in a hook where, before authentication, the mchid
 * is only a claim; its time is Date.now(), not the injected clock tests move; and its 429 is not
 * APIv3's error body. GCRA is a few lines in memory and one short Lua script in Redis.
 */
import { AppError, fail } from '../../lib/errors.ts';
import {
  fundflow_bill_requests_per_s,
  merchant_requests_per_s,
  rate_limit_requests_per_s_max,
  rate_limit_sweep_interval_ms,
  refund_create_requests_per_s,
} from '../../lib/limits.ts';
import type { Shared } from '../../lib/redis.ts';

/** `default`: every signed merchant request; the others: one route each, on top of `default`. */
export const rate_classes = ['default', 'refund', 'fundflow_bill'] as const;
export type RateClass = (typeof rate_classes)[number];

/** Requests per second of each class; `null`: no limit. */
export type RateLimits = Readonly<Record<RateClass, number | null>>;

export const default_rate_limits: RateLimits = Object.freeze({
  default: merchant_requests_per_s,
  refund: refund_create_requests_per_s,
  fundflow_bill: fundflow_bill_requests_per_s,
});

export const rate_limits_off: RateLimits = Object.freeze({
  default: null,
  refund: null,
  fundflow_bill: null,
});

/** What each class limits, for the 429's message. */
const described: Record<RateClass, string> = {
  default: 'signed requests',
  refund: 'refund creations (POST /v3/refund/domestic/refunds)',
  fundflow_bill: 'fund-flow bill requests (GET /v3/bill/fundflowbill)',
};

export class RateLimitsConfigError extends Error {
  override name = 'RateLimitsConfigError';
}

/**
 * ZHIFU_RATE_LIMITS: `off`, or `class=value` pairs separated by commas, a value being requests per
 * second (1 to rate_limit_requests_per_s_max) or `off`; classes not named keep their default.
 */
export function parseRateLimits(text: string): RateLimits {
  const trimmed = text.trim();
  if (trimmed.toLowerCase() === 'off') return rate_limits_off;
  const limits: Record<RateClass, number | null> = { ...default_rate_limits };
  const seen = new Set<string>();
  for (const part of trimmed.split(',')) {
    const [rawName, rawValue, ...rest] = part.split('=').map((s) => s.trim());
    const name = rate_classes.find((c) => c === rawName);
    if (!name || rawValue === undefined || rest.length > 0)
      throw new RateLimitsConfigError(
        `expected off, or class=value pairs separated by commas with a class among ${rate_classes.join(', ')}; got "${part.trim()}"`,
      );
    if (seen.has(name)) throw new RateLimitsConfigError(`${name} is given twice`);
    seen.add(name);
    if (rawValue.toLowerCase() === 'off') {
      limits[name] = null;
      continue;
    }
    const value = /^\d{1,9}$/.test(rawValue) ? Number(rawValue) : Number.NaN;
    if (!(value >= 1 && value <= rate_limit_requests_per_s_max))
      throw new RateLimitsConfigError(
        `${name} must be requests per second from 1 to ${rate_limit_requests_per_s_max}, or off; got "${rawValue}"`,
      );
    limits[name] = value;
  }
  return Object.freeze(limits);
}

/** A refused request: which limit, and when to come back (APIv3 `Retry-After`, whole seconds ≥ 1). */
export class RateLimitedError extends AppError {
  constructor(
    readonly limit: RateClass,
    readonly rate_per_s: number,
    readonly retry_after_s: number,
  ) {
    super(
      'merchant_rate_limited',
      undefined,
      `Limit: ${rate_per_s} ${described[limit]} per second per merchant (${limit}); retry after ${retry_after_s} s.`,
    );
  }
}

const us_per_s = 1_000_000;

/** One class's limit: its bucket holds one second's requests, `rate × us_per_s` units. */
interface Cell {
  limit: RateClass;
  rate: number;
  capacity: number;
}

function cell(limit: RateClass, rate: number): Cell {
  return { limit, rate, capacity: rate * us_per_s };
}

/**
 * The level of a bucket last at `level` at `at`, drained until `now`, plus one request; and the
 * microseconds until that fits (0: it fits now). A second drains any bucket, so the elapsed time
 * is capped there (the product stays exact) and floored at 0 (a clock that went back drains nothing).
 */
function fill(c: Cell, level: number, at: number, now: number): { level: number; wait_us: number } {
  const elapsed = Math.min(Math.max(now - at, 0), us_per_s);
  const filled = Math.max(level - elapsed * c.rate, 0) + us_per_s;
  return { level: filled, wait_us: Math.max(0, Math.ceil((filled - c.capacity) / c.rate)) };
}

function refusal(c: Cell, wait_us: number): RateLimitedError {
  return new RateLimitedError(c.limit, c.rate, Math.max(1, Math.ceil(wait_us / us_per_s)));
}

export interface RateLimiter {
  /**
   * Counts one request of `mchid` of class `limit` (and `default`), or throws RateLimitedError
   * (nothing counted) or, in Redis, `shared_store_unavailable`.
   */
  admit(mchid: string, limit: RateClass | undefined, nowMs: number): void | Promise<void>;
}

abstract class GcraLimiter implements RateLimiter {
  private readonly cells: Partial<Record<RateClass, Cell>> = {};

  constructor(limits: RateLimits) {
    for (const c of rate_classes) {
      const rate = limits[c];
      if (rate !== null) this.cells[c] = cell(c, rate);
    }
  }

  /** The limits that apply to a request of class `limit`: the overall one, then its own. */
  protected applying(limit: RateClass | undefined): Cell[] {
    const all = [this.cells.default];
    if (limit && limit !== 'default') all.push(this.cells[limit]);
    return all.filter((c): c is Cell => c !== undefined);
  }

  abstract admit(mchid: string, limit: RateClass | undefined, nowMs: number): void | Promise<void>;
}

/**
 * In this process (one node; the default without Redis). One bucket per merchant and class that
 * has sent a request within the last second; the rest are swept every few seconds, so the map holds
 * at most the merchants active in that time (authenticated ones: a stranger cannot add entries).
 */
export class MemoryRateLimiter extends GcraLimiter {
  private readonly buckets = new Map<string, { level: number; at: number }>();
  private sweptAtMs = 0;

  admit(mchid: string, limit: RateClass | undefined, nowMs: number): void {
    const cells = this.applying(limit);
    if (cells.length === 0) return;
    const now = nowMs * 1000;
    if (Math.abs(nowMs - this.sweptAtMs) >= rate_limit_sweep_interval_ms) this.sweep(now, nowMs);
    const next: number[] = [];
    let refused: RateLimitedError | undefined;
    let longest = 0;
    for (const c of cells) {
      const bucket = this.buckets.get(`${mchid} ${c.limit}`);
      const { level, wait_us } = fill(c, bucket?.level ?? 0, bucket?.at ?? now, now);
      if (wait_us > 0 && wait_us >= longest) {
        longest = wait_us;
        refused = refusal(c, wait_us);
      }
      next.push(level);
    }
    if (refused) throw refused;
    for (const [i, c] of cells.entries())
      this.buckets.set(`${mchid} ${c.limit}`, { level: next[i]!, at: now });
  }

  /** Forgets buckets idle for a second: drained, they would read as empty anyway. */
  private sweep(now: number, nowMs: number): void {
    this.sweptAtMs = nowMs;
    for (const [key, { at }] of this.buckets) if (now - at >= us_per_s) this.buckets.delete(key);
  }
}

/**
 * KEYS: one per limit. ARGV: now (µs), then each limit's rate. A key holds `<at>:<level>` (see
 * `fill`; anything else reads as an empty bucket). Refuses with {index of the limit with the
 * longest wait, wait µs} and counts nothing, or sets every bucket, each key expiring when it has
 * drained (then it would read as empty anyway), and answers {0, 0}.
 */
const admit_script = `
local now = tonumber(ARGV[1])
local levels = {}
local refused = 0
local longest = 0
for i = 1, #KEYS do
  local rate = tonumber(ARGV[1 + i])
  local level = 0
  local at, stored = string.match(redis.call('GET', KEYS[i]) or '', '^(%d+):(%d+)$')
  if at then
    local elapsed = math.min(math.max(now - tonumber(at), 0), 1000000)
    level = math.max(tonumber(stored) - elapsed * rate, 0)
  end
  level = level + 1000000
  local wait = math.ceil((level - rate * 1000000) / rate)
  if wait > 0 and wait >= longest then
    longest = wait
    refused = i
  end
  levels[i] = level
end
if refused > 0 then return {refused, longest} end
for i = 1, #KEYS do
  local rate = tonumber(ARGV[1 + i])
  redis.call('SET', KEYS[i], string.format('%d:%d', now, levels[i]), 'PX', math.ceil(levels[i] / rate / 1000))
end
return {0, 0}
`;

interface Scripts {
  zhifuRateAdmit(keys: number, ...args: (string | number)[]): Promise<[number, number]>;
}

/**
 * In Redis (ZHIFU_REDIS_URL): the same buckets, one string per merchant and class
 * (`<prefix>rate:{<mchid>}:<class>`, the hash tag keeping a merchant's keys in one Redis Cluster
 * slot), checked and counted by one script, so the nodes together admit each limit once.
 */
export class RedisRateLimiter extends GcraLimiter {
  constructor(
    private readonly shared: Shared,
    limits: RateLimits,
  ) {
    super(limits);
    if (!('zhifuRateAdmit' in shared.redis))
      shared.redis.defineCommand('zhifuRateAdmit', { lua: admit_script });
  }

  async admit(mchid: string, limit: RateClass | undefined, nowMs: number): Promise<void> {
    const cells = this.applying(limit);
    if (cells.length === 0) return;
    const args: (string | number)[] = cells.map((c) => `${this.shared.prefix}rate:{${mchid}}:${c.limit}`);
    args.push(nowMs * 1000);
    for (const c of cells) args.push(c.rate);
    let answer: [number, number];
    try {
      answer = await (this.shared.redis as unknown as Scripts).zhifuRateAdmit(cells.length, ...args);
    } catch {
      // The cause stays in the server log (the client's 'error' events): it names internal hosts.
      fail('shared_store_unavailable');
    }
    const [refused, wait] = answer;
    if (refused > 0) throw refusal(cells[refused - 1]!, wait);
  }
}

/** The limiter for `limits`: none when every limit is off, in Redis with `shared`, else in memory. */
export function rateLimiter(limits: RateLimits, shared: Shared | undefined): RateLimiter | undefined {
  if (rate_classes.every((c) => limits[c] === null)) return undefined;
  return shared ? new RedisRateLimiter(shared, limits) : new MemoryRateLimiter(limits);
}
