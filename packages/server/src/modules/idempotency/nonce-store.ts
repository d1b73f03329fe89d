/**
 * Replay protection for signed requests: a nonce may be used once per signer within the
 * signature window. Port with an in-process implementation (one node); the multi-node Redis
 * implementation plugs in behind the same interface.
 */
import { nonce_store_entries_max } from '../../lib/limits.ts';

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
  /** Records `key` until `expiresAtMs`: `replayed` when it is recorded and live, `full` when no room. */
  claim(key: string, nowMs: number, expiresAtMs: number): Claim;
}

export class MemoryNonceStore implements NonceStore {
  private readonly seen = new Map<string, number>();
  private sweptAtMs = 0;

  constructor(private readonly maxEntries = nonce_store_entries_max) {}

  claim(key: string, nowMs: number, expiresAtMs: number): Claim {
    const previous = this.seen.get(key);
    if (previous !== undefined && previous > nowMs) return 'replayed';
    if (this.seen.size >= this.maxEntries || nowMs - this.sweptAtMs > 10_000) this.sweep(nowMs);
    // Full of live nonces: refuse rather than forget one, so a replay can never slip through.
    if (this.seen.size >= this.maxEntries) return 'full';
    this.seen.delete(key); // keep Map insertion order ≈ expiry order for the sweep
    this.seen.set(key, expiresAtMs);
    return 'claimed';
  }

  private sweep(nowMs: number): void {
    this.sweptAtMs = nowMs;
    for (const [key, expiresAtMs] of this.seen) {
      if (expiresAtMs <= nowMs) this.seen.delete(key);
    }
  }
}
