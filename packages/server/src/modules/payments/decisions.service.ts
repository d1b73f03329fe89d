/**
 * Payment decisions (issue #4 §2): after the Fraud Shield, a confirmed payment is either
 * captured at once (`auto` mode, suggested action approve) or its funds are held in the
 * merchant's hold account while a decision is pending: in `realtime` mode the merchant answers
 * within 500 ms over its WebSocket; `review`, an invalid answer, no connection or no answer in
 * time puts the payment in manual review with the funds still held (APIv3 `trade_state` stays
 * USERPAYING, `zhifu_decision` tells the state). Manual review ends by a REST call (approve /
 * decline) or is released after the merchant's review window.
 *
 * Every transition is one conditional update on the decision row (`where state = …`) inside the
 * transaction that moves the money and writes the event, so a late or second decision, a deadline
 * sweep on another node and a crash at any point can never apply two outcomes. Deadlines live in
 * the database; the in-process timers only make them fire promptly.
 */
import type { Ctx } from '../../context.ts';
import type { Executor } from '../../db/database.ts';
import type { DecisionsTable } from '../../db/schema.ts';
import { assert } from '../../lib/assert.ts';
import { fail } from '../../lib/errors.ts';
import * as billing from '../billing/index.ts';
import * as checkout from '../checkout/index.ts';
import * as compliance from '../compliance/index.ts';
import { payerPseudonym as identityPseudonym } from '../identity/index.ts';
import * as ledger from '../ledger/index.ts';
import * as merchants from '../merchants/index.ts';
import type { ZhifuEvent } from '../notifications/index.ts';
import * as notifications from '../notifications/index.ts';
import type { OrderRow } from './payments.repository.ts';
import * as repo from './payments.repository.ts';
import { promotionsOf, transactionView } from './payments.service.ts';

export type DecisionState = 'pending' | 'approved' | 'blocked' | 'manual_review' | 'released';
type Outcome = 'capture' | 'block' | 'manual_review' | 'release';

/** After-commit side of decisions: the hub is told about new events, waiters wake up. */
export interface DecisionDeps {
  publish(mchid: string, events: ZhifuEvent[]): void;
  timers: DecisionTimers;
}

export const trade_state_desc = {
  pending: '等待商户风控决策 (waiting for the merchant decision)',
  manual_review: '人工审核中，资金已冻结 (in manual review, funds held)',
  blocked: '商户拒绝交易，资金已退回 (declined by the merchant, funds returned)',
  released: '审核未通过或已超时，资金已退回 (review declined or expired, funds returned)',
} as const;

export function holdAccountId(mchid: string): string {
  return `acc_hold_${mchid}`;
}

export async function ensureHoldAccount(trx: Executor, mchid: string, now: number): Promise<string> {
  const id = holdAccountId(mchid);
  await ledger.ensureAccount(trx, { id, kind: 'hold', ownerId: mchid, floor: 0, now });
  return id;
}

/** The public view of a payment's decision, attached to queries as `zhifu_decision`. */
export function decisionView(d: DecisionsTable): Record<string, unknown> {
  return {
    state: d.state,
    event_id: d.event_id,
    deadline_at: new Date(d.deadline_at).toISOString(),
    ...(d.review_until !== null ? { review_until: new Date(d.review_until).toISOString() } : {}),
    ...(d.decided_by !== null ? { decided_by: d.decided_by } : {}),
  };
}

/** An event's payment data; `payerRef` is the payer's pseudonym (never the raw OpenID). */
export function paymentEventData(o: OrderRow, d: DecisionsTable | undefined, payerRef: string) {
  return {
    out_trade_no: o.out_trade_no,
    transaction_id: o.transaction_id,
    appid: o.appid,
    trade_state: o.trade_state,
    amount: { total: o.amount_total, currency: o.currency },
    payer_ref: payerRef,
    instrument: { bank_type: o.bank_type },
    ...(d
      ? {
          decision: decisionView(d),
          risk: JSON.parse(d.risk_json) as unknown,
          deadline_at: new Date(d.deadline_at).toISOString(),
        }
      : {}),
  };
}

/** The pseudonym of the payer of a held order (the pseudonym, never the raw OpenID, goes into events). */
async function payerRefOf(ctx: Ctx, db: Executor, o: OrderRow): Promise<string> {
  assert(o.paid_openid, `held order ${o.id} without its payer`);
  const row = await db
    .selectFrom('openids')
    .select('user_id')
    .where('openid', '=', o.paid_openid)
    .executeTakeFirst();
  assert(row, `held order ${o.id}: unknown payer`);
  return identityPseudonym(ctx, row.user_id);
}

/** What a settled decision left: the order and its decision as committed (waiters need not read them). */
export interface Settled {
  order: OrderRow;
  decision: DecisionsTable;
}

/**
 * Applies one outcome to a held payment if its decision is still in `from`; returns whether it did.
 * Money, order, decision and event commit together. `known` is the decision row when the caller
 * has just read it: what is used of it besides its state never changes, and the state is checked
 * by the conditional update.
 */
async function apply(
  ctx: Ctx,
  deps: DecisionDeps,
  orderId: string,
  from: 'pending' | 'manual_review',
  outcome: Outcome,
  by: string,
  answer: string | null,
  known?: DecisionsTable,
): Promise<boolean> {
  const now = ctx.clock.now();
  const written: ZhifuEvent[] = [];
  let settled: Settled | undefined;
  const applied = await ctx.db.transaction().execute(async (trx) => {
    const next: DecisionState =
      outcome === 'capture'
        ? 'approved'
        : outcome === 'block'
          ? 'blocked'
          : outcome === 'release'
            ? 'released'
            : 'manual_review';
    const d =
      known ??
      (await trx.selectFrom('decisions').selectAll().where('order_id', '=', orderId).executeTakeFirst());
    if (!d) return false;
    // A deadline applies only once it has passed by the clock — whichever timer or node fires it.
    if (by === 'deadline' && now < d.deadline_at) return false;
    const reviewUntil =
      next === 'manual_review'
        ? now + (await notifications.settings(trx, d.mchid)).review_window_ms
        : d.review_until;
    const moved = await trx
      .updateTable('decisions')
      .set({
        state: next,
        decided_at: now,
        decided_by: by,
        decision: answer,
        ...(next === 'manual_review' ? { review_until: reviewUntil } : {}),
      })
      .where('order_id', '=', orderId)
      .where('state', '=', from)
      .executeTakeFirst();
    if (moved.numUpdatedRows !== 1n) return false;
    const o = await repo.findById(trx, orderId);
    assert(o && o.trade_state === 'USERPAYING', `held order ${orderId} is not USERPAYING`);
    const payerRef = await payerRefOf(ctx, trx, o);
    const merchant = await merchants.merchantProfile(trx, o.mchid);
    assert(merchant, 'order of unknown merchant');
    // A frozen merchant captures nothing: the answer is refused and the funds stay held.
    if (outcome === 'capture') await compliance.assertNotFrozen(ctx, trx, o.mchid);
    const after: DecisionsTable = {
      ...d,
      state: next,
      decided_at: now,
      decided_by: by,
      decision: answer,
      review_until: reviewUntil,
    };
    settled = { order: o, decision: after };
    if (outcome === 'capture') {
      await ledger.post(trx, {
        id: `jnl_cap_${o.id}`,
        kind: 'payment',
        refId: o.id,
        postings: [
          { accountId: d.hold_account_id, amount: -d.amount },
          { accountId: merchant.account_id, amount: d.amount },
        ],
        now,
        onInsufficient: 'system_error',
      });
      await billing.chargeProcessingFee(trx, {
        orderId: o.id,
        mchid: o.mchid,
        merchantAccountId: merchant.account_id,
        amountFen: d.amount,
        now,
      });
      await repo.updateHeld(trx, o.id, { trade_state: 'SUCCESS', success_time: now, updated_at: now });
      const paid = { ...o, trade_state: 'SUCCESS', success_time: now, updated_at: now };
      settled.order = paid;
      written.push(
        await notifications.emit(
          ctx,
          trx,
          o.mchid,
          'payment.succeeded',
          paymentEventData(paid, after, payerRef),
        ),
      );
      await notifications.enqueueCallback(ctx, trx, {
        mchid: o.mchid,
        eventType: 'TRANSACTION.SUCCESS',
        ref: o.out_trade_no,
        notifyUrl: o.notify_url,
        resource: transactionView(paid, now, undefined, await promotionsOf(trx, paid)),
      });
    } else if (outcome === 'block' || outcome === 'release') {
      // The payer gets back what they paid; a promotion's discount goes back to its account.
      const promotion = await checkout.releasePromotion(ctx, trx, o.id, o.mchid);
      const discount = promotion?.discount_fen ?? 0;
      await ledger.post(trx, {
        id: `jnl_rel_${o.id}`,
        kind: 'payment',
        refId: o.id,
        postings: [
          { accountId: d.hold_account_id, amount: -d.amount },
          { accountId: d.instrument_account_id, amount: d.amount - discount },
          ...(promotion && discount > 0 ? [{ accountId: promotion.accountId, amount: discount }] : []),
        ],
        now,
        onInsufficient: 'system_error',
      });
      await repo.updateHeld(trx, o.id, { trade_state: 'PAYERROR', updated_at: now });
      const failed = { ...o, trade_state: 'PAYERROR', updated_at: now };
      settled.order = failed;
      const type = outcome === 'block' ? 'payment.blocked' : 'payment.released';
      written.push(
        await notifications.emit(ctx, trx, o.mchid, type, paymentEventData(failed, after, payerRef)),
      );
    } else {
      written.push(
        await notifications.emit(
          ctx,
          trx,
          o.mchid,
          'payment.manual_review',
          paymentEventData(o, after, payerRef),
        ),
      );
    }
    return true;
  });
  if (applied && settled) {
    deps.publish(settled.order.mchid, written);
    deps.timers.settled(orderId, settled);
  }
  return applied;
}

/** A merchant's answer to `payment.decision_required` (WebSocket or REST). */
export async function decide(
  ctx: Ctx,
  deps: DecisionDeps,
  mchid: string,
  eventId: string,
  answer: 'approve' | 'review' | 'block',
): Promise<{ applied: true; state: DecisionState }> {
  const d = await ctx.db
    .selectFrom('decisions')
    .selectAll()
    .where('event_id', '=', eventId)
    .where('mchid', '=', mchid)
    .executeTakeFirst();
  if (!d) fail('decision_unknown', { field: 'event_id', value: eventId });
  if (d.state !== 'pending') {
    if (d.decided_by === 'deadline')
      fail('decision_too_late', {
        field: 'event_id',
        value: eventId,
        issue: 'the payment went to manual review',
      });
    fail('decision_already_made', { field: 'event_id', value: eventId, issue: `state is ${d.state}` });
  }
  if (ctx.clock.now() >= d.deadline_at) {
    await apply(ctx, deps, d.order_id, 'pending', 'manual_review', 'deadline', null);
    fail('decision_too_late', {
      field: 'event_id',
      value: eventId,
      issue: 'the payment went to manual review',
    });
  }
  const outcome: Outcome = answer === 'approve' ? 'capture' : answer === 'block' ? 'block' : 'manual_review';
  if (!(await apply(ctx, deps, d.order_id, 'pending', outcome, 'merchant', answer, d))) {
    fail('decision_already_made', { field: 'event_id', value: eventId });
  }
  const state: DecisionState =
    outcome === 'capture' ? 'approved' : outcome === 'block' ? 'blocked' : 'manual_review';
  return { applied: true, state };
}

/** Resolves a payment in manual review (REST). */
export async function resolveReview(
  ctx: Ctx,
  deps: DecisionDeps,
  mchid: string,
  outTradeNo: string,
  decision: 'approve' | 'decline',
): Promise<{ state: DecisionState }> {
  const o = await repo.findByOutTradeNo(ctx.db, mchid, outTradeNo);
  if (!o) fail('order_unknown', { field: 'out_trade_no', value: outTradeNo, location: 'path' });
  const d = await ctx.db.selectFrom('decisions').selectAll().where('order_id', '=', o.id).executeTakeFirst();
  if (d?.state !== 'manual_review') {
    fail('decision_not_in_review', {
      field: 'out_trade_no',
      value: outTradeNo,
      issue: `state is ${d?.state ?? 'none'}`,
    });
  }
  // The window is the server clock's, not the sweeper's: past it, the funds go back whatever the
  // answer, exactly as the sweeper would have done.
  if (d.review_until !== null && ctx.clock.now() >= d.review_until) {
    await apply(ctx, deps, o.id, 'manual_review', 'release', 'expiry', null);
    fail('review_window_expired', { field: 'out_trade_no', value: outTradeNo, location: 'path' });
  }
  const outcome: Outcome = decision === 'approve' ? 'capture' : 'release';
  if (!(await apply(ctx, deps, o.id, 'manual_review', outcome, 'review', decision))) {
    fail('decision_not_in_review', { field: 'out_trade_no', value: outTradeNo });
  }
  return { state: outcome === 'capture' ? 'approved' : 'released' };
}

/**
 * Enforces deadlines from the database: pending decisions past their deadline go to manual
 * review, manual reviews past their window are released. Safe to run on every node at once.
 */
export async function sweep(ctx: Ctx, deps: DecisionDeps): Promise<number> {
  const now = ctx.clock.now();
  const [late, expired] = await Promise.all([
    ctx.db
      .selectFrom('decisions')
      .select('order_id')
      .where('state', '=', 'pending')
      .where('deadline_at', '<=', now)
      .limit(500)
      .execute(),
    ctx.db
      .selectFrom('decisions')
      .select('order_id')
      .where('state', '=', 'manual_review')
      .where('review_until', '<=', now)
      .limit(500)
      .execute(),
  ]);
  let n = 0;
  for (const d of late)
    if (await apply(ctx, deps, d.order_id, 'pending', 'manual_review', 'deadline', null)) n++;
  for (const d of expired)
    if (await apply(ctx, deps, d.order_id, 'manual_review', 'release', 'expiry', null)) n++;
  return n;
}

/**
 * In-process deadline timers and waiters: a pending decision's timer fires at its deadline (the
 * sweeper is the safety net), and the payer's confirmation call can wait for the outcome.
 */
export class DecisionTimers {
  private readonly waiters = new Map<string, ((s: Settled) => void)[]>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  onDeadline: (orderId: string) => void = () => {};

  schedule(orderId: string, inMs: number): void {
    const timer = setTimeout(
      () => {
        this.timers.delete(orderId);
        this.onDeadline(orderId);
      },
      Math.max(0, inMs),
    );
    timer.unref();
    this.timers.set(orderId, timer);
  }

  settled(orderId: string, s: Settled): void {
    const t = this.timers.get(orderId);
    if (t) clearTimeout(t);
    this.timers.delete(orderId);
    for (const wake of this.waiters.get(orderId) ?? []) wake(s);
    this.waiters.delete(orderId);
  }

  /** Resolves with what the decision left when it settles (in this process) within `ms`; else undefined. */
  wait(orderId: string, ms: number): Promise<Settled | undefined> {
    return new Promise((resolve) => {
      const wake = (s: Settled) => {
        clearTimeout(timer);
        resolve(s);
      };
      const timer = setTimeout(
        () => {
          const list = this.waiters.get(orderId)?.filter((w) => w !== wake) ?? [];
          if (list.length > 0) this.waiters.set(orderId, list);
          else this.waiters.delete(orderId);
          resolve(undefined);
        },
        Math.max(0, ms),
      );
      timer.unref();
      this.waiters.set(orderId, [...(this.waiters.get(orderId) ?? []), wake]);
    });
  }

  clear(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}

/** Puts a still-pending payment whose deadline has passed in manual review; false if it did nothing. */
export function applyDeadline(ctx: Ctx, deps: DecisionDeps, orderId: string): Promise<boolean> {
  return apply(ctx, deps, orderId, 'pending', 'manual_review', 'deadline', null);
}
