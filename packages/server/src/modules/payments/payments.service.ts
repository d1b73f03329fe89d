/**
 * Orders and payments (APIv3 §3.1–§3.3). An order is created NOTPAY with a prepay_id (and a
 * code_url for Native); a sandbox payer's confirmed payment moves it to SUCCESS and moves the money
 * in the same transaction (order claim + ledger journal). A failed attempt writes nothing, so the
 * order stays NOTPAY as APIv3 describes. `out_trade_no` is the idempotency key.
 */
import type { Ctx } from '../../context.ts';
import type { Executor } from '../../db/database.ts';
import { isUniqueViolation } from '../../db/errors.ts';
import type { DecisionsTable } from '../../db/schema.ts';
import { assert } from '../../lib/assert.ts';
import { chinaDate, parseRfc3339, rfc3339 } from '../../lib/clock.ts';
import { AppError, fail } from '../../lib/errors.ts';
import { alphanumeric, digits, hex, prefixed } from '../../lib/ids.ts';
import {
  decision_deadline_ms,
  h5_url_validity_ms,
  order_pay_window_ms,
  prepay_validity_ms,
  time_expire_max_ms,
  time_expire_min_ms,
} from '../../lib/limits.ts';
import * as billing from '../billing/index.ts';
import * as checkout from '../checkout/index.ts';
import * as compliance from '../compliance/index.ts';
import { type NonceStore, requestHash } from '../idempotency/index.ts';
import * as identity from '../identity/index.ts';
import * as ledger from '../ledger/index.ts';
import * as merchants from '../merchants/index.ts';
import * as notifications from '../notifications/index.ts';
import * as risk from '../risk/index.ts';
import * as wallet from '../wallet/index.ts';
import * as decisions from './decisions.service.ts';
import type { OrderRow } from './payments.repository.ts';
import * as repo from './payments.repository.ts';

export type TradeType = 'JSAPI' | 'NATIVE' | 'MWEB' | 'APP';
export type TradeState = 'SUCCESS' | 'REFUND' | 'NOTPAY' | 'CLOSED' | 'REVOKED' | 'USERPAYING' | 'PAYERROR';

export interface CreateOrderInput {
  appid: string;
  mchid: string;
  description: string;
  out_trade_no: string;
  time_expire?: string;
  attach?: string;
  notify_url: string;
  goods_tag?: string;
  support_fapiao?: boolean;
  limit_pay?: string[];
  amount: { total: number; currency?: string };
  payer?: { openid: string };
  detail?: unknown;
  scene_info?: unknown;
  settle_info?: unknown;
}

export type CreateOrderResult = { prepay_id: string } | { code_url: string } | { h5_url: string };

const state_desc: Record<TradeState, string> = {
  SUCCESS: '支付成功',
  REFUND: '转入退款',
  NOTPAY: '订单未支付',
  CLOSED: '订单已关闭',
  REVOKED: '已撤销',
  USERPAYING: '用户支付中',
  PAYERROR: '支付失败',
};

/** The latest time an unpaid order may still be paid. */
function payDeadline(o: OrderRow): number {
  return Math.min(o.time_expire, o.created_at + order_pay_window_ms);
}

/** An unpaid order past its deadline reads as CLOSED (APIv3 closes such orders on its own). */
export function effectiveState(o: OrderRow, now: number): TradeState {
  if (o.trade_state === 'NOTPAY' && now >= payDeadline(o)) return 'CLOSED';
  return o.trade_state as TradeState;
}

function codeUrl(token: string): string {
  return `weixin://wxpay/bizpayurl/up?pr=${token}&groupid=00`;
}

function resultOf(ctx: Ctx, o: OrderRow): CreateOrderResult {
  switch (o.trade_type as TradeType) {
    case 'NATIVE':
      return { code_url: codeUrl(o.code_token) };
    case 'MWEB':
      return { h5_url: `${ctx.publicUrl}/cashier?prepay_id=${o.prepay_id}` };
    case 'JSAPI':
    case 'APP':
      return { prepay_id: o.prepay_id! };
  }
  return fail('system_error');
}

export async function createOrder(
  ctx: Ctx,
  deps: Pick<PaymentDeps, 'decisions'>,
  authMchid: string,
  tradeType: TradeType,
  input: CreateOrderInput,
): Promise<CreateOrderResult> {
  if (input.mchid !== authMchid)
    fail('mchid_mismatch', { field: '/mchid', value: input.mchid, location: 'body' });
  const app = await merchants.findApp(ctx.db, input.appid);
  if (!app || app.mchid !== authMchid) {
    fail('appid_not_bound_to_mchid', { field: '/appid', value: input.appid, location: 'body' });
  }
  if (tradeType === 'JSAPI') {
    const who = await identity.resolveOpenid(ctx.db, input.payer!.openid);
    if (!who || who.appid !== input.appid) {
      fail('openid_not_of_appid', { field: '/payer/openid', value: input.payer!.openid, location: 'body' });
    }
  }
  const now = ctx.clock.now();
  let timeExpire = now + order_pay_window_ms;
  if (input.time_expire !== undefined) {
    const parsed = parseRfc3339(input.time_expire);
    if (parsed === undefined) {
      fail('invalid_parameter', {
        field: '/time_expire',
        value: input.time_expire,
        issue: 'not RFC 3339',
        location: 'body',
      });
    }
    if (parsed - now > time_expire_max_ms) {
      fail('time_expire_out_of_range', { field: '/time_expire', value: input.time_expire, location: 'body' });
    }
    // APIv3 moves a time_expire closer than one minute out to one minute (reference §3.1).
    timeExpire = Math.max(parsed, now + time_expire_min_ms);
  }
  const hash = requestHash(tradeType, input);
  const existing = await repo.findByOutTradeNo(ctx.db, authMchid, input.out_trade_no);
  if (existing) return replay(ctx, existing, hash, now);
  const merchant = await merchants.merchantProfile(ctx.db, authMchid);
  assert(merchant, 'authenticated merchant without a row');
  compliance.assertNotFrozenAt(ctx, authMchid, merchant.frozen_until);
  await screenOrder(ctx, deps, merchant, input);
  const { amount, ...rest } = input;
  const extra = {
    goods_tag: rest.goods_tag,
    support_fapiao: rest.support_fapiao,
    limit_pay: rest.limit_pay,
    detail: rest.detail,
    scene_info: rest.scene_info,
    settle_info: rest.settle_info,
  };
  const row: OrderRow = {
    id: prefixed(ctx.ids, 'ord'),
    mchid: authMchid,
    appid: input.appid,
    out_trade_no: input.out_trade_no,
    trade_type: tradeType,
    description: input.description,
    attach: input.attach ?? null,
    notify_url: input.notify_url,
    amount_total: amount.total,
    currency: amount.currency ?? 'CNY',
    payer_openid: input.payer?.openid ?? null,
    prepay_id: `wx${hex(ctx.ids, 34)}`,
    code_token: alphanumeric(ctx.ids, 16),
    time_expire: timeExpire,
    prepay_expires_at: now + prepayValidity(tradeType),
    trade_state: 'NOTPAY',
    transaction_id: null,
    success_time: null,
    bank_type: null,
    paid_openid: null,
    instrument_id: null,
    payer_total: null,
    refunded_total: 0,
    refund_count: 0,
    request_hash: hash,
    extra_json: JSON.stringify(extra),
    created_at: now,
    updated_at: now,
  };
  try {
    await repo.insertOrder(ctx.db, row);
  } catch (error) {
    // Two identical requests raced: the loser answers like a replay.
    if (!isUniqueViolation(error)) throw error;
    const winner = await repo.findByOutTradeNo(ctx.db, authMchid, input.out_trade_no);
    assert(winner, 'unique violation without a row');
    return replay(ctx, winner, hash, now);
  }
  return resultOf(ctx, row);
}

/**
 * Screens the order's texts for restricted categories and for a description that does not fit
 * the merchant's declared category; a finding freezes the merchant and refuses the order.
 */
async function screenOrder(
  ctx: Ctx,
  deps: Pick<PaymentDeps, 'decisions'>,
  merchant: { mchid: string; mcc: string },
  input: CreateOrderInput,
) {
  const mchid = merchant.mchid;
  const goods =
    (input.detail as { goods_detail?: { goods_name?: string }[] } | undefined)?.goods_detail ?? [];
  const texts = [
    { field: '/description', text: input.description },
    ...goods
      .filter((g) => g.goods_name)
      .map((g, i) => ({ field: `/detail/goods_detail/${i}/goods_name`, text: g.goods_name! })),
    ...(input.attach ? [{ field: '/attach', text: input.attach }] : []),
  ];
  const finding = compliance.screenOrderTexts(texts, merchant.mcc);
  if (!finding) return;
  const frozen = await ctx.db
    .transaction()
    .execute((trx) => compliance.freeze(ctx, trx, mchid, finding, 'system:screening'));
  deps.decisions.publish(mchid, [frozen.event]);
  fail('order_restricted', {
    field: String(finding.evidence.field),
    issue: `${finding.reason}${finding.category ? ` (${finding.category})` : ''}; frozen until ${rfc3339(frozen.frozen_until)}`,
    location: 'body',
  });
}

/** Same out_trade_no: same parameters return the stored answer, different ones are refused. */
/** How long a prepay_id / code_url (2 h) or an h5_url (5 min) can be paid (reference §3.1). */
function prepayValidity(tradeType: TradeType): number {
  return tradeType === 'MWEB' ? h5_url_validity_ms : prepay_validity_ms;
}

async function replay(ctx: Ctx, o: OrderRow, hash: string, now: number): Promise<CreateOrderResult> {
  if (o.request_hash !== hash)
    fail('out_trade_no_used', { field: '/out_trade_no', value: o.out_trade_no, location: 'body' });
  // A closed order (closed, or past its pay deadline) is not handed back (reference §3.1 ORDER_CLOSED).
  if (effectiveState(o, now) === 'CLOSED') fail('order_closed');
  // After a prepay_id expires (2 h) the same call returns a new one (reference §9).
  if (o.trade_state === 'NOTPAY' && now >= o.prepay_expires_at && now < payDeadline(o)) {
    const renewed = { ...o, prepay_id: `wx${hex(ctx.ids, 34)}`, code_token: alphanumeric(ctx.ids, 16) };
    const mine = await repo.renewPrepay(ctx.db, o.id, o.prepay_expires_at, {
      prepayId: renewed.prepay_id,
      codeToken: renewed.code_token,
      expiresAt: now + prepayValidity(o.trade_type as TradeType),
      now,
    });
    if (mine) return resultOf(ctx, renewed);
    // An identical request renewed it first: answer with its id.
    const current = await repo.findById(ctx.db, o.id);
    assert(current, 'order vanished');
    return resultOf(ctx, current);
  }
  return resultOf(ctx, o);
}

export interface TransactionView {
  appid: string;
  mchid: string;
  out_trade_no: string;
  transaction_id?: string;
  trade_type: string;
  trade_state: TradeState;
  trade_state_desc: string;
  bank_type?: string;
  attach?: string;
  success_time?: string;
  payer?: { openid: string };
  amount: { total: number; payer_total?: number; currency: string; payer_currency: string };
  scene_info?: { device_id: string };
  promotion_detail?: checkout.PromotionDetail[];
  /** Zhifu's field (APIv3 allows added fields): the decision of a held payment. */
  zhifu_decision?: Record<string, unknown>;
}

export function transactionView(
  o: OrderRow,
  now: number,
  decision?: DecisionsTable,
  promotions: checkout.PromotionDetail[] = [],
): TransactionView {
  const state = effectiveState(o, now);
  const view: TransactionView = {
    appid: o.appid,
    mchid: o.mchid,
    out_trade_no: o.out_trade_no,
    trade_type: o.trade_type,
    trade_state: state,
    trade_state_desc:
      decision && (state === 'USERPAYING' || state === 'PAYERROR')
        ? (decisions.trade_state_desc[decision.state as keyof typeof decisions.trade_state_desc] ??
          state_desc[state])
        : state_desc[state],
    amount: { total: o.amount_total, currency: o.currency, payer_currency: o.currency },
  };
  if (o.attach !== null) view.attach = o.attach;
  if (o.transaction_id !== null) {
    view.transaction_id = o.transaction_id;
    view.bank_type = o.bank_type!;
    view.payer = { openid: o.paid_openid! };
    view.amount.payer_total = o.payer_total!;
    view.promotion_detail = promotions;
  }
  if (o.success_time !== null) view.success_time = rfc3339(o.success_time);
  const deviceId = (JSON.parse(o.extra_json ?? '{}') as { scene_info?: { device_id?: string } }).scene_info
    ?.device_id;
  if (deviceId) view.scene_info = { device_id: deviceId };
  if (decision) view.zhifu_decision = decisions.decisionView(decision);
  return view;
}

export async function queryByOutTradeNo(
  ctx: Ctx,
  mchid: string,
  outTradeNo: string,
): Promise<TransactionView> {
  const o = await repo.findByOutTradeNo(ctx.db, mchid, outTradeNo);
  if (!o) fail('order_unknown', { field: 'out_trade_no', value: outTradeNo, location: 'path' });
  return transactionView(
    o,
    ctx.clock.now(),
    await repo.decisionOf(ctx.db, o.id),
    await promotionsOf(ctx.db, o),
  );
}

export async function queryByTransactionId(
  ctx: Ctx,
  mchid: string,
  transactionId: string,
): Promise<TransactionView> {
  const o = await repo.findByTransactionId(ctx.db, mchid, transactionId);
  if (!o) fail('order_unknown', { field: 'transaction_id', value: transactionId, location: 'path' });
  return transactionView(
    o,
    ctx.clock.now(),
    await repo.decisionOf(ctx.db, o.id),
    await promotionsOf(ctx.db, o),
  );
}

/** The APIv3 `promotion_detail` of a paid order: read only for an order paid at a discount. */
export async function promotionsOf(db: Executor, o: OrderRow): Promise<checkout.PromotionDetail[]> {
  // Held or released payments show none: a release gives the discount back.
  if (o.trade_state !== 'SUCCESS' && o.trade_state !== 'REFUND') return [];
  if (o.payer_total === null || o.payer_total >= o.amount_total) return [];
  return checkout.promotionDetail(db, o.id, o.currency);
}

/** Close is re-entrant (reference §3.3): closing a closed order succeeds again; a paid one cannot close. */
export async function closeOrder(
  ctx: Ctx,
  authMchid: string,
  bodyMchid: string,
  outTradeNo: string,
): Promise<void> {
  if (bodyMchid !== authMchid)
    fail('mchid_mismatch', { field: '/mchid', value: bodyMchid, location: 'body' });
  const now = ctx.clock.now();
  const o = await repo.findByOutTradeNo(ctx.db, authMchid, outTradeNo);
  if (!o) fail('order_unknown', { field: 'out_trade_no', value: outTradeNo, location: 'path' });
  if (o.trade_state === 'CLOSED') return;
  if (o.trade_state !== 'NOTPAY') fail('order_not_closable');
  if (!(await repo.transitionFromNotpay(ctx.db, o.id, { trade_state: 'CLOSED', updated_at: now }))) {
    const again = await repo.findById(ctx.db, o.id);
    if (again?.trade_state !== 'CLOSED') fail('order_not_closable');
  }
}

/** What the cashier shows before the payer confirms. */
export async function lookupForPayer(ctx: Ctx, target: { prepay_id?: string; code_url?: string }) {
  const o = await findByTarget(ctx, target, 'query');
  const m = await merchants.merchantProfile(ctx.db, o.mchid);
  const now = ctx.clock.now();
  const state = effectiveState(o, now);
  return {
    appid: o.appid,
    mchid: o.mchid,
    merchant_name: m?.name ?? o.mchid,
    out_trade_no: o.out_trade_no,
    description: o.description,
    trade_type: o.trade_type,
    trade_state: state,
    // An unpaid order whose prepay_id / code_url has expired stays NOTPAY (an identical create
    // renews it) but cannot be paid until then.
    payable: state === 'NOTPAY' && now < o.prepay_expires_at,
    amount: { total: o.amount_total, currency: o.currency },
    payer_openid: o.payer_openid,
  };
}

async function findByTarget(
  ctx: Ctx,
  target: { prepay_id?: string; code_url?: string },
  location: 'body' | 'query' = 'body',
): Promise<OrderRow> {
  if (target.prepay_id !== undefined) {
    const o = await repo.findByPrepayId(ctx.db, target.prepay_id);
    if (!o) fail('order_unknown', { field: '/prepay_id', value: target.prepay_id, location });
    return o;
  }
  const token = target.code_url === undefined ? null : codeToken(target.code_url);
  const o = token ? await repo.findByCodeToken(ctx.db, token) : undefined;
  if (o?.trade_type !== 'NATIVE')
    fail('order_unknown', { field: '/code_url', value: target.code_url, location });
  return o;
}

function codeToken(url: string): string | null {
  const match = /^weixin:\/\/wxpay\/bizpayurl\/up\?pr=([A-Za-z0-9]+)(&|$)/.exec(url);
  return match ? match[1]! : null;
}

export interface PayInput {
  prepay_id?: string;
  code_url?: string;
  openid: string;
  instrument_id?: string;
  device_fingerprint: string;
  timestamp: string;
  nonce: string;
  signature: string;
  /** Sandbox only: the network the simulated phone is on (defaults: the request's address, CN). */
  ip?: string;
  ip_country?: string;
  ip_region?: string;
  /** The Smart Checkout ranking the payer followed (its outcome teaches the bandit). */
  ranking_id?: string;
}

export interface PayResult {
  transaction_id: string;
  out_trade_no: string;
  trade_state: TradeState;
  success_time?: string;
  amount: { total: number; payer_total: number; currency: string };
  instrument_id: string;
  bank_type: string;
  risk: { assessment_id: string; score: number; level: string; suggested_action: string };
  zhifu_decision?: Record<string, unknown>;
  /** Smart Checkout: the promotion applied (payer_total is the total minus its discount). */
  promotion?: checkout.Redemption;
}

/** What paying needs besides the context: the Fraud Shield and the decision machinery. */
export interface PaymentDeps {
  risk: risk.RiskDeps;
  decisions: decisions.DecisionDeps;
}

/** Where the confirmation came from, as the transport saw it (for the Fraud Shield). */
export interface ClientInfo {
  ip: string;
}

/**
 * A payer confirms and pays an order (sandbox wallet API and cashier). The Fraud Shield assesses
 * the payment before money moves: `block` refuses it (the attempt and its assessment are kept,
 * the order stays NOTPAY); otherwise the claim, the ledger journal, the assessment and the
 * history event commit in one transaction.
 */
export async function pay(
  ctx: Ctx,
  nonces: NonceStore,
  deps: PaymentDeps,
  input: PayInput,
  client: ClientInfo,
): Promise<PayResult> {
  const target = input.prepay_id ?? input.code_url;
  if (target === undefined || (input.prepay_id !== undefined && input.code_url !== undefined)) {
    fail('invalid_parameter', {
      field: '/prepay_id',
      location: 'body',
      issue: 'give exactly one of prepay_id or code_url',
    });
  }
  const payer = await identity.verifyPayerProof(ctx, nonces, { ...input, target });
  return payVerified(ctx, deps, payer, input, client);
}

/** What paying needs once the payer's consent is verified: the order, the payer's device and network. */
export type VerifiedPayInput = Omit<PayInput, 'timestamp' | 'nonce' | 'signature'>;

/**
 * Pays for a payer whose consent the caller has already verified with their session key — `pay`
 * after its proof check, and the conversation mandates (modules/conversations), whose signed
 * mandate is the proof. Never call it without such a check.
 */
export async function payVerified(
  ctx: Ctx,
  deps: PaymentDeps,
  payer: { userId: string; appid: string },
  input: VerifiedPayInput,
  client: ClientInfo,
): Promise<PayResult> {
  const order = await findByTarget(ctx, input);
  const now = ctx.clock.now();
  if (payer.appid !== order.appid)
    fail('openid_not_of_appid', { field: '/openid', value: input.openid, location: 'body' });
  if (order.payer_openid !== null && order.payer_openid !== input.openid) fail('order_for_other_payer');
  const transactionId = `4200${chinaDate(now)}${digits(ctx.ids, 16)}`;
  const state = effectiveState(order, now);
  if (state !== 'NOTPAY') failUnpayable(state);
  // prepay_id and code_url are valid for 2 hours (reference §3.1); an identical create renews them.
  if (now >= order.prepay_expires_at)
    fail('order_closed', undefined, 'The prepay_id / code_url has expired.');
  const merchant = await merchants.merchantProfile(ctx.db, order.mchid);
  assert(merchant, 'order of unknown merchant');
  compliance.assertNotFrozenAt(ctx, order.mchid, merchant.frozen_until);
  const ranking =
    input.ranking_id === undefined
      ? undefined
      : await checkout.rankingForPayment(ctx, input.ranking_id, order.mchid, payer.userId);
  const event = await paymentEvent(ctx, order, merchant.mcc, payer.userId, input, client);
  // A promotion lowers what the payer is charged: the funds checks below count it.
  const discountOf = await checkout.promotionDiscounts(ctx, order.mchid, order.amount_total);
  let chosen: wallet.Authorization;
  let tried = input.instrument_id;
  try {
    chosen = await wallet.authorize(
      ctx.db,
      payer.userId,
      order.amount_total,
      input.instrument_id,
      discountOf,
    );
    tried = chosen.instrumentId;
    // The sandbox bank channel answers (its configured latency, failure rate and outages).
    await checkout.authorizeOnChannel(ctx, chosen);
  } catch (error) {
    // A declined attempt still enters the history: recent failures are a fraud signal. A payer
    // naming an instrument that is not theirs was not declined: that writes nothing.
    if (error instanceof AppError && error.reason !== 'instrument_unknown') {
      await ctx.db.transaction().execute((trx) => risk.recordOnly(trx, event, 'declined'));
      if (ranking)
        await checkout.recordOutcome(ctx, {
          ranking,
          orderId: order.id,
          instrumentId: tried ?? null,
          succeeded: false,
        });
    }
    throw error;
  }
  event.instrument_id = chosen.instrumentId;
  event.instrument_created_ts = chosen.createdAt;
  const scored = await risk.score(ctx, deps.risk, ctx.db, {
    mchid: order.mchid,
    e: event,
    openid: input.openid,
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
  const { decision_mode: mode, review_window_ms: reviewWindowMs } = await notifications.settings(
    ctx.db,
    order.mchid,
  );
  const captureNow = mode === 'auto' && scored.assessment.suggested_action === 'approve';
  const written: notifications.ZhifuEvent[] = [];
  const a = scored.assessment;
  const riskSummary = {
    assessment_id: a.assessment_id,
    score: a.risk_score,
    level: a.risk_level,
    suggested_action: a.suggested_action,
    reasons: a.reasons,
  };
  // The 500 ms start when the decision is written (the event goes out as it commits), not when the
  // payer's request arrived: scoring and the transaction must not eat the merchant's budget.
  let deadline = now + decision_deadline_ms;
  const decisionDeadline = () => {
    deadline = ctx.clock.now() + decision_deadline_ms;
    return deadline;
  };
  const payerRef = await identity.payerPseudonym(ctx, payer.userId);
  const result = await ctx.db.transaction().execute(async (trx) => {
    // Read under a lock that orders this payment against a concurrent freeze (see compliance).
    await compliance.assertNotFrozen(ctx, trx, order.mchid);
    const o = await repo.findById(trx, order.id);
    assert(o, 'order vanished');
    // Re-checked inside the transaction: the balance may have moved since the assessment.
    const auth = await wallet.authorize(trx, payer.userId, o.amount_total, chosen.instrumentId, discountOf);
    // The order is claimed first: a second payer or device racing this one stops here, before
    // anything else of the order (its promotion's journal) is written twice.
    const claimed = await repo.transitionFromNotpay(trx, o.id, {
      trade_state: captureNow ? 'SUCCESS' : 'USERPAYING',
      transaction_id: transactionId,
      success_time: captureNow ? now : null,
      bank_type: auth.bankType,
      paid_openid: input.openid,
      instrument_id: auth.instrumentId,
      payer_total: o.amount_total,
      updated_at: now,
    });
    if (!claimed) await failLostClaim(trx, o.id, now);
    // The promotion applies to a held payment too; its release gives the discount back.
    const promotion = await checkout.redeemPromotion(ctx, trx, {
      mchid: o.mchid,
      orderId: o.id,
      amountFen: o.amount_total,
      instrument: { kind: auth.kind, bankType: auth.bankType, accountId: auth.accountId },
      now,
    });
    const payerTotal = o.amount_total - (promotion?.discount_fen ?? 0);
    if (promotion) await repo.setPayerTotal(trx, o.id, payerTotal);
    const holdId = captureNow ? merchant.account_id : await decisions.ensureHoldAccount(trx, o.mchid, now);
    await ledger.post(trx, {
      id: `jnl_pay_${o.id}`,
      kind: 'payment',
      refId: o.id,
      postings: [
        { accountId: auth.accountId, amount: -o.amount_total },
        { accountId: holdId, amount: o.amount_total },
      ],
      now,
      onInsufficient: 'payer_funds_insufficient',
    });
    // A capture pays the processing fee in the same transaction, once the merchant holds the amount.
    if (captureNow) {
      await billing.chargeProcessingFee(trx, {
        orderId: o.id,
        mchid: o.mchid,
        merchantAccountId: merchant.account_id,
        amountFen: o.amount_total,
        now,
      });
    }
    await identity.touchDevice(trx, payer.userId, input.device_fingerprint, now);
    await risk.commit(trx, scored, event, 'success');
    const paid: OrderRow = {
      ...o,
      trade_state: captureNow ? 'SUCCESS' : 'USERPAYING',
      transaction_id: transactionId,
      success_time: captureNow ? now : null,
      bank_type: auth.bankType,
      paid_openid: input.openid,
      instrument_id: auth.instrumentId,
      payer_total: payerTotal,
    };
    if (captureNow) {
      written.push(
        await notifications.emit(ctx, trx, o.mchid, 'payment.succeeded', {
          ...decisions.paymentEventData(paid, undefined, payerRef),
          risk: riskSummary,
        }),
      );
      await notifications.enqueueCallback(ctx, trx, {
        mchid: o.mchid,
        eventType: 'TRANSACTION.SUCCESS',
        ref: o.out_trade_no,
        notifyUrl: o.notify_url,
        resource: transactionView(paid, now, undefined, await promotionsOf(trx, paid)),
      });
    } else {
      const review = mode === 'auto';
      const row = {
        order_id: o.id,
        mchid: o.mchid,
        event_id: prefixed(ctx.ids, 'evt'),
        state: review ? 'manual_review' : 'pending',
        suggested_action: a.suggested_action,
        deadline_at: decisionDeadline(),
        review_until: review ? now + reviewWindowMs : null,
        decided_at: review ? now : null,
        decided_by: review ? 'fraud_shield' : null,
        decision: null,
        hold_account_id: holdId,
        instrument_account_id: auth.accountId,
        amount: o.amount_total,
        risk_json: JSON.stringify(riskSummary),
        created_at: now,
      };
      // The decision names the event that asks for it (row.event_id): merchants answer with this id.
      const data = decisions.paymentEventData(paid, row, payerRef);
      const e = await notifications.emit(
        ctx,
        trx,
        o.mchid,
        review ? 'payment.manual_review' : 'payment.decision_required',
        data,
        row.event_id,
      );
      await repo.insertDecision(trx, row);
      written.push(e);
    }
    return { o: paid, auth, promotion };
  });
  // The payer's confirmation waits for the merchant (at most the deadline plus a margin). The wait
  // starts before the event goes out, so an answer that comes back at once is not missed.
  const realtime = !captureNow && mode === 'realtime';
  if (realtime) deps.decisions.timers.schedule(order.id, deadline - ctx.clock.now());
  const waiting = realtime
    ? deps.decisions.timers.wait(order.id, deadline - ctx.clock.now() + 50)
    : undefined;
  deps.decisions.publish(order.mchid, written);
  if (ranking)
    await checkout.recordOutcome(ctx, {
      ranking,
      orderId: order.id,
      instrumentId: result.auth.instrumentId,
      succeeded: true,
    });
  let settled: decisions.Settled | undefined;
  if (waiting) {
    settled = await waiting;
    // The deadline timer may still be applying it (a slow database): the payer's answer does not
    // wait for that. Applying is guarded by state and clock, so at most one of the timer, the
    // sweeper and this call moves the payment.
    // A failure here leaves the deadline to the timer and the sweeper: the payer gets the state.
    if (!settled) await decisions.applyDeadline(ctx, deps.decisions, order.id).catch(() => false);
  }
  // Settled in this process: its committed state came with the wake-up; else it is read back.
  const final = captureNow
    ? result.o
    : (settled?.order ?? (await repo.findById(ctx.db, order.id)) ?? result.o);
  const d = captureNow ? undefined : (settled?.decision ?? (await repo.decisionOf(ctx.db, order.id)));
  return {
    transaction_id: transactionId,
    out_trade_no: final.out_trade_no,
    trade_state: final.trade_state as TradeState,
    ...(final.success_time !== null ? { success_time: rfc3339(final.success_time) } : {}),
    amount: {
      total: final.amount_total,
      payer_total: final.payer_total ?? final.amount_total,
      currency: final.currency,
    },
    instrument_id: result.auth.instrumentId,
    bank_type: result.auth.bankType,
    risk: {
      assessment_id: a.assessment_id,
      score: a.risk_score,
      level: a.risk_level,
      suggested_action: a.suggested_action,
    },
    ...(d ? { zhifu_decision: decisions.decisionView(d) } : {}),
    ...(result.promotion ? { promotion: result.promotion } : {}),
  };
}

/** A pay that lost the order to another request: what the order became decides the error. */
async function failLostClaim(trx: Executor, orderId: string, now: number): Promise<never> {
  const o = await repo.findById(trx, orderId);
  assert(o, 'order vanished');
  failUnpayable(effectiveState(o, now));
}

/** Paying an order that is not NOTPAY: paid, or held for a decision, is ORDER_PAID; else closed. */
function failUnpayable(state: TradeState): never {
  if (state === 'SUCCESS' || state === 'REFUND' || state === 'USERPAYING') fail('order_already_paid');
  fail('order_closed');
}

async function paymentEvent(
  ctx: Ctx,
  o: OrderRow,
  mcc: string,
  userId: string,
  input: VerifiedPayInput,
  client: ClientInfo,
): Promise<risk.RiskEvent> {
  const payer = await wallet.payerById(ctx.db, userId);
  assert(payer, 'verified payer without a row');
  return {
    id: `pay:${o.id}:${hex(ctx.ids, 8)}`,
    ts: ctx.clock.now(),
    type: 'payment',
    payer_id: userId,
    merchant_id: o.mchid,
    mcc,
    amount_fen: o.amount_total,
    device_id: input.device_fingerprint,
    ip: input.ip ?? client.ip,
    ip_country: input.ip_country ?? 'CN',
    ip_region: input.ip_region ?? '000000',
    instrument_id: input.instrument_id ?? 'unspecified',
    instrument_created_ts: payer.created_at,
    payer_created_ts: payer.created_at,
    promotion_id: null,
    refund_of_amount_fen: null,
  };
}

export function mchidMismatchInQuery(mchid: string): never {
  return fail('mchid_mismatch', { field: 'mchid', value: mchid, location: 'query' });
}

export const findOrderByOutTradeNo = repo.findByOutTradeNo;
export const findOrderByTransactionId = repo.findByTransactionId;
export type { OrderRow };
