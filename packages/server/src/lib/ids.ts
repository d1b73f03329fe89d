/**
 * Identifier port (STYLE.md rule 11). All randomness in domain code comes from here, so tests can
 * run with a seeded generator and get the same ids every time. Wire formats follow APIv3 §3.6
 * where the id is WeChat Pay's (transaction_id, refund_id, prepay_id); ours carry readable prefixes.
 */
import { createHash, randomBytes } from 'node:crypto';

export interface Ids {
  /** `n` random bytes. */
  bytes(n: number): Buffer;
}

/**
 * Random bytes from a pool refilled 4 KB at a time: a payment draws ~10 ids, and one randomBytes
 * call per id was ~2% of the server's CPU (bench:payments profile). Same CSPRNG; every caller gets
 * its own copy of bytes no one else is given.
 */
const pool_size = 4096;
let pool = Buffer.alloc(0);
let poolAt = 0;
export const cryptoIds: Ids = {
  bytes(n) {
    if (n > pool_size / 4) return randomBytes(n);
    if (poolAt + n > pool.length) {
      pool = randomBytes(pool_size);
      poolAt = 0;
    }
    const out = Buffer.from(pool.subarray(poolAt, poolAt + n));
    pool.fill(0, poolAt, poolAt + n);
    poolAt += n;
    return out;
  },
};

/** Deterministic ids for tests and demos: SHA-256 in counter mode over a seed. Not for production keys. */
export function seededIds(seed: string): Ids {
  let counter = 0;
  return {
    bytes(n) {
      const out = Buffer.alloc(n);
      let filled = 0;
      while (filled < n) {
        const block = createHash('sha256').update(`${seed}:${counter++}`).digest();
        filled += block.copy(out, filled, 0, Math.min(block.length, n - filled));
      }
      return out;
    },
  };
}

export function hex(ids: Ids, chars: number): string {
  return ids
    .bytes(Math.ceil(chars / 2))
    .toString('hex')
    .slice(0, chars);
}

export function digits(ids: Ids, count: number): string {
  const bytes = ids.bytes(count);
  let out = '';
  for (let i = 0; i < count; i++) out += String(bytes[i]! % 10);
  return out;
}

const alnum = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
export function alphanumeric(ids: Ids, count: number): string {
  const bytes = ids.bytes(count);
  let out = '';
  for (let i = 0; i < count; i++) out += alnum[bytes[i]! % alnum.length];
  return out;
}

/** `prefix_` + 24 lowercase hex chars: ids whose wire format is Zhifu's own. */
export function prefixed(ids: Ids, prefix: string): string {
  return `${prefix}_${hex(ids, 24)}`;
}
