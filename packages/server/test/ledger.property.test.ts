/**
 * Model-based property test of the money invariants (issue #2 §6, DESIGN.md "Money"): random
 * sequences of orders, payments, closes, partial refunds (also several at once on one order),
 * replays, a payer closing the instrument that paid (refunds of its orders end ABNORMAL, their money
 * in the merchant's refund hold account) and sweeps (the clock moves on and `tick` closes the
 * abnormal refunds whose window has passed: CLOSED, the money back with the merchant). Checked
 * after every step against the ledger: every journal balances, every stored balance equals the sum
 * of its postings, no payer or merchant balance is negative, refunds never exceed what was paid, a
 * replay changes nothing and answers the stored status, and money is conserved (all balances sum to
 * zero, the sandbox issuer holding the negative side); the merchant keeps what was captured minus
 * delivered and abnormal refunds minus the processing fees not returned (only a delivered refund
 * returns its share), which the platform's fee account holds; the refund hold account holds exactly
 * the ABNORMAL refunds. A model of each sequence's refunds (SUCCESS and ABNORMAL count against the
 * refundable amount, CLOSED gives it back) predicts each refund's status and what stays refundable.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refund_abnormal_close_ms } from '../src/lib/limits.ts';
import { processingFee, refundFeeReturn } from '../src/lib/money.ts';
import { audit } from '../src/modules/ledger/index.ts';
import { refundHoldAccountId } from '../src/modules/refunds/index.ts';
import { dialects, openTestApp, type TestApp } from './harness.ts';
import { jsapiOrder, payAs, signedRequest } from './requests.ts';

/** A fixture payer (index into the merchant's payers) or the sequence's own simulated payer. */
type Payer = 0 | 1 | 3 | 'sim';

type Op =
  | { kind: 'order'; payer: Payer; amount: number; payNow: boolean }
  | { kind: 'pay'; order: number; instrument: number }
  | { kind: 'close'; order: number }
  | { kind: 'refund'; order: number; amount: number; replay: boolean }
  | { kind: 'concurrentRefunds'; order: number; amounts: number[] }
  | { kind: 'closeInstrument' }
  | { kind: 'sweep'; whole: boolean };

const instruments = [
  undefined,
  'ins_zhangwei_balance',
  'ins_zhangwei_icbc_debit',
  'ins_zhangwei_cmb_credit',
  'ins_zhangwei_fenfu',
];

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('order' as const),
      payer: fc.constantFrom<Payer>(0, 0, 1, 3, 'sim', 'sim', 'sim', 'sim'),
      amount: fc.integer({ min: 1, max: 300_000 }),
      // Paid at once, as most orders are: refunds (and abnormal ones) need paid orders.
      payNow: fc.boolean(),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('pay' as const),
      order: fc.nat(),
      instrument: fc.nat({ max: instruments.length - 1 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('close' as const), order: fc.nat() }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('refund' as const),
      order: fc.nat(),
      amount: fc.integer({ min: 1, max: 200_000 }),
      replay: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('concurrentRefunds' as const),
      order: fc.nat(),
      amounts: fc.array(fc.integer({ min: 1, max: 150_000 }), { minLength: 2, maxLength: 5 }),
    }),
  },
  // Rare: closing is final, and the simulated payer has only the one instrument.
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('closeInstrument' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('sweep' as const), whole: fc.boolean() }) },
);

type RefundStatus = 'SUCCESS' | 'ABNORMAL' | 'CLOSED';
interface ModelRefund {
  no: string;
  amount: number;
  status: RefundStatus;
  /** When it was accepted (the sweep closes an ABNORMAL one `refund_abnormal_close_ms` later). */
  at: number;
}
interface ModelOrder {
  out_trade_no: string;
  prepay_id: string;
  openid: string;
  total: number;
  /** The instrument that paid (from the payment's answer). */
  instrument?: string;
  refunds: ModelRefund[];
}

/** SUCCESS and ABNORMAL refunds count against the order; a CLOSED one gave its amount back. */
const refundable = (o: ModelOrder) =>
  o.total - o.refunds.filter((r) => r.status !== 'CLOSED').reduce((s, r) => s + r.amount, 0);

describe.each(dialects)('ledger invariants under random operations (%s)', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    // No background loops: abnormal refunds close, and review windows end, only in a `sweep` step.
    t = await openTestApp(dialect, { app: { background: false } });
  });
  afterAll(() => t.close());

  const refundHold = () => refundHoldAccountId(t.merchant.mchid);

  async function checkInvariants(): Promise<void> {
    const m = t.merchant.mchid;
    const watched = [`acc_mch_${m}`, `acc_hold_${m}`, `acc_fees_${m}`, refundHold()];
    const [a, total, orders, refunds, balances] = await Promise.all([
      audit(t.ctx.db),
      t.ctx.db
        .selectFrom('accounts')
        .select((eb) => eb.fn.sum<number>('balance').as('s'))
        .executeTakeFirstOrThrow(),
      t.ctx.db.selectFrom('orders').selectAll().where('mchid', '=', m).execute(),
      t.ctx.db.selectFrom('refunds').select(['order_id', 'amount_refund', 'status']).execute(),
      t.ctx.db.selectFrom('accounts').select(['id', 'balance']).where('id', 'in', watched).execute(),
    ]);
    expect(a).toEqual({ unbalancedJournals: 0, driftedAccounts: [], belowFloor: [] });
    expect(Number(total.s)).toBe(0);
    let captured = 0;
    let held = 0;
    let fees = 0;
    let abnormal = 0;
    const byOrder = new Map<string, { counted: number; delivered: number }>();
    for (const r of refunds) {
      expect(['SUCCESS', 'ABNORMAL', 'CLOSED']).toContain(r.status);
      const sums = byOrder.get(r.order_id) ?? { counted: 0, delivered: 0 };
      const amount = Number(r.amount_refund);
      if (r.status !== 'CLOSED') sums.counted += amount;
      if (r.status === 'SUCCESS') sums.delivered += amount;
      if (r.status === 'ABNORMAL') abnormal += amount;
      byOrder.set(r.order_id, sums);
    }
    for (const o of orders) {
      // Counted against the order: SUCCESS and ABNORMAL refunds, not CLOSED ones.
      const { counted, delivered } = byOrder.get(o.id) ?? { counted: 0, delivered: 0 };
      expect(counted).toBe(Number(o.refunded_total));
      expect(counted).toBeLessThanOrEqual(Number(o.amount_total));
      // Captured: SUCCESS or REFUND; a payment in review (USERPAYING) is held, not the merchant's yet.
      // A capture pays the 0.6% processing fee; delivered refunds return it pro rata (docs/billing.md),
      // an abnormal one returns none. The abnormal refunds' money sits in the refund hold account.
      if (o.trade_state === 'SUCCESS' || o.trade_state === 'REFUND') {
        expect(o.trade_state).toBe(counted > 0 ? 'REFUND' : 'SUCCESS');
        const total = Number(o.amount_total);
        const fee = processingFee(total);
        const kept = fee - refundFeeReturn(fee, total, 0, delivered);
        captured += total - counted - kept;
        fees += kept;
      } else if (o.trade_state === 'USERPAYING') held += Number(o.amount_total);
      else expect(counted).toBe(0);
    }
    const balance = (id: string) => Number(balances.find((b) => b.id === id)?.balance ?? 0);
    expect(balance(`acc_mch_${m}`)).toBe(captured);
    expect(balance(`acc_hold_${m}`)).toBe(held);
    expect(balance(`acc_fees_${m}`)).toBe(fees);
    expect(balance(refundHold())).toBe(abnormal);
  }

  /** What a step that must write nothing could have changed. */
  async function snapshot(outTradeNo: string) {
    const [accounts, journals, order] = await Promise.all([
      t.ctx.db.selectFrom('accounts').select(['id', 'balance']).orderBy('id').execute(),
      t.ctx.db
        .selectFrom('journals')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow(),
      t.ctx.db.selectFrom('orders').selectAll().where('out_trade_no', '=', outTradeNo).executeTakeFirst(),
    ]);
    return { accounts, journals: Number(journals.n), order };
  }

  const tradeState = async (outTradeNo: string) =>
    await t.ctx.db
      .selectFrom('orders')
      .select(['trade_state', 'refund_count'])
      .where('mchid', '=', t.merchant.mchid)
      .where('out_trade_no', '=', outTradeNo)
      .executeTakeFirstOrThrow();

  const abnormalDue = async () =>
    Number(
      (
        await t.ctx.db
          .selectFrom('refunds')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('status', '=', 'ABNORMAL')
          .where('create_time', '<=', t.clock.now() - refund_abnormal_close_ms)
          .executeTakeFirstOrThrow()
      ).n,
    );

  it('holds after every step', async () => {
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 5, maxLength: 14 }), async (ops) => {
        // A payer of this sequence alone: closing its instrument leaves the next sequences unchanged.
        const created = await t.app.inject({
          method: 'POST',
          url: '/sandbox/v1/payers',
          payload: {
            appid: t.merchant.appid,
            name: `Property ${runs++}`,
            balance_fen: 5_000_000,
            account_age_days: 400,
          },
        });
        expect(created.statusCode).toBe(201);
        const sim = created.json() as { openid: string; instruments: { id: string }[] };
        const simInstrument = sim.instruments[0]!.id;
        let simClosedAt: string | undefined;
        const orders: ModelOrder[] = [];
        let seq = 0;

        /** Checks an accepted refund's status against the model and records it. */
        const accepted = (order: ModelOrder, no: string, amount: number, body: { status: string }) => {
          // The refund of an order paid with a closed instrument cannot be delivered.
          const status = order.instrument === simInstrument && simClosedAt ? 'ABNORMAL' : 'SUCCESS';
          expect(body.status).toBe(status);
          order.refunds.push({ no, amount, status, at: t.clock.now() });
        };

        /** Pays `order` as its payer, with the instrument `choice` names (0: let the server pick). */
        const pay = async (order: ModelOrder, choice: number) => {
          const zhang = order.openid === t.merchant.payers[0]!.openid;
          const isSim = order.openid === sim.openid;
          const ins = zhang ? instruments[choice] : isSim && choice > 0 ? simInstrument : undefined;
          const before = isSim && simClosedAt ? await snapshot(order.out_trade_no) : undefined;
          const res = await payAs(t, order.prepay_id, order.openid, ins ? { instrumentId: ins } : {});
          if (before) {
            // The closed instrument is no longer the payer's: naming it is refused as another
            // payer's would be, and with it gone the payer has nothing to pay with (unless the
            // order's own state, checked first, refuses the payment).
            const answer = [res.statusCode, res.json().code];
            if (!['ORDER_PAID', 'ORDER_CLOSED'].includes(answer[1]))
              expect(answer).toEqual(ins ? [400, 'INVALID_REQUEST'] : [403, 'INSUFFICIENT_FUNDS']);
            expect(await snapshot(order.out_trade_no)).toEqual(before);
          } else expect([200, 400, 403]).toContain(res.statusCode);
          if (res.statusCode === 200) {
            expect(res.json().instrument_id).toBeDefined();
            order.instrument = res.json().instrument_id;
          }
        };

        for (const o of ops) {
          // Mostly an order the step can act on (an unpaid one to pay, a paid one to refund), and
          // now and then any order, which the product must refuse without moving anything.
          const pick = (i: number, ...fits: ((order: ModelOrder) => boolean)[]) => {
            let pool = orders;
            for (const fit of fits.slice(0, i % 4)) {
              const fitting = pool.filter(fit);
              if (fitting.length > 0) pool = fitting;
            }
            return pool[i % pool.length]!;
          };
          // A step on an order before there is any does nothing (and needs no check).
          if (o.kind !== 'order' && o.kind !== 'closeInstrument' && o.kind !== 'sweep' && orders.length === 0)
            continue;
          const unpaid = (order: ModelOrder) => order.instrument === undefined;
          const paid = (order: ModelOrder) => order.instrument !== undefined;
          // Once the payer closed the instrument, its orders are the interesting ones to refund.
          const undeliverable = (order: ModelOrder) =>
            simClosedAt !== undefined && order.instrument === simInstrument;
          if (o.kind === 'order') {
            const body = jsapiOrder(
              t,
              {
                amount: { total: o.amount, currency: 'CNY' },
                // Loopback: a sweep's callback attempts are refused at once, with no DNS lookup.
                notify_url: 'https://localhost/notify',
                ...(o.payer === 'sim' ? { payer: { openid: sim.openid } } : {}),
              },
              o.payer === 'sim' ? 0 : o.payer,
            );
            const res = await signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', body);
            expect(res.statusCode).toBe(200);
            orders.push({
              out_trade_no: body.out_trade_no,
              prepay_id: res.json().prepay_id,
              openid: body.payer.openid,
              total: o.amount,
              refunds: [],
            });
            if (o.payNow) await pay(orders.at(-1)!, 0);
          } else if (o.kind === 'pay') {
            await pay(pick(o.order, unpaid), o.instrument);
          } else if (o.kind === 'close') {
            const res = await signedRequest(
              t,
              'POST',
              `/v3/pay/transactions/out-trade-no/${pick(o.order).out_trade_no}/close`,
              { mchid: t.merchant.mchid },
            );
            expect([204, 403]).toContain(res.statusCode);
          } else if (o.kind === 'refund') {
            const order = pick(o.order, paid, undeliverable);
            const previous = o.replay
              ? order.refunds[o.amount % Math.max(order.refunds.length, 1)]
              : undefined;
            const no = previous?.no ?? `${order.out_trade_no}-${seq++}`;
            const amount = previous?.amount ?? Math.min(o.amount, order.total);
            const before = previous ? await snapshot(order.out_trade_no) : undefined;
            const { trade_state: state, refund_count: count } = await tradeState(order.out_trade_no);
            const res = await signedRequest(t, 'POST', '/v3/refund/domestic/refunds', {
              out_trade_no: order.out_trade_no,
              out_refund_no: no,
              amount: { refund: amount, total: order.total, currency: 'CNY' },
            });
            if (previous) {
              // A replay answers the stored refund, in its current status, and moves nothing.
              expect(res.statusCode).toBe(200);
              expect(res.json().status).toBe(previous.status);
              expect(await snapshot(order.out_trade_no)).toEqual(before);
            } else if (res.statusCode === 200) {
              expect(amount).toBeLessThanOrEqual(refundable(order));
              accepted(order, no, amount, res.json());
            } else if (
              (state === 'SUCCESS' || state === 'REFUND') &&
              amount > refundable(order) &&
              Number(count) < 50 &&
              res.statusCode !== 403 // the Fraud Shield may block first
            ) {
              expect([res.statusCode, res.json().code, res.json().detail?.issue]).toEqual([
                400,
                'INVALID_REQUEST',
                `refundable: ${refundable(order)} fen`,
              ]);
            }
          } else if (o.kind === 'concurrentRefunds') {
            const order = pick(o.order, paid, undeliverable);
            const tries = o.amounts.map((amount) => ({
              no: `${order.out_trade_no}-${seq++}`,
              amount: Math.min(amount, order.total),
            }));
            const answers = await Promise.all(
              tries.map((r) =>
                signedRequest(t, 'POST', '/v3/refund/domestic/refunds', {
                  out_trade_no: order.out_trade_no,
                  out_refund_no: r.no,
                  amount: { refund: r.amount, total: order.total, currency: 'CNY' },
                }),
              ),
            );
            const won = tries.filter((_, i) => answers[i]!.statusCode === 200);
            expect(won.reduce((s, r) => s + r.amount, 0)).toBeLessThanOrEqual(refundable(order));
            for (const r of won) accepted(order, r.no, r.amount, answers[tries.indexOf(r)]!.json());
          } else if (o.kind === 'closeInstrument') {
            // Its precondition (as a command's): the instrument paid something, whose refunds the
            // close then makes undeliverable.
            if (!orders.some((order) => order.instrument === simInstrument)) continue;
            const res = await t.app.inject({
              method: 'POST',
              url: `/sandbox/v1/instruments/${simInstrument}/close`,
              payload: { openid: sim.openid },
            });
            expect(res.statusCode).toBe(200);
            expect(res.json().id).toBe(simInstrument);
            // Closing again answers the first close.
            simClosedAt ??= res.json().closed_at;
            expect(res.json().closed_at).toBe(simClosedAt);
          } else if (o.kind === 'sweep') {
            t.clock.advance(o.whole ? refund_abnormal_close_ms : refund_abnormal_close_ms / 2);
            // One sweep closes at most refund_close_batch_max refunds; the next takes the rest.
            for (let i = 0; i < 10 && (i === 0 || (await abnormalDue()) > 0); i++) await t.app.zhifu.tick();
            expect(await abnormalDue()).toBe(0);
            for (const order of orders)
              for (const r of order.refunds)
                if (r.status === 'ABNORMAL' && r.at <= t.clock.now() - refund_abnormal_close_ms) {
                  r.status = 'CLOSED';
                }
          }
          // Every refund of the sequence is in the status the model says.
          const mine = orders.flatMap((order) => order.refunds);
          if (mine.length > 0) {
            const stored = await t.ctx.db
              .selectFrom('refunds')
              .select(['out_refund_no', 'status'])
              .where('mchid', '=', t.merchant.mchid)
              .where(
                'out_refund_no',
                'in',
                mine.map((r) => r.no),
              )
              .execute();
            expect(Object.fromEntries(stored.map((r) => [r.out_refund_no, r.status]))).toEqual(
              Object.fromEntries(mine.map((r) => [r.no, r.status])),
            );
          }
          await checkInvariants();
        }
      }),
      { numRuns: dialect === 'sqlite' ? 25 : 12 },
    );
  });
});
