import { sql } from 'kysely';
import type { Executor } from '../../db/database.ts';
import type { RefundsTable } from '../../db/schema.ts';
import { refunds_per_order_max } from '../../lib/limits.ts';

export type RefundRow = RefundsTable;

export function findRefund(db: Executor, mchid: string, outRefundNo: string) {
  return db
    .selectFrom('refunds')
    .selectAll()
    .where('mchid', '=', mchid)
    .where('out_refund_no', '=', outRefundNo)
    .executeTakeFirst();
}

export function insertRefund(db: Executor, row: RefundsTable) {
  return db.insertInto('refunds').values(row).execute();
}

/**
 * Reserves `amount` of an order's refundable total in one conditional statement, so concurrent
 * refunds on one order can never add up to more than was paid (nor exceed 50 refunds).
 */
export async function reserveRefund(
  db: Executor,
  orderId: string,
  amount: number,
  now: number,
): Promise<boolean> {
  const r = await db
    .updateTable('orders')
    .set({
      refunded_total: sql`refunded_total + ${amount}`,
      refund_count: sql`refund_count + 1`,
      trade_state: 'REFUND',
      updated_at: now,
    })
    .where('id', '=', orderId)
    .where('trade_state', 'in', ['SUCCESS', 'REFUND'])
    .where(sql`refunded_total + ${amount}`, '<=', sql.ref('amount_total'))
    .where('refund_count', '<', refunds_per_order_max)
    .executeTakeFirst();
  return r.numUpdatedRows === 1n;
}

/**
 * Gives an abandoned refund's amount back to its order's refundable total (the reservation of
 * `reserveRefund`). Its place among the 50 refunds stays taken: the request was made. An order with
 * nothing refunded any more is `SUCCESS` again, as before its first refund.
 */
export async function releaseRefund(db: Executor, orderId: string, amount: number, now: number) {
  const r = await db
    .updateTable('orders')
    .set({
      refunded_total: sql`refunded_total - ${amount}`,
      trade_state: sql`case when refunded_total - ${amount} = 0 then 'SUCCESS' else trade_state end`,
      updated_at: now,
    })
    .where('id', '=', orderId)
    .where('trade_state', '=', 'REFUND')
    .where('refunded_total', '>=', amount)
    .executeTakeFirst();
  return r.numUpdatedRows === 1n;
}

/** Abnormal refunds accepted at or before `createdBefore`, oldest first: the ones to close. */
export function abnormalRefundsDue(db: Executor, createdBefore: number, limit: number) {
  return db
    .selectFrom('refunds')
    .select(['refund_id', 'mchid'])
    .where('status', '=', 'ABNORMAL')
    .where('create_time', '<=', createdBefore)
    .orderBy('create_time')
    .orderBy('refund_id')
    .limit(limit)
    .execute();
}

/** Moves a refund from `from` to `to`; false if another transaction moved it first. */
export async function moveRefundStatus(db: Executor, refundId: string, from: string, to: string) {
  const r = await db
    .updateTable('refunds')
    .set({ status: to })
    .where('refund_id', '=', refundId)
    .where('status', '=', from)
    .executeTakeFirst();
  return r.numUpdatedRows === 1n;
}

export function findRefundById(db: Executor, refundId: string) {
  return db.selectFrom('refunds').selectAll().where('refund_id', '=', refundId).executeTakeFirst();
}
