/**
 * Domestic refunds (APIv3 §3.4): full or partial, several per order, never more than was paid.
 * The sandbox settles a refund at once — order reservation, ledger journal (merchant → the original
 * instrument) and the refund row commit together — so create answers SUCCESS with success_time.
 * A refund to an instrument its payer closed cannot be delivered: it is accepted ABNORMAL, its money
 * held in the merchant's refund hold account and still counted against the order's refundable
 * amount, then CLOSED by the sweep after `refund_abnormal_close_ms`, the money back with the
 * merchant and refundable again (APIv3 statuses ABNORMAL and CLOSED, callbacks REFUND.ABNORMAL and
 * REFUND.CLOSED, reference §3.4 and §5).
 * `out_refund_no` is the idempotency key: "同一退款单号多次请求只退一笔".
 */
import type { Ctx } from '../../context.ts';
import type { Executor } from '../../db/database.ts';
import { isUniqueViolation } from '../../db/errors.ts';
import { assert } from '../../lib/assert.ts';
import { chinaDate, rfc3339 } from '../../lib/clock.ts';
import { fail } from '../../lib/errors.ts';
import { digits } from '../../lib/ids.ts';
import {
  refund_abnormal_close_ms,
  refund_close_batch_max,
  refund_window_ms,
  refunds_per_order_max,
} from '../../lib/limits.ts';
import * as billing from '../billing/index.ts';
import * as checkout from '../checkout/index.ts';
import { requestHash } from '../idempotency/index.ts';
import * as identity from '../identity/index.ts';
import * as ledger from '../ledger/index.ts';
import * as merchants from '../merchants/index.ts';
import * as notifications from '../notifications/index.ts';
import * as payments from '../payments/index.ts';
import * as risk from '../risk/index.ts';
import * as wallet from '../wallet/index.ts';
import type { RefundRow } from './refunds.repository.ts';
import * as repo from './refunds.repository.ts';

export interface CreateRefundInput {
  transaction_id?: string;
  out_trade_no?: string;
  out_refund_no: string;
  reason?: string;
  notify_url?: string;
  funds_account?: string;
  amount: { refund: number; total: number; currency: string; from?: { account: string; amount: number }[] };
  goods_detail?: unknown[];
}

export type RefundStatus = 'SUCCESS' | 'CLOSED' | 'PROCESSING' | 'ABNORMAL';

export interface RefundView {
  refund_id: string;
  out_refund_no: string;
  transaction_id: string;
  out_trade_no: string;
  channel: string;
  user_received_account: string;
  success_time?: string;
  create_time: string;
  status: RefundStatus;
  funds_account: string;
  amount: {
    total: number;
    refund: number;
    from: { account: string; amount: number }[];
    payer_total: number;
    payer_refund: number;
    settlement_refund: number;
    settlement_total: number;
    discount_refund: number;
    currency: string;
    refund_fee: number;
  };
  promotion_detail: [];
}

export function refundView(r: RefundRow): RefundView {
  const view: RefundView = {
    refund_id: r.refund_id,
    out_refund_no: r.out_refund_no,
    transaction_id: r.transaction_id,
    out_trade_no: r.out_trade_no,
    channel: r.channel,
    user_received_account: r.user_received_account,
    create_time: rfc3339(r.create_time),
    status: r.status as RefundStatus,
    funds_account: r.funds_account,
    amount: {
      total: r.amount_total,
      refund: r.amount_refund,
      from: r.from_json === null ? [] : (JSON.parse(r.from_json) as RefundView['amount']['from']),
      ...payerAmounts(r),
      settlement_refund: r.amount_refund,
      settlement_total: r.amount_total,
      discount_refund: r.discount_refund,
      currency: r.currency,
      refund_fee: 0,
    },
    promotion_detail: [],
  };
  if (r.success_time !== null) view.success_time = rfc3339(r.success_time);
  return view;
}

/** What the payer paid and gets back: a promotion's discount is neither (it goes back to its funder). */
function payerAmounts(r: RefundRow): { payer_total: number; payer_refund: number } {
  return { payer_total: r.payer_total ?? r.amount_total, payer_refund: r.amount_refund - r.discount_refund };
}

/** Where the money goes back to, as APIv3 names it (e.g. 招商银行信用卡0403, 支付用户零钱). */
function receivedAccount(ins: { kind: string; display_name: string; last4: string | null }): string {
  if (ins.kind === 'balance') return '支付用户零钱';
  const chinese = ins.display_name.split(' ')[0] ?? ins.display_name;
  return `${chinese}${ins.last4 ?? ''}`;
}

/**
 * Creates a refund. The Fraud Shield checks it against the payer's and the merchant's refund
 * history first; a `block` refuses it with nothing moved (the assessment is kept).
 */
export async function createRefund(
  ctx: Ctx,
  deps: payments.PaymentDeps,
  mchid: string,
  input: CreateRefundInput,
  client: { ip: string },
): Promise<RefundView> {
  if (input.transaction_id === undefined && input.out_trade_no === undefined) {
    fail('invalid_parameter', {
      field: '/transaction_id',
      location: 'body',
      issue: 'give transaction_id or out_trade_no',
    });
  }
  // Both may be given (the official SDKs' examples do): transaction_id finds the order, and
  // out_trade_no must be that order's.
  const order =
    input.transaction_id !== undefined
      ? await payments.findOrderByTransactionId(ctx.db, mchid, input.transaction_id)
      : await payments.findOrderByOutTradeNo(ctx.db, mchid, input.out_trade_no!);
  if (order && input.transaction_id !== undefined && input.out_trade_no !== undefined) {
    if (order.out_trade_no !== input.out_trade_no)
      fail('refund_order_mismatch', { field: '/out_trade_no', value: input.out_trade_no, location: 'body' });
  }
  const { transaction_id: _t, out_trade_no: _o, out_refund_no: _r, ...params } = input;
  const hash = requestHash('REFUND', params);
  const existing = await repo.findRefund(ctx.db, mchid, input.out_refund_no);
  if (existing) return replay(existing, order?.id, input, hash);
  // Only what was paid can be refunded: a held payment (USERPAYING) or a released one is not.
  if (!order || (order.trade_state !== 'SUCCESS' && order.trade_state !== 'REFUND')) {
    fail('refund_order_unknown', {
      field: input.transaction_id ? '/transaction_id' : '/out_trade_no',
      location: 'body',
    });
  }
  if (input.amount.total !== order.amount_total || input.amount.currency !== order.currency) {
    fail('refund_total_mismatch', { field: '/amount/total', value: input.amount.total, location: 'body' });
  }
  const from = input.amount.from;
  if (from !== undefined && from.reduce((sum, f) => sum + f.amount, 0) !== input.amount.refund) {
    fail('refund_from_mismatch', { field: '/amount/from', location: 'body' });
  }
  const now = ctx.clock.now();
  assert(order.success_time !== null, 'a paid order without success_time');
  if (now - order.success_time > refund_window_ms) fail('refund_trade_overdue');
  const refundId = `5030${chinaDate(now)}${digits(ctx.ids, 17)}`;
  const event = await refundEvent(ctx, order, refundId, input.amount.refund, client.ip);
  const scored = await risk.score(ctx, deps.risk, ctx.db, {
    mchid,
    e: event,
    openid: order.paid_openid!,
    ref: order.out_trade_no,
    billing: 'risk',
  });
  if (scored.assessment.suggested_action === 'block') {
    await ctx.db.transaction().execute((trx) => risk.commit(trx, scored, event, 'declined'));
    fail(
      'risk_blocked',
      undefined,
      `risk_score ${scored.assessment.risk_score}, assessment ${scored.assessment.assessment_id}.`,
    );
  }
  const written: notifications.ZhifuEvent[] = [];
  try {
    const view = await ctx.db.transaction().execute(async (trx) => {
      if (!(await repo.reserveRefund(trx, order.id, input.amount.refund, now))) {
        // A retry racing its first attempt waited for it here: answer the refund it repeats.
        const same = await repo.findRefund(trx, mchid, input.out_refund_no);
        if (same) return replay(same, order.id, input, hash);
        const o = await payments.findOrderByOutTradeNo(trx, mchid, order.out_trade_no);
        assert(o, 'order vanished');
        if (o.refund_count >= refunds_per_order_max) fail('refund_count_exceeded');
        fail('refund_exceeds_refundable_amount', {
          field: '/amount/refund',
          value: input.amount.refund,
          issue: `refundable: ${o.amount_total - o.refunded_total} fen`,
          location: 'body',
        });
      }
      const instrument = await wallet.instrumentById(trx, order.instrument_id!);
      const merchant = await merchants.merchantProfile(trx, mchid);
      assert(instrument && merchant, 'paid order without instrument or merchant');
      // The payer closed the instrument that paid (a cancelled or frozen card): the refund is
      // accepted but cannot be delivered, so it is ABNORMAL, its money held apart (below).
      const abnormal = instrument.closed_at !== null;
      let promoShare = 0;
      if (abnormal) {
        // The money leaves the merchant's balance, as in APIv3, but goes to the merchant's refund
        // hold account, not to the payer: nothing is lost, and closing the refund moves it back
        // (closeAbnormalRefund). No fee returns and no promotion share move yet: those follow the
        // money when a refund is delivered, and an undelivered one may never be. The share it
        // would return is still reported (discount_refund), so payer_refund is what the payer
        // would get back, as for a delivered refund.
        promoShare = (await checkout.promotionShareOf(trx, order.id, input.amount.refund))?.share_fen ?? 0;
        await ledger.ensureAccount(trx, {
          id: refundHoldAccountId(mchid),
          kind: 'refund_hold',
          ownerId: mchid,
          floor: 0,
          now,
        });
        await moveRefundHold(trx, 'hold', {
          refundId,
          mchid,
          merchantAccountId: merchant.account_id,
          amount: input.amount.refund,
          now,
        });
      } else {
        // The payer's account before the merchant's, as a capture takes them (ledger.lockInOrder).
        await ledger.lockInOrder(trx, [instrument.account_id, merchant.account_id]);
        // The pro-rata fee return lands first, so the refund can draw on it (docs/billing.md).
        await billing.returnProcessingFee(trx, {
          orderId: order.id,
          refundId,
          mchid,
          merchantAccountId: merchant.account_id,
          refundFen: input.amount.refund,
          now,
        });
        // A Smart Checkout discount's share goes back to the promotion's funder, not to the payer.
        const promo = await checkout.refundPromotionShare(trx, order.id, input.amount.refund);
        promoShare = promo?.share_fen ?? 0;
        await ledger.post(trx, {
          id: `jnl_ref_${refundId}`,
          kind: 'refund',
          refId: refundId,
          postings: [
            { accountId: merchant.account_id, amount: -input.amount.refund },
            { accountId: instrument.account_id, amount: input.amount.refund - promoShare },
            ...(promo ? [{ accountId: promo.accountId, amount: promoShare }] : []),
          ].filter((p) => p.amount !== 0),
          now,
          onInsufficient: 'merchant_balance_insufficient',
        });
      }
      const row: RefundRow = {
        refund_id: refundId,
        mchid,
        out_refund_no: input.out_refund_no,
        order_id: order.id,
        transaction_id: order.transaction_id!,
        out_trade_no: order.out_trade_no,
        amount_refund: input.amount.refund,
        amount_total: input.amount.total,
        currency: input.amount.currency,
        reason: input.reason ?? null,
        notify_url: input.notify_url ?? null,
        status: abnormal ? 'ABNORMAL' : 'SUCCESS',
        channel: 'ORIGINAL',
        // For an abnormal refund, the account it could not reach (as APIv3 names it).
        user_received_account: receivedAccount(instrument),
        funds_account: input.funds_account ?? 'UNSETTLED',
        request_hash: hash,
        create_time: now,
        success_time: abnormal ? null : now,
        payer_total: order.payer_total ?? order.amount_total,
        discount_refund: promoShare,
        from_json: input.amount.from === undefined ? null : JSON.stringify(input.amount.from),
      };
      await repo.insertRefund(trx, row);
      await risk.commit(trx, scored, event, 'success');
      const refunded = refundView(row);
      written.push(
        await notifications.emit(ctx, trx, mchid, abnormal ? 'refund.abnormal' : 'refund.succeeded', {
          ...refunded,
        }),
      );
      await notifications.enqueueCallback(ctx, trx, {
        mchid,
        eventType: abnormal ? 'REFUND.ABNORMAL' : 'REFUND.SUCCESS',
        ref: row.out_refund_no,
        // APIv3 falls back to the portal URL; Zhifu falls back to the order's notify_url.
        notifyUrl: row.notify_url ?? order.notify_url,
        resource: refundNotification(row),
      });
      return refunded;
    });
    deps.decisions.publish(mchid, written);
    return view;
  } catch (error) {
    // An identical request committed first (PostgreSQL, concurrent): answer like a replay.
    if (!isUniqueViolation(error)) throw error;
    const winner = await repo.findRefund(ctx.db, mchid, input.out_refund_no);
    assert(winner, 'unique violation without a row');
    return replay(winner, order.id, input, hash);
  }
}

/** The merchant's account holding its abnormal refunds' money until they are closed. */
export function refundHoldAccountId(mchid: string): string {
  return `acc_rhold_${mchid}`;
}

/**
 * Closes the abnormal refunds accepted `refund_abnormal_close_ms` ago or earlier (run by the app's
 * minute sweep and `tick`). Safe on every node at once: each refund moves once (closeAbnormalRefund).
 * Returns how many it closed.
 */
export async function sweepAbnormalRefunds(ctx: Ctx, deps: Pick<payments.DecisionDeps, 'publish'>) {
  const due = await repo.abnormalRefundsDue(
    ctx.db,
    ctx.clock.now() - refund_abnormal_close_ms,
    refund_close_batch_max,
  );
  let closed = 0;
  for (const r of due) if (await closeAbnormalRefund(ctx, deps, r.refund_id)) closed++;
  return closed;
}

/**
 * An ABNORMAL refund's money between the merchant's balance and its refund hold: `hold` when the
 * refund is accepted (the merchant may lack the amount: NOT_ENOUGH), `return` when it is closed
 * (the hold received exactly this amount, so it cannot lack it).
 */
async function moveRefundHold(
  trx: Executor,
  direction: 'hold' | 'return',
  m: { refundId: string; mchid: string; merchantAccountId: string; amount: number; now: number },
): Promise<void> {
  const hold = refundHoldAccountId(m.mchid);
  const [from, to] = direction === 'hold' ? [m.merchantAccountId, hold] : [hold, m.merchantAccountId];
  await ledger.lockInOrder(trx, [m.merchantAccountId]);
  await ledger.post(trx, {
    id: direction === 'hold' ? `jnl_ref_${m.refundId}` : `jnl_refret_${m.refundId}`,
    kind: direction === 'hold' ? 'refund' : 'refund_return',
    refId: m.refundId,
    postings: [
      { accountId: from, amount: -m.amount },
      { accountId: to, amount: m.amount },
    ],
    now: m.now,
    onInsufficient: direction === 'hold' ? 'merchant_balance_insufficient' : 'system_error',
  });
}

/**
 * ABNORMAL → CLOSED: the refund is abandoned, its held money goes back to the merchant's balance,
 * and its amount is refundable again on the order (a new out_refund_no refunds it; this one stays
 * CLOSED). The status change is conditional, so of two sweeps only one moves the money; the journal
 * id is the refund's, so it can never be posted twice. A REFUND.CLOSED callback and a
 * `refund.closed` event commit with it. Returns false if the refund was no longer ABNORMAL.
 */
export async function closeAbnormalRefund(
  ctx: Ctx,
  deps: Pick<payments.DecisionDeps, 'publish'>,
  refundId: string,
): Promise<boolean> {
  const now = ctx.clock.now();
  const written: notifications.ZhifuEvent[] = [];
  const closed = await ctx.db.transaction().execute(async (trx) => {
    if (!(await repo.moveRefundStatus(trx, refundId, 'ABNORMAL', 'CLOSED'))) return false;
    const r = await repo.findRefundById(trx, refundId);
    assert(r && r.status === 'CLOSED', `refund ${refundId} vanished while closing`);
    const order = await payments.findOrderByOutTradeNo(trx, r.mchid, r.out_trade_no);
    const merchant = await merchants.merchantProfile(trx, r.mchid);
    assert(order && merchant, `closed refund ${refundId} without its order or merchant`);
    // The reservation was taken when the refund was accepted: giving it back cannot fail.
    assert(
      await repo.releaseRefund(trx, order.id, r.amount_refund, now),
      `order ${order.id} does not hold the reservation of refund ${refundId}`,
    );
    await moveRefundHold(trx, 'return', {
      refundId,
      mchid: r.mchid,
      merchantAccountId: merchant.account_id,
      amount: r.amount_refund,
      now,
    });
    written.push(await notifications.emit(ctx, trx, r.mchid, 'refund.closed', { ...refundView(r) }));
    await notifications.enqueueCallback(ctx, trx, {
      mchid: r.mchid,
      eventType: 'REFUND.CLOSED',
      ref: r.out_refund_no,
      notifyUrl: r.notify_url ?? order.notify_url,
      resource: refundNotification(r),
    });
    return true;
  });
  if (closed) deps.publish(written[0]!.mchid, written);
  return closed;
}

/** The REFUND.* callback resource (reference §5.2): `refund_status`, not `status`. */
function refundNotification(r: RefundRow) {
  return {
    mchid: r.mchid,
    transaction_id: r.transaction_id,
    out_trade_no: r.out_trade_no,
    refund_id: r.refund_id,
    out_refund_no: r.out_refund_no,
    refund_status: r.status,
    ...(r.success_time !== null ? { success_time: rfc3339(r.success_time) } : {}),
    user_received_account: r.user_received_account,
    amount: { total: r.amount_total, refund: r.amount_refund, ...payerAmounts(r) },
  };
}

/** The Fraud Shield's view of a refund of `order` (conversation refund policy judges proposals with it). */
export async function refundEvent(
  ctx: Ctx,
  order: payments.OrderRow,
  refundId: string,
  amount: number,
  ip: string,
): Promise<risk.RiskEvent> {
  const who = await identity.resolveOpenid(ctx.db, order.paid_openid!);
  const payer = who ? await wallet.payerById(ctx.db, who.user_id) : undefined;
  const instrument = await wallet.instrumentById(ctx.db, order.instrument_id!);
  const merchant = await merchants.merchantProfile(ctx.db, order.mchid);
  assert(who && payer && instrument && merchant, 'paid order without payer, instrument or merchant');
  // Judged in the context of the payment: the payer's device and network when they paid.
  const paidFrom = await risk.paymentContext(ctx.db, order, who.user_id);
  return {
    id: `ref:${refundId}`,
    ts: ctx.clock.now(),
    type: 'refund',
    payer_id: who.user_id,
    merchant_id: order.mchid,
    mcc: merchant.mcc,
    amount_fen: amount,
    device_id: paidFrom?.device_id ?? `merchant:${order.mchid}`,
    ip: paidFrom?.ip ?? ip,
    ip_country: 'CN',
    ip_region: '000000',
    instrument_id: instrument.id,
    instrument_created_ts: instrument.created_at,
    payer_created_ts: payer.created_at,
    promotion_id: null,
    refund_of_amount_fen: order.amount_total,
    refund_of_ts: paidFrom?.ts ?? null,
  };
}

function replay(
  r: RefundRow,
  orderId: string | undefined,
  input: CreateRefundInput,
  hash: string,
): RefundView {
  if (
    r.order_id !== orderId ||
    r.amount_refund !== input.amount.refund ||
    r.amount_total !== input.amount.total
  ) {
    fail('out_refund_no_amount_mismatch', {
      field: '/out_refund_no',
      value: r.out_refund_no,
      location: 'body',
    });
  }
  if (r.request_hash !== hash)
    fail('out_refund_no_params_mismatch', {
      field: '/out_refund_no',
      value: r.out_refund_no,
      location: 'body',
    });
  return refundView(r);
}

export async function queryRefund(ctx: Ctx, mchid: string, outRefundNo: string): Promise<RefundView> {
  const r = await repo.findRefund(ctx.db, mchid, outRefundNo);
  if (!r) fail('refund_unknown', { field: 'out_refund_no', value: outRefundNo, location: 'path' });
  return refundView(r);
}
