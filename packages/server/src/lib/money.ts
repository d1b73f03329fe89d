/**
 * Money is integer fen plus a currency (STYLE.md rule 1). Every conversion that can round lives here.
 */
import { assert } from './assert.ts';
import { amount_fen_max } from './limits.ts';

export type Fen = number;

export function isFen(value: unknown): value is Fen {
  return typeof value === 'number' && Number.isSafeInteger(value);
}

export function assertFen(value: number, what: string): void {
  assert(Number.isSafeInteger(value), `${what} must be an integer number of fen, got ${value}`);
}

/** A positive order or refund amount: 1 ≤ fen ≤ amount_fen_max. */
export function isPositiveAmount(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 1 && value <= amount_fen_max;
}

/** Fen as yuan with two decimals, e.g. 12345 → "123.45" (bills and statements; exact, no float math). */
export function yuan(fen: Fen): string {
  assertFen(fen, 'amount');
  const sign = fen < 0 ? '-' : '';
  const abs = Math.abs(fen);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}
