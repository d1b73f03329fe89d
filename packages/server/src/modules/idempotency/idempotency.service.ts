/**
 * Idempotency by natural keys (STYLE.md rule 5). APIv3 makes `out_trade_no` and `out_refund_no`
 * the idempotency keys: a request is stored with the hash of its canonical parameters; a replay
 * with the same hash returns the stored result, a different hash is a distinct, named error.
 */
import { createHash } from 'node:crypto';

/** JSON with object keys sorted at every level, so key order never changes the hash. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function requestHash(kind: string, params: unknown): string {
  return createHash('sha256').update(kind).update('\n').update(canonicalJson(params)).digest('hex');
}
