import { sql } from 'kysely';
import type { Executor } from '../../db/database.ts';
import type { CallbackAttemptsTable, CallbacksTable, EventsTable } from '../../db/schema.ts';

/** Next per-merchant sequence number, allocated inside the caller's transaction. */
export async function nextSeq(db: Executor, mchid: string): Promise<number> {
  const updated = await db
    .updateTable('merchant_sequences')
    .set({ last_seq: sql`last_seq + 1` })
    .where('mchid', '=', mchid)
    .returning('last_seq')
    .executeTakeFirst();
  if (updated) return updated.last_seq;
  await db.insertInto('merchant_sequences').values({ mchid, last_seq: 1 }).execute();
  return 1;
}

export function insertEvent(db: Executor, row: EventsTable) {
  return db.insertInto('events').values(row).execute();
}

export function eventsAfter(db: Executor, mchid: string, afterSeq: number, limit: number) {
  return db
    .selectFrom('events')
    .selectAll()
    .where('mchid', '=', mchid)
    .where('seq', '>', afterSeq)
    .orderBy('seq')
    .limit(limit)
    .execute();
}

export function settingsOf(db: Executor, mchid: string) {
  return db.selectFrom('notification_settings').selectAll().where('mchid', '=', mchid).executeTakeFirst();
}

export async function upsertSettings(
  db: Executor,
  mchid: string,
  set: { decision_mode?: string; review_window_ms?: number; acked_seq?: number },
  defaults: { decision_mode: string; review_window_ms: number },
  now: number,
) {
  const existing = await settingsOf(db, mchid);
  if (!existing) {
    await db
      .insertInto('notification_settings')
      .values({ mchid, ...defaults, acked_seq: 0, ...set, updated_at: now })
      .onConflict((oc) => oc.column('mchid').doUpdateSet({ ...set, updated_at: now }))
      .execute();
    return;
  }
  await db
    .updateTable('notification_settings')
    .set({ ...set, updated_at: now })
    .where('mchid', '=', mchid)
    .execute();
}

export function insertCallback(db: Executor, row: CallbacksTable) {
  return db.insertInto('callbacks').values(row).execute();
}

export function dueCallbacks(db: Executor, now: number, limit: number) {
  return db
    .selectFrom('callbacks')
    .selectAll()
    .where('status', '=', 'pending')
    .where('next_attempt_at', '<=', now)
    .orderBy('next_attempt_at')
    .limit(limit)
    .execute();
}

/** Takes a lease on a due callback (one node delivers it); false if another node took it first. */
export async function leaseCallback(
  db: Executor,
  id: string,
  seenNextAt: number,
  leaseUntil: number,
): Promise<boolean> {
  const r = await db
    .updateTable('callbacks')
    .set({ next_attempt_at: leaseUntil })
    .where('id', '=', id)
    .where('status', '=', 'pending')
    .where('next_attempt_at', '=', seenNextAt)
    .executeTakeFirst();
  return r.numUpdatedRows === 1n;
}

export function recordAttempt(db: Executor, row: CallbackAttemptsTable) {
  return db.insertInto('callback_attempts').values(row).execute();
}

export function updateCallback(db: Executor, id: string, set: Partial<CallbacksTable>) {
  return db.updateTable('callbacks').set(set).where('id', '=', id).execute();
}

export function callbacksOf(db: Executor, mchid: string, ref: string | undefined, limit: number) {
  let q = db.selectFrom('callbacks').selectAll().where('mchid', '=', mchid);
  if (ref !== undefined) q = q.where('ref', '=', ref);
  return q.orderBy('created_at', 'desc').limit(limit).execute();
}

export function attemptsOf(db: Executor, ids: string[]) {
  if (ids.length === 0) return Promise.resolve([]);
  return db
    .selectFrom('callback_attempts')
    .selectAll()
    .where('callback_id', 'in', ids)
    .orderBy('attempt')
    .execute();
}
