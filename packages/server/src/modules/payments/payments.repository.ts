import type { Executor } from '../../db/database.ts';
import type { OrdersTable } from '../../db/schema.ts';

export type OrderRow = OrdersTable;

export function insertOrder(db: Executor, row: OrdersTable) {
  return db.insertInto('orders').values(row).execute();
}

export function findByOutTradeNo(db: Executor, mchid: string, outTradeNo: string) {
  return db
    .selectFrom('orders')
    .selectAll()
    .where('mchid', '=', mchid)
    .where('out_trade_no', '=', outTradeNo)
    .executeTakeFirst();
}

export function findByTransactionId(db: Executor, mchid: string, transactionId: string) {
  return db
    .selectFrom('orders')
    .selectAll()
    .where('transaction_id', '=', transactionId)
    .where('mchid', '=', mchid)
    .executeTakeFirst();
}

export function findByPrepayId(db: Executor, prepayId: string) {
  return db.selectFrom('orders').selectAll().where('prepay_id', '=', prepayId).executeTakeFirst();
}

export function findByCodeToken(db: Executor, token: string) {
  return db.selectFrom('orders').selectAll().where('code_token', '=', token).executeTakeFirst();
}

export function findById(db: Executor, id: string) {
  return db.selectFrom('orders').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Moves an order out of NOTPAY; false when another request already did (the caller lost the race). */
export async function transitionFromNotpay(
  db: Executor,
  id: string,
  set: Partial<
    Pick<
      OrdersTable,
      | 'trade_state'
      | 'transaction_id'
      | 'success_time'
      | 'bank_type'
      | 'paid_openid'
      | 'instrument_id'
      | 'payer_total'
      | 'updated_at'
    >
  >,
): Promise<boolean> {
  const r = await db
    .updateTable('orders')
    .set(set)
    .where('id', '=', id)
    .where('trade_state', '=', 'NOTPAY')
    .executeTakeFirst();
  return r.numUpdatedRows === 1n;
}

export function renewPrepay(
  db: Executor,
  id: string,
  prepayId: string,
  codeToken: string,
  expiresAt: number,
  now: number,
) {
  return db
    .updateTable('orders')
    .set({ prepay_id: prepayId, code_token: codeToken, prepay_expires_at: expiresAt, updated_at: now })
    .where('id', '=', id)
    .execute();
}

/** Moves a held (USERPAYING) order to its outcome; the decision row guards against doing it twice. */
export async function updateHeld(
  db: Executor,
  id: string,
  set: Partial<Pick<OrdersTable, 'trade_state' | 'success_time' | 'updated_at'>>,
): Promise<void> {
  const r = await db
    .updateTable('orders')
    .set(set)
    .where('id', '=', id)
    .where('trade_state', '=', 'USERPAYING')
    .executeTakeFirst();
  if (r.numUpdatedRows !== 1n) throw new Error(`order ${id} was not USERPAYING`);
}

export function decisionOf(db: Executor, orderId: string) {
  return db.selectFrom('decisions').selectAll().where('order_id', '=', orderId).executeTakeFirst();
}
