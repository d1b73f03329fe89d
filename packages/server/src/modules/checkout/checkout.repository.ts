import { sql } from 'kysely';
import type { Executor } from '../../db/database.ts';
import { insertRow, prepared } from '../../db/prepared.ts';
import type {
  CheckoutAuthorizationsTable,
  CheckoutChannelsTable,
  CheckoutPromotionsTable,
  CheckoutRankingsTable,
  CheckoutRedemptionsTable,
} from '../../db/schema.ts';

// Compiled once (db/prepared.ts): the statements of a Smart Checkout query and of a payment (channel
// authorisation, promotion redemption).
export const insertRanking: (db: Executor, row: CheckoutRankingsTable) => Promise<number> =
  insertRow('checkout_rankings');

export function findRanking(db: Executor, id: string) {
  return db.selectFrom('checkout_rankings').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Records the first payment attempt that followed a ranking; false when one was recorded before. */
export async function recordOutcome(
  db: Executor,
  id: string,
  o: {
    chosen_instrument_id: string | null;
    order_id: string;
    succeeded: number;
    reward: number;
    outcome_at: number;
  },
): Promise<boolean> {
  const r = await db
    .updateTable('checkout_rankings')
    .set(o)
    .where('id', '=', id)
    .where('outcome_at', 'is', null)
    .executeTakeFirst();
  return r.numUpdatedRows === 1n;
}

/** Rewarded rankings in the order they were learned, for rebuilding the model. */
export function learnedOutcomes(db: Executor, limit: number) {
  return db
    .selectFrom('checkout_rankings')
    .select(['top_instrument_id', 'arms_json', 'reward'])
    .where('outcome_at', 'is not', null)
    .where('reward', 'is not', null)
    .orderBy('outcome_at')
    .orderBy('id')
    .limit(limit)
    .execute();
}

export function insertPromotion(db: Executor, row: CheckoutPromotionsTable) {
  return db.insertInto('checkout_promotions').values(row).execute();
}

export function promotionsOf(db: Executor, mchid: string) {
  return db
    .selectFrom('checkout_promotions')
    .selectAll()
    .where('mchid', '=', mchid)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
}

const active = prepared((db, p: { mchid: string; now: number; limit: number }) =>
  db
    .selectFrom('checkout_promotions')
    .selectAll()
    .where('mchid', '=', p.mchid)
    .where('starts_at', '<=', p.now)
    .where('ends_at', '>', p.now)
    .where((eb) => eb('spent_fen', '<', eb.ref('budget_fen')))
    .orderBy('created_at')
    .limit(p.limit),
);

/** Promotions of a merchant in their time window at `now` with budget left. */
export function activePromotions(db: Executor, mchid: string, now: number, limit: number) {
  return active.all(db, { mchid, now, limit });
}

const spend = prepared((db, p: { id: string; amount: number }) =>
  db
    .updateTable('checkout_promotions')
    .set({ spent_fen: sql`spent_fen + ${p.amount}` })
    .where('id', '=', p.id)
    .where(sql<boolean>`spent_fen + ${p.amount} <= budget_fen`),
);

/** Takes `amount` from a promotion's budget unless that would overspend it (atomic). */
export async function spendBudget(db: Executor, id: string, amount: number): Promise<boolean> {
  return (await spend.run(db, { id, amount })) === 1;
}

export const insertRedemption: (db: Executor, row: CheckoutRedemptionsTable) => Promise<number> =
  insertRow('checkout_redemptions');

const redemption = prepared((db, p: { order_id: string }) =>
  db.selectFrom('checkout_redemptions').selectAll().where('order_id', '=', p.order_id),
);

export function redemptionOf(db: Executor, orderId: string) {
  return redemption.first(db, { order_id: orderId });
}

/** Closes the redemption of a held payment that was released: its discount returned whole. */
export async function closeRedemption(db: Executor, orderId: string): Promise<boolean> {
  const r = await db
    .updateTable('checkout_redemptions')
    .set({ refunded_fen: sql`order_total_fen`, returned_fen: sql`discount_fen` })
    .where('order_id', '=', orderId)
    .where('refunded_fen', '=', 0)
    .executeTakeFirst();
  return r.numUpdatedRows === 1n;
}

const promotion = prepared((db, p: { id: string }) =>
  db.selectFrom('checkout_promotions').selectAll().where('id', '=', p.id),
);

export function findPromotion(db: Executor, id: string) {
  return promotion.first(db, { id });
}

export async function recordRefundShare(db: Executor, orderId: string, refundFen: number, shareFen: number) {
  await db
    .updateTable('checkout_redemptions')
    .set({
      refunded_fen: sql`refunded_fen + ${refundFen}`,
      returned_fen: sql`returned_fen + ${shareFen}`,
    })
    .where('order_id', '=', orderId)
    .execute();
}

const channel = prepared((db, p: { bank_type: string }) =>
  db.selectFrom('checkout_channels').selectAll().where('bank_type', '=', p.bank_type),
);

export function findChannel(db: Executor, bankType: string) {
  return channel.first(db, { bank_type: bankType });
}

export function allChannels(db: Executor) {
  return db.selectFrom('checkout_channels').selectAll().orderBy('bank_type').execute();
}

export async function upsertChannel(db: Executor, row: CheckoutChannelsTable) {
  await db
    .insertInto('checkout_channels')
    .values(row)
    .onConflict((oc) =>
      oc.column('bank_type').doUpdateSet({
        latency_ms: row.latency_ms,
        failure_rate: row.failure_rate,
        schedule_json: row.schedule_json,
        updated_at: row.updated_at,
      }),
    )
    .execute();
}

export const insertAuthorization: (db: Executor, row: CheckoutAuthorizationsTable) => Promise<number> =
  insertRow('checkout_authorizations');

export function recentAuthorizations(db: Executor, since: number, limit: number) {
  return db
    .selectFrom('checkout_authorizations')
    .selectAll()
    .where('at', '>=', since)
    .orderBy('at', 'desc')
    .limit(limit)
    .execute();
}

/** The order a sandbox cashier shows (read-only; the payments module owns the table). */
export function orderForCashier(db: Executor, target: { prepay_id?: string; code_token?: string }) {
  let q = db
    .selectFrom('orders')
    .innerJoin('merchants', 'merchants.mchid', 'orders.mchid')
    .select(['orders.mchid', 'orders.appid', 'orders.amount_total', 'orders.trade_type', 'merchants.mcc']);
  q =
    target.prepay_id !== undefined
      ? q.where('orders.prepay_id', '=', target.prepay_id)
      : q.where('orders.code_token', '=', target.code_token ?? '');
  return q.executeTakeFirst();
}

/** A payer's paid orders with an app over a window: the usage history the sandbox cashier sends. */
export function paidWith(db: Executor, openid: string, since: number) {
  return db
    .selectFrom('orders')
    .select(['instrument_id', 'success_time'])
    .where('paid_openid', '=', openid)
    .where('success_time', '>=', since)
    .where('instrument_id', 'is not', null)
    .orderBy('success_time', 'desc')
    .limit(1000)
    .execute();
}
