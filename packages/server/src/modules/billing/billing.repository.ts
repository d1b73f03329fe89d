/**
 * Billing's SQL. Besides its own tables it reads orders, refunds, journals and postings: statements
 * and APIv3 bills are read models over the payment core, and reading the rows beats widening three
 * modules' public surfaces with report queries.
 */
import { sql } from 'kysely';
import type { Executor } from '../../db/database.ts';
import { insertRow, prepared } from '../../db/prepared.ts';
import type {
  AiEligibilityGrantsTable,
  BillTokensTable,
  FeeReturnsTable,
  OrdersTable,
  ProcessingFeesTable,
  UsageRecordsTable,
} from '../../db/schema.ts';

const captured_states = ['SUCCESS', 'REFUND'];

// Processing fees --------------------------------------------------------------------------------

export const insertProcessingFee: (db: Executor, row: ProcessingFeesTable) => Promise<number> =
  insertRow('processing_fees');

export function findProcessingFee(db: Executor, orderId: string) {
  return db.selectFrom('processing_fees').selectAll().where('order_id', '=', orderId).executeTakeFirst();
}

/** Adds a refund to a fee row only if no other refund moved it since it was read. */
export async function advanceFeeRow(
  db: Executor,
  orderId: string,
  refundedBefore: number,
  refund: number,
  returned: number,
  now: number,
): Promise<boolean> {
  const r = await db
    .updateTable('processing_fees')
    .set({
      refunded_fen: sql`refunded_fen + ${refund}`,
      returned_fen: sql`returned_fen + ${returned}`,
      updated_at: now,
    })
    .where('order_id', '=', orderId)
    .where('refunded_fen', '=', refundedBefore)
    .executeTakeFirst();
  return r.numUpdatedRows === 1n;
}

export function insertFeeReturn(db: Executor, row: FeeReturnsTable) {
  return db.insertInto('fee_returns').values(row).execute();
}

export function feesInRange(db: Executor, mchid: string, start: number, end: number) {
  return db
    .selectFrom('processing_fees')
    .select([(eb) => eb.fn.countAll<number>().as('n'), (eb) => eb.fn.sum<number>('fee_fen').as('fee')])
    .where('mchid', '=', mchid)
    .where('captured_at', '>=', start)
    .where('captured_at', '<', end)
    .executeTakeFirstOrThrow();
}

export function feeReturnsInRange(db: Executor, mchid: string, start: number, end: number) {
  return db
    .selectFrom('fee_returns')
    .select([
      (eb) => eb.fn.countAll<number>().as('n'),
      (eb) => eb.fn.sum<number>('returned_fen').as('returned'),
    ])
    .where('mchid', '=', mchid)
    .where('created_at', '>=', start)
    .where('created_at', '<', end)
    .executeTakeFirstOrThrow();
}

export function feesOfOrders(db: Executor, orderIds: string[]) {
  if (orderIds.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('processing_fees')
    .select(['order_id', 'fee_fen'])
    .where('order_id', 'in', orderIds)
    .execute();
}

export function returnsOfRefunds(db: Executor, refundIds: string[]) {
  if (refundIds.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('fee_returns')
    .select(['refund_id', 'returned_fen'])
    .where('refund_id', 'in', refundIds)
    .execute();
}

// Metering ---------------------------------------------------------------------------------------

/**
 * Inserts a usage record unless its key was metered before; returns whether it was inserted. The
 * row is given priced (with its journal's id) when the price is known before the insert: one
 * statement fewer per metered call than inserting and then pricing it.
 */
export async function insertUsageIfNew(db: Executor, row: UsageRecordsTable): Promise<boolean> {
  return (await insertUsageQuery.run(db, row)) === 1;
}

// Prepared (db/prepared.ts): every metered AI call.
const insertUsageQuery = prepared((db, p: UsageRecordsTable) =>
  db
    .insertInto('usage_records')
    .values({
      id: p.id,
      mchid: p.mchid,
      kind: p.kind,
      usage_key: p.usage_key,
      ref: p.ref,
      period: p.period,
      quantity: p.quantity,
      unit_price_fen: p.unit_price_fen,
      amount_fen: p.amount_fen,
      journal_id: p.journal_id,
      created_at: p.created_at,
    })
    .onConflict((oc) => oc.column('usage_key').doNothing()),
);

export function priceUsage(
  db: Executor,
  id: string,
  unitPrice: number,
  amount: number,
  journalId: string | null,
) {
  return db
    .updateTable('usage_records')
    .set({ unit_price_fen: unitPrice, amount_fen: amount, journal_id: journalId })
    .where('id', '=', id)
    .execute();
}

/** Counts `units` more of a tiered kind in a month; returns the month's count after them. */
export async function bumpCounter(
  db: Executor,
  mchid: string,
  kind: string,
  period: string,
  units: number,
): Promise<number> {
  const row = await db
    .insertInto('usage_counters')
    .values({ mchid, kind, period, units })
    .onConflict((oc) =>
      oc.columns(['mchid', 'kind', 'period']).doUpdateSet({ units: sql`usage_counters.units + ${units}` }),
    )
    .returning('units')
    .executeTakeFirstOrThrow();
  return Number(row.units);
}

export function usageLines(db: Executor, mchid: string, period: string) {
  return db
    .selectFrom('usage_records')
    .select([
      'kind',
      'unit_price_fen',
      (eb) => eb.fn.sum<number>('quantity').as('quantity'),
      (eb) => eb.fn.sum<number>('amount_fen').as('amount'),
    ])
    .where('mchid', '=', mchid)
    .where('period', '=', period)
    .groupBy(['kind', 'unit_price_fen'])
    .orderBy('kind')
    .orderBy('unit_price_fen', 'desc')
    .execute();
}

export function usageByKey(db: Executor, key: string) {
  return db.selectFrom('usage_records').selectAll().where('usage_key', '=', key).executeTakeFirst();
}

// Volume, statements, bills ----------------------------------------------------------------------

export function capturedInRange(db: Executor, mchid: string, start: number, end: number) {
  return db
    .selectFrom('orders')
    .select([
      (eb) => eb.fn.countAll<number>().as('n'),
      (eb) => eb.fn.sum<number>('amount_total').as('amount'),
    ])
    .where('mchid', '=', mchid)
    .where('success_time', '>=', start)
    .where('success_time', '<', end)
    .where('trade_state', 'in', captured_states)
    .executeTakeFirstOrThrow();
}

export function refundedInRange(db: Executor, mchid: string, start: number, end: number) {
  return db
    .selectFrom('refunds')
    .select([
      (eb) => eb.fn.countAll<number>().as('n'),
      (eb) => eb.fn.sum<number>('amount_refund').as('amount'),
    ])
    .where('mchid', '=', mchid)
    .where('success_time', '>=', start)
    .where('success_time', '<', end)
    .where('status', '=', 'SUCCESS')
    .executeTakeFirstOrThrow();
}

export function capturedOrders(db: Executor, mchid: string, start: number, end: number, limit: number) {
  return db
    .selectFrom('orders')
    .selectAll()
    .where('mchid', '=', mchid)
    .where('success_time', '>=', start)
    .where('success_time', '<', end)
    .where('trade_state', 'in', captured_states)
    .orderBy('success_time')
    .orderBy('id')
    .limit(limit)
    .execute();
}

export function refundsWithOrders(db: Executor, mchid: string, start: number, end: number, limit: number) {
  return db
    .selectFrom('refunds')
    .innerJoin('orders', 'orders.id', 'refunds.order_id')
    .select([
      'refunds.refund_id',
      'refunds.out_refund_no',
      'refunds.transaction_id',
      'refunds.out_trade_no',
      'refunds.amount_refund',
      'refunds.channel',
      'refunds.status',
      'refunds.create_time',
      'refunds.success_time',
      'orders.appid',
      'orders.trade_type',
      'orders.paid_openid',
      'orders.bank_type',
      'orders.description',
      'orders.attach',
      'orders.extra_json',
    ])
    .where('refunds.mchid', '=', mchid)
    .where('refunds.success_time', '>=', start)
    .where('refunds.success_time', '<', end)
    .where('refunds.status', '=', 'SUCCESS')
    .orderBy('refunds.success_time')
    .orderBy('refunds.refund_id')
    .limit(limit)
    .execute();
}

/** An account's postings in [start, end), in booking order, with their journal's kind and reference. */
export function postingsInRange(db: Executor, accountId: string, start: number, end: number, limit: number) {
  return db
    .selectFrom('postings')
    .innerJoin('journals', 'journals.id', 'postings.journal_id')
    .select([
      'postings.journal_id',
      'postings.seq',
      'postings.amount',
      'postings.created_at',
      'journals.kind',
      'journals.ref_id',
    ])
    .where('postings.account_id', '=', accountId)
    .where('postings.created_at', '>=', start)
    .where('postings.created_at', '<', end)
    .orderBy('postings.created_at')
    .orderBy('postings.journal_id')
    .orderBy('postings.seq')
    .limit(limit)
    .execute();
}

/** An account's balance just before `before`: the sum of its earlier postings. */
export async function balanceBefore(db: Executor, accountId: string, before: number): Promise<number> {
  const r = await db
    .selectFrom('postings')
    .select((eb) => eb.fn.sum<number>('amount').as('total'))
    .where('account_id', '=', accountId)
    .where('created_at', '<', before)
    .executeTakeFirstOrThrow();
  return Number(r.total ?? 0);
}

export function ordersByIds(db: Executor, ids: string[]) {
  if (ids.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('orders')
    .select(['id', 'transaction_id', 'out_trade_no'])
    .where('id', 'in', ids)
    .execute();
}

export function refundsByIds(db: Executor, ids: string[]) {
  if (ids.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('refunds')
    .select(['refund_id', 'out_refund_no'])
    .where('refund_id', 'in', ids)
    .execute();
}

export function insertBillToken(db: Executor, row: BillTokensTable) {
  return db.insertInto('bill_tokens').values(row).execute();
}

export function findBillToken(db: Executor, token: string) {
  return db.selectFrom('bill_tokens').selectAll().where('token', '=', token).executeTakeFirst();
}

export function deleteExpiredBillTokens(db: Executor, now: number) {
  return db.deleteFrom('bill_tokens').where('expires_at', '<=', now).execute();
}

// Eligibility ------------------------------------------------------------------------------------

export function findGrant(db: Executor, mchid: string) {
  return db.selectFrom('ai_eligibility_grants').selectAll().where('mchid', '=', mchid).executeTakeFirst();
}

export function upsertGrant(db: Executor, row: AiEligibilityGrantsTable) {
  const { mchid: _m, ...rest } = row;
  return db
    .insertInto('ai_eligibility_grants')
    .values(row)
    .onConflict((oc) => oc.column('mchid').doUpdateSet(rest))
    .execute();
}

// Demo history -----------------------------------------------------------------------------------

export function insertOrder(db: Executor, row: OrdersTable) {
  return db.insertInto('orders').values(row).execute();
}
