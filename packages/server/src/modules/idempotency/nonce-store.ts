/**
 * Replay protection for signed requests: a nonce may be used once per signer within the
 * signature window. Port with an in-process implementation (one node); the multi-node Redis
 * implementation plugs in behind the same interface.
 */
import { createHash } from 'node:crypto';
import { nonce_store_entries_max, nonce_store_signer_entries_max } from '../../lib/limits.ts';

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
  claim(signer: string, nonce: string, nowMs: number, expiresAtMs: number): Claim;
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
    // A fixed-size digest, so an entry costs the same whatever the nonce's length. 128 bits: a
    // collision among a signer's live nonces is out of reach, and would only refuse a request.
    const key = createHash('sha256').update(nonce).digest().subarray(0, 16).toString('base64url');
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
