/**
 * APIv3 HTTP callbacks to `notify_url` (reference §5): TRANSACTION.SUCCESS and REFUND.* with the
 * resource encrypted AEAD_AES_256_GCM under the merchant's APIv3 key (12-byte nonce), compact JSON,
 * freshly signed `Wechatpay-*` headers on every attempt, a 5-second timeout and the 15-retry
 * schedule over 24 h 4 min, then dead-letter. Each callback is a row written in the transaction of
 * the payment or refund (outbox); every attempt is recorded and visible through the API.
 */
import { createCipheriv } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Ctx } from '../../context.ts';
import type { Executor } from '../../db/database.ts';
import { rfc3339 } from '../../lib/clock.ts';
import { openRecordText, sealRecord } from '../../lib/crypto/index.ts';
import { alphanumeric, hex, prefixed } from '../../lib/ids.ts';
import {
  callback_batch_max,
  callback_in_flight_max,
  callback_lease_ms,
  callback_retry_delays_s,
  callback_timeout_ms,
  page_size_max,
} from '../../lib/limits.ts';
import { rsaSign } from '../../lib/rsa.ts';
import type { MerchantKeyCache } from '../merchants/index.ts';
import * as repo from './notifications.repository.ts';
import { dnsResolver, guardedLookup, type HostResolver, lazyResolver, screenUrl } from './ssrf.ts';

export type CallbackEventType =
  | 'TRANSACTION.SUCCESS'
  | 'REFUND.SUCCESS'
  | 'REFUND.ABNORMAL'
  | 'REFUND.CLOSED';

/** WeChat Pay's `summary` for each event type (reference §5.1). */
function summaryOf(eventType: CallbackEventType): string {
  switch (eventType) {
    case 'TRANSACTION.SUCCESS':
      return '支付成功';
    case 'REFUND.SUCCESS':
      return '退款成功';
    case 'REFUND.ABNORMAL':
      return '退款异常';
    case 'REFUND.CLOSED':
      return '退款关闭';
  }
}

export async function enqueueCallback(
  ctx: Ctx,
  trx: Executor,
  c: { mchid: string; eventType: CallbackEventType; ref: string; notifyUrl: string; resource: object },
): Promise<void> {
  const now = ctx.clock.now();
  const refund = c.eventType.startsWith('REFUND');
  const id = prefixed(ctx.ids, 'cb');
  await repo.insertCallback(trx, {
    id,
    mchid: c.mchid,
    event_type: c.eventType,
    ref: c.ref,
    notify_url: c.notifyUrl,
    summary: summaryOf(c.eventType),
    original_type: refund ? 'refund' : 'transaction',
    // The resource names the payer (OpenID): personal information, sealed at rest (SM4 envelope).
    resource_json: sealRecord(
      ctx.keys.keyring.get(ctx.keys.current)!,
      ctx.keys.current,
      JSON.stringify(c.resource),
      `callbacks:${id}`,
      ctx.ids,
    ),
    status: 'pending',
    attempts: 0,
    next_attempt_at: now,
    created_at: now,
    delivered_at: null,
  });
}

export interface DeliveryResult {
  status: number | null;
  error: string | null;
  durationMs: number;
}

export interface CallbackOptions {
  /** Operator's sandbox setting: let callbacks reach 127.0.0.1 / ::1 (local development). */
  allowLoopback: boolean;
  /**
   * A DNS resolver for one attempt, given the attempt's deadline; default c-ares (`dnsResolver`).
   * Tests pass one whose server never answers.
   */
  resolver?: (timeoutMs: number) => HostResolver;
}

/**
 * Delivers due callbacks; `start` polls, tests call `tick` with a fake clock. A pass leases what is
 * due and waits for its deliveries, but the next pass does not wait for them: an endpoint that
 * takes its whole 5 s timeout holds back no other callback (up to `callback_in_flight_max`).
 */
export class CallbackDispatcher {
  private timer: NodeJS.Timeout | undefined;
  /** A pass choosing and leasing callbacks (one at a time per node), until it has leased them. */
  private leasing: Promise<unknown> | undefined;
  /** Deliveries in flight (each settles within the 5 s deadline and the recording of its outcome). */
  private readonly inFlight = new Set<Promise<void>>();
  private stopped = false;

  constructor(
    private readonly ctx: Ctx,
    private readonly keys: MerchantKeyCache,
    private readonly options: CallbackOptions,
  ) {}

  start(intervalMs = 500): void {
    this.timer = setInterval(() => void this.drain().catch(() => undefined), intervalMs);
    this.timer.unref();
  }

  /** Keeps delivering while full batches come back (bounded), so a backlog drains faster than 32/s. */
  private async drain(): Promise<void> {
    for (let round = 0; round < 50; round++) {
      if ((await this.tick()) < callback_batch_max) return;
    }
  }

  /** Stops polling and waits for the deliveries in flight, so their outcomes are recorded. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.stopped = true;
    while (this.leasing || this.inFlight.size > 0) {
      await this.leasing?.catch(() => undefined);
      await Promise.allSettled([...this.inFlight]);
    }
  }

  /** One pass: lease due callbacks, deliver them concurrently, record outcomes. Returns how many ran. */
  async tick(): Promise<number> {
    const room = Math.min(callback_batch_max, callback_in_flight_max - this.inFlight.size);
    if (this.stopped || this.leasing || room <= 0) return 0;
    const leasing = this.lease(room);
    this.leasing = leasing;
    let mine: Awaited<typeof leasing>;
    try {
      mine = await leasing;
    } finally {
      this.leasing = undefined;
    }
    const deliveries = mine.map((c) => {
      const delivery = this.attempt(c).finally(() => this.inFlight.delete(delivery));
      this.inFlight.add(delivery);
      return delivery;
    });
    await Promise.all(deliveries);
    return mine.length;
  }

  /** Leases up to `room` due callbacks to this node; returns the ones it got, with their lease. */
  private async lease(room: number): Promise<Leased[]> {
    const now = this.ctx.clock.now();
    const due = await repo.dueCallbacks(this.ctx.db, now, room);
    const leasedUntil = now + callback_lease_ms;
    const leased = await repo.leaseDue(
      this.ctx.db,
      due.map((c) => c.id),
      now,
      leasedUntil,
    );
    return due.filter((c) => leased.has(c.id)).map((c) => ({ ...c, leased_until: leasedUntil }));
  }

  private async attempt(c: Leased): Promise<void> {
    const attempt = c.attempts + 1;
    const screened = screenUrl(c.notify_url, this.options.allowLoopback);
    const result: DeliveryResult = screened
      ? { status: null, error: `refused: ${screened}`, durationMs: 0 }
      : await this.deliverWithin(c);
    const now = this.ctx.clock.now();
    // APIv3 counts a callback as received only on 200 or 204 (reference §5.4); anything else retries.
    const ok = result.status === 200 || result.status === 204;
    const delay = callback_retry_delays_s[attempt - 1];
    // Written only while this node holds the lease: one that stalled past it (the callback was
    // leased and sent again meanwhile) leaves the outcome to the node that holds it now.
    await this.ctx.db.transaction().execute((trx) =>
      repo.recordOutcome(
        trx,
        c,
        {
          status: ok ? 'delivered' : delay === undefined ? 'dead' : 'pending',
          next_attempt_at: ok || delay === undefined ? now : now + delay * 1000,
          delivered_at: ok ? now : null,
        },
        {
          at: now,
          http_status: result.status,
          error: result.error,
          duration_ms: Math.round(result.durationMs),
        },
      ),
    );
  }

  /**
   * One attempt within one 5 s deadline (reference §5.4). The deadline starts before the
   * merchant's keys are read and the body is signed, and ends the attempt whatever it still waits
   * for: the RSA signature waits its turn in libuv's thread pool, which file I/O or a burst of
   * response signing can keep busy, and an attempt that outlived its 30 s lease would be delivered
   * by another node as well. A signature finished after the deadline is not sent, and the
   * attempt's DNS queries are cancelled.
   */
  private async deliverWithin(c: Leased): Promise<DeliveryResult> {
    const started = performance.now();
    const deadline = new AbortController();
    const timedOut = new Promise<never>((_, reject) =>
      deadline.signal.addEventListener('abort', () => reject(deadline.signal.reason), { once: true }),
    );
    const timer = setTimeout(
      () => deadline.abort(new Error(`timed out after ${callback_timeout_ms} ms`)),
      callback_timeout_ms,
    );
    const resolver = lazyResolver(() => (this.options.resolver ?? dnsResolver)(callback_timeout_ms));
    const delivering = this.deliver(c, deadline.signal, resolver);
    delivering.catch(() => undefined); // after the deadline its failure is no longer anyone's answer
    try {
      const answer = await Promise.race([delivering, timedOut]);
      return { ...answer, durationMs: performance.now() - started };
    } catch (error) {
      return {
        status: null,
        error: String((error as Error).message).slice(0, 250),
        durationMs: performance.now() - started,
      };
    } finally {
      clearTimeout(timer);
      resolver.cancel();
    }
  }

  private async deliver(c: Leased, deadline: AbortSignal, resolver: HostResolver): Promise<Answer> {
    const keys = await this.keys.get(c.mchid);
    if (!keys) return { status: null, error: 'merchant vanished' };
    const nonce = alphanumeric(this.ctx.ids, 12);
    const cipher = createCipheriv(
      'aes-256-gcm',
      Buffer.from(keys.apiv3Key, 'utf8'),
      Buffer.from(nonce, 'utf8'),
    );
    cipher.setAAD(Buffer.from(c.original_type));
    const resource = openRecordText(this.ctx.keys.keyring, c.resource_json, `callbacks:${c.id}`);
    const sealed = Buffer.concat([cipher.update(resource, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    const body = JSON.stringify({
      id: c.id,
      create_time: rfc3339(c.created_at),
      resource_type: 'encrypt-resource',
      event_type: c.event_type,
      summary: c.summary,
      resource: {
        original_type: c.original_type,
        algorithm: 'AEAD_AES_256_GCM',
        ciphertext: sealed.toString('base64'),
        associated_data: c.original_type,
        nonce,
      },
    });
    const timestamp = String(Math.floor(this.ctx.clock.now() / 1000));
    const headerNonce = hex(this.ctx.ids, 32);
    const signature = await rsaSign(`${timestamp}\n${headerNonce}\n${body}\n`, keys.platformPrivateKey);
    deadline.throwIfAborted(); // recorded as timed out already: it must not be sent after all
    return post(
      c.notify_url,
      body,
      {
        'Content-Type': 'application/json',
        'User-Agent': 'Zhifu-Callback/0.1',
        'Wechatpay-Timestamp': timestamp,
        'Wechatpay-Nonce': headerNonce,
        'Wechatpay-Signature': signature,
        'Wechatpay-Serial': keys.platformSerialNo,
        'Wechatpay-Signature-Type': 'WECHATPAY2-SHA256-RSA2048',
        'Request-ID': `${hex(this.ctx.ids, 40).toUpperCase()}-0`,
      },
      guardedLookup(this.options.allowLoopback, resolver),
      deadline,
    );
  }
}

type Answer = Omit<DeliveryResult, 'durationMs'>;

/** A due callback this node leased, until `leased_until` (its `next_attempt_at` while leased). */
type Leased = Awaited<ReturnType<typeof repo.dueCallbacks>>[number] & { leased_until: number };

function post(
  url: string,
  body: string,
  headers: Record<string, string>,
  lookup: ReturnType<typeof guardedLookup>,
  deadline: AbortSignal,
): Promise<Answer> {
  const u = new URL(url);
  const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve) => {
    let settled = false;
    const settle = (status: number | null, error: string | null) => {
      if (settled) return;
      settled = true;
      deadline.removeEventListener('abort', abort);
      resolve({ status, error: error?.slice(0, 250) ?? null });
    };
    const req = send(
      u,
      {
        method: 'POST',
        headers: { ...headers, 'Content-Length': Buffer.byteLength(body) },
        lookup: lookup as never,
      },
      (res) => {
        res.resume();
        res.on('end', () => settle(res.statusCode ?? null, null));
        res.on('error', (error) => settle(null, error.message));
        res.on('close', () => settle(null, 'connection closed before the answer ended'));
      },
    );
    // The attempt's deadline ends the request too (a socket idle timeout would not bound an
    // endpoint that trickles bytes).
    const abort = () => req.destroy(deadline.reason as Error);
    deadline.addEventListener('abort', abort, { once: true });
    req.on('error', (error) => settle(null, error.message));
    req.end(body);
  });
}

interface CallbackView {
  callback_id: string;
  event_type: string;
  out_trade_no_or_refund_no: string;
  notify_url: string;
  status: string;
  attempts: number;
  next_attempt_at: string | null;
  created_at: string;
  delivered_at: string | null;
  history: {
    attempt: number;
    at: string;
    http_status: number | null;
    error: string | null;
    duration_ms: number;
  }[];
}

export async function listCallbacks(ctx: Ctx, mchid: string, ref: string | undefined) {
  const rows = await repo.callbacksWithAttempts(ctx.db, mchid, ref, page_size_max);
  const data: CallbackView[] = [];
  for (const r of rows) {
    let last = data[data.length - 1];
    if (last?.callback_id !== r.id) {
      last = {
        callback_id: r.id,
        event_type: r.event_type,
        out_trade_no_or_refund_no: r.ref,
        notify_url: r.notify_url,
        status: r.status,
        attempts: r.attempts,
        next_attempt_at: r.status === 'pending' ? rfc3339(r.next_attempt_at) : null,
        created_at: rfc3339(r.created_at),
        delivered_at: r.delivered_at === null ? null : rfc3339(r.delivered_at),
        history: [],
      };
      data.push(last);
    }
    if (r.attempt !== null) {
      last.history.push({
        attempt: r.attempt,
        at: rfc3339(r.attempt_at!),
        http_status: r.http_status,
        error: r.error,
        duration_ms: r.duration_ms!,
      });
    }
  }
  return { data };
}
