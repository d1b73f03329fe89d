/**
 * Notifications (DESIGN.md §1 "Decision notifications", issue #4): a transactional outbox of
 * per-merchant, sequence-numbered events — written in the same transaction as the state change
 * that causes them — delivered over WebSocket (hub.ts) and, for APIv3 compatibility, as signed,
 * encrypted HTTP callbacks (callbacks.ts). Delivery is at-least-once and ordered per merchant.
 */
import type { Ctx } from '../../context.ts';
import type { Executor } from '../../db/database.ts';
import { fail } from '../../lib/errors.ts';
import { prefixed } from '../../lib/ids.ts';
import { events_page_max, review_window_ms_default } from '../../lib/limits.ts';
import * as repo from './notifications.repository.ts';

export type EventType =
  | 'payment.decision_required'
  | 'payment.succeeded'
  | 'payment.manual_review'
  | 'payment.blocked'
  | 'payment.released'
  | 'refund.succeeded'
  | 'refund.abnormal'
  | 'refund.closed'
  | 'risk.batch_completed'
  | 'risk.batch_failed'
  | 'merchant.frozen';

export interface ZhifuEvent {
  id: string;
  seq: number;
  type: EventType;
  mchid: string;
  created_at: string;
  data: Record<string, unknown>;
}

export type DecisionMode = 'auto' | 'realtime';

export interface NotificationSettings {
  decision_mode: DecisionMode;
  review_window_ms: number;
  acked_seq: number;
}

const defaults = { decision_mode: 'auto', review_window_ms: review_window_ms_default };

/** Event times are ISO 8601 UTC with milliseconds, like deadlines: a 500 ms contract needs them. */
const iso = (ms: number) => new Date(ms).toISOString();

/** Listeners told after a commit that a merchant has new events (the WebSocket hub). */
export type Publisher = (mchid: string) => void;

/** Writes an event in the caller's transaction; returns it (publish after the commit). */
export async function emit(
  ctx: Ctx,
  trx: Executor,
  mchid: string,
  type: EventType,
  data: Record<string, unknown>,
  id: string = prefixed(ctx.ids, 'evt'),
): Promise<ZhifuEvent> {
  const seq = await repo.nextSeq(trx, mchid);
  const now = ctx.clock.now();
  const event: ZhifuEvent = { id, seq, type, mchid, created_at: iso(now), data };
  await repo.insertEvent(trx, {
    id: event.id,
    mchid,
    seq,
    type,
    data_json: JSON.stringify(data),
    created_at: now,
  });
  return event;
}

export function eventOf(row: Awaited<ReturnType<typeof repo.eventsAfter>>[number]): ZhifuEvent {
  return {
    id: row.id,
    seq: row.seq,
    type: row.type as EventType,
    mchid: row.mchid,
    created_at: iso(row.created_at),
    data: JSON.parse(row.data_json) as Record<string, unknown>,
  };
}

export async function eventsAfter(db: Executor, mchid: string, afterSeq: number, limit = events_page_max) {
  return (await repo.eventsAfter(db, mchid, afterSeq, Math.min(limit, events_page_max))).map(eventOf);
}

export async function settings(db: Executor, mchid: string): Promise<NotificationSettings> {
  const s = await repo.settingsOf(db, mchid);
  return s
    ? {
        decision_mode: s.decision_mode as DecisionMode,
        review_window_ms: s.review_window_ms,
        acked_seq: s.acked_seq,
      }
    : { decision_mode: 'auto', review_window_ms: review_window_ms_default, acked_seq: 0 };
}

export async function updateSettings(
  ctx: Ctx,
  mchid: string,
  set: { decision_mode?: DecisionMode; review_window_ms?: number },
): Promise<NotificationSettings> {
  await repo.upsertSettings(ctx.db, mchid, set, defaults, ctx.clock.now());
  return settings(ctx.db, mchid);
}

/** Records the highest sequence a client acknowledged (resume point when it reconnects without one). */
export async function ack(ctx: Ctx, mchid: string, seq: number): Promise<void> {
  const current = await settings(ctx.db, mchid);
  if (seq <= current.acked_seq) return;
  const last = await ctx.db
    .selectFrom('merchant_sequences')
    .select('last_seq')
    .where('mchid', '=', mchid)
    .executeTakeFirst();
  if (seq > (last?.last_seq ?? 0))
    fail('invalid_parameter', { field: 'seq', value: seq, issue: 'beyond the last event' });
  await repo.raiseAckedSeq(ctx.db, mchid, seq, defaults, ctx.clock.now());
}
