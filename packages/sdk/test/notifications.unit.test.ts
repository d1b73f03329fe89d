/**
 * NotificationClient against a scripted server speaking the notification protocol (a `ws`
 * server): signed handshake, dedupe by seq, gap and 4008 resync, acks, the decision budget.
 * The real server is exercised in notifications.test.ts.
 */
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import type { DecisionInfo, NotificationClientOptions, ZhifuEvent } from '../src/index.ts';
import {
  canonicalRequest,
  NotificationClient,
  signHmac,
  ZhifuApiError,
  ZhifuSignatureError,
} from '../src/index.ts';

const mchid = '1900000109';
const hmacKey = 'k'.repeat(64);

interface Conn {
  ws: WebSocket;
  url: string;
  afterSeq: number | undefined;
  received: Record<string, unknown>[];
}

let server: Server;
let wss: WebSocketServer;
let base: string;
let onConnect: (c: Conn) => void = () => {};
const conns: Conn[] = [];

/** Checks the ZHIFU-HMAC-SHA256 handshake like the server does (method, path+query, ts, nonce, empty body). */
function authorized(req: IncomingMessage): boolean {
  const m = /^ZHIFU-HMAC-SHA256 (.*)$/.exec(req.headers.authorization ?? '');
  if (!m) return false;
  const p = Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
  const message = canonicalRequest('GET', req.url ?? '', p.timestamp ?? '', p.nonce_str ?? '', '');
  return p.mchid === mchid && p.signature === signHmac(message, hmacKey);
}

beforeAll(async () => {
  server = createServer();
  wss = new WebSocketServer({
    server,
    verifyClient: (info, done) => {
      if (authorized(info.req)) done(true);
      else done(false, 401, 'Unauthorized', { 'Content-Type': 'application/json' });
    },
  });
  wss.on('connection', (ws, req) => {
    const url = req.url ?? '';
    const after = /after_seq=(\d+)/.exec(url)?.[1];
    const c: Conn = { ws, url, afterSeq: after === undefined ? undefined : Number(after), received: [] };
    ws.on('message', (raw) => c.received.push(JSON.parse(raw.toString()) as Record<string, unknown>));
    conns.push(c);
    onConnect(c);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});

afterEach(() => {
  for (const c of wss.clients) c.terminate();
  conns.length = 0;
  onConnect = () => {};
});

afterAll(async () => {
  await new Promise<void>((r) => wss.close(() => r()));
  await new Promise<void>((r) => server.close(() => r()));
});

function event(seq: number, type: ZhifuEvent['type'] = 'payment.succeeded', data: object = {}): ZhifuEvent {
  return {
    id: `evt_${seq}`,
    seq,
    type,
    mchid,
    created_at: new Date().toISOString(),
    data: { out_trade_no: `T${seq}`, amount: { total: seq, currency: 'CNY' }, ...data },
  } as ZhifuEvent;
}

function frame(e: ZhifuEvent, key = hmacKey): string {
  const data = JSON.stringify(e);
  const signature = createHmac('sha256', Buffer.from(key)).update(data).digest('base64');
  return JSON.stringify({ type: 'event', seq: e.seq, data, signature });
}

const hello = (c: Conn, resume = c.afterSeq ?? 0) =>
  c.ws.send(
    JSON.stringify({ type: 'hello', mchid, resume_after_seq: resume, server_time: new Date().toISOString() }),
  );

function client(o: Partial<NotificationClientOptions> = {}) {
  return new NotificationClient({
    baseUrl: base,
    mchid,
    auth: { scheme: 'hmac', hmacKey },
    reconnect: { minMs: 10, maxMs: 50 },
    heartbeatMs: 0,
    ...o,
  });
}

async function until(predicate: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('NotificationClient protocol', () => {
  it('validates its options at construction', () => {
    const ok = { baseUrl: base, mchid, auth: { scheme: 'hmac', hmacKey } } as const;
    expect(() => new NotificationClient({ ...ok, baseUrl: 'ftp://x' })).toThrow(TypeError);
    expect(() => new NotificationClient({ ...ok, mchid: '' })).toThrow(/mchid/);
    expect(() => new NotificationClient({ ...ok, afterSeq: -1 })).toThrow(/afterSeq/);
    expect(() => new NotificationClient({ ...ok, decisionTimeoutMs: 1.5 })).toThrow(/decisionTimeoutMs/);
    expect(() => new NotificationClient({ ...ok, defaultDecision: 'maybe' as never })).toThrow(
      /defaultDecision/,
    );
    expect(() => new NotificationClient({ ...ok, reconnect: { minMs: 500, maxMs: 100 } })).toThrow(/maxMs/);
    expect(() => new NotificationClient({ ...ok, onEvent: 'no' as never })).toThrow(/onEvent/);
    // RSA auth: frames are HMAC-signed, so the hmac_key is needed (or an explicit opt-out).
    const rsa = { scheme: 'rsa', serialNo: 'AB', privateKeyPem: 'not a key' } as const;
    expect(() => new NotificationClient({ ...ok, auth: rsa })).toThrow(/privateKeyPem/);
  });

  it('delivers in order exactly once: drops duplicates, resumes after 4008 with after_seq', async () => {
    onConnect = (c) => {
      hello(c);
      if (conns.length === 1) {
        for (const s of [1, 2, 3, 2, 3, 4]) c.ws.send(frame(event(s)));
        setTimeout(() => c.ws.close(4008, 'resync: reconnect with after_seq=4'), 50);
      } else {
        for (const s of [4, 5, 6]) c.ws.send(frame(event(s)));
      }
    };
    const seen: number[] = [];
    const disconnects: number[] = [];
    const n = client({ onEvent: (e) => void seen.push(e.seq), ackEveryMs: 20 });
    n.on('disconnected', (d) => disconnects.push(d.code));
    await n.connectOnce();
    await until(() => seen.length === 6);
    expect(seen).toEqual([1, 2, 3, 4, 5, 6]);
    expect(n.stats.duplicatesDropped).toBe(3);
    expect(disconnects).toEqual([4008]);
    expect(conns.map((c) => c.afterSeq)).toEqual([undefined, 4]);
    expect(n.lastSeq).toBe(6);
    await until(() => conns[1]!.received.some((f) => f.type === 'ack' && f.seq === 6));
    await n.close();
  });

  it('resumes after afterSeq, acks only processed events, and flushes the ack on close()', async () => {
    onConnect = (c) => {
      hello(c);
      for (const s of [11, 12, 13]) c.ws.send(frame(event(s)));
    };
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const n = client({
      afterSeq: 10,
      ackEveryMs: 10_000,
      onEvent: async (e) => {
        if (e.seq === 13) await gate;
      },
    });
    await n.connectOnce();
    expect(conns[0]!.afterSeq).toBe(10);
    await until(() => n.lastSeq === 12);
    await new Promise((r) => setTimeout(r, 30));
    expect(n.lastSeq).toBe(12);
    await n.close();
    release();
    expect(conns[0]!.received).toEqual([{ type: 'ack', seq: 12 }]);
  });

  it('a gap in the sequence triggers one resync with after_seq', async () => {
    onConnect = (c) => {
      hello(c);
      if (conns.length === 1) for (const s of [1, 3]) c.ws.send(frame(event(s)));
      else for (const s of [2, 3]) c.ws.send(frame(event(s)));
    };
    const seen: number[] = [];
    const errors: string[] = [];
    const n = client({ onEvent: (e) => void seen.push(e.seq) });
    n.on('error', (e) => errors.push((e as { code?: string }).code ?? e.message));
    await n.connectOnce();
    await until(() => seen.length === 3);
    expect(seen).toEqual([1, 2, 3]);
    expect(errors).toEqual(['sequence_gap']);
    expect(conns.map((c) => c.afterSeq)).toEqual([undefined, 1]);
    await n.close();
  });

  it('a frame with a bad signature stops the client with ZhifuSignatureError', async () => {
    onConnect = (c) => {
      hello(c);
      c.ws.send(frame(event(1), 'wrong-key'));
    };
    const seen: number[] = [];
    const n = client({ onEvent: (e) => void seen.push(e.seq) });
    const closed = new Promise<Error | undefined>((r) => n.once('closed', r));
    await n.connectOnce();
    expect(await closed).toBeInstanceOf(ZhifuSignatureError);
    expect(seen).toEqual([]);
    expect(n.connected).toBe(false);
  });

  it('a refused handshake rejects connectOnce with ZhifuApiError and does not retry', async () => {
    const n = new NotificationClient({ baseUrl: base, mchid, auth: { scheme: 'hmac', hmacKey: 'wrong' } });
    const error = await n.connectOnce().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ZhifuApiError);
    expect((error as ZhifuApiError).httpStatus).toBe(401);
    expect(conns).toHaveLength(0);
  });

  it('connectOnce() rejects when no hello comes in time; close() settles a pending start()', async () => {
    onConnect = () => {};
    const silent = client({ handshakeTimeoutMs: 100 });
    await expect(silent.connectOnce()).rejects.toMatchObject({ code: 'timed_out' });

    onConnect = (c) => c.ws.close(1011, 'not now');
    const retrying = client({ reconnect: { minMs: 50, maxMs: 50 } });
    const started = retrying.start();
    await until(() => conns.length >= 2);
    await retrying.close();
    await expect(started).rejects.toMatchObject({ code: 'client_closed' });
    expect(retrying.connected).toBe(false);
  });

  it('start() keeps retrying until the server is up', async () => {
    // A connection attempt of the previous test's client may still be in flight after its close():
    // let it reach the server before this test counts refusals (a late one took a refusal once).
    await new Promise((r) => setTimeout(r, 300));
    let refuse = 2;
    onConnect = (c) => {
      if (refuse-- > 0) c.ws.close(1011, 'not yet');
      else hello(c);
    };
    const n = client();
    const codes: number[] = [];
    n.on('disconnected', (d) => codes.push(d.code));
    await n.start();
    expect(codes).toEqual([1011, 1011]);
    expect(n.stats.connections).toBe(3);
    await n.close();
  });
});

describe('NotificationClient decisions', () => {
  const deadline = () => new Date(Date.now() + 500).toISOString();
  const ask = (seq: number, deadlineAt = deadline()) =>
    event(seq, 'payment.decision_required', {
      deadline_at: deadlineAt,
      decision: { state: 'pending', event_id: `evt_${seq}`, deadline_at: deadlineAt },
      risk: { score: 100, suggested_action: 'approve' },
    });

  async function run(
    onDecision: NotificationClientOptions['onDecision'],
    e = ask(1),
    options: Partial<NotificationClientOptions> = {},
  ) {
    let sentAt = 0;
    onConnect = (c) => {
      hello(c);
      sentAt = performance.now();
      c.ws.send(frame(e));
    };
    const infos: DecisionInfo[] = [];
    const n = client({ onDecision, decisionTimeoutMs: 400, ...options });
    n.on('error', () => {});
    n.on('decision', (i) => infos.push(i));
    await n.connectOnce();
    await until(() => infos.length > 0 && (infos[0]!.answer === null || conns[0]!.received.length > 0));
    const answeredAfter = performance.now() - sentAt;
    await n.close();
    return { info: infos[0]!, frames: conns[0]!.received, answeredAfter };
  }

  it('sends the handler answer with the event id', async () => {
    const r = await run(() => 'block');
    expect(r.frames[0]).toEqual({ type: 'decision', event_id: 'evt_1', decision: 'block' });
    expect(r.info).toMatchObject({ answer: 'block', source: 'handler', via: 'websocket' });
  });

  it('a handler that hangs: the default (review) goes out at decisionTimeoutMs', async () => {
    const r = await run(() => new Promise(() => {}));
    expect(r.frames[0]).toEqual({ type: 'decision', event_id: 'evt_1', decision: 'review' });
    expect(r.info).toMatchObject({ answer: 'review', source: 'timeout' });
    expect(r.answeredAfter).toBeGreaterThanOrEqual(380);
    expect(r.answeredAfter).toBeLessThan(480);
  });

  it('a throwing handler or an invalid answer: the default goes out at once', async () => {
    const threw = await run(() => {
      throw new Error('boom');
    });
    expect(threw.info).toMatchObject({ answer: 'review', source: 'handler_error' });
    expect(threw.answeredAfter).toBeLessThan(100);
    const invalid = await run(() => 'maybe' as never);
    expect(invalid.info).toMatchObject({ answer: 'review', source: 'invalid_answer' });
  });

  it('defaultDecision as a function chooses per event; a chooser that fails gives review', async () => {
    const late = await run(() => new Promise(() => {}), ask(1), {
      defaultDecision: (e) => e.data.risk.suggested_action,
    });
    expect(late.frames[0]).toEqual({ type: 'decision', event_id: 'evt_1', decision: 'approve' });
    expect(late.info).toMatchObject({ answer: 'approve', source: 'timeout' });
    const threw = await run(() => 'maybe' as never, ask(1), {
      defaultDecision: () => {
        throw new Error('chooser broke');
      },
    });
    expect(threw.info).toMatchObject({ answer: 'review', source: 'invalid_answer' });
  });

  it('an event whose deadline has passed is not answered', async () => {
    const r = await run(() => 'approve', ask(1, new Date(Date.now() - 1000).toISOString()));
    expect(r.info).toMatchObject({ answer: null, source: 'expired' });
    expect(r.frames.filter((f) => f.type === 'decision')).toEqual([]);
  });
});
