/**
 * Smart Checkout (DESIGN.md §1 "Smart Checkout API", docs/checkout.md): ranks a payer's instruments
 * for one transaction, learns from the payments that follow, and runs merchants' promotions.
 *
 * A query joins what the merchant sends (the transaction and the payer's usage history, a versioned
 * feature vector) with what Zhifu knows (instruments with balances and remaining credit, promotions
 * in force, channel health measured from its own authorisations). The policy is ε-mixed LinUCB
 * (bandit/linucb.ts); the ranking row keeps the feature vectors of every eligible instrument and
 * the propensity of the one shown first, so any other policy can be evaluated offline by inverse
 * propensity. The query and its 0.01 CNY metering commit together.
 *
 * The model and the channel windows are in memory per database and rebuilt from the logged rows when
 * the app starts (`warm`, from checkoutRoutes' onReady hook), so no query pays for replaying up to
 * 200,000 outcomes; the rows are the source of truth. One process serves a database; several
 * processes would each learn from their own outcomes plus the log at start (docs/checkout.md).
 */
import type { Ctx } from '../../context.ts';
import { commitAsynchronously, type Db, type Executor } from '../../db/database.ts';
import type { CheckoutPromotionsTable } from '../../db/schema.ts';
import { assert } from '../../lib/assert.ts';
import { parseRfc3339, rfc3339 } from '../../lib/clock.ts';
import { fail } from '../../lib/errors.ts';
import type { Ids } from '../../lib/ids.ts';
import { prefixed } from '../../lib/ids.ts';
import {
  channel_reload_rows_max,
  channel_window_ms,
  model_replay_rows_max,
  promotions_active_max,
} from '../../lib/limits.ts';
import { proRataFloor } from '../../lib/money.ts';
import * as billing from '../billing/index.ts';
import * as identity from '../identity/index.ts';
import * as ledger from '../ledger/index.ts';
import * as merchants from '../merchants/index.ts';
import * as wallet from '../wallet/index.ts';
import { feature_count, type InstrumentHistory, type InstrumentKind, prior } from './bandit/features.ts';
import { LinUcb } from './bandit/linucb.ts';
import {
  ChannelHealth,
  type ChannelOverride,
  type ChannelSetting,
  effectiveChannel,
  simulateAuthorization,
} from './channels.ts';
import * as repo from './checkout.repository.ts';
import { bestPromotion, type PromotionOffer, type RankedInstrument, rankInstruments } from './ranking.ts';

/** Feature-vector schema versions this server understands (docs/checkout.md). */
export const feature_versions = ['checkout.v1'] as const;

/** Width of LinUCB's confidence bound; small because rewards are 0/1 and features ≤ 1. */
export const ucb_alpha = 0.1;
/** Weight of the prior θ₀ in pseudo-observations. */
export const prior_weight = 20;

export interface CheckoutOptions {
  /** Share of queries whose first place is drawn uniformly (default 0.05; ml.md §B.3: 1–5%). */
  explorationShare: number;
  /**
   * When a query is answered: `asynchronous` (default) once its ranking and metering are committed,
   * `durable` once they are also on disk (db/database.ts `commitAsynchronously`; docs/checkout.md).
   */
  rankingCommit: 'asynchronous' | 'durable';
}

export const default_checkout_options: CheckoutOptions = {
  explorationShare: 0.05,
  rankingCommit: 'asynchronous',
};

export function newModel(): LinUcb {
  return new LinUcb({ alpha: ucb_alpha, lambda: prior_weight, prior });
}

interface State {
  model: LinUcb;
  health: ChannelHealth;
  /** A merchant's promotions in force, for `promotion_cache_ms` or until one is created or redeemed. */
  promotions: Map<string, { rows: CheckoutPromotionsTable[]; until: number }>;
}

/** Merchants whose promotions are cached before the cache is cleared (memory bound). */
const promotion_cache_merchants_max = 100_000;
/** How long a merchant's promotions in force are reused between changes made by this process. */
const promotion_cache_ms = 1_000;

const states = new WeakMap<Db, Promise<State>>();

/** Databases whose model and windows are loaded (for `isWarm`). */
const warm_dbs = new WeakSet<Db>();

/** The model and channel windows of a database, rebuilt from its log on first use. */
function stateOf(ctx: Ctx): Promise<State> {
  let s = states.get(ctx.db);
  if (!s) {
    const loading = load(ctx);
    s = loading;
    states.set(ctx.db, loading);
    loading.then(
      () => {
        if (states.get(ctx.db) === loading) warm_dbs.add(ctx.db);
      },
      () => states.delete(ctx.db),
    );
  }
  return s;
}

/**
 * Rebuilds the model and channel windows before the first query (the app's onReady hook): the
 * replay of up to `model_replay_rows_max` outcomes is a one-time stall that belongs to the start,
 * not to a payer's checkout.
 */
export async function warm(ctx: Ctx): Promise<void> {
  await stateOf(ctx);
}

/** Whether the model and windows of a database are in memory (no query will replay the log). */
export function isWarm(db: Db): boolean {
  return warm_dbs.has(db);
}

async function load(ctx: Ctx): Promise<State> {
  const model = newModel();
  for (const r of await repo.learnedOutcomes(ctx.db, model_replay_rows_max)) {
    const arm = (JSON.parse(r.arms_json) as StoredArm[]).find((a) => a.instrument_id === r.top_instrument_id);
    if (arm && arm.x.length === feature_count) model.update(Float64Array.from(arm.x), Number(r.reward));
  }
  const health = new ChannelHealth();
  const now = ctx.clock.now();
  const rows = await repo.recentAuthorizations(ctx.db, now - channel_window_ms, channel_reload_rows_max);
  for (const a of rows.reverse())
    health.record(a.bank_type, a.instrument_id, a.succeeded === 1, a.latency_ms, Number(a.at));
  return { model, health, promotions: new Map() };
}

async function promotionsInForce(ctx: Ctx, state: State, mchid: string, now: number) {
  const hit = state.promotions.get(mchid);
  if (hit && now < hit.until)
    return hit.rows.filter((p) => Number(p.starts_at) <= now && now < Number(p.ends_at));
  const rows = await repo.activePromotions(ctx.db, mchid, now, promotions_active_max);
  // A promotion that starts within the cache's second is offered from the next read on.
  if (state.promotions.size >= promotion_cache_merchants_max) state.promotions.clear();
  state.promotions.set(mchid, { rows, until: now + promotion_cache_ms });
  return rows;
}

/** Drops a merchant's cached promotions (after a create or a redemption in this process). */
async function forgetPromotions(ctx: Ctx, mchid: string): Promise<void> {
  (await stateOf(ctx)).promotions.delete(mchid);
}

interface StoredArm {
  instrument_id: string;
  x: number[];
}

/** A uniform draw in [0, 1) from the id port (no Math.random in domain code). */
function uniform(ids: Ids): number {
  return ids.bytes(6).readUIntBE(0, 6) / 2 ** 48;
}

export interface RankRequest {
  feature_version: string;
  appid: string;
  transaction: {
    amount: { total: number; currency?: string };
    mcc: string;
    scene: string;
    out_trade_no?: string;
  };
  payer: { openid: string };
  history: {
    window_days: number;
    payments: number;
    promotion_redemptions?: number;
    last_instrument_id?: string;
    instruments: { instrument_id: string; uses: number; failures: number; last_used_days_ago?: number }[];
  };
  client?: { network_latency_ms?: number };
}

export interface RankResponse {
  ranking_id: string;
  feature_version: string;
  amount: { total: number; currency: 'CNY' };
  policy: {
    name: 'linucb';
    exploration_share: number;
    explored: boolean;
    propensity: number | null;
    model_updates: number;
  };
  instruments: RankedInstrument[];
  created_at: string;
}

/** Refuses a feature_version this server does not know, naming the field (before schema checks). */
export function checkFeatureVersion(body: unknown): void {
  const v = (body as { feature_version?: unknown } | null)?.feature_version;
  if (typeof v === 'string' && (feature_versions as readonly string[]).includes(v)) return;
  fail(
    v === undefined ? 'invalid_parameter' : 'checkout_feature_version_unsupported',
    {
      field: '/feature_version',
      value: v,
      issue: v === undefined ? 'is required' : `supported versions: ${feature_versions.join(', ')}`,
      location: 'body',
    },
    v === undefined ? '/feature_version is required.' : undefined,
  );
}

/**
 * One Smart Checkout query (0.01 CNY). Checks the request against the payer's wallet (every history
 * instrument must be the payer's), ranks, then stores the ranking and meters it in one transaction.
 */
export async function rank(
  ctx: Ctx,
  options: CheckoutOptions,
  mchid: string,
  req: RankRequest,
): Promise<RankResponse> {
  const state = await stateOf(ctx);
  // appid and OpenID bindings never change: their repositories memoise them (lib/row-cache.ts).
  if ((await merchants.findApp(ctx.db, req.appid))?.mchid !== mchid)
    fail('appid_not_bound_to_mchid', { field: '/appid', value: req.appid, location: 'body' });
  const who = await identity.resolveOpenid(ctx.db, req.payer.openid);
  if (!who || who.appid !== req.appid)
    fail('openid_not_of_appid', { field: '/payer/openid', value: req.payer.openid, location: 'body' });
  const instruments = await wallet.instrumentsOf(ctx.db, who.user_id);
  const history = checkHistory(req.history, new Set(instruments.map((i) => i.id)));
  const amount = req.transaction.amount.total;
  const now = ctx.clock.now();
  const promos = await promotionsInForce(ctx, state, mchid, now);
  const ranked = rankInstruments(
    state.model,
    {
      amount_fen: amount,
      mcc: req.transaction.mcc,
      history,
      client_latency_ms: req.client?.network_latency_ms ?? 0,
      instruments: instruments.map((i) => ({ ...i, kind: i.kind as InstrumentKind })),
      promotions: promos.map(offer),
      channel: (i) => state.health.of(i, now),
    },
    options.explorationShare,
    uniform(ctx.ids),
    uniform(ctx.ids),
  );
  const id = prefixed(ctx.ids, 'rk');
  const c = ranked.choice;
  const top = c ? ranked.arms[c.top]!.instrument_id : null;
  await ctx.db.transaction().execute(async (trx) => {
    if (options.rankingCommit === 'asynchronous') await commitAsynchronously(trx, ctx.dialect);
    await repo.insertRanking(trx, {
      id,
      mchid,
      user_id: who.user_id,
      feature_version: req.feature_version,
      amount_fen: amount,
      mcc: req.transaction.mcc,
      policy: 'linucb',
      exploration_share: options.explorationShare,
      explored: c?.explored ? 1 : 0,
      top_instrument_id: top,
      propensity: c ? c.propensity : null,
      arms_json: JSON.stringify(
        ranked.arms.map((a) => ({
          instrument_id: a.instrument_id,
          x: Array.from(a.x, (v) => Math.round(v * 1e6) / 1e6),
        })),
      ),
      chosen_instrument_id: null,
      order_id: null,
      succeeded: null,
      reward: null,
      outcome_at: null,
      created_at: now,
    });
    await billing.meter(ctx, trx, {
      mchid,
      kind: 'checkout',
      key: `checkout:${id}`,
      ref: id,
      quantity: 1,
      now,
    });
  });
  return {
    ranking_id: id,
    feature_version: req.feature_version,
    amount: { total: amount, currency: 'CNY' },
    policy: {
      name: 'linucb',
      exploration_share: options.explorationShare,
      explored: c?.explored ?? false,
      propensity: c ? round6(c.propensity) : null,
      model_updates: state.model.updates,
    },
    instruments: ranked.items,
    created_at: rfc3339(now),
  };
}

const round6 = (v: number) => Math.round(v * 1e6) / 1e6;

/** The history as the ranking reads it; a field that contradicts the wallet or itself is refused by name. */
function checkHistory(h: RankRequest['history'], owned: Set<string>) {
  const instruments = new Map<string, InstrumentHistory>();
  let uses = 0;
  h.instruments.forEach((i, n) => {
    const field = `/history/instruments/${n}/instrument_id`;
    if (!owned.has(i.instrument_id))
      fail('invalid_parameter', {
        field,
        value: i.instrument_id,
        issue: 'is not an instrument of this payer',
        location: 'body',
      });
    if (instruments.has(i.instrument_id))
      fail('invalid_parameter', {
        field,
        value: i.instrument_id,
        issue: 'is listed twice',
        location: 'body',
      });
    instruments.set(i.instrument_id, {
      uses: i.uses,
      failures: i.failures,
      last_used_days_ago: i.last_used_days_ago,
    });
    uses += i.uses;
  });
  if (uses > h.payments)
    fail('invalid_parameter', {
      field: '/history/payments',
      value: h.payments,
      issue: `is below the sum of the instruments' uses (${uses})`,
      location: 'body',
    });
  if ((h.promotion_redemptions ?? 0) > h.payments)
    fail('invalid_parameter', {
      field: '/history/promotion_redemptions',
      value: h.promotion_redemptions,
      issue: 'is above /history/payments',
      location: 'body',
    });
  if (h.last_instrument_id !== undefined && !owned.has(h.last_instrument_id))
    fail('invalid_parameter', {
      field: '/history/last_instrument_id',
      value: h.last_instrument_id,
      issue: 'is not an instrument of this payer',
      location: 'body',
    });
  return {
    payments: h.payments,
    promotion_redemptions: h.promotion_redemptions ?? 0,
    last_instrument_id: h.last_instrument_id,
    instruments,
  };
}

function offer(p: CheckoutPromotionsTable): PromotionOffer {
  return {
    id: p.id,
    name: p.name,
    kind: p.kind as PromotionOffer['kind'],
    bank_type: p.bank_type,
    instrument_kind: p.instrument_kind,
    min_amount_fen: Number(p.min_amount_fen),
    discount_fen: Number(p.discount_fen),
    instalments: p.instalments,
    remaining_fen: Number(p.budget_fen) - Number(p.spent_fen),
  };
}

// ---------------------------------------------------------------------------------------------
// The payment path (payments.service.ts calls these)

/** A stored ranking, as `rankingForPayment` returns it to the payment that names it. */
export type Ranking = NonNullable<Awaited<ReturnType<typeof repo.findRanking>>>;

/** The ranking a payment says it followed: the merchant's, for the same payer; checked before any write. */
export async function rankingForPayment(
  ctx: Ctx,
  rankingId: string,
  mchid: string,
  userId: string,
): Promise<Ranking> {
  // On SQLite, a ranking answered before its fsync is not readable outside a transaction while
  // another transaction's fsync is in flight (db/group-commit.ts); a transaction sees every commit
  // (and this one, which only reads, need not wait for the disk).
  const r =
    (await repo.findRanking(ctx.db, rankingId)) ??
    (ctx.dialect === 'sqlite'
      ? await ctx.db.transaction().execute(async (trx) => {
          await commitAsynchronously(trx, ctx.dialect);
          return repo.findRanking(trx, rankingId);
        })
      : undefined);
  if (!r || r.mchid !== mchid || r.user_id !== userId)
    fail('checkout_ranking_unknown', { field: '/ranking_id', value: rankingId, location: 'body' });
  return r;
}

/**
 * The sandbox bank channel authorises a payment on `bankType`: outcome and latency drawn from the
 * channel setting in force, recorded in `checkout_authorizations` and the health windows. A failure
 * ends the payment with BANK_ERROR before any money moves.
 */
export async function authorizeOnChannel(
  ctx: Ctx,
  a: { instrumentId: string; bankType: string },
): Promise<{ latency_ms: number }> {
  const [state, setting] = await Promise.all([stateOf(ctx), channelSetting(ctx.db, a.bankType)]);
  const now = ctx.clock.now();
  const r = simulateAuthorization(setting, now, uniform(ctx.ids), uniform(ctx.ids));
  await repo.insertAuthorization(ctx.db, {
    id: prefixed(ctx.ids, 'cau'),
    bank_type: a.bankType,
    instrument_id: a.instrumentId,
    succeeded: r.ok ? 1 : 0,
    latency_ms: r.latency_ms,
    at: now,
  });
  state.health.record(a.bankType, a.instrumentId, r.ok, r.latency_ms, now);
  if (!r.ok)
    fail('channel_failed', undefined, `Channel ${a.bankType} failed after ${r.latency_ms} ms (sandbox).`);
  return { latency_ms: r.latency_ms };
}

export interface Redemption {
  promotion_id: string;
  name: string;
  discount_fen: number;
  instalments: number | null;
  funded_by: string;
}

const noDiscount = () => 0;

/**
 * The discount the best promotion in force would give each instrument (0 when none): the funds
 * check before a payment compares a balance with the total less it, as the payer is charged. Read
 * from the short cache the rankings use; the redemption in the payment's transaction reads fresh
 * rows, and the ledger's balance floor stays the final guard.
 */
export async function promotionDiscounts(
  ctx: Ctx,
  mchid: string,
  amountFen: number,
): Promise<(instrument: { kind: string; bankType: string }) => number> {
  const rows = await promotionsInForce(ctx, await stateOf(ctx), mchid, ctx.clock.now());
  if (rows.length === 0) return noDiscount;
  const offers = rows.map(offer);
  return (i) => bestPromotion(offers, { kind: i.kind, bank_type: i.bankType }, amountFen)?.discount_fen ?? 0;
}

/**
 * Applies the best promotion in force for this payment, inside the payment's transaction: takes
 * its budget atomically (none left → full price) and, for a discount, posts the funder's share —
 * the promotion's account (owned by its funder) pays the discount into the payer's instrument, so
 * the payer's net outlay is the total minus the discount and the merchant still receives the total.
 */
export async function redeemPromotion(
  ctx: Ctx,
  trx: Executor,
  p: {
    mchid: string;
    orderId: string;
    amountFen: number;
    instrument: { kind: string; bankType: string; accountId: string };
    now: number;
  },
): Promise<Redemption | undefined> {
  const rows = await repo.activePromotions(trx, p.mchid, p.now, promotions_active_max);
  const best = bestPromotion(
    rows.map(offer),
    { kind: p.instrument.kind, bank_type: p.instrument.bankType },
    p.amountFen,
  );
  if (!best) return undefined;
  const row = rows.find((r) => r.id === best.id)!;
  const used = best.kind === 'amount_off' ? best.discount_fen : p.amountFen;
  if (!(await repo.spendBudget(trx, best.id, used))) return undefined;
  await forgetPromotions(ctx, p.mchid);
  let journalId: string | null = null;
  if (best.discount_fen > 0) {
    journalId = `jnl_promo_${p.orderId}`;
    await ledger.post(trx, {
      id: journalId,
      kind: 'promotion',
      refId: p.orderId,
      postings: [
        { accountId: row.account_id, amount: -best.discount_fen },
        { accountId: p.instrument.accountId, amount: best.discount_fen },
      ],
      now: p.now,
      onInsufficient: 'system_error',
    });
  }
  await repo.insertRedemption(trx, {
    order_id: p.orderId,
    promotion_id: best.id,
    mchid: p.mchid,
    discount_fen: best.discount_fen,
    budget_used_fen: used,
    order_total_fen: p.amountFen,
    refunded_fen: 0,
    returned_fen: 0,
    journal_id: journalId,
    created_at: p.now,
  });
  return {
    promotion_id: best.id,
    name: best.name,
    discount_fen: best.discount_fen,
    instalments: best.instalments,
    funded_by: row.funded_by,
  };
}

/**
 * A held payment (realtime decisions) that is blocked or released gives its promotion back: the
 * budget it took, and the discount, which returns to the promotion's account while the payer gets
 * back what they paid. Returns that account and the discount, or undefined without a promotion.
 */
export async function releasePromotion(
  ctx: Ctx,
  trx: Executor,
  orderId: string,
  mchid: string,
): Promise<{ accountId: string; discount_fen: number } | undefined> {
  const r = await repo.redemptionOf(trx, orderId);
  if (!r) return undefined;
  // The decision's state guard lets a payment be released once; a redemption already closed here
  // would give the payer the discount on top of a full refund.
  assert(await repo.closeRedemption(trx, orderId), `redemption of ${orderId} already closed`);
  assert(await repo.spendBudget(trx, r.promotion_id, -Number(r.budget_used_fen)), 'budget give-back');
  await forgetPromotions(ctx, mchid);
  const promo = await repo.findPromotion(trx, r.promotion_id);
  assert(promo, `redemption of unknown promotion ${r.promotion_id}`);
  return { accountId: promo.account_id, discount_fen: Number(r.discount_fen) };
}

/** One item of APIv3 `promotion_detail` (reference §3.2), for a Smart Checkout promotion. */
export interface PromotionDetail {
  coupon_id: string;
  name: string;
  scope: 'GLOBAL';
  /** NOCASH: the merchant bears the discount; CASH: a bank or the platform pre-funded it. */
  type: 'CASH' | 'NOCASH';
  amount: number;
  stock_id: string;
  wechatpay_contribute: number;
  merchant_contribute: number;
  other_contribute: number;
  currency: string;
}

/** The `promotion_detail` of a paid order: its discount, if a promotion gave one. */
export async function promotionDetail(
  db: Executor,
  orderId: string,
  currency: string,
): Promise<PromotionDetail[]> {
  const r = await repo.redemptionOf(db, orderId);
  if (!r || Number(r.discount_fen) === 0) return [];
  const promo = await repo.findPromotion(db, r.promotion_id);
  assert(promo, `redemption of unknown promotion ${r.promotion_id}`);
  const amount = Number(r.discount_fen);
  const merchant = promo.funded_by === 'merchant';
  return [
    {
      coupon_id: `${r.promotion_id}:${orderId}`,
      name: promo.name,
      scope: 'GLOBAL',
      type: merchant ? 'NOCASH' : 'CASH',
      amount,
      stock_id: r.promotion_id,
      wechatpay_contribute: 0,
      merchant_contribute: merchant ? amount : 0,
      other_contribute: merchant ? 0 : amount,
      currency,
    },
  ];
}

/**
 * A refund of a discounted order returns the discount's share to the promotion's funder, pro rata
 * and exact over several partial refunds: after refunds totalling R of an order of total T with
 * discount D, the funder has got back floor(D·R / T) (the payer the rest of each refund). Returns
 * the promotion account and this refund's share, or undefined for an order without a discount.
 */
export async function refundPromotionShare(
  trx: Executor,
  orderId: string,
  refundFen: number,
): Promise<{ accountId: string; share_fen: number } | undefined> {
  const share = await promotionShareOf(trx, orderId, refundFen);
  if (!share) return undefined;
  await repo.recordRefundShare(trx, orderId, refundFen, share.share_fen);
  return share;
}

/**
 * The discount share a refund of `refundFen` would give back to the promotion's funder, without
 * recording it: what an undelivered (ABNORMAL) refund reports as `discount_refund`, though no
 * promotion money moves for it.
 */
export async function promotionShareOf(
  trx: Executor,
  orderId: string,
  refundFen: number,
): Promise<{ accountId: string; share_fen: number } | undefined> {
  const r = await repo.redemptionOf(trx, orderId);
  if (!r || Number(r.discount_fen) === 0) return undefined;
  const refunded = Number(r.refunded_fen) + refundFen;
  const total = Number(r.order_total_fen);
  assert(refunded <= total, `refunds of ${orderId} above its total`);
  const share = proRataFloor(Number(r.discount_fen), refunded, total) - Number(r.returned_fen);
  const promo = await repo.findPromotion(trx, r.promotion_id);
  assert(promo, `redemption of unknown promotion ${r.promotion_id}`);
  return { accountId: promo.account_id, share_fen: share };
}

/**
 * The first payment attempt after a ranking is its outcome: reward 1 when it paid with the
 * instrument shown first, else 0 (the payer chose another, or the first one failed). The model
 * learns it at once; a later attempt on the same ranking changes nothing.
 */
export async function recordOutcome(
  ctx: Ctx,
  o: { ranking: Ranking; orderId: string; instrumentId: string | null; succeeded: boolean },
): Promise<{ reward: number } | undefined> {
  // What is read of the ranking never changes once written; its outcome is set once (the update's guard).
  const r = o.ranking;
  const reward = o.succeeded && o.instrumentId === r.top_instrument_id ? 1 : 0;
  const recorded = await repo.recordOutcome(ctx.db, r.id, {
    chosen_instrument_id: o.instrumentId,
    order_id: o.orderId,
    succeeded: o.succeeded ? 1 : 0,
    reward,
    outcome_at: ctx.clock.now(),
  });
  if (!recorded || r.top_instrument_id === null) return undefined;
  const arm = (JSON.parse(r.arms_json) as StoredArm[]).find((a) => a.instrument_id === r.top_instrument_id);
  assert(arm, 'ranking without the arm it showed first');
  (await stateOf(ctx)).model.update(Float64Array.from(arm.x), reward);
  return { reward };
}

// ---------------------------------------------------------------------------------------------
// Promotions

export interface PromotionInput {
  name: string;
  kind: 'amount_off' | 'instalments';
  eligibility?: { bank_type?: string; instrument_kind?: string; min_amount_fen?: number };
  discount_fen?: number;
  instalments?: number;
  budget_fen: number;
  funded_by: 'merchant' | 'bank' | 'platform';
  starts_at: string;
  ends_at: string;
}

export interface PromotionView {
  promotion_id: string;
  name: string;
  kind: string;
  eligibility: { bank_type: string | null; instrument_kind: string | null; min_amount_fen: number };
  discount_fen: number;
  instalments: number | null;
  budget_fen: number;
  spent_fen: number;
  remaining_fen: number;
  funded_by: string;
  ledger_account_id: string;
  starts_at: string;
  ends_at: string;
  active: boolean;
}

function promotionView(p: CheckoutPromotionsTable, now: number): PromotionView {
  const budget = Number(p.budget_fen);
  const spent = Number(p.spent_fen);
  return {
    promotion_id: p.id,
    name: p.name,
    kind: p.kind,
    eligibility: {
      bank_type: p.bank_type,
      instrument_kind: p.instrument_kind,
      min_amount_fen: Number(p.min_amount_fen),
    },
    discount_fen: Number(p.discount_fen),
    instalments: p.instalments,
    budget_fen: budget,
    spent_fen: spent,
    remaining_fen: budget - spent,
    funded_by: p.funded_by,
    ledger_account_id: p.account_id,
    starts_at: rfc3339(Number(p.starts_at)),
    ends_at: rfc3339(Number(p.ends_at)),
    active: Number(p.starts_at) <= now && now < Number(p.ends_at) && spent < budget,
  };
}

/**
 * A merchant defines a promotion. Its ledger account (floor −budget) is opened with it: each
 * discount is posted from that account, so the ledger shows who funds what and can never fund more
 * than the budget.
 */
export async function createPromotion(
  ctx: Ctx,
  mchid: string,
  input: PromotionInput,
): Promise<PromotionView> {
  const starts = parseRfc3339(input.starts_at);
  if (starts === undefined)
    fail('invalid_parameter', {
      field: '/starts_at',
      value: input.starts_at,
      issue: 'not RFC 3339',
      location: 'body',
    });
  const ends = parseRfc3339(input.ends_at);
  if (ends === undefined)
    fail('invalid_parameter', {
      field: '/ends_at',
      value: input.ends_at,
      issue: 'not RFC 3339',
      location: 'body',
    });
  if (ends <= starts)
    fail('invalid_parameter', {
      field: '/ends_at',
      value: input.ends_at,
      issue: 'must be after starts_at',
      location: 'body',
    });
  const discount = input.discount_fen ?? 0;
  const minAmount = input.eligibility?.min_amount_fen ?? 0;
  if (input.kind === 'amount_off') {
    if (discount <= 0)
      fail('invalid_parameter', {
        field: '/discount_fen',
        issue: 'an amount_off promotion needs discount_fen ≥ 1',
        location: 'body',
      });
    if (input.instalments !== undefined)
      fail('invalid_parameter', {
        field: '/instalments',
        issue: 'only for kind instalments',
        location: 'body',
      });
    if (minAmount > 0 && discount >= minAmount)
      fail('invalid_parameter', {
        field: '/discount_fen',
        value: discount,
        issue: 'must be below eligibility.min_amount_fen',
        location: 'body',
      });
    if (discount > input.budget_fen)
      fail('invalid_parameter', {
        field: '/budget_fen',
        value: input.budget_fen,
        issue: 'is below one discount',
        location: 'body',
      });
  } else {
    if (input.instalments === undefined)
      fail('invalid_parameter', {
        field: '/instalments',
        issue: 'an instalments promotion needs instalments',
        location: 'body',
      });
    if (discount !== 0)
      fail('invalid_parameter', {
        field: '/discount_fen',
        issue: 'only for kind amount_off',
        location: 'body',
      });
  }
  const now = ctx.clock.now();
  const id = prefixed(ctx.ids, 'promo');
  const accountId = `acc_${id}`;
  const owner =
    input.funded_by === 'merchant'
      ? mchid
      : input.funded_by === 'bank'
        ? `bank:${input.eligibility?.bank_type ?? 'any'}`
        : 'platform';
  const row: CheckoutPromotionsTable = {
    id,
    mchid,
    name: input.name,
    kind: input.kind,
    bank_type: input.eligibility?.bank_type ?? null,
    instrument_kind: input.eligibility?.instrument_kind ?? null,
    min_amount_fen: minAmount,
    discount_fen: discount,
    instalments: input.instalments ?? null,
    budget_fen: input.budget_fen,
    spent_fen: 0,
    funded_by: input.funded_by,
    account_id: accountId,
    starts_at: starts,
    ends_at: ends,
    created_at: now,
  };
  await ctx.db.transaction().execute(async (trx) => {
    await ledger.openAccount(trx, {
      id: accountId,
      kind: 'promotion',
      ownerId: owner,
      floor: -input.budget_fen,
      now,
    });
    await repo.insertPromotion(trx, row);
  });
  await forgetPromotions(ctx, mchid);
  return promotionView(row, now);
}

export async function listPromotions(ctx: Ctx, mchid: string): Promise<{ data: PromotionView[] }> {
  const now = ctx.clock.now();
  return { data: (await repo.promotionsOf(ctx.db, mchid)).map((p) => promotionView(p, now)) };
}

// ---------------------------------------------------------------------------------------------
// Sandbox channels

async function channelSetting(db: Executor, bankType: string): Promise<ChannelSetting | undefined> {
  const row = await repo.findChannel(db, bankType);
  return row ? settingOf(row) : undefined;
}

function settingOf(row: {
  bank_type: string;
  latency_ms: number;
  failure_rate: number;
  schedule_json: string;
}) {
  return {
    bank_type: row.bank_type,
    latency_ms: row.latency_ms,
    failure_rate: Number(row.failure_rate),
    schedule: JSON.parse(row.schedule_json) as ChannelOverride[],
  };
}

export interface ChannelInput {
  latency_ms: number;
  failure_rate: number;
  schedule?: { from: string; until: string; latency_ms?: number; failure_rate?: number }[];
}

export interface ChannelView {
  bank_type: string;
  configured: {
    latency_ms: number;
    failure_rate: number;
    schedule: { from: string; until: string; latency_ms?: number; failure_rate?: number }[];
  } | null;
  in_force: { latency_ms: number; failure_rate: number; override: boolean };
  measured: { samples: number; success_rate: number; latency_ms_p50: number; degraded: boolean };
}

function channelView(ctx: Ctx, state: State, bankType: string, s: ChannelSetting | undefined): ChannelView {
  const now = ctx.clock.now();
  const e = effectiveChannel(s, now);
  const m = state.health.bank(bankType, now);
  return {
    bank_type: bankType,
    configured: s
      ? {
          latency_ms: s.latency_ms,
          failure_rate: s.failure_rate,
          schedule: s.schedule.map((o) => ({
            from: rfc3339(o.from),
            until: rfc3339(o.until),
            ...(o.latency_ms !== undefined ? { latency_ms: o.latency_ms } : {}),
            ...(o.failure_rate !== undefined ? { failure_rate: o.failure_rate } : {}),
          })),
        }
      : null,
    in_force: { latency_ms: e.latency_ms, failure_rate: e.failure_rate, override: e.override !== null },
    measured: { ...m, success_rate: Math.round(m.success_rate * 10_000) / 10_000 },
  };
}

/** Sets a sandbox bank channel's behaviour (replaces its schedule). */
export async function setChannel(ctx: Ctx, bankType: string, input: ChannelInput): Promise<ChannelView> {
  const schedule: ChannelOverride[] = (input.schedule ?? []).map((o, i) => {
    const from = parseRfc3339(o.from);
    if (from === undefined)
      fail('invalid_parameter', {
        field: `/schedule/${i}/from`,
        value: o.from,
        issue: 'not RFC 3339',
        location: 'body',
      });
    const until = parseRfc3339(o.until);
    if (until === undefined || until <= from)
      fail('invalid_parameter', {
        field: `/schedule/${i}/until`,
        value: o.until,
        issue: 'not RFC 3339 after from',
        location: 'body',
      });
    return { from, until, latency_ms: o.latency_ms, failure_rate: o.failure_rate };
  });
  const now = ctx.clock.now();
  await repo.upsertChannel(ctx.db, {
    bank_type: bankType,
    latency_ms: input.latency_ms,
    failure_rate: input.failure_rate,
    schedule_json: JSON.stringify(schedule),
    updated_at: now,
  });
  return channelView(ctx, await stateOf(ctx), bankType, {
    bank_type: bankType,
    latency_ms: input.latency_ms,
    failure_rate: input.failure_rate,
    schedule,
  });
}

/** Every configured or measured channel: setting, what is in force now, measured health. */
export async function listChannels(ctx: Ctx): Promise<{ data: ChannelView[] }> {
  const state = await stateOf(ctx);
  const rows = await repo.allChannels(ctx.db);
  const settings = new Map(rows.map((r) => [r.bank_type, settingOf(r)]));
  const names = [...new Set([...settings.keys(), ...state.health.bankTypes()])].sort();
  return { data: names.map((b) => channelView(ctx, state, b, settings.get(b))) };
}

/** For tests and ops: forget the in-memory model and windows of a database (they reload from the log). */
export function forgetState(db: Db): void {
  states.delete(db);
  warm_dbs.delete(db);
}

// ---------------------------------------------------------------------------------------------
// The sandbox cashier

const cashier_history_days = 90;
const day_ms = 86_400_000;

/**
 * The sandbox cashier ranks for the order's merchant, as a merchant's own checkout would call the
 * API: the usage history is the payer's paid orders with this app over 90 days. The query is
 * metered to the merchant like any other (and needs its AI eligibility).
 */
export async function rankForCashier(
  ctx: Ctx,
  options: CheckoutOptions,
  input: { prepay_id?: string; code_url?: string; openid: string },
): Promise<RankResponse> {
  const token = input.code_url === undefined ? undefined : /[?&]pr=([A-Za-z0-9]+)/.exec(input.code_url)?.[1];
  const order =
    input.prepay_id !== undefined || token !== undefined
      ? await repo.orderForCashier(ctx.db, { prepay_id: input.prepay_id, code_token: token })
      : undefined;
  if (!order)
    fail('order_unknown', {
      field: input.prepay_id !== undefined ? '/prepay_id' : '/code_url',
      value: input.prepay_id ?? input.code_url,
      location: 'body',
    });
  await billing.requireAiEligibility(ctx, order.mchid);
  const now = ctx.clock.now();
  const paid = await repo.paidWith(ctx.db, input.openid, now - cashier_history_days * day_ms);
  const uses = new Map<string, { uses: number; last: number }>();
  for (const p of paid) {
    const u = uses.get(p.instrument_id!) ?? { uses: 0, last: Number(p.success_time) };
    u.uses++;
    uses.set(p.instrument_id!, u);
  }
  const scene =
    order.trade_type === 'NATIVE'
      ? 'native'
      : order.trade_type === 'MWEB'
        ? 'h5'
        : order.trade_type === 'APP'
          ? 'app'
          : 'jsapi';
  return rank(ctx, options, order.mchid, {
    feature_version: 'checkout.v1',
    appid: order.appid,
    transaction: { amount: { total: Number(order.amount_total), currency: 'CNY' }, mcc: order.mcc, scene },
    payer: { openid: input.openid },
    history: {
      window_days: cashier_history_days,
      payments: paid.length,
      ...(paid[0] ? { last_instrument_id: paid[0].instrument_id! } : {}),
      instruments: [...uses].map(([id, u]) => ({
        instrument_id: id,
        uses: u.uses,
        failures: 0,
        last_used_days_ago: Math.max(0, (now - u.last) / day_ms),
      })),
    },
  });
}
