/**
 * Gateway API keys (docs/llm-gateway.md "Keys and limits"): created per merchant through the signed
 * merchant API, shown once, stored as SHA-256. Each key may carry a requests-per-minute limit, a
 * tokens-per-minute limit, a monthly budget (provider cost, fen, China Standard Time months) and a
 * model allow-list.
 *
 * Limits are counted without a database read on the hot path (peers.md §5 idea 11): a sliding
 * window over the current and previous minute (the previous minute weighted by how much of it still
 * overlaps the last 60 s, as Cloudflare's rate limiter), and the month's spend loaded once per key
 * and then kept up to date by every call. Without Redis they live in each process's memory (KeyState).
 * With Redis (ZHIFU_REDIS_URL) the windows and the spend live there (shared-limits.ts), so the
 * nodes together admit at most a key's limits and stop together at its budget; the key rows and the
 * model allow-list stay cached per node (a change reaches other nodes within llm_key_cache_ms).
 */
import { createHash } from 'node:crypto';
import type { Ctx } from '../../context.ts';
import type { LlmKeysTable } from '../../db/schema.ts';
import { assertNever } from '../../lib/assert.ts';
import { rfc3339 } from '../../lib/clock.ts';
import { AppError, fail } from '../../lib/errors.ts';
import { prefixed } from '../../lib/ids.ts';
import { llm_key_cache_ms, llm_keys_per_merchant_max } from '../../lib/limits.ts';
import type { Shared } from '../../lib/redis.ts';
import { chinaMonth, monthRange } from '../billing/index.ts';
import * as repo from './llm.repository.ts';
import { SharedKeyLimits, slidingWindow } from './shared-limits.ts';

export interface KeyLimits {
  rpm?: number | null;
  tpm?: number | null;
  budget_fen_monthly?: number | null;
  models?: string[] | null;
}

export interface KeyView {
  key_id: string;
  name: string;
  key_prefix: string;
  rpm: number | null;
  tpm: number | null;
  budget_fen_monthly: number | null;
  models: string[] | null;
  created_at: string;
  revoked_at: string | null;
}

/** The key id of the platform agent's calls (Gateway.completer): logged, never metered. */
export const platform_agent_key = 'platform-agent';

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

function view(row: LlmKeysTable): KeyView {
  return {
    key_id: row.id,
    name: row.name,
    key_prefix: row.key_prefix,
    rpm: row.rpm,
    tpm: row.tpm,
    budget_fen_monthly: row.budget_fen_monthly === null ? null : Number(row.budget_fen_monthly),
    models: row.models === null ? null : (JSON.parse(row.models) as string[]),
    created_at: rfc3339(Number(row.created_at)),
    revoked_at: row.revoked_at === null ? null : rfc3339(Number(row.revoked_at)),
  };
}

export async function createKey(
  ctx: Ctx,
  mchid: string,
  input: { name: string } & KeyLimits,
): Promise<KeyView & { api_key: string }> {
  const now = ctx.clock.now();
  const api_key = `zk-${ctx.ids.bytes(24).toString('base64url')}`;
  const row: LlmKeysTable = {
    id: prefixed(ctx.ids, 'llmk'),
    mchid,
    name: input.name,
    key_hash: hashKey(api_key),
    key_prefix: api_key.slice(0, 10),
    rpm: input.rpm ?? null,
    tpm: input.tpm ?? null,
    budget_fen_monthly: input.budget_fen_monthly ?? null,
    models: input.models ? JSON.stringify(input.models) : null,
    created_at: now,
    revoked_at: null,
  };
  await ctx.db.transaction().execute(async (trx) => {
    if ((await repo.activeKeyCount(trx, mchid)) >= llm_keys_per_merchant_max) fail('llm_keys_limit');
    await repo.insertKey(trx, row);
  });
  return { ...view(row), api_key };
}

export async function listKeys(ctx: Ctx, mchid: string): Promise<{ data: KeyView[] }> {
  return { data: (await repo.keysOf(ctx.db, mchid)).map(view) };
}

export async function getKey(ctx: Ctx, mchid: string, key_id: string): Promise<KeyView> {
  const row = await repo.findKey(ctx.db, mchid, key_id);
  if (!row) fail('llm_key_unknown', { field: 'key_id', value: key_id, location: 'path' });
  return view(row);
}

/** The sliding-window and budget state of one key on this node. */
export class KeyState {
  private minute = 0;
  private requests = 0;
  private tokens = 0;
  private prevRequests = 0;
  private prevTokens = 0;
  month = '';
  /** [month_start, month_end) of `month`: the month is recomputed only when `now` leaves it. */
  private month_start = 0;
  private month_end = 0;
  spent_ufen = 0;
  checked_at = 0;

  constructor(public row: LlmKeysTable) {}

  get id(): string {
    return this.row.id;
  }
  get mchid(): string {
    return this.row.mchid;
  }

  /** Moves the window to the minute of `now`; returns where `now` falls in it (slidingWindow). */
  private roll(now: number): ReturnType<typeof slidingWindow> {
    const window = slidingWindow(now);
    const { minute } = window;
    if (minute !== this.minute) {
      const adjacent = minute === this.minute + 1;
      this.prevRequests = adjacent ? this.requests : 0;
      this.prevTokens = adjacent ? this.tokens : 0;
      this.requests = 0;
      this.tokens = 0;
      this.minute = minute;
    }
    return window;
  }

  /** Throws unless the key may use `model`. */
  allowModel(model: string): void {
    const r = this.row;
    if (r.models !== null && !(JSON.parse(r.models) as string[]).includes(model))
      fail('llm_model_not_allowed', { field: '/model', value: model, location: 'body' });
  }

  /** Admits one request estimated at `tokens` tokens, or throws the limit it hits. */
  admit(now: number, tokens: number, model: string): void {
    const r = this.row;
    this.allowModel(model);
    const { overlap, retry_after_s: retry } = this.roll(now);
    if (r.rpm !== null && this.prevRequests * overlap + this.requests + 1 > r.rpm)
      throw new LimitError('llm_requests_limited', retry);
    if (r.tpm !== null && this.prevTokens * overlap + this.tokens + tokens > r.tpm)
      throw new LimitError('llm_tokens_limited', retry);
    if (r.budget_fen_monthly !== null && this.spent_ufen >= Number(r.budget_fen_monthly) * 1_000_000)
      fail('llm_budget_exceeded');
    this.requests++;
    this.tokens += tokens;
  }

  /** Moves to the month of `now` (spend starts at 0 in a new month); returns whether it moved. */
  enterMonth(now: number): boolean {
    if (now >= this.month_start && now < this.month_end) return false;
    this.month = chinaMonth(now);
    const range = monthRange(this.month)!;
    this.month_start = range.start;
    this.month_end = range.end;
    this.spent_ufen = 0;
    return true;
  }

  /** Corrects the admitted estimate with the tokens actually used, and adds the cost. */
  settle(now: number, estimated: number, used: number, cost_ufen: number): void {
    this.roll(now);
    this.tokens += used - estimated;
    this.enterMonth(now);
    this.spent_ufen += cost_ufen;
  }
}

/** A limit error carrying the Retry-After seconds. */
export class LimitError extends AppError {
  constructor(
    reason: 'llm_requests_limited' | 'llm_tokens_limited',
    readonly retry_after_s: number,
  ) {
    super(reason);
  }
}

/**
 * Keys by hash, with their limit state; revocations by other nodes are seen within llm_key_cache_ms.
 * With `shared`, keys' windows and spend are counted in Redis instead of their KeyState.
 */
export class KeyStore {
  private byHash = new Map<string, KeyState>();
  private byId = new Map<string, KeyState>();
  private readonly shared: SharedKeyLimits | undefined;

  constructor(
    private readonly ctx: Ctx,
    shared?: Shared,
    onError: (error: unknown) => void = () => {},
  ) {
    this.shared = shared && new SharedKeyLimits(ctx, shared, onError);
  }

  /** Where `key` is counted: Redis for merchants' keys when shared, else its own memory. */
  private sharedFor(key: KeyState): SharedKeyLimits | undefined {
    // The platform agent's calls carry no limits and are never metered: no Redis round trip.
    return key.id === platform_agent_key ? undefined : this.shared;
  }

  /** Admits one call of `key` estimated at `tokens` tokens, or throws the limit it reaches. */
  async admit(key: KeyState, now: number, tokens: number, model: string): Promise<void> {
    const shared = this.sharedFor(key);
    if (!shared) return key.admit(now, tokens, model);
    key.allowModel(model);
    const answer = await shared.admit(key.row, now, tokens);
    switch (answer) {
      case 'admitted':
        return;
      case 'requests_limited':
      case 'tokens_limited':
        throw new LimitError(`llm_${answer}`, slidingWindow(now).retry_after_s);
      case 'budget_exceeded':
        return fail('llm_budget_exceeded');
      default:
        return assertNever(answer, 'admission');
    }
  }

  /**
   * Corrects the call's admitted estimate with the tokens used and adds its cost. Shared: rejects
   * when Redis does not answer (the caller logs it; the answer has been paid for already).
   */
  async settle(
    key: KeyState,
    call: { started: number; estimated: number },
    now: number,
    used: number,
    cost_ufen: number,
  ): Promise<void> {
    const shared = this.sharedFor(key);
    if (!shared) return key.settle(now, call.estimated, used, cost_ufen);
    await shared.settle(key.id, call.started, now, call.estimated, used, cost_ufen);
  }

  async authenticate(authorization: string | undefined): Promise<KeyState> {
    const key = authorization?.startsWith('Bearer ') ? authorization.slice(7).trim() : '';
    if (!key.startsWith('zk-') || key.length > 100) fail('llm_key_invalid');
    const hash = hashKey(key);
    const now = this.ctx.clock.now();
    let state = this.byHash.get(hash);
    if (!state || now - state.checked_at > llm_key_cache_ms) {
      const row = await repo.findKeyByHash(this.ctx.db, hash);
      if (!row) fail('llm_key_invalid');
      if (!state) {
        state = new KeyState(row);
        state.enterMonth(now);
        // Shared: the spend is Redis's, seeded from the request log when a budget first needs it.
        if (!this.shared)
          state.spent_ufen = await repo.spentSince(this.ctx.db, row.id, monthRange(state.month)!.start);
        this.byHash.set(hash, state);
        this.byId.set(row.id, state);
      }
      state.row = row;
      state.checked_at = now;
    }
    if (state.row.revoked_at !== null) fail('llm_key_invalid');
    state.enterMonth(now);
    return state;
  }

  /** Drops this node's copy of a key after a change, so the next request re-reads it. */
  forget(key_id: string): void {
    const state = this.byId.get(key_id);
    if (state) state.checked_at = 0;
  }
}

export async function revokeKey(ctx: Ctx, store: KeyStore, mchid: string, key_id: string): Promise<KeyView> {
  const result = await repo.revokeKey(ctx.db, mchid, key_id, ctx.clock.now());
  if (Number(result.numUpdatedRows) === 0) await getKey(ctx, mchid, key_id); // unknown → 404; already revoked → as is
  store.forget(key_id);
  return getKey(ctx, mchid, key_id);
}

export async function updateKey(
  ctx: Ctx,
  store: KeyStore,
  mchid: string,
  key_id: string,
  input: { name?: string } & KeyLimits,
): Promise<KeyView> {
  await getKey(ctx, mchid, key_id);
  const set: Parameters<typeof repo.updateKeyLimits>[3] = {};
  if (input.name !== undefined) set.name = input.name;
  if (input.rpm !== undefined) set.rpm = input.rpm;
  if (input.tpm !== undefined) set.tpm = input.tpm;
  if (input.budget_fen_monthly !== undefined) set.budget_fen_monthly = input.budget_fen_monthly;
  if (input.models !== undefined) set.models = input.models === null ? null : JSON.stringify(input.models);
  if (Object.keys(set).length > 0) await repo.updateKeyLimits(ctx.db, mchid, key_id, set);
  store.forget(key_id);
  return getKey(ctx, mchid, key_id);
}
