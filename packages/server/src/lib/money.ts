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

/**
 * Integer division rounded half up (四舍五入, away from zero for the half): the one rounding rule of
 * Zhifu's fees. Computed in BigInt because fee × amount can exceed 2^53 (a 21M CNY order's fee times
 * its amount is ~2.8e16). `numerator` ≥ 0, `denominator` > 0.
 */
/**
 * floor(part × numerator / denominator) in exact integer arithmetic: the product of two amounts in
 * fen can pass 2^53, where floating point rounds (a full refund's discount share came out 1 fen short).
 */
export function proRataFloor(part: Fen, numerator: Fen, denominator: Fen): Fen {
  return Number((BigInt(part) * BigInt(numerator)) / BigInt(denominator));
}

export function divRoundHalfUp(numerator: bigint, denominator: bigint): bigint {
  assert(numerator >= 0n && denominator > 0n, 'divRoundHalfUp takes a non-negative ratio');
  return (2n * numerator + denominator) / (2n * denominator);
}

/** The processing fee rate: 0.6% = 6 / 1000 (DESIGN.md "Billing"). */
export const processing_fee_rate = { numerator: 6, denominator: 1000, label: '0.60%' } as const;

/**
 * The processing fee of one captured payment: 0.6% of the amount, rounded half up to the fen
 * (四舍五入), the rounding merchants in China know from WeChat Pay's fee bills, so reconciling an
 * APIv3-style bill by hand gives the same numbers. Examples: 100 fen → 0.6 → 1; 83 fen → 0.498 → 0;
 * 250 fen → 1.5 → 2; 10,000 fen → 60. Half-up was chosen over banker's rounding because its bias
 * (at most +0.5 fen on the 1 in 500 amounts that land exactly on a half) is smaller than the
 * confusion of a rule merchants do not expect; docs/billing.md shows the examples.
 */
export function processingFee(amountFen: Fen): Fen {
  assert(
    Number.isSafeInteger(amountFen) && amountFen >= 0,
    `amount must be a non-negative fen, got ${amountFen}`,
  );
  const fee = divRoundHalfUp(
    BigInt(amountFen) * BigInt(processing_fee_rate.numerator),
    BigInt(processing_fee_rate.denominator),
  );
  return Number(fee);
}

/**
 * The part of a payment's processing fee returned with one refund, allocated by cumulative
 * rounding: after refunds totalling R of a payment P with fee F, the fee returned so far is
 * round_half_up(F × R / P); this refund returns that figure minus what earlier refunds returned.
 * So the returns of any sequence of refunds are each ≥ 0, never exceed the fee, and refunds that
 * add up to the whole payment return exactly F (the sum telescopes to round(F × P / P) = F).
 * Example: P = 10,000, F = 60, refunds 3,333 + 3,333 + 3,334 return 20 + 20 + 20; refunds 1 + 9,999
 * return 0 + 60.
 */
export function refundFeeReturn(feeFen: Fen, paidFen: Fen, refundedSoFarFen: Fen, refundFen: Fen): Fen {
  assert(Number.isSafeInteger(paidFen) && paidFen > 0, `paid amount must be positive, got ${paidFen}`);
  assert(Number.isSafeInteger(feeFen) && feeFen >= 0 && feeFen <= paidFen, `bad fee ${feeFen}`);
  assert(
    Number.isSafeInteger(refundedSoFarFen) &&
      Number.isSafeInteger(refundFen) &&
      refundedSoFarFen >= 0 &&
      refundFen >= 0,
    'refund amounts must be non-negative fen',
  );
  assert(refundedSoFarFen + refundFen <= paidFen, 'refunds exceed the payment');
  const returnedAfter = (refunded: number) =>
    divRoundHalfUp(BigInt(feeFen) * BigInt(refunded), BigInt(paidFen));
  return Number(returnedAfter(refundedSoFarFen + refundFen) - returnedAfter(refundedSoFarFen));
}

/**
 * A price after a percentage discount, rounded half up to the fen: the batch price of a Fraud Shield
 * assessment is discounted(5, 40) = 3 fen.
 */
export function discounted(priceFen: Fen, percentOff: number): Fen {
  assert(Number.isSafeInteger(percentOff) && percentOff >= 0 && percentOff <= 100, 'percent off in 0..100');
  assert(Number.isSafeInteger(priceFen) && priceFen >= 0, 'price must be non-negative fen');
  return Number(divRoundHalfUp(BigInt(priceFen) * BigInt(100 - percentOff), 100n));
}

/** Fen as yuan with five decimals, as APIv3 bills print fees (`0.01000`). */
export function yuanFee(fen: Fen): string {
  return `${yuan(fen)}000`;
}
