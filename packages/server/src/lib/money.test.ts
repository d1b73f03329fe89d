import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { amount_fen_max } from './limits.ts';
import { discounted, processingFee, proRataFloor, refundFeeReturn, yuan, yuanFee } from './money.ts';

/** A payment and refunds that add up to all of it: cut points split [0, paid] into 1–50 parts. */
const paymentAndRefunds = fc.integer({ min: 1, max: amount_fen_max }).chain((paid) =>
  fc
    .uniqueArray(fc.integer({ min: 1, max: Math.max(1, paid - 1) }), { maxLength: Math.min(49, paid - 1) })
    .map((cuts) => {
      const points = [0, ...cuts.filter((c) => c < paid).sort((a, b) => a - b), paid];
      return { paid, refunds: points.slice(1).map((p, i) => p - points[i]!) };
    }),
);

describe('processingFee: 0.6%, rounded half up to the fen', () => {
  it('matches the documented examples', () => {
    expect(processingFee(0)).toBe(0);
    expect(processingFee(1)).toBe(0);
    expect(processingFee(83)).toBe(0); // 0.498
    expect(processingFee(84)).toBe(1); // 0.504
    expect(processingFee(100)).toBe(1); // 0.6
    expect(processingFee(249)).toBe(1); // 1.494
    expect(processingFee(250)).toBe(2); // 1.5: the half goes up
    expect(processingFee(10_000)).toBe(60);
    expect(processingFee(amount_fen_max)).toBe(12_884_902); // 12,884,901.882
  });

  it('is never negative, never above the amount, and within half a fen of 0.6% (halves rounded up)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: amount_fen_max }), (amount) => {
        const fee = processingFee(amount);
        expect(Number.isSafeInteger(fee)).toBe(true);
        expect(fee).toBeGreaterThanOrEqual(0);
        expect(fee).toBeLessThanOrEqual(amount);
        // 1000 × fee − 6 × amount is the rounding error in thousandths of a fen: in (−500, 500].
        const error = 1000 * fee - 6 * amount;
        expect(error).toBeGreaterThan(-500);
        expect(error).toBeLessThanOrEqual(500);
      }),
      { numRuns: 5_000 },
    );
  });

  it('is monotone in the amount', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: amount_fen_max - 1 }), (amount) => {
        expect(processingFee(amount + 1)).toBeGreaterThanOrEqual(processingFee(amount));
      }),
    );
  });
});

describe('refundFeeReturn: pro rata by cumulative rounding', () => {
  it('matches the documented examples', () => {
    expect(refundFeeReturn(60, 10_000, 0, 3_333)).toBe(20);
    expect(refundFeeReturn(60, 10_000, 3_333, 3_333)).toBe(20);
    expect(refundFeeReturn(60, 10_000, 6_666, 3_334)).toBe(20);
    expect(refundFeeReturn(60, 10_000, 0, 1)).toBe(0);
    expect(refundFeeReturn(60, 10_000, 1, 9_999)).toBe(60);
    expect(refundFeeReturn(1, 100, 0, 50)).toBe(1); // 0.5 rounds up
    expect(refundFeeReturn(1, 100, 50, 50)).toBe(0);
  });

  it('refunds of the whole payment return exactly the fee; each return is ≥ 0, ≤ the fee, near pro rata', () => {
    fc.assert(
      fc.property(paymentAndRefunds, fc.boolean(), ({ paid, refunds }, actualFee) => {
        const fee = actualFee ? processingFee(paid) : Math.floor(paid / 3);
        let refunded = 0;
        let returned = 0;
        for (const refund of refunds) {
          const r = refundFeeReturn(fee, paid, refunded, refund);
          expect(r).toBeGreaterThanOrEqual(0);
          expect(r).toBeLessThanOrEqual(fee);
          // Within one fen of the exact share (two roundings of at most half a fen each).
          expect(Math.abs(r * paid - fee * refund)).toBeLessThanOrEqual(paid);
          refunded += refund;
          returned += r;
          expect(returned).toBeLessThanOrEqual(fee);
        }
        expect(refunded).toBe(paid);
        expect(returned).toBe(fee);
      }),
      { numRuns: 2_000 },
    );
  });

  it('a partial sequence never returns more than the fee, and the rest of the payment returns the remainder', () => {
    fc.assert(
      fc.property(paymentAndRefunds, fc.nat(), ({ paid, refunds }, cut) => {
        const fee = processingFee(paid);
        const k = cut % refunds.length;
        let refunded = 0;
        let returned = 0;
        for (const refund of refunds.slice(0, k)) {
          returned += refundFeeReturn(fee, paid, refunded, refund);
          refunded += refund;
        }
        expect(returned).toBeLessThanOrEqual(fee);
        if (refunded < paid)
          expect(returned + refundFeeReturn(fee, paid, refunded, paid - refunded)).toBe(fee);
      }),
      { numRuns: 1_000 },
    );
  });
});

describe('proRataFloor: exact where floating point rounds', () => {
  it('a full share is the whole part, even past 2^53 (a promotion discount on a huge order)', () => {
    const total = 2_147_483_632;
    const discount = 2_147_283_632;
    expect(Math.floor((discount * total) / total)).not.toBe(discount); // what floats gave
    expect(proRataFloor(discount, total, total)).toBe(discount);
  });

  it('is floor(part × n / d) for every amount in range', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: amount_fen_max }),
        fc.integer({ min: 0, max: amount_fen_max }),
        fc.integer({ min: 0, max: amount_fen_max }),
        (total, part, n) => {
          const d = Math.max(total, n, 1);
          const got = proRataFloor(part, n, d);
          expect(BigInt(got) * BigInt(d) <= BigInt(part) * BigInt(n)).toBe(true);
          expect((BigInt(got) + 1n) * BigInt(d) > BigInt(part) * BigInt(n)).toBe(true);
        },
      ),
    );
  });
});

describe('prices and bill formats', () => {
  it('the batch discount: 40% off 0.05 CNY is 0.03 CNY', () => {
    expect(discounted(5, 40)).toBe(3);
    expect(discounted(10, 0)).toBe(10);
    expect(discounted(10, 100)).toBe(0);
    expect(discounted(1, 50)).toBe(1); // half a fen rounds up
  });

  it('yuan with two decimals, fees with five as APIv3 bills print them', () => {
    expect(yuan(12_345)).toBe('123.45');
    expect(yuan(-5)).toBe('-0.05');
    expect(yuanFee(1)).toBe('0.01000');
    expect(yuanFee(-60)).toBe('-0.60000');
  });
});
