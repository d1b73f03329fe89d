/**
 * NotificationClient: a merchant backend's end of the event WebSocket (docs/notifications.md).
 * It signs each handshake like any API request, verifies every event frame's HMAC, hands events
 * to `onEvent` in sequence order exactly once per process (delivery is at-least-once; duplicates
 * are dropped by `seq`), answers `payment.decision_required` through `onDecision` within a time
 * budget (else with a default answer), acknowledges processed events, and reconnects with
 * backoff, resuming after the last sequence it received.
 */
import { randomInt } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { HmacAuth, RsaAuth } from './client.ts';
import { ZhifuClient } from './client.ts';
import {
  apiErrorFrom,
  ZhifuApiError,
  ZhifuConnectionError,
  ZhifuError,
  ZhifuSignatureError,
} from './errors.ts';
import type {
  ClientFrame,
  DecisionAnswer,
  DecisionRequiredEvent,
  DecisionResultFrame,
  DecisionState,
  EventFrame,
  ZhifuEvent,
} from './events.ts';
import { decisionAnswers, isRecord, notificationCloseCodes, verifyEventFrame } from './events.ts';
import { checkBaseUrl } from './http.ts';
import { hmacAuthorization, parsePrivateKey, pathWithQuery, rsaAuthorization } from './signing.ts';
import { WsConnection, WsHandshakeError } from './ws.ts';

const OWNER = 'NotificationClient';
const USER_AGENT = `zhifu-sdk node/${process.versions.node}`;
/** The server's decision deadline is 500 ms after the event; 400 leaves room for the network. */
const DEFAULT_DECISION_TIMEOUT_MS = 400;
const DEFAULT_ACK_EVERY_MS = 1_000;
const DEFAULT_HEARTBEAT_MS = 30_000;
const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
const DEFAULT_RECONNECT = { minMs: 100, maxMs: 10_000 };
/** An answer sent later than this before the server's deadline would likely arrive too late. */
const DEADLINE_MARGIN_MS = 50;

export interface NotificationClientOptions {
  /** Server origin, as for ZhifuClient (`http://127.0.0.1:8080`); the WebSocket uses ws(s):. */
  baseUrl: string;
  mchid: string;
  /** Signs the handshake (and the REST helpers), exactly like ZhifuClient. */
  auth: HmacAuth | RsaAuth;
  /**
   * The merchant's `hmac_key`, which signs event frames whatever the auth scheme. Defaults to
   * `auth.hmacKey`; required with RSA auth unless `verifyFrames` is false.
   */
  hmacKey?: string;
  /** Check every event frame's signature (default true). */
  verifyFrames?: boolean;
  /**
   * Resume after this sequence number (persist `lastSeq` to survive restarts). Without it the
   * first connection resumes after the last sequence the merchant acknowledged.
   */
  afterSeq?: number;
  /** Every event (including decision_required), in sequence order, one at a time, once. */
  onEvent?: (event: ZhifuEvent) => void | Promise<void>;
  /**
   * Answers `payment.decision_required`; called as soon as the frame arrives (not queued behind
   * `onEvent`). Without it the client never answers (another connection may).
   */
  onDecision?: (event: DecisionRequiredEvent) => DecisionAnswer | Promise<DecisionAnswer>;
  /** After this long without an answer from `onDecision`, `defaultDecision` is sent (default 400). */
  decisionTimeoutMs?: number;
  /**
   * Sent on timeout, handler error or invalid answer (default 'review'); a function chooses per event,
   * e.g. `(e) => e.data.risk.suggested_action` to follow the Fraud Shield when the handler is late.
   */
  defaultDecision?: DecisionAnswer | ((event: DecisionRequiredEvent) => DecisionAnswer);
  /** Exponential backoff with full jitter between attempts (default 100 to 10000 ms); false: no reconnect. */
  reconnect?: { minMs?: number; maxMs?: number } | false;
  /** Acknowledge processed events at most this often (default 1000; 0: after every event). */
  ackEveryMs?: number;
  /** Ping this often and drop a connection silent for that long (default 30000; 0: off). */
  heartbeatMs?: number;
  /** Deadline of the handshake up to the `hello` frame (default 10000). */
  handshakeTimeoutMs?: number;
}

export interface ConnectedInfo {
  /** Events after this sequence follow. */
  resumeAfterSeq: number;
  serverTime: string;
  /** How many connections this client made before this one. */
  reconnects: number;
}

export interface DisconnectedInfo {
  code: number;
  reason: string;
  /** Delay before the next attempt, or undefined when the client will not reconnect. */
  reconnectInMs: number | undefined;
}

/** What the client answered to a decision_required event, and why. */
export interface DecisionInfo {
  event: DecisionRequiredEvent;
  /** null: nothing was sent because the deadline had already passed when the event arrived. */
  answer: DecisionAnswer | null;
  source: 'handler' | 'timeout' | 'handler_error' | 'invalid_answer' | 'expired';
  /** From the frame's arrival to the answer. */
  elapsedMs: number;
  /** How it went out: over the WebSocket, or `POST /v1/decisions` while disconnected. */
  via: 'websocket' | 'rest' | 'none';
}

export interface NotificationClientEvents {
  connected: [info: ConnectedInfo];
  disconnected: [info: DisconnectedInfo];
  decision: [info: DecisionInfo];
  decision_result: [frame: DecisionResultFrame];
  /** Emitted only when listened to (an EventEmitter would otherwise throw). */
  error: [error: Error];
  /** The client stopped for good: close() was called, or `error` made it stop. */
  closed: [error: Error | undefined];
}

export interface NotificationSettings {
  decision_mode: 'auto' | 'realtime';
  review_window_seconds: number;
  acked_seq: number;
}

export interface CallbackAttempt {
  attempt: number;
  at: string;
  http_status: number | null;
  error: string | null;
  duration_ms: number;
}

export interface CallbackRecord {
  callback_id: string;
  event_type: string;
  out_trade_no_or_refund_no: string;
  notify_url: string;
  status: 'pending' | 'delivered' | 'dead';
  attempts: number;
  next_attempt_at: string | null;
  created_at: string;
  delivered_at: string | null;
  history: CallbackAttempt[];
}

type State = 'idle' | 'connecting' | 'open' | 'waiting' | 'closed';

/**
 * The event WebSocket, with decisions, acknowledgements and reconnection. Options are checked at
 * construction (`TypeError`). Start it with `start()` (retries until connected) or `connectOnce()`
 * (the first attempt must succeed); stop it with `close()`.
 *
 * @example
 * const events = new NotificationClient({
 *   baseUrl: c.base_url, mchid: c.mchid, auth: { scheme: 'hmac', hmacKey: c.hmac_key },
 *   afterSeq: loadSavedSeq(),
 *   onEvent: async (e) => { await store(e); saveSeq(e.seq); },
 *   onDecision: (e) => (e.data.risk.score < 300 ? 'approve' : 'review'),
 * });
 * events.on('error', (err) => log.warn(err));
 * await events.start();
 */
export class NotificationClient extends EventEmitter<NotificationClientEvents> {
  readonly mchid: string;
  readonly #baseUrl: string;
  readonly #authorize: (target: string) => string;
  readonly #hmacKey: string | undefined;
  readonly #onEvent: NotificationClientOptions['onEvent'];
  readonly #onDecision: NotificationClientOptions['onDecision'];
  readonly #decisionTimeoutMs: number;
  readonly #defaultDecision: (event: DecisionRequiredEvent) => DecisionAnswer;
  readonly #reconnect: { minMs: number; maxMs: number } | false;
  readonly #ackEveryMs: number;
  readonly #heartbeatMs: number;
  readonly #handshakeTimeoutMs: number;
  readonly #rest: ZhifuClient;

  #state: State = 'idle';
  #ws: WsConnection | undefined;
  /** Whether `#received` is known: from `afterSeq`, or from the first hello. */
  #baselineKnown: boolean;
  /** Highest sequence accepted (queued or processed): the dedupe watermark and resume point. */
  #received: number;
  /** Highest sequence whose `onEvent` finished. */
  #processed: number;
  #ackedSent: number;
  #queue: ZhifuEvent[] = [];
  #draining = false;
  #failures = 0;
  #connections = 0;
  #duplicates = 0;
  #gapResyncAt = -1;
  #serverOffsetMs = 0;
  #helloSeen = false;
  #strictFirst = false;
  #first: { resolve: () => void; reject: (e: Error) => void; promise: Promise<void> } | undefined;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #ackTimer: NodeJS.Timeout | undefined;
  #helloTimer: NodeJS.Timeout | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #alive = true;
  #pendingDecisions = new Map<string, () => void>();
  #closing: Promise<void> | undefined;

  constructor(options: NotificationClientOptions) {
    super();
    if (typeof options !== 'object' || options === null)
      throw new TypeError(`${OWNER}: options are required`);
    this.#baseUrl = checkBaseUrl(options.baseUrl, OWNER);
    const mchid = options.mchid;
    if (typeof mchid !== 'string' || mchid === '')
      throw new TypeError(`${OWNER}: mchid must be a non-empty string`);
    this.mchid = mchid;
    const auth = options.auth;
    let canVerifyRest: boolean;
    if (auth?.scheme === 'hmac') {
      const hmacKey = auth.hmacKey;
      if (typeof hmacKey !== 'string' || hmacKey === '') {
        throw new TypeError(`${OWNER}: auth.hmacKey must be a non-empty string`);
      }
      this.#authorize = (url) => hmacAuthorization({ mchid, hmacKey, method: 'GET', url });
      canVerifyRest = true;
    } else if (auth?.scheme === 'rsa') {
      const serialNo = auth.serialNo;
      if (typeof serialNo !== 'string' || serialNo === '') {
        throw new TypeError(`${OWNER}: auth.serialNo must be the merchant certificate serial`);
      }
      const privateKey = parsePrivateKey(auth.privateKeyPem, `${OWNER}: auth.privateKeyPem`);
      this.#authorize = (url) => rsaAuthorization({ mchid, serialNo, privateKey, method: 'GET', url });
      canVerifyRest = auth.platformCertificatePem !== undefined || auth.platformPublicKeyPem !== undefined;
    } else {
      throw new TypeError(`${OWNER}: auth.scheme must be 'hmac' or 'rsa'`);
    }
    const verifyFrames = options.verifyFrames ?? true;
    if (typeof verifyFrames !== 'boolean') throw new TypeError(`${OWNER}: verifyFrames must be a boolean`);
    const hmacKey = options.hmacKey ?? (auth.scheme === 'hmac' ? auth.hmacKey : undefined);
    if (options.hmacKey !== undefined && (typeof options.hmacKey !== 'string' || options.hmacKey === '')) {
      throw new TypeError(`${OWNER}: hmacKey must be a non-empty string`);
    }
    if (verifyFrames && hmacKey === undefined) {
      throw new TypeError(
        `${OWNER}: event frames are signed with the merchant's hmac_key: pass hmacKey (or verifyFrames: false)`,
      );
    }
    this.#hmacKey = verifyFrames ? hmacKey : undefined;
    const afterSeq = options.afterSeq;
    if (afterSeq !== undefined && (!Number.isSafeInteger(afterSeq) || afterSeq < 0)) {
      throw new TypeError(`${OWNER}: afterSeq must be an integer ≥ 0`);
    }
    this.#baselineKnown = afterSeq !== undefined;
    this.#received = afterSeq ?? 0;
    this.#processed = this.#received;
    this.#ackedSent = this.#received;
    for (const name of ['onEvent', 'onDecision'] as const) {
      if (options[name] !== undefined && typeof options[name] !== 'function') {
        throw new TypeError(`${OWNER}: ${name} must be a function`);
      }
    }
    this.#onEvent = options.onEvent;
    this.#onDecision = options.onDecision;
    this.#decisionTimeoutMs = integerOption(
      options.decisionTimeoutMs,
      'decisionTimeoutMs',
      0,
      60_000,
      DEFAULT_DECISION_TIMEOUT_MS,
    );
    const fallback = options.defaultDecision ?? 'review';
    if (typeof fallback === 'function') {
      // A chooser that fails or answers nonsense must not cost the decision: 'review' then.
      this.#defaultDecision = (event) => {
        try {
          const answer = fallback(event);
          return decisionAnswers.includes(answer) ? answer : 'review';
        } catch {
          return 'review';
        }
      };
    } else if (decisionAnswers.includes(fallback)) {
      this.#defaultDecision = () => fallback;
    } else {
      throw new TypeError(`${OWNER}: defaultDecision must be 'approve', 'review', 'block' or a function`);
    }
    if (options.reconnect === false) {
      this.#reconnect = false;
    } else {
      const r = options.reconnect ?? {};
      if (typeof r !== 'object' || r === null)
        throw new TypeError(`${OWNER}: reconnect must be an object or false`);
      const minMs = integerOption(r.minMs, 'reconnect.minMs', 1, 600_000, DEFAULT_RECONNECT.minMs);
      const maxMs = integerOption(
        r.maxMs,
        'reconnect.maxMs',
        minMs,
        3_600_000,
        Math.max(minMs, DEFAULT_RECONNECT.maxMs),
      );
      this.#reconnect = { minMs, maxMs };
    }
    this.#ackEveryMs = integerOption(options.ackEveryMs, 'ackEveryMs', 0, 600_000, DEFAULT_ACK_EVERY_MS);
    this.#heartbeatMs = integerOption(options.heartbeatMs, 'heartbeatMs', 0, 3_600_000, DEFAULT_HEARTBEAT_MS);
    this.#handshakeTimeoutMs = integerOption(
      options.handshakeTimeoutMs,
      'handshakeTimeoutMs',
      1,
      120_000,
      DEFAULT_HANDSHAKE_TIMEOUT_MS,
    );
    this.#rest = new ZhifuClient({
      baseUrl: this.#baseUrl,
      mchid,
      auth,
      verifyResponses: canVerifyRest,
      timeoutMs: Math.min(120_000, this.#handshakeTimeoutMs),
    });
  }

  /** Highest sequence number whose `onEvent` has finished (persist it; pass it back as `afterSeq`). */
  get lastSeq(): number {
    return this.#processed;
  }

  get connected(): boolean {
    return this.#state === 'open';
  }

  /** Counters, e.g. for metrics. */
  get stats(): { connections: number; duplicatesDropped: number; queued: number } {
    return {
      connections: this.#connections,
      duplicatesDropped: this.#duplicates,
      queued: this.#queue.length,
    };
  }

  /**
   * Connects, retrying with backoff until it works; resolves at the first `hello`. Rejects only if
   * the server refuses the credentials (HTTP 4xx: fix the configuration) or `close()` comes first.
   */
  start(): Promise<void> {
    return this.#begin(false);
  }

  /**
   * Like start(), but the first attempt must succeed: rejects with its `ZhifuApiError` (refused)
   * or `ZhifuConnectionError` (unreachable, or no hello in time) and the client closes. Once
   * connected, later drops are reconnected as usual.
   */
  connectOnce(): Promise<void> {
    return this.#begin(true);
  }

  /**
   * Stops: acknowledges what was processed, closes the WebSocket (1000) and cancels timers.
   * Events received but not yet processed are dropped (they were not acknowledged).
   */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closing = this.#shutdown(undefined);
    return this.#closing;
  }

  // ----------------------------------------------------------------------------------------------
  // REST helpers (signed like ZhifuClient)
  // ----------------------------------------------------------------------------------------------

  /** `GET /v1/notifications/settings`. */
  getSettings(): Promise<NotificationSettings> {
    return this.#rest.request('GET', '/v1/notifications/settings');
  }

  /** `PUT /v1/notifications/settings`: `decision_mode` auto/realtime, `review_window_seconds` (60 s to 30 days). */
  updateSettings(settings: {
    decision_mode?: 'auto' | 'realtime';
    review_window_seconds?: number;
  }): Promise<NotificationSettings> {
    return this.#rest.request('PUT', '/v1/notifications/settings', settings);
  }

  /** `POST /v1/decisions`: answer a decision_required event over REST. */
  decide(eventId: string, decision: DecisionAnswer): Promise<{ applied: true; state: DecisionState }> {
    return this.#rest.request('POST', '/v1/decisions', { event_id: eventId, decision });
  }

  /** `POST /v1/payments/{out_trade_no}/review`: end a manual review (approve captures, decline releases). */
  resolveReview(outTradeNo: string, decision: 'approve' | 'decline'): Promise<{ state: DecisionState }> {
    return this.#rest.request('POST', `/v1/payments/${encodeURIComponent(outTradeNo)}/review`, { decision });
  }

  /** `GET /v1/notifications/events`: events after a sequence (polling; at most 500). */
  listEvents(afterSeq = 0, limit = 100): Promise<{ data: ZhifuEvent[] }> {
    return this.#rest.request('GET', `/v1/notifications/events?after_seq=${afterSeq}&limit=${limit}`);
  }

  /** `GET /v1/notifications/callbacks`: APIv3 callbacks and their delivery attempts. */
  listCallbacks(ref?: string): Promise<{ data: CallbackRecord[] }> {
    const query = ref === undefined ? '' : `?ref=${encodeURIComponent(ref)}`;
    return this.#rest.request('GET', `/v1/notifications/callbacks${query}`);
  }

  // ----------------------------------------------------------------------------------------------
  // Connection lifecycle
  // ----------------------------------------------------------------------------------------------

  #begin(strict: boolean): Promise<void> {
    if (this.#state === 'closed') {
      return Promise.reject(new ZhifuError({ code: 'client_closed', message: `${OWNER} was closed` }));
    }
    if (this.#first) return this.#first.promise;
    let resolve!: () => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Marked handled here; a caller awaiting it still sees the rejection.
    promise.catch(() => undefined);
    this.#first = { resolve, reject, promise };
    this.#strictFirst = strict;
    this.#connect();
    return promise;
  }

  /** A method, not a field read: the state changes across awaits. */
  #isClosed(): boolean {
    return this.#state === 'closed';
  }

  #connect(): void {
    this.#attempt().catch((error: unknown) => {
      void this.#shutdown(error instanceof Error ? error : new Error(String(error)));
    });
  }

  #emitError(error: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }

  #url(): URL {
    const query = this.#baselineKnown ? `?after_seq=${this.#received}` : '';
    return new URL(`${this.#baseUrl}/v1/notifications/ws${query}`);
  }

  async #attempt(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'connecting';
    this.#helloSeen = false;
    const url = this.#url();
    let ws: WsConnection;
    try {
      // A fresh timestamp and nonce per attempt: the server refuses a replayed nonce.
      ws = await WsConnection.connect(url, {
        headers: { Authorization: this.#authorize(pathWithQuery(url)), 'User-Agent': USER_AGENT },
        handshakeTimeoutMs: this.#handshakeTimeoutMs,
      });
    } catch (cause) {
      if (this.#isClosed()) return;
      const error = handshakeError(cause, url);
      const fatal = error instanceof ZhifuApiError && isFatalStatus(error.httpStatus);
      if (fatal || (this.#strictFirst && !this.#connections)) {
        void this.#shutdown(error);
        return;
      }
      this.#emitError(error);
      // 1006: the attempt never opened a WebSocket.
      this.#scheduleReconnect(1006, error.message);
      return;
    }
    if (this.#isClosed()) {
      ws.close(1000, 'client closed');
      return;
    }
    this.#connections++;
    this.#ws = ws;
    this.#alive = true;
    ws.on('message', (text) => this.#onFrame(ws, text));
    ws.on('pong', () => {
      this.#alive = true;
    });
    ws.on('error', (error) => this.#emitError(error));
    ws.on('close', (code, reason) => this.#onClose(ws, code, reason));
    this.#helloTimer = setTimeout(() => {
      const error = new ZhifuConnectionError(
        'timed_out',
        `no hello from ${url.origin} within ${this.#handshakeTimeoutMs} ms`,
        undefined,
      );
      if (this.#strictFirst && this.#connections === 1) {
        ws.terminate();
        void this.#shutdown(error);
        return;
      }
      this.#emitError(error);
      ws.terminate();
    }, this.#handshakeTimeoutMs);
    if (this.#heartbeatMs > 0) {
      this.#heartbeat = setInterval(() => {
        if (!this.#alive) {
          this.#emitError(
            new ZhifuConnectionError('timed_out', `no traffic for ${this.#heartbeatMs} ms`, undefined),
          );
          ws.terminate();
          return;
        }
        this.#alive = false;
        ws.ping();
      }, this.#heartbeatMs);
      this.#heartbeat.unref();
    }
  }

  #onClose(ws: WsConnection, code: number, reason: string): void {
    if (this.#ws !== ws) return;
    this.#ws = undefined;
    clearTimeout(this.#helloTimer);
    clearInterval(this.#heartbeat);
    clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
    if (this.#state === 'closed') return;
    if (!this.#helloSeen && this.#strictFirst && this.#first && this.#connections === 1) {
      void this.#shutdown(
        new ZhifuConnectionError(
          'connection_failed',
          `connection closed before hello: ${code} ${reason}`.trim(),
          undefined,
        ),
      );
      return;
    }
    this.#scheduleReconnect(code, reason);
  }

  #scheduleReconnect(code: number, reason: string): void {
    if (this.#reconnect === false) {
      this.emit('disconnected', { code, reason, reconnectInMs: undefined });
      void this.#shutdown(
        new ZhifuConnectionError('connection_failed', `disconnected: ${code} ${reason}`.trim(), undefined),
      );
      return;
    }
    this.#state = 'waiting';
    // Full jitter: uniform in [0, min(max, min · 2^failures)]; a resync is retried at once.
    const ceiling = Math.min(
      this.#reconnect.maxMs,
      this.#reconnect.minMs * 2 ** Math.min(this.#failures, 30),
    );
    const delay = code === notificationCloseCodes.resync && this.#failures === 0 ? 0 : randomInt(ceiling + 1);
    this.#failures++;
    this.emit('disconnected', { code, reason, reconnectInMs: delay });
    this.#reconnectTimer = setTimeout(() => this.#connect(), delay);
  }

  async #shutdown(error: Error | undefined): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    clearTimeout(this.#reconnectTimer);
    clearTimeout(this.#helloTimer);
    clearInterval(this.#heartbeat);
    for (const cancel of this.#pendingDecisions.values()) cancel();
    this.#pendingDecisions.clear();
    this.#queue = [];
    const ws = this.#ws;
    if (ws) {
      this.#flushAck();
      const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
      // 1008: the client stops because of what the server sent (e.g. a frame failing verification).
      ws.close(error ? 1008 : 1000, error ? 'client error' : 'client closed');
      await closed;
    }
    clearTimeout(this.#ackTimer);
    this.#ws = undefined;
    // No effect once start() / connectOnce() resolved.
    this.#first?.reject(
      error ?? new ZhifuError({ code: 'client_closed', message: `${OWNER} was closed before connecting` }),
    );
    if (error) this.#emitError(error);
    this.emit('closed', error);
  }

  // ----------------------------------------------------------------------------------------------
  // Frames
  // ----------------------------------------------------------------------------------------------

  #onFrame(ws: WsConnection, text: string): void {
    if (this.#ws !== ws || this.#state === 'closed') return;
    this.#alive = true;
    let frame: unknown;
    try {
      frame = JSON.parse(text);
    } catch {
      this.#emitError(new ZhifuError({ code: 'frame_malformed', message: 'a server frame is not JSON' }));
      return;
    }
    if (!isRecord(frame)) return;
    switch (frame.type) {
      case 'hello':
        this.#onHello(frame);
        return;
      case 'event':
        this.#onEventFrame(ws, frame);
        return;
      case 'decision_result':
        this.emit('decision_result', frame as unknown as DecisionResultFrame);
        return;
      case 'error':
        this.#emitError(
          new ZhifuError({
            code: String(frame.code ?? 'SYSTEM_ERROR'),
            message: String(frame.message ?? ''),
          }),
        );
        return;
      default:
        // Unknown frame types are ignored, so the server can add some.
        return;
    }
  }

  #onHello(frame: Record<string, unknown>): void {
    clearTimeout(this.#helloTimer);
    const resume = Number(frame.resume_after_seq);
    const serverTime = String(frame.server_time ?? '');
    const serverMs = Date.parse(serverTime);
    if (Number.isFinite(serverMs)) this.#serverOffsetMs = serverMs - Date.now();
    if (!this.#baselineKnown && Number.isSafeInteger(resume)) {
      this.#baselineKnown = true;
      this.#received = this.#processed = this.#ackedSent = resume;
    } else if (Number.isSafeInteger(resume) && resume < this.#received) {
      // The server has no event after `resume` (an afterSeq beyond its last one, or a database
      // that was reset): take its position, or every later event would be dropped as a duplicate.
      this.#emitError(
        new ZhifuError({
          code: 'resume_clamped',
          message: `asked to resume after seq ${this.#received}, the server's last event is ${resume}: resuming there`,
        }),
      );
      this.#received = this.#processed = this.#ackedSent = resume;
    }
    this.#helloSeen = true;
    this.#state = 'open';
    const reconnects = this.#connections - 1;
    this.#failures = 0;
    this.emit('connected', { resumeAfterSeq: resume, serverTime, reconnects });
    this.#first?.resolve();
  }

  #onEventFrame(ws: WsConnection, frame: Record<string, unknown>): void {
    let event: ZhifuEvent;
    try {
      event =
        this.#hmacKey === undefined
          ? parseUnverified(frame)
          : verifyEventFrame(frame as unknown as EventFrame, this.#hmacKey);
    } catch (error) {
      // A wrong key or an altered frame: stop rather than act on unauthenticated events.
      void this.#shutdown(error instanceof Error ? error : new ZhifuSignatureError(String(error)));
      return;
    }
    const seq = event.seq;
    if (seq <= this.#received) {
      this.#duplicates++;
      return;
    }
    if (this.#baselineKnown && seq > this.#received + 1) {
      const gap = new ZhifuError({
        code: 'sequence_gap',
        message: `event seq ${seq} after ${this.#received}: events ${this.#received + 1}…${seq - 1} missing`,
      });
      this.#emitError(gap);
      if (this.#gapResyncAt !== this.#received) {
        // Reconnect with after_seq once to fill the gap; if it persists, go on.
        this.#gapResyncAt = this.#received;
        ws.close(1000, 'sequence gap: resync');
        return;
      }
    }
    this.#received = seq;
    if (event.type === 'payment.decision_required') this.#decide(event);
    this.#queue.push(event);
    void this.#drain();
  }

  async #drain(): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    try {
      for (let e = this.#queue.shift(); e !== undefined; e = this.#queue.shift()) {
        try {
          await this.#onEvent?.(e);
        } catch (error) {
          this.#emitError(
            new ZhifuError({
              code: 'handler_failed',
              message: `onEvent threw for seq ${e.seq} (${e.type}): ${error instanceof Error ? error.message : String(error)}`,
              cause: error,
            }),
          );
        }
        if (this.#state === 'closed') return;
        this.#processed = Math.max(this.#processed, e.seq);
        this.#scheduleAck();
      }
    } finally {
      this.#draining = false;
    }
  }

  #scheduleAck(): void {
    if (this.#ackEveryMs === 0) {
      this.#flushAck();
      return;
    }
    if (this.#ackTimer) return;
    this.#ackTimer = setTimeout(() => {
      this.#ackTimer = undefined;
      this.#flushAck();
    }, this.#ackEveryMs);
  }

  #flushAck(): void {
    if (this.#processed > this.#ackedSent && this.#send({ type: 'ack', seq: this.#processed })) {
      this.#ackedSent = this.#processed;
    }
  }

  #send(frame: ClientFrame): boolean {
    const ws = this.#ws;
    if (ws?.readyState !== 'open') return false;
    ws.send(JSON.stringify(frame));
    return true;
  }

  // ----------------------------------------------------------------------------------------------
  // Decisions
  // ----------------------------------------------------------------------------------------------

  #decide(event: DecisionRequiredEvent): void {
    const handler = this.#onDecision;
    if (!handler) return;
    const arrived = performance.now();
    const deadline = Date.parse(event.data.deadline_at ?? event.data.decision?.deadline_at ?? '');
    const left = Number.isFinite(deadline)
      ? deadline - (Date.now() + this.#serverOffsetMs)
      : Number.POSITIVE_INFINITY;
    if (left <= 0) {
      this.emit('decision', { event, answer: null, source: 'expired', elapsedMs: 0, via: 'none' });
      return;
    }
    let done = false;
    const fallback = () => this.#defaultDecision(event);
    const finish = (answer: DecisionAnswer, source: DecisionInfo['source']) => {
      if (done || this.#state === 'closed') return;
      done = true;
      clearTimeout(timer);
      this.#pendingDecisions.delete(event.id);
      // Answer with the envelope's id: that is the id the server's decision row refers to.
      const frame: ClientFrame = { type: 'decision', event_id: event.id, decision: answer };
      let via: DecisionInfo['via'] = 'websocket';
      if (!this.#send(frame)) {
        via = 'rest';
        this.decide(event.id, answer).then(
          (r) => this.emit('decision_result', { type: 'decision_result', event_id: event.id, ...r }),
          (error: unknown) => {
            if (error instanceof ZhifuApiError) {
              this.emit('decision_result', {
                type: 'decision_result',
                event_id: event.id,
                applied: false,
                code: error.code,
                message: error.message,
              });
            } else {
              this.#emitError(error instanceof Error ? error : new Error(String(error)));
            }
          },
        );
      }
      this.emit('decision', { event, answer, source, elapsedMs: performance.now() - arrived, via });
    };
    const budget = Math.max(0, Math.min(this.#decisionTimeoutMs, left - DEADLINE_MARGIN_MS));
    const timer = setTimeout(() => finish(fallback(), 'timeout'), budget);
    this.#pendingDecisions.set(event.id, () => {
      done = true;
      clearTimeout(timer);
    });
    // Called from a microtask so a throwing handler is caught like a rejecting one.
    Promise.resolve()
      .then(() => handler(event))
      .then(
        (answer) => {
          if (decisionAnswers.includes(answer)) finish(answer, 'handler');
          else {
            const sent = fallback();
            if (!done) {
              this.#emitError(
                new ZhifuError({
                  code: 'decision_invalid',
                  message: `onDecision returned ${JSON.stringify(answer)} for ${event.id}; sent ${sent}`,
                }),
              );
            }
            finish(sent, 'invalid_answer');
          }
        },
        (error: unknown) => {
          const sent = fallback();
          if (!done) {
            this.#emitError(
              new ZhifuError({
                code: 'handler_failed',
                message: `onDecision threw for ${event.id}: ${error instanceof Error ? error.message : String(error)}; sent ${sent}`,
                cause: error,
              }),
            );
          }
          finish(sent, 'handler_error');
        },
      );
  }
}

function integerOption(value: unknown, name: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new TypeError(`${OWNER}: ${name} must be an integer from ${min} to ${max}`);
  }
  return value;
}

/** 4xx refusals other than 408 and 429 will not go away by retrying (bad key, clock, merchant). */
function isFatalStatus(status: number | undefined): boolean {
  return status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429;
}

function handshakeError(cause: unknown, url: URL): ZhifuError {
  if (cause instanceof WsHandshakeError && cause.status !== undefined) {
    const requestId = cause.headers['request-id'];
    const error = apiErrorFrom(
      cause.status,
      cause.body,
      typeof requestId === 'string' ? requestId : undefined,
    );
    return error;
  }
  const reason = cause instanceof Error ? cause.message : String(cause);
  if (cause instanceof WsHandshakeError && /timed out/.test(reason)) {
    return new ZhifuConnectionError('timed_out', `${url.origin}: ${reason}`, cause);
  }
  return new ZhifuConnectionError(
    'connection_failed',
    `cannot open ${url.origin}${url.pathname}: ${reason}`,
    cause,
  );
}

function parseUnverified(frame: Record<string, unknown>): ZhifuEvent {
  if (typeof frame.data !== 'string') throw new ZhifuSignatureError('event frame rejected: no data');
  const event: unknown = JSON.parse(frame.data);
  if (!isRecord(event) || !Number.isSafeInteger(event.seq) || typeof event.type !== 'string') {
    throw new ZhifuSignatureError('event frame rejected: data is not an event');
  }
  return event as unknown as ZhifuEvent;
}
