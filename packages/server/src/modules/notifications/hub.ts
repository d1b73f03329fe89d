/**
 * The WebSocket hub: merchants' backends hold connections (docs/notifications.md). Each
 * connection is pumped in sequence order from the outbox — live events are sent as soon as their
 * transaction commits, a reconnecting client gets everything after the sequence it names (or its
 * last acknowledged one) — so delivery is at-least-once and ordered per merchant. Frames are
 * signed with the merchant's HMAC key. A backlog is sent at the pace the client reads it; a client
 * that stops reading is disconnected with close code 4008 and resumes with `after_seq` (documented
 * resync), so it cannot stall others. Events committed on other nodes arrive through the Fanout
 * (Redis) as they commit, else at the 1 s outbox poll.
 */
import { createHmac } from 'node:crypto';
import type { WebSocket } from 'ws';
import type { Ctx } from '../../context.ts';
import {
  events_page_max,
  ws_buffered_bytes_max,
  ws_connections_per_merchant_max,
  ws_drain_wait_ms,
} from '../../lib/limits.ts';
import type { MerchantKeyCache } from '../merchants/index.ts';
import type { Fanout } from './fanout.ts';
import { ack, eventsAfter, settings, type ZhifuEvent } from './notifications.service.ts';

export type DecisionAnswer = 'approve' | 'review' | 'block';

export interface DecisionOutcome {
  applied: boolean;
  state?: string;
  code?: string;
  message?: string;
}

export type DecisionHandler = (
  mchid: string,
  eventId: string,
  decision: DecisionAnswer,
) => Promise<DecisionOutcome>;

interface Connection {
  ws: WebSocket;
  mchid: string;
  hmacKey: Buffer;
  lastSent: number;
  pumping: boolean;
  again: boolean;
}

export const close_resync = 4008;
export const close_too_many = 4009;

export class Hub {
  private readonly byMerchant = new Map<string, Set<Connection>>();
  private poller: NodeJS.Timeout | undefined;

  constructor(
    private readonly ctx: Ctx,
    private readonly keys: MerchantKeyCache,
    private readonly onDecision: DecisionHandler,
    /** Other nodes' events as they commit (Redis); without it they arrive at the next poll. */
    private readonly fanout?: Fanout,
  ) {}

  /**
   * Polls the outbox now and then, for events written by other nodes or processes (the safety
   * net of the fan-out, which brings them at once), and listens to the fan-out.
   */
  async start(pollMs = 1000): Promise<void> {
    if (this.poller) clearInterval(this.poller);
    this.poller = setInterval(() => {
      for (const mchid of this.byMerchant.keys()) this.deliver(mchid);
    }, pollMs);
    this.poller.unref();
    // Another node's announcement: read the outbox for sockets behind its last sequence.
    await this.fanout?.start((mchid, seq) => {
      for (const conn of this.byMerchant.get(mchid) ?? []) if (conn.lastSent < seq) void this.pump(conn);
    });
  }

  stop(): void {
    if (this.poller) clearInterval(this.poller);
    this.fanout?.stop();
    for (const set of this.byMerchant.values()) for (const c of set) c.ws.close(1001, 'server shutting down');
  }

  connections(mchid: string): number {
    return this.byMerchant.get(mchid)?.size ?? 0;
  }

  async attach(ws: WebSocket, mchid: string, afterSeq: number | undefined): Promise<void> {
    const keys = await this.keys.get(mchid);
    const last = await this.ctx.db
      .selectFrom('merchant_sequences')
      .select('last_seq')
      .where('mchid', '=', mchid)
      .executeTakeFirst();
    // A resume point beyond the last event would silently skip future events: clamp it.
    const resume = Math.min(afterSeq ?? (await settings(this.ctx.db, mchid)).acked_seq, last?.last_seq ?? 0);
    // The socket may have closed during the awaits: its close event has fired, so it would never
    // leave the set and would hold one of the merchant's connection slots for good.
    if (ws.readyState !== ws.OPEN) return;
    // Read the set only after the awaits, so concurrent handshakes join the same set.
    const set = this.byMerchant.get(mchid) ?? new Set<Connection>();
    if (!keys || set.size >= ws_connections_per_merchant_max) {
      ws.close(close_too_many, 'too many connections for this merchant');
      return;
    }
    const conn: Connection = {
      ws,
      mchid,
      hmacKey: keys.hmacKey,
      lastSent: resume,
      pumping: false,
      again: false,
    };
    set.add(conn);
    this.byMerchant.set(mchid, set);
    ws.on('close', () => {
      set.delete(conn);
      if (set.size === 0 && this.byMerchant.get(mchid) === set) this.byMerchant.delete(mchid);
    });
    ws.on('message', (raw) => void this.receive(conn, raw.toString()));
    ws.send(
      JSON.stringify({
        type: 'hello',
        mchid,
        resume_after_seq: resume,
        server_time: new Date(this.ctx.clock.now()).toISOString(),
      }),
    );
    void this.pump(conn);
  }

  /** This node committed new events for a merchant: to its sockets here, and to other nodes'. */
  publish(mchid: string, events: ZhifuEvent[]): void {
    this.deliver(mchid, events);
    this.fanout?.announce(mchid, events);
  }

  /** A merchant has new events; `events` (if given) lets the pump skip a read. */
  private deliver(mchid: string, events?: ZhifuEvent[]): void {
    const set = this.byMerchant.get(mchid);
    if (!set) return;
    for (const conn of set) {
      if (events && !conn.pumping && events[0] && events[0].seq === conn.lastSent + 1) {
        for (const e of events) this.send(conn, e);
      } else {
        void this.pump(conn);
      }
    }
  }

  private send(conn: Connection, e: ZhifuEvent): void {
    if (e.seq <= conn.lastSent || conn.ws.readyState !== conn.ws.OPEN) return;
    if (conn.ws.bufferedAmount > ws_buffered_bytes_max) {
      this.resync(conn);
      return;
    }
    const data = JSON.stringify(e);
    const signature = createHmac('sha256', conn.hmacKey).update(data).digest('base64');
    conn.ws.send(`{"type":"event","seq":${e.seq},"data":${JSON.stringify(data)},"signature":"${signature}"}`);
    conn.lastSent = e.seq;
  }

  private async pump(conn: Connection): Promise<void> {
    if (conn.pumping) {
      conn.again = true;
      return;
    }
    conn.pumping = true;
    try {
      do {
        conn.again = false;
        const events = await eventsAfter(this.ctx.db, conn.mchid, conn.lastSent, events_page_max);
        for (const e of events) {
          // A backlog goes at the pace the client reads it; only a client that stops reading is
          // cut off (4008), or it could never catch up after a resync.
          if (conn.ws.bufferedAmount > ws_buffered_bytes_max / 2 && !(await this.drained(conn))) return;
          this.send(conn, e);
        }
        if (events.length === events_page_max) conn.again = true;
      } while (conn.again && conn.ws.readyState === conn.ws.OPEN);
    } finally {
      conn.pumping = false;
    }
  }

  /**
   * Waits until at most half the bound is unsent; a connection that has not drained that far after
   * `ws_drain_wait_ms` is closed with 4008. Real time, not the injected clock: it paces a socket.
   */
  private async drained(conn: Connection): Promise<boolean> {
    const deadline = performance.now() + ws_drain_wait_ms;
    while (conn.ws.readyState === conn.ws.OPEN && conn.ws.bufferedAmount > ws_buffered_bytes_max / 2) {
      if (performance.now() > deadline) {
        this.resync(conn);
        return false;
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return conn.ws.readyState === conn.ws.OPEN;
  }

  private resync(conn: Connection): void {
    conn.ws.close(close_resync, `resync: reconnect with after_seq=${conn.lastSent}`);
  }

  private async receive(conn: Connection, text: string): Promise<void> {
    const m = parseFrame(text);
    if (!m) {
      conn.ws.send(
        JSON.stringify({ type: 'error', code: 'PARAM_ERROR', message: 'frames must be JSON objects' }),
      );
      return;
    }
    try {
      if (m.type === 'ack' && Number.isSafeInteger(m.seq)) {
        await ack(this.ctx, conn.mchid, m.seq as number);
      } else if (m.type === 'decision' && typeof m.event_id === 'string') {
        const decision = m.decision;
        const outcome =
          decision === 'approve' || decision === 'review' || decision === 'block'
            ? await this.onDecision(conn.mchid, m.event_id, decision)
            : // An invalid answer counts as no answer: the deadline puts the payment in review.
              { applied: false, code: 'PARAM_ERROR', message: 'decision must be approve, review or block' };
        conn.ws.send(JSON.stringify({ type: 'decision_result', event_id: m.event_id, ...outcome }));
      } else {
        conn.ws.send(JSON.stringify({ type: 'error', code: 'PARAM_ERROR', message: 'unknown frame type' }));
      }
    } catch (error) {
      const code = (error as { code?: string }).code ?? 'SYSTEM_ERROR';
      conn.ws.send(JSON.stringify({ type: 'error', code, message: (error as Error).message }));
    }
  }
}

type ClientFrame = { type?: unknown; seq?: unknown; event_id?: unknown; decision?: unknown };

/** A client frame: a JSON object, else undefined (not JSON, or `null`, an array, a number…). */
function parseFrame(text: string): ClientFrame | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value : undefined;
  } catch {
    return undefined;
  }
}
