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
