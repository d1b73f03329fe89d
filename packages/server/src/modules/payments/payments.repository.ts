import type { Executor } from '../../db/database.ts';
import { insertRow, pick, prepared, preparedByKeys, setKeys } from '../../db/prepared.ts';
import type { DecisionsTable, OrdersTable } from '../../db/schema.ts';

export type OrderRow = OrdersTable;

export const insertOrder: (db: Executor, row: OrdersTable) => Promise<number> = insertRow('orders');

const byOutTradeNo = prepared((db, p: { mchid: string; out_trade_no: string }) =>
  db.selectFrom('orders').selectAll().where('mchid', '=', p.mchid).where('out_trade_no', '=', p.out_trade_no),
);

export function findByOutTradeNo(db: Executor, mchid: string, outTradeNo: string) {
  return byOutTradeNo.first(db, { mchid, out_trade_no: outTradeNo });
}

export function findByTransactionId(db: Executor, mchid: string, transactionId: string) {
  return db
    .selectFrom('orders')
    .selectAll()
    .where('transaction_id', '=', transactionId)
    .where('mchid', '=', mchid)
    .executeTakeFirst();
}

const byPrepayId = prepared((db, p: { prepay_id: string }) =>
  db.selectFrom('orders').selectAll().where('prepay_id', '=', p.prepay_id),
);

export function findByPrepayId(db: Executor, prepayId: string) {
  return byPrepayId.first(db, { prepay_id: prepayId });
}

export function findByCodeToken(db: Executor, token: string) {
  return db.selectFrom('orders').selectAll().where('code_token', '=', token).executeTakeFirst();
}

const byId = prepared((db, p: { id: string }) => db.selectFrom('orders').selectAll().where('id', '=', p.id));

export function findById(db: Executor, id: string) {
  return byId.first(db, { id });
}

type OrderUpdate = Partial<OrdersTable> & { where_id: string };
/** `update orders set <the given columns> where id = ? and trade_state = <from>`. */
const updateFrom = (from: OrdersTable['trade_state']) =>
  preparedByKeys(
    (params: OrderUpdate) => setKeys(params),
    (db, p, keys) =>
      db
        .updateTable('orders')
        .set(pick(p, keys))
        .where('id', '=', p.where_id)
        .where('trade_state', '=', from),
  );
const updateNotpay = updateFrom('NOTPAY');
const updateUserpaying = updateFrom('USERPAYING');

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
  return (await updateNotpay.run(db, { ...set, where_id: id })) === 1;
}

const payerTotal = prepared((db, p: { id: string; payer_total: number }) =>
  db.updateTable('orders').set({ payer_total: p.payer_total }).where('id', '=', p.id),
);

/** What the payer pays once a promotion's discount is known (after the order was claimed). */
export async function setPayerTotal(db: Executor, id: string, total: number): Promise<void> {
  await payerTotal.run(db, { id, payer_total: total });
}

/**
 * Renews an expired prepay_id, only if nobody renewed it since `expiredAt` was read (two identical
 * creates racing: the second must answer the first's id, not overwrite it). True when renewed.
 */
export async function renewPrepay(
  db: Executor,
  id: string,
  expiredAt: number,
  renewal: { prepayId: string; codeToken: string; expiresAt: number; now: number },
): Promise<boolean> {
  const result = await db
    .updateTable('orders')
    .set({
      prepay_id: renewal.prepayId,
      code_token: renewal.codeToken,
      prepay_expires_at: renewal.expiresAt,
      updated_at: renewal.now,
    })
    .where('id', '=', id)
    .where('prepay_expires_at', '=', expiredAt)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Moves a held (USERPAYING) order to its outcome; the decision row guards against doing it twice. */
export async function updateHeld(
  db: Executor,
  id: string,
  set: Partial<Pick<OrdersTable, 'trade_state' | 'success_time' | 'updated_at'>>,
): Promise<void> {
  if ((await updateUserpaying.run(db, { ...set, where_id: id })) !== 1)
    throw new Error(`order ${id} was not USERPAYING`);
}

/** The decision row of a held payment (written in the payment's transaction). */
export const insertDecision: (db: Executor, row: DecisionsTable) => Promise<number> = insertRow('decisions');

const decision = prepared((db, p: { order_id: string }) =>
  db.selectFrom('decisions').selectAll().where('order_id', '=', p.order_id),
);

export function decisionOf(db: Executor, orderId: string) {
  return decision.first(db, { order_id: orderId });
}
