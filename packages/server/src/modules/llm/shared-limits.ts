/**
 * A gateway key's limits counted in Redis (ZHIFU_REDIS_URL; docs/llm-gateway.md §1),
 * so the nodes of a deployment together admit at most the key's rpm and tpm and stop together at its
 * monthly budget, where each node counting in its own memory (KeyState) would admit the full limit
 * on its own share of traffic and spend up to n budgets.
 *
 * The window is the in-memory one (the current minute plus the previous minute weighted by how much
 * of it still overlaps the last 60 s), over one hash per key and minute (`r` requests, `t` tokens).
 * Minutes and months come from the nodes' injected clock, not Redis TIME, as every other deadline.
 * One script checks and counts atomically, so two nodes cannot both take a key's last slot. The
 * month's spend (micro-fen) is one integer per key and month: when it is missing, the node that
 * needs it seeds it from the request log's sum with SET NX, so a node seeding late never overwrites
 * what others have added since, and a call settles its cost only into a counter that exists (a
 * missing counter is seeded from the log, which will hold that call). Keys carry the key id as a
 * hash tag, so one script's keys share a Redis Cluster slot.
 */
import { ReplyError } from 'ioredis';
import type { Ctx } from '../../context.ts';
import type { LlmKeysTable } from '../../db/schema.ts';
import { fail } from '../../lib/errors.ts';
import type { Shared } from '../../lib/redis.ts';
import { chinaMonth, monthRange } from '../billing/index.ts';
import * as repo from './llm.repository.ts';

const minute_ms = 60_000;
/**
 * A minute's counters are read until the end of the next minute; the third minute covers a node
 * clock a little ahead of Redis's and a call settling after its minute.
 */
const window_key_ttl_ms = 3 * minute_ms;
/** A month's spend outlives the month by a day, for node clocks a little behind. */
const spend_key_margin_ms = 24 * 3600 * 1000;

/** Where `now` falls in the sliding window: its minute, the previous minute's weight, Retry-After. */
export function slidingWindow(now: number): { minute: number; overlap: number; retry_after_s: number } {
  const minute = Math.floor(now / minute_ms);
  const overlap = 1 - (now - minute * minute_ms) / minute_ms;
  return { minute, overlap, retry_after_s: Math.ceil(((1 - overlap) * minute_ms) / 1000) || 1 };
}

/**
 * KEYS: this minute, the previous minute, the month's spend. ARGV: overlap, rpm, tpm, tokens,
 * budget in micro-fen (a negative limit is no limit), the minute's TTL. Answers 0 admitted (and
 * counted), 1 rpm reached, 2 tpm reached, 3 budget spent, 4 the spend needs seeding (nothing counted).
 */
const admit_script = `
local overlap = tonumber(ARGV[1])
local rpm = tonumber(ARGV[2])
local tpm = tonumber(ARGV[3])
local tokens = tonumber(ARGV[4])
local budget = tonumber(ARGV[5])
local cur = redis.call('HMGET', KEYS[1], 'r', 't')
local prev = redis.call('HMGET', KEYS[2], 'r', 't')
local r = tonumber(cur[1]) or 0
local t = tonumber(cur[2]) or 0
local pr = tonumber(prev[1]) or 0
local pt = tonumber(prev[2]) or 0
if rpm >= 0 and pr * overlap + r + 1 > rpm then return 1 end
if tpm >= 0 and pt * overlap + t + tokens > tpm then return 2 end
if budget >= 0 then
  local spent = redis.call('GET', KEYS[3])
  if not spent then return 4 end
  if tonumber(spent) >= budget then return 3 end
end
redis.call('HINCRBY', KEYS[1], 'r', 1)
redis.call('HINCRBY', KEYS[1], 't', tokens)
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return 0
`;

/** KEYS: the admitting minute, the month's spend. ARGV: tokens used − estimated, cost in micro-fen. */
const settle_script = `
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HINCRBY', KEYS[1], 't', ARGV[1]) end
if tonumber(ARGV[2]) ~= 0 and redis.call('EXISTS', KEYS[2]) == 1 then redis.call('INCRBY', KEYS[2], ARGV[2]) end
return 0
`;

export type SharedAdmission = 'admitted' | 'requests_limited' | 'tokens_limited' | 'budget_exceeded';
const admissions: SharedAdmission[] = ['admitted', 'requests_limited', 'tokens_limited', 'budget_exceeded'];
const needs_seed = 4;

interface Scripts {
  zhifuLlmAdmit(
    minute: string,
    previous: string,
    spend: string,
    overlap: number,
    rpm: number,
    tpm: number,
    tokens: number,
    budget_ufen: number,
    ttl_ms: number,
  ): Promise<number>;
  zhifuLlmSettle(minute: string, spend: string, tokens: number, cost_ufen: number): Promise<number>;
}

export class SharedKeyLimits {
  constructor(
    private readonly ctx: Ctx,
    private readonly shared: Shared,
    private readonly onError: (error: unknown) => void,
  ) {
    if (!('zhifuLlmAdmit' in shared.redis))
      shared.redis.defineCommand('zhifuLlmAdmit', { numberOfKeys: 3, lua: admit_script });
    if (!('zhifuLlmSettle' in shared.redis))
      shared.redis.defineCommand('zhifuLlmSettle', { numberOfKeys: 2, lua: settle_script });
  }

  private get scripts(): Scripts {
    return this.shared.redis as unknown as Scripts;
  }

  private minuteKey(key_id: string, minute: number): string {
    return `${this.shared.prefix}llm:{${key_id}}:${minute}`;
  }

  private spendKey(key_id: string, month: string): string {
    return `${this.shared.prefix}llm:{${key_id}}:spent:${month}`;
  }

  /**
   * Counts one request estimated at `tokens` tokens against the key's limits of every node, or says
   * which limit it reaches (nothing counted). A Redis that does not answer is
   * `shared_store_unavailable`: the call is refused before any provider is asked.
   */
  async admit(row: LlmKeysTable, now: number, tokens: number): Promise<SharedAdmission> {
    const w = slidingWindow(now);
    const month = chinaMonth(now);
    const spend = this.spendKey(row.id, month);
    const budget = row.budget_fen_monthly === null ? -1 : Number(row.budget_fen_monthly) * 1_000_000;
    for (let attempt = 0; attempt < 2; attempt++) {
      const answer = await this.unavailableOnError(() =>
        this.scripts.zhifuLlmAdmit(
          this.minuteKey(row.id, w.minute),
          this.minuteKey(row.id, w.minute - 1),
          spend,
          w.overlap,
          row.rpm ?? -1,
          row.tpm ?? -1,
          tokens,
          budget,
          window_key_ttl_ms,
        ),
      );
      if (answer !== needs_seed) return admissions[answer] ?? fail('shared_store_unavailable');
      await this.seed(row.id, month, spend, now);
    }
    // Seeded and gone at once: only a Redis evicting keys at maxmemory does that (use noeviction).
    fail('shared_store_unavailable');
  }

  /** Sets the month's spend from the request log unless a node has already set it. */
  private async seed(key_id: string, month: string, spend: string, now: number): Promise<void> {
    const range = monthRange(month)!;
    const spent = await repo.spentSince(this.ctx.db, key_id, range.start);
    const ttl_ms = range.end - now + spend_key_margin_ms;
    await this.unavailableOnError(() => this.shared.redis.set(spend, spent, 'PX', ttl_ms, 'NX'));
  }

  /**
   * Corrects the admitting minute's tokens by (used − estimated) and adds the cost to the spend of
   * the month of `now` (the request log's `created_at`). Rejects when Redis does not answer.
   */
  async settle(
    key_id: string,
    admitted_at: number,
    now: number,
    estimated: number,
    used: number,
    cost_ufen: number,
  ): Promise<void> {
    await this.scripts.zhifuLlmSettle(
      this.minuteKey(key_id, slidingWindow(admitted_at).minute),
      this.spendKey(key_id, chinaMonth(now)),
      used - estimated,
      cost_ufen,
    );
  }

  private async unavailableOnError<T>(command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (error) {
      // The cause stays in the server log, as it names internal hosts: a lost connection is logged
      // by the client's 'error' events, an error Redis answered with (OOM, a script error) here.
      if (error instanceof ReplyError) this.onError(error);
      fail('shared_store_unavailable');
    }
  }
}
