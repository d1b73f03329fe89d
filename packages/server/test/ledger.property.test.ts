/**
 * Model-based property test of the money invariants (issue #2 §6, DESIGN.md "Money"): random
 * sequences of orders, payments, closes, partial refunds (also several at once on one order) and
 * replays, checked after every step against the ledger:
 * every journal balances, every stored balance equals the sum of its postings, no payer or merchant
 * balance is negative, refunds never exceed what was paid, a replay changes nothing, and money is
 * conserved (all balances sum to zero, the sandbox issuer holding the negative side); the merchant
 * keeps what was captured minus refunds minus the processing fees not returned, which the
 * platform's fee account holds.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processingFee, refundFeeReturn } from '../src/lib/money.ts';
import { audit } from '../src/modules/ledger/index.ts';
import { dialects, openTestApp, type TestApp } from './harness.ts';
import { jsapiOrder, payAs, signedRequest } from './requests.ts';

type Op =
  | { kind: 'order'; payer: number; amount: number }
  | { kind: 'pay'; order: number; instrument: number }
  | { kind: 'close'; order: number }
  | { kind: 'refund'; order: number; amount: number; replay: boolean }
  | { kind: 'concurrentRefunds'; order: number; amounts: number[] };

const instruments = [
  undefined,
  'ins_zhangwei_balance',
  'ins_zhangwei_icbc_debit',
  'ins_zhangwei_cmb_credit',
  'ins_zhangwei_fenfu',
];

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('order' as const),
    payer: fc.constantFrom(0, 0, 1, 3),
    amount: fc.integer({ min: 1, max: 300_000 }),
  }),
  fc.record({
    kind: fc.constant('pay' as const),
    order: fc.nat(),
    instrument: fc.nat({ max: instruments.length - 1 }),
  }),
  fc.record({ kind: fc.constant('close' as const), order: fc.nat() }),
  fc.record({
    kind: fc.constant('refund' as const),
    order: fc.nat(),
    amount: fc.integer({ min: 1, max: 200_000 }),
    replay: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant('concurrentRefunds' as const),
    order: fc.nat(),
    amounts: fc.array(fc.integer({ min: 1, max: 150_000 }), { minLength: 2, maxLength: 5 }),
  }),
);

describe.each(dialects)('ledger invariants under random operations (%s)', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await openTestApp(dialect);
  });
  afterAll(() => t.close());

  async function checkInvariants(): Promise<void> {
    const a = await audit(t.ctx.db);
    expect(a).toEqual({ unbalancedJournals: 0, driftedAccounts: [], belowFloor: [] });
    const total = await t.ctx.db
      .selectFrom('accounts')
      .select((eb) => eb.fn.sum<number>('balance').as('s'))
      .executeTakeFirstOrThrow();
    expect(Number(total.s)).toBe(0);
    const orders = await t.ctx.db
      .selectFrom('orders')
      .selectAll()
      .where('mchid', '=', t.merchant.mchid)
      .execute();
    const refunds = await t.ctx.db.selectFrom('refunds').select(['order_id', 'amount_refund']).execute();
    let captured = 0;
    let held = 0;
    let fees = 0;
    for (const o of orders) {
      const refunded = refunds
        .filter((r) => r.order_id === o.id)
        .reduce((s, r) => s + Number(r.amount_refund), 0);
      expect(refunded).toBe(Number(o.refunded_total));
      expect(refunded).toBeLessThanOrEqual(Number(o.amount_total));
      // Captured: SUCCESS or REFUND; a payment in review (USERPAYING) is held, not the merchant's yet.
      // A capture pays the 0.6% processing fee; refunds return it pro rata (docs/billing.md).
      if (o.trade_state === 'SUCCESS' || o.trade_state === 'REFUND') {
        const total = Number(o.amount_total);
        const fee = processingFee(total);
        const kept = fee - refundFeeReturn(fee, total, 0, refunded);
        captured += total - refunded - kept;
        fees += kept;
      } else if (o.trade_state === 'USERPAYING') held += Number(o.amount_total);
      else expect(refunded).toBe(0);
    }
    const merchant = await t.ctx.db
      .selectFrom('accounts')
      .select('balance')
      .where('id', '=', `acc_mch_${t.merchant.mchid}`)
      .executeTakeFirstOrThrow();
    expect(Number(merchant.balance)).toBe(captured);
    const hold = await t.ctx.db
      .selectFrom('accounts')
      .select('balance')
      .where('id', '=', `acc_hold_${t.merchant.mchid}`)
      .executeTakeFirst();
    expect(Number(hold?.balance ?? 0)).toBe(held);
    const platform = await t.ctx.db
      .selectFrom('accounts')
      .select('balance')
      .where('id', '=', `acc_fees_${t.merchant.mchid}`)
      .executeTakeFirst();
    expect(Number(platform?.balance ?? 0)).toBe(fees);
  }

  it('holds after every step', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 14 }), async (ops) => {
        const created: { out_trade_no: string; prepay_id: string; openid: string; total: number }[] = [];
        const refundNos: { no: string; order: string; amount: number; total: number }[] = [];
        let seq = 0;
        for (const o of ops) {
          const pick = (i: number) => created[i % Math.max(created.length, 1)];
          if (o.kind === 'order') {
            const body = jsapiOrder(t, { amount: { total: o.amount, currency: 'CNY' } }, o.payer);
            const res = await signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', body);
            expect(res.statusCode).toBe(200);
            created.push({
              out_trade_no: body.out_trade_no,
              prepay_id: res.json().prepay_id,
              openid: body.payer.openid,
              total: o.amount,
            });
          } else if (o.kind === 'pay' && pick(o.order)) {
            const order = pick(o.order)!;
            const ins = instruments[o.instrument];
            const res = await payAs(
              t,
              order.prepay_id,
              order.openid,
              ins && order.openid === t.merchant.payers[0]!.openid ? { instrumentId: ins } : {},
            );
            expect([200, 400, 403]).toContain(res.statusCode);
          } else if (o.kind === 'close' && pick(o.order)) {
            const res = await signedRequest(
              t,
              'POST',
              `/v3/pay/transactions/out-trade-no/${pick(o.order)!.out_trade_no}/close`,
              {
                mchid: t.merchant.mchid,
              },
            );
            expect([204, 403]).toContain(res.statusCode);
          } else if (o.kind === 'refund' && pick(o.order)) {
            const order = pick(o.order)!;
            const previous = o.replay ? refundNos.find((r) => r.order === order.out_trade_no) : undefined;
            const no = previous?.no ?? `${order.out_trade_no}-${seq++}`;
            const amount = previous?.amount ?? Math.min(o.amount, order.total);
            const before = await audit(t.ctx.db);
            const res = await signedRequest(t, 'POST', '/v3/refund/domestic/refunds', {
              out_trade_no: order.out_trade_no,
              out_refund_no: no,
              amount: { refund: amount, total: order.total, currency: 'CNY' },
            });
            if (previous) expect(res.statusCode).toBe(200); // a replay answers the stored refund
            if (res.statusCode === 200 && !previous)
              refundNos.push({ no, order: order.out_trade_no, amount, total: order.total });
            if (previous) expect(await audit(t.ctx.db)).toEqual(before);
          } else if (o.kind === 'concurrentRefunds' && pick(o.order)) {
            const order = pick(o.order)!;
            await Promise.all(
              o.amounts.map((amount) =>
                signedRequest(t, 'POST', '/v3/refund/domestic/refunds', {
                  out_trade_no: order.out_trade_no,
                  out_refund_no: `${order.out_trade_no}-${seq++}`,
                  amount: { refund: Math.min(amount, order.total), total: order.total, currency: 'CNY' },
                }),
              ),
            );
          }
          await checkInvariants();
        }
      }),
      { numRuns: dialect === 'sqlite' ? 25 : 12 },
    );
  });
});
