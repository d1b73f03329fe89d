import { sql } from 'kysely';
import type { Executor } from '../../db/database.ts';
import { insertRow, prepared } from '../../db/prepared.ts';
import type { CallbackAttemptsTable, CallbacksTable, EventsTable } from '../../db/schema.ts';
import { assert } from '../../lib/assert.ts';

// One statement: a merchant's first two events may be written by concurrent transactions (an
// update-then-insert let the second fail on the primary key, rolling back its state change).
const bumpSeq = prepared((db, p: { mchid: string }) =>
  db
    .insertInto('merchant_sequences')
    .values({ mchid: p.mchid, last_seq: 1 })
    .onConflict((oc) => oc.column('mchid').doUpdateSet({ last_seq: sql`merchant_sequences.last_seq + 1` }))
    .returning('last_seq'),
);

/** Next per-merchant sequence number, allocated inside the caller's transaction. */
export async function nextSeq(db: Executor, mchid: string): Promise<number> {
  const row = await bumpSeq.first(db, { mchid });
  assert(row, 'an upsert returning no row');
  return row.last_seq;
}

export const insertEvent: (db: Executor, row: EventsTable) => Promise<number> = insertRow('events');

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

const settings = prepared((db, p: { mchid: string }) =>
  db.selectFrom('notification_settings').selectAll().where('mchid', '=', p.mchid),
);

export function settingsOf(db: Executor, mchid: string) {
  return settings.first(db, { mchid });
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

/**
 * Raises the merchant's acknowledged sequence to `seq`, never lowers it: one statement, so acks
 * handled concurrently (two frames, two connections) cannot overwrite a higher one with a lower.
 */
export async function raiseAckedSeq(
  db: Executor,
  mchid: string,
  seq: number,
  defaults: { decision_mode: string; review_window_ms: number },
  now: number,
): Promise<void> {
  await db
    .insertInto('notification_settings')
    .values({ mchid, ...defaults, acked_seq: seq, updated_at: now })
    .onConflict((oc) =>
      oc
        .column('mchid')
        .doUpdateSet({ acked_seq: seq, updated_at: now })
        .where('notification_settings.acked_seq', '<', seq),
    )
    .execute();
}

export const insertCallback: (db: Executor, row: CallbacksTable) => Promise<number> = insertRow('callbacks');

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

/**
 * Takes a lease on the callbacks of `ids` that are still due (one node delivers each): a callback
 * another node leased meanwhile has its next attempt in the future and is left out. Returns the
 * ids leased. One statement for a whole tick's batch.
 */
export async function leaseDue(
  db: Executor,
  ids: string[],
  now: number,
  leaseUntil: number,
): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db
    .updateTable('callbacks')
    .set({ next_attempt_at: leaseUntil })
    .where('id', 'in', ids)
    .where('status', '=', 'pending')
    .where('next_attempt_at', '<=', now)
    .returning('id')
    .execute();
  return new Set(rows.map((r) => r.id));
}

const setOutcome = prepared(
  (
    db,
    p: {
      attempts: number;
      status: string;
      next_attempt_at: number;
      delivered_at: number | null;
      where_id: string;
      where_attempts: number;
      where_leased_until: number;
    },
  ) =>
    db
      .updateTable('callbacks')
      .set({
        attempts: p.attempts,
        status: p.status,
        next_attempt_at: p.next_attempt_at,
        delivered_at: p.delivered_at,
      })
      .where('id', '=', p.where_id)
      .where('status', '=', 'pending')
      .where('attempts', '=', p.where_attempts)
      .where('next_attempt_at', '=', p.where_leased_until),
);

const insertAttempt = prepared((db, p: CallbackAttemptsTable) =>
  db
    .insertInto('callback_attempts')
    .values({
      callback_id: p.callback_id,
      attempt: p.attempt,
      at: p.at,
      http_status: p.http_status,
      error: p.error,
      duration_ms: p.duration_ms,
    })
    .onConflict((oc) => oc.columns(['callback_id', 'attempt']).doNothing()),
);

/**
 * Records an attempt's outcome if the node still holds the lease it delivered under: the callback
 * is still pending with the attempt count and lease expiry (`next_attempt_at`) it was leased with.
 * A node that stalled past its lease finds the callback leased again by another node, or already
 * recorded by it; that node's attempt decides, so this one writes nothing and gets false. The
 * attempt's row follows the update and cannot fail it on the primary key (ON CONFLICT DO NOTHING,
 * SQLite and PostgreSQL alike).
 */
export async function recordOutcome(
  db: Executor,
  lease: { id: string; attempts: number; leased_until: number },
  set: { status: string; next_attempt_at: number; delivered_at: number | null },
  attempt: Omit<CallbackAttemptsTable, 'callback_id' | 'attempt'>,
): Promise<boolean> {
  const updated = await setOutcome.run(db, {
    ...set,
    attempts: lease.attempts + 1,
    where_id: lease.id,
    where_attempts: lease.attempts,
    where_leased_until: lease.leased_until,
  });
  if (updated === 0) return false;
  await insertAttempt.run(db, { ...attempt, callback_id: lease.id, attempt: lease.attempts + 1 });
  return true;
}

/**
 * A merchant's latest callbacks (of one `ref`, if given) with their attempts, newest first: one
 * statement, so a callback's `attempts` and its history come from one snapshot (two reads could see
 * an attempt recorded between them in one and not the other).
 */
export function callbacksWithAttempts(db: Executor, mchid: string, ref: string | undefined, limit: number) {
  let page = db.selectFrom('callbacks').select('id').where('mchid', '=', mchid);
  if (ref !== undefined) page = page.where('ref', '=', ref);
  return db
    .selectFrom('callbacks as c')
    .leftJoin('callback_attempts as a', 'a.callback_id', 'c.id')
    .selectAll('c')
    .select([
      'a.attempt as attempt',
      'a.at as attempt_at',
      'a.http_status as http_status',
      'a.error as error',
      'a.duration_ms as duration_ms',
    ])
    .where('c.id', 'in', page.orderBy('created_at', 'desc').orderBy('id').limit(limit))
    .orderBy('c.created_at', 'desc')
    .orderBy('c.id')
    .orderBy('a.attempt')
    .execute();
}
