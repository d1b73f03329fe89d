/**
 * Replay protection for signed requests: a nonce may be used once per signer within the
 * signature window. Two implementations of one port: in process (one node; a restart forgets), and
 * in Redis (ZHIFU_REDIS_URL: every node, across restarts; docs/operations.md).
 */
import { createHash } from 'node:crypto';
import { fail } from '../../lib/errors.ts';
import { nonce_store_entries_max, nonce_store_signer_entries_max } from '../../lib/limits.ts';
import type { Shared } from '../../lib/redis.ts';

export type Claim = 'claimed' | 'replayed' | 'full';

/**
 * A signed timestamp (whole seconds) is fresh while the clock's whole second is within `windowS` of
 * it (APIv3: |now − timestamp| ≤ 300 s, in seconds: a sub-second clock must not shorten the window).
 */
export function withinWindow(timestampS: number, nowMs: number, windowS: number): boolean {
  return Math.abs(Math.floor(nowMs / 1000) - timestampS) <= windowS;
}

/** When a request signed at `timestampS` stops being fresh: its nonce must be kept until then. */
export function windowEndMs(timestampS: number, windowS: number): number {
  return (timestampS + windowS + 1) * 1000;
}

export interface NonceStore {
  /**
   * Records `nonce` for `signer` (`mch:<mchid>`, `payer:<user id>`) until `expiresAtMs`:
   * `replayed` when it is recorded and live, `full` when the store or the signer's share has no room.
   */
  claim(signer: string, nonce: string, nowMs: number, expiresAtMs: number): Claim | Promise<Claim>;
}

/**
 * A fixed-size digest of a nonce, so an entry costs the same whatever the nonce's length. 128 bits:
 * a collision among a signer's live nonces is out of reach, and would only refuse a request.
 */
function digest(nonce: string): string {
  return createHash('sha256').update(nonce).digest().subarray(0, 16).toString('base64url');
}

export interface NonceStoreLimits {
  entries_max: number;
  signer_entries_max: number;
}

/** A store full of live nonces sweeps at most this often: a sweep walks every entry. */
const full_sweep_interval_ms = 1_000;
/** Otherwise expired nonces are swept this often. */
const sweep_interval_ms = 10_000;

interface Signer {
  /** Nonce digest → when it leaves the window. */
  nonces: Map<string, number>;
  sweptAtMs: number;
}

export class MemoryNonceStore implements NonceStore {
  private readonly signers = new Map<string, Signer>();
  private entries = 0;
  private sweptAtMs = 0;
  private readonly limits: NonceStoreLimits;

  constructor(limits: Partial<NonceStoreLimits> = {}) {
    this.limits = {
      entries_max: limits.entries_max ?? nonce_store_entries_max,
      signer_entries_max: limits.signer_entries_max ?? nonce_store_signer_entries_max,
    };
  }

  claim(signer: string, nonce: string, nowMs: number, expiresAtMs: number): Claim {
    const key = digest(nonce);
    const previous = this.signers.get(signer)?.nonces.get(key);
    if (previous !== undefined && previous > nowMs) return 'replayed';
    const full = this.entries >= this.limits.entries_max;
    if (nowMs - this.sweptAtMs > (full ? full_sweep_interval_ms : sweep_interval_ms)) this.sweep(nowMs);
    let mine = this.signers.get(signer);
    if (
      mine &&
      mine.nonces.size >= this.limits.signer_entries_max &&
      nowMs - mine.sweptAtMs > full_sweep_interval_ms
    ) {
      this.sweepSigner(mine, nowMs);
    }
    // Full of live nonces: refuse rather than forget one, so a replay can never slip through.
    if (this.entries >= this.limits.entries_max) return 'full';
    if (mine && mine.nonces.size >= this.limits.signer_entries_max) return 'full';
    if (!mine) {
      mine = { nonces: new Map(), sweptAtMs: nowMs };
      this.signers.set(signer, mine);
    }
    if (mine.nonces.delete(key)) this.entries--; // keep Map insertion order ≈ expiry order
    mine.nonces.set(key, expiresAtMs);
    this.entries++;
    return 'claimed';
  }

  private sweep(nowMs: number): void {
    this.sweptAtMs = nowMs;
    for (const [name, signer] of this.signers) {
      this.sweepSigner(signer, nowMs);
      if (signer.nonces.size === 0) this.signers.delete(name);
    }
  }

  private sweepSigner(signer: Signer, nowMs: number): void {
    signer.sweptAtMs = nowMs;
    for (const [key, expiresAtMs] of signer.nonces) {
      if (expiresAtMs <= nowMs) {
        signer.nonces.delete(key);
        this.entries--;
      }
    }
  }
}

/**
 * One sorted set per signer in Redis: nonce digest → when it leaves the window (the nodes' clock,
 * as in memory). One script claims atomically: drop the expired, refuse a live digest (replayed)
 * or a full share (the signer's quarter of the store, as in memory), else add it. The set expires
 * with its last nonce. Redis's own memory bound is the store's: at `maxmemory` with the
 * `noeviction` policy a claim fails with OOM and the request gets 429, never a forgotten nonce
 * (an evicting policy could drop live nonces: docs/operations.md).
 */
const claim_script = `
local now = tonumber(ARGV[1])
local expires = tonumber(ARGV[2])
local margin = tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - margin)
local previous = redis.call('ZSCORE', KEYS[1], ARGV[3])
if previous then return 1 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 2 end
redis.call('ZADD', KEYS[1], expires, ARGV[3])
local ttl = expires - now + margin
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 0
`;

const claims: Claim[] = ['claimed', 'replayed', 'full'];

/**
 * Every node judges freshness by its own clock, and one node's sweep or TTL would otherwise apply
 * its clock to every node's nonces: a node ahead by s would forget a nonce s early for a node on
 * time. Nonces are kept this much longer than their window, so clocks this far apart stay safe.
 */
export const nonce_clock_margin_ms = 30_000;

export class RedisNonceStore implements NonceStore {
  constructor(
    private readonly shared: Shared,
    private readonly signerEntriesMax = nonce_store_signer_entries_max,
  ) {
    if (!('zhifuClaimNonce' in shared.redis))
      shared.redis.defineCommand('zhifuClaimNonce', { numberOfKeys: 1, lua: claim_script });
  }

  async claim(signer: string, nonce: string, nowMs: number, expiresAtMs: number): Promise<Claim> {
    const redis = this.shared.redis as unknown as {
      zhifuClaimNonce(
        key: string,
        now: number,
        expires: number,
        member: string,
        max: number,
        margin: number,
      ): Promise<number>;
    };
    try {
      const answer = await redis.zhifuClaimNonce(
        `${this.shared.prefix}nonces:${signer}`,
        nowMs,
        expiresAtMs,
        digest(nonce),
        this.signerEntriesMax,
        nonce_clock_margin_ms,
      );
      return claims[answer] ?? 'full';
    } catch (error) {
      if (/^OOM\b/.test((error as Error).message)) return 'full';
      // The cause stays in the server log (the client's 'error' events): it names internal hosts.
      fail('shared_store_unavailable');
    }
  }
}
