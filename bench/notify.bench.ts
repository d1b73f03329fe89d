/**
 * `npm run bench:notify`: realtime payment decisions over the notification WebSocket.
 *
 * N merchants (default 100) are created with the ops functions in a SQLite file before any server
 * runs; for each SQLite durability setting (FULL, then NORMAL) a fresh copy of that file is served
 * by the real server as a child process. Every merchant is put in `realtime` mode (signed
 * `PUT /v1/notifications/settings`), gets a sandbox payer of its own, trusts it with a Fraud Shield allow rule (the
 * same as bench:payments: a payer paying 1 fen again and again is otherwise blocked as card
 * testing) and holds one WebSocket (`GET /v1/notifications/ws`, signed handshake) in this process.
 * Each socket answers every `payment.decision_required` with `approve` after a think time (0 ms,
 * or uniformly random 0–400 ms). Payments (signed JSAPI create → sandbox pay with a payer proof,
 * 1 fen, merchants in turn) are offered open-loop at fixed rates with a cap on payments in flight.
 *
 * Measured per run: payments/s completed, decisions applied/s, the decision round trip (client:
 * decision sent → decision_result received; and event received → decision_result; server: event
 * row written → decision applied, from the database), the pay call end to end, and missed
 * deadlines (decisions with decided_by = 'deadline', read from the database after the run).
 * Baseline in the same run: a bare `ws` echo server (child process), 100 clients.
 *
 * Before the offered rates, a closed loop (BENCH_CAPACITY_CONCURRENCY payments in flight, think 0 ms)
 * measures what the server sustains; offered rates go up in order, and once one is not sustained
 * (< 90% completed in the window) the higher ones are not run (they would only deepen the queue).
 *
 * Environment: BENCH_MERCHANTS (100), BENCH_RATES (50,100,200,500,1000 payments/s), BENCH_THINK
 * (0,0-400), BENCH_SYNC (FULL,NORMAL), BENCH_WINDOW_S (5), BENCH_MAX_INFLIGHT (500),
 * BENCH_CAPACITY_CONCURRENCY (32), BENCH_PIN (1: this process on CPU 0, the servers on CPU 1),
 * BENCH_CPU_PROF_DIR (run the server with --cpu-prof and print its hottest functions),
 * BENCH_SQL_PROFILE=1 (time every SQLite statement in the server, bench/notify-sql-timing.ts).
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { hmacAuthorization, payerProof } from '@zhifu/sdk';
import SQLite from 'better-sqlite3';
import WebSocket from 'ws';
import type { MerchantCredentials } from '../packages/server/src/ops.ts';
import { callbackReceiver } from './callback-receiver.ts';
import {
  type Child,
  cleanUp,
  cores,
  freePort,
  pinned,
  pinSelf,
  startChild,
  stopChild,
  tmpDir,
} from './children.ts';
import {
  clockTicks,
  cpuTicks,
  HttpClient,
  type HttpResponse,
  int,
  machineLoad,
  ms,
  pct,
  percentile,
  systemBusyTicks,
} from './load.ts';
import { Ledger, MerchantSocket, type PayRecord } from './notify-merchant-ws.ts';
import { createBenchMerchants } from './notify-merchants.ts';
import { type ProfileSummary, summariseProfile } from './notify-profile.ts';
import type { SqlTiming } from './notify-sql-timing.ts';

const positive = (name: string, fallback: number): number => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`);
  return value;
};
const merchantCount = Math.round(positive('BENCH_MERCHANTS', 100));
const windowMs = positive('BENCH_WINDOW_S', 5) * 1000;
/**
 * Payments in flight are capped at the offered rate × 0.75 s (at least 32): a pay call takes at most
 * the 500 ms deadline plus a margin when the server keeps up, so a healthy run never hits the cap,
 * and an overloaded one cannot queue more than ~0.75 s of work that would spill into the next run.
 */
const inflightCap = (rate: number): number =>
  process.env.BENCH_MAX_INFLIGHT
    ? Math.round(positive('BENCH_MAX_INFLIGHT', 500))
    : Math.max(32, Math.ceil(rate * 0.75));
const rates = (process.env.BENCH_RATES ?? '50,100,200,500,1000').split(',').map(Number);
if (rates.some((r) => !Number.isFinite(r) || r <= 0)) throw new Error('BENCH_RATES: e.g. 200,500,1000');
const thinkModes = (process.env.BENCH_THINK ?? '0,0-400').split(',').map(parseThink);
const syncModes = (process.env.BENCH_SYNC ?? 'FULL,NORMAL').split(',').map((s) => {
  const mode = s.trim().toUpperCase();
  if (mode !== 'FULL' && mode !== 'NORMAL') throw new Error('BENCH_SYNC: FULL and/or NORMAL');
  return mode as 'FULL' | 'NORMAL';
});
const cpuProfDir = process.env.BENCH_CPU_PROF_DIR;
const sqlProfile = process.env.BENCH_SQL_PROFILE === '1';
/** After a window, payments still in flight get this long to finish (the pay call waits ≤ 550 ms). */
const drainMs = 15_000;
/** The whole bench stops by itself after this long, whatever happens. */
const watchdogMs = 6 * 60_000;
const targetRate = 1000;
const capacityConcurrency = Math.round(positive('BENCH_CAPACITY_CONCURRENCY', 32));
/** A rate counts as sustained when this share of it completed within the window. */
const sustainedShare = 0.9;
const thinkZero: ThinkMode = { label: '0 ms', maxMs: 0 };
const targetP99Ms = 20;
const handlerBudgetMs = 400;
const echoBytes = 700;

interface ThinkMode {
  label: string;
  maxMs: number;
}

function parseThink(s: string): ThinkMode {
  const m = /^(\d+)(?:-(\d+))?$/.exec(s.trim());
  if (!m) throw new Error(`BENCH_THINK: e.g. 0,0-400 (got "${s}")`);
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  if (lo !== 0 && lo !== hi) throw new Error('BENCH_THINK: ranges start at 0');
  return { label: lo === hi ? `${lo} ms` : `random 0–${hi} ms`, maxMs: hi };
}

const thinkOf = (t: ThinkMode, ranged: boolean) => (ranged ? Math.random() * t.maxMs : t.maxMs);
const isRange = (t: ThinkMode) => t.label.startsWith('random');

// ---------------------------------------------------------------------------------------------
// Child processes: always killed, on success, on errors, on Ctrl-C and by the watchdog.

setTimeout(() => {
  process.stderr.write(`bench:notify: watchdog: still running after ${watchdogMs / 1000} s, stopping\n`);
  cleanUp();
  process.exit(2);
}, watchdogMs).unref();

const sleep = (msTime: number) => new Promise<void>((resolve) => setTimeout(resolve, msTime));
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').trim();

function sorted(values: number[]): Float64Array {
  return Float64Array.from(values.filter(Number.isFinite)).sort();
}

const p = (a: Float64Array, q: number) => ms(percentile(a, q));
const pp = (a: Float64Array) => (a.length === 0 ? 'n/a' : `${p(a, 50)} / ${p(a, 99)}`);
const ppm = (a: Float64Array) =>
  a.length === 0 ? 'n/a' : `${p(a, 50)} / ${p(a, 99)} / ${ms(a[a.length - 1]!)}`;

/** CPU of this process, of a child and of everything else, between two snapshots (100% = a core). */
function cpuSnapshot(pid: number | undefined) {
  return {
    t: performance.now(),
    self: process.cpuUsage(),
    child: pid ? cpuTicks(pid) : 0,
    all: systemBusyTicks(),
  };
}
type CpuSnap = ReturnType<typeof cpuSnapshot>;
function cpuBetween(a: CpuSnap, pid: number | undefined) {
  const b = cpuSnapshot(pid);
  const elapsed = b.t - a.t;
  const toPct = (ticks: number) => ((ticks / clockTicks()) * 1000 * 100) / elapsed;
  const client = ((b.self.user - a.self.user + b.self.system - a.self.system) / 1000 / elapsed) * 100;
  const server = pid ? toPct(b.child - a.child) : 0;
  return { client, server, other: Math.max(0, toPct(b.all - a.all) - client - server) };
}

// ---------------------------------------------------------------------------------------------
// Baseline: bare `ws` echo, 100 clients.

interface EchoResult {
  closed: { msgsPerSec: number; rtt: Float64Array };
  paced: { rate: number; msgsPerSec: number; rtt: Float64Array };
  cpu: { client: number; server: number; other: number };
}

async function echoBaseline(clients: number): Promise<EchoResult> {
  const port = await freePort();
  const server = await startChild(
    'ws echo',
    ['--import', 'tsx', 'bench/notify-echo-server.ts'],
    { PORT: String(port) },
    'listening',
  );
  const sockets: WebSocket[] = [];
  try {
    for (let i = 0; i < clients; i++) {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      sockets.push(ws);
    }
    const payload = `{"type":"event","seq":1,"data":"${'x'.repeat(echoBytes - 40)}"}`;
    // (1) closed loop: one message in flight per client, as fast as it goes.
    const closedRtt: number[] = [];
    let stop = false;
    let counting = false;
    let count = 0;
    const loops = sockets.map(
      (ws) =>
        new Promise<void>((resolve) => {
          let t0 = 0;
          const send = () => {
            if (stop) {
              ws.off('message', onMessage);
              resolve();
              return;
            }
            t0 = performance.now();
            ws.send(payload);
          };
          const onMessage = () => {
            if (counting) {
              closedRtt.push(performance.now() - t0);
              count += 1;
            }
            send();
          };
          ws.on('message', onMessage);
          send();
        }),
    );
    await sleep(500);
    counting = true;
    const snap = cpuSnapshot(server.pid);
    const t0 = performance.now();
    await sleep(3000);
    counting = false;
    const elapsed = performance.now() - t0;
    const cpu = cpuBetween(snap, server.pid);
    const closedCount = count;
    stop = true;
    await Promise.all(loops);
    // (2) paced at the decision target rate, spread over the clients.
    const rate = targetRate;
    const pacedRtt: number[] = [];
    const sentAt = sockets.map(() => [] as number[]);
    sockets.forEach((ws, i) => {
      ws.on('message', () => {
        const t = sentAt[i]!.shift();
        if (t !== undefined) pacedRtt.push(performance.now() - t);
      });
    });
    const start = performance.now();
    let sent = 0;
    while (performance.now() - start < 3000) {
      const due = Math.floor(((performance.now() - start) * rate) / 1000) + 1;
      while (sent < due) {
        const i = sent % sockets.length;
        sentAt[i]!.push(performance.now());
        sockets[i]!.send(payload);
        sent += 1;
      }
      await sleep(1);
    }
    await sleep(200);
    return {
      closed: { msgsPerSec: (closedCount * 1000) / elapsed, rtt: sorted(closedRtt) },
      paced: { rate, msgsPerSec: (pacedRtt.length * 1000) / 3000, rtt: sorted(pacedRtt) },
      cpu,
    };
  } finally {
    for (const ws of sockets) ws.terminate();
    await stopChild(server);
  }
}

// ---------------------------------------------------------------------------------------------
// The payment flow against one server.

interface BenchMerchant {
  creds: MerchantCredentials;
  openid: string;
  device: string;
  sessionKey: string;
  /** The simulated phone's network (sandbox `ip`): one per merchant, not every payment from 127.0.0.1. */
  ip: string;
  socket: MerchantSocket;
}

interface Server {
  sync: 'FULL' | 'NORMAL';
  child: Child;
  dbPath: string;
  client: HttpClient;
  merchants: BenchMerchant[];
  ledger: Ledger;
  /** Merchants the operator API granted AI eligibility (needed for Fraud Shield rules). */
  aiGranted: number;
}

const operatorToken = randomBytes(24).toString('hex');
const runTag = `${Date.now().toString(36).slice(-6)}${Math.floor(Math.random() * 36 ** 2).toString(36)}`;
let nonceSeq = 0;
/** The merchants' notify_url: acknowledges every APIv3 callback, as a merchant backend does. */
const receiver = await callbackReceiver();
let merchantTurn = 0;

function check(ok: boolean, step: string, res: HttpResponse): void {
  if (!ok) throw new Error(`${step}: HTTP ${res.status} ${res.body.slice(0, 200)}`);
}

function signedRequest(server: Server, creds: MerchantCredentials, method: string, path: string, body = '') {
  const authorization = hmacAuthorization({
    mchid: creds.mchid,
    hmacKey: creds.hmac_key,
    method,
    url: path,
    body,
  });
  return server.client.request(
    method,
    path,
    {
      authorization,
      accept: 'application/json',
      ...(body ? { 'content-type': 'application/json' } : {}),
    },
    body || undefined,
  );
}

/**
 * Realtime mode, a payer of its own (an established sandbox payer: the demo payers are the same
 * people at every merchant, so one payer's 24 h window would hold the whole run), the Fraud Shield
 * allow rule for it, a payer login and the WebSocket, for every merchant.
 */
async function prepareMerchant(server: Server, creds: MerchantCredentials, base: string, i: number) {
  const created = await server.client.request(
    'POST',
    '/sandbox/v1/payers',
    { 'content-type': 'application/json' },
    JSON.stringify({
      appid: creds.appid,
      name: `Notify Bench Payer ${i}`,
      external_ref: `notify-bench-${runTag}-${i}`,
      account_age_days: 400,
    }),
  );
  check(created.status === 201 || created.status === 200, 'create sandbox payer', created);
  const payer = JSON.parse(created.body) as { openid: string };
  const settings = await signedRequest(
    server,
    creds,
    'PUT',
    '/v1/notifications/settings',
    JSON.stringify({ decision_mode: 'realtime' }),
  );
  check(settings.status === 200 && settings.body.includes('"realtime"'), 'PUT settings', settings);
  const ruleBody = JSON.stringify({ rule: `allow if openid == '${payer.openid}'` });
  let rule = await signedRequest(server, creds, 'POST', '/v1/risk/rules', ruleBody);
  if (rule.status === 403 && rule.body.includes('AI_NOT_ELIGIBLE')) {
    // Rules are an AI feature gated on volume: the operator grants it to the bench merchants.
    const grant = await server.client.request(
      'POST',
      `/v1/operator/merchants/${creds.mchid}/ai-eligibility`,
      { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json' },
      JSON.stringify({ granted: true, reason: 'npm run bench:notify', operator: 'bench' }),
    );
    check(grant.status === 200, 'operator AI eligibility grant', grant);
    server.aiGranted += 1;
    rule = await signedRequest(server, creds, 'POST', '/v1/risk/rules', ruleBody);
  }
  check(rule.status === 201, 'POST risk rule', rule);
  const device = `nb-${runTag}-${i}`;
  const login = await server.client.request(
    'POST',
    '/sandbox/v1/login',
    { 'content-type': 'application/json' },
    JSON.stringify({ appid: creds.appid, openid: payer.openid, device_fingerprint: device }),
  );
  check(login.status === 200, 'login', login);
  const { session_key } = JSON.parse(login.body) as { session_key: string };
  const socket = await MerchantSocket.connect(base, creds, server.ledger);
  const ip = `10.77.${Math.floor(i / 250)}.${(i % 250) + 1}`;
  return { creds, openid: payer.openid, device, sessionKey: session_key, ip, socket };
}

async function payment(server: Server, m: BenchMerchant, r: PayRecord): Promise<void> {
  const { creds } = m;
  const createBody = JSON.stringify({
    appid: creds.appid,
    mchid: creds.mchid,
    description: 'notify bench',
    out_trade_no: r.outTradeNo,
    notify_url: receiver.url,
    amount: { total: 1, currency: 'CNY' },
    payer: { openid: m.openid },
  });
  const created = await signedRequest(server, creds, 'POST', '/v3/pay/transactions/jsapi', createBody);
  check(created.status === 200, 'create', created);
  const prepayId = (JSON.parse(created.body) as { prepay_id?: string }).prepay_id;
  if (typeof prepayId !== 'string') throw new Error(`create: no prepay_id: ${created.body.slice(0, 200)}`);
  nonceSeq += 1;
  const timestamp = String(Math.floor(Date.now() / 1000));
  const nonce = `${runTag}-${nonceSeq}`;
  const payBody = JSON.stringify({
    prepay_id: prepayId,
    openid: m.openid,
    device_fingerprint: m.device,
    ip: m.ip,
    timestamp,
    nonce,
    signature: payerProof({
      target: prepayId,
      openid: m.openid,
      deviceFingerprint: m.device,
      timestamp,
      nonce,
      sessionKey: m.sessionKey,
    }),
  });
  r.tPaySent = performance.now();
  const paid = await server.client.request(
    'POST',
    '/sandbox/v1/pay',
    { 'content-type': 'application/json' },
    payBody,
  );
  r.tPayDone = performance.now();
  check(paid.status === 200, 'pay', paid);
  const body = JSON.parse(paid.body) as { trade_state?: string; zhifu_decision?: { decided_by?: string } };
  r.tradeState = body.trade_state ?? '?';
  if (body.zhifu_decision?.decided_by !== undefined) r.decidedBy = body.zhifu_decision.decided_by;
}

interface DbDecision {
  out_trade_no: string;
  state: string;
  decided_by: string | null;
  created_at: number;
  deadline_at: number;
  decided_at: number | null;
  event_at: number;
}

/** The run's decisions as the server recorded them (read-only connection to its SQLite file). */
function decisionsOf(dbPath: string, prefix: string): DbDecision[] | string {
  try {
    const db = new SQLite(dbPath, { readonly: true, fileMustExist: true });
    try {
      db.pragma('busy_timeout = 5000');
      return db
        .prepare(
          `SELECT o.out_trade_no, d.state, d.decided_by, d.created_at, d.deadline_at, d.decided_at,
                  e.created_at AS event_at
             FROM decisions d JOIN orders o ON o.id = d.order_id JOIN events e ON e.id = d.event_id
            WHERE o.out_trade_no LIKE ?`,
        )
        .all(`${prefix}%`) as DbDecision[];
    } finally {
      db.close();
    }
  } catch (error) {
    return (error as Error).message;
  }
}

interface RunResult {
  sync: 'FULL' | 'NORMAL';
  think: ThinkMode;
  /** Offered payments/s (NaN for the closed loop). */
  rate: number;
  offer: string;
  started: number;
  skipped: number;
  maxInflightSeen: number;
  cap: number;
  /** How long the payments still in flight at the end of the window took to finish. */
  drainedMs: number;
  unfinished: number;
  perSecond: number[];
  paymentsPerSec: number;
  decisionsPerSec: number;
  succeeded: number;
  heldInReview: number;
  errors: number;
  errorSamples: string[];
  /** decision sent → decision_result received. */
  rtt: Float64Array;
  /** event frame received → decision_result received (think time included). */
  rttGross: Float64Array;
  /** Server clock: event row written → decision applied, minus the think time. */
  serverRtt: Float64Array;
  /** Server clock: the deadline starts (pay call begins) → event row written. */
  beforeEvent: Float64Array;
  /** Server clock → this process: event row written → event frame received. */
  delivery: Float64Array;
  payToEvent: Float64Array;
  resultToPayDone: Float64Array;
  pay: Float64Array;
  create: Float64Array;
  lateAnswers: number;
  maxAnswerMs: number;
  missedDb: number | undefined;
  missedResponses: number;
  dbStates: string;
  dbError: string | undefined;
  badSignatures: number;
  cpu: { client: number; server: number; other: number };
  loopDelayP99: number;
}

let runNo = 0;

/** Open loop at `rate` payments/s (at most inflightCap(rate) in flight), or a closed loop of `concurrency`. */
type Offer = { rate: number } | { concurrency: number };

async function runLoad(
  server: Server,
  offer: Offer,
  think: ThinkMode,
  durationMs: number,
): Promise<RunResult> {
  runNo += 1;
  const prefix = `N${runTag}r${runNo}n`;
  const ledger = server.ledger;
  ledger.reset();
  const ranged = isRange(think);
  const records: PayRecord[] = [];
  const errorSamples: string[] = [];
  let errors = 0;
  let started = 0;
  let skipped = 0;
  let inflight = 0;
  let maxInflightSeen = 0;
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const snap = cpuSnapshot(server.child.pid);
  const start = performance.now();
  const end = start + durationMs;
  const closed = 'concurrency' in offer;
  const cap = closed ? offer.concurrency : inflightCap(offer.rate);
  const launch = (): void => {
    started += 1;
    inflight += 1;
    maxInflightSeen = Math.max(maxInflightSeen, inflight);
    const i = merchantTurn++ % server.merchants.length;
    const m = server.merchants[i]!;
    const r: PayRecord = {
      outTradeNo: `${prefix}${started}`,
      thinkMs: thinkOf(think, ranged),
      tCreate: performance.now(),
    };
    records.push(r);
    ledger.byTradeNo.set(r.outTradeNo, r);
    payment(server, m, r)
      .catch((error: unknown) => {
        errors += 1;
        r.error = (error as Error).message;
        if (errorSamples.length < 5) errorSamples.push(r.error);
      })
      .finally(() => {
        inflight -= 1;
        if (closed && performance.now() < end) launch();
      });
  };
  if (closed) {
    for (let i = 0; i < offer.concurrency; i++) launch();
    await sleep(durationMs);
  } else {
    for (let now = start; now < end; now = performance.now()) {
      const due = Math.floor(((now - start) * offer.rate) / 1000) + 1;
      while (started + skipped < due) {
        if (inflight >= cap) skipped += 1;
        else launch();
      }
      await sleep(1);
    }
  }
  const cpu = cpuBetween(snap, server.child.pid);
  loop.disable();
  const drainStart = performance.now();
  while (inflight > 0 && performance.now() < drainStart + drainMs) await sleep(10);
  const drainedMs = performance.now() - drainStart;
  // Decisions answered late (think > budget) or deadline timers need up to 500 ms more to settle.
  await sleep(600);

  const inWindow = (t: number | undefined) => t !== undefined && t >= start && t < end;
  const perSecond = new Array<number>(Math.ceil(durationMs / 1000)).fill(0);
  let paidInWindow = 0;
  let decidedInWindow = 0;
  for (const r of records) {
    if (r.tradeState !== undefined && inWindow(r.tPayDone)) {
      paidInWindow += 1;
      const s = Math.floor((r.tPayDone! - start) / 1000);
      perSecond[s] = (perSecond[s] ?? 0) + 1;
    }
    if (r.resultApplied && inWindow(r.tResult)) decidedInWindow += 1;
  }
  const answered = records.filter((r) => r.tEvent !== undefined && r.tDecisionSent !== undefined);
  const answerMs = answered.map((r) => r.tDecisionSent! - r.tEvent!);
  const db = decisionsOf(server.dbPath, prefix);
  const rows = typeof db === 'string' ? [] : db;
  const states = new Map<string, number>();
  for (const d of rows) {
    const key = `${d.state}/${d.decided_by ?? '-'}`;
    states.set(key, (states.get(key) ?? 0) + 1);
  }
  const byTradeNo = ledger.byTradeNo;
  const epoch = performance.timeOrigin;
  return {
    sync: server.sync,
    think,
    rate: closed ? Number.NaN : offer.rate,
    offer: closed ? `closed loop, ${offer.concurrency} in flight` : int(offer.rate),
    started,
    skipped,
    maxInflightSeen,
    cap,
    drainedMs,
    unfinished: inflight,
    perSecond,
    paymentsPerSec: (paidInWindow * 1000) / durationMs,
    decisionsPerSec: (decidedInWindow * 1000) / durationMs,
    succeeded: records.filter((r) => r.tradeState === 'SUCCESS').length,
    heldInReview: records.filter((r) => r.tradeState === 'USERPAYING').length,
    errors,
    errorSamples: [...errorSamples],
    rtt: sorted(answered.filter((r) => r.tResult !== undefined).map((r) => r.tResult! - r.tDecisionSent!)),
    rttGross: sorted(answered.filter((r) => r.tResult !== undefined).map((r) => r.tResult! - r.tEvent!)),
    serverRtt: sorted(
      rows
        .filter((d) => d.decided_by === 'merchant' && d.decided_at !== null)
        .map((d) => d.decided_at! - d.event_at - (byTradeNo.get(d.out_trade_no)?.thinkMs ?? Number.NaN)),
    ),
    beforeEvent: sorted(rows.map((d) => d.event_at - d.created_at)),
    delivery: sorted(
      rows.map((d) => {
        const t = byTradeNo.get(d.out_trade_no)?.tEvent;
        return t === undefined ? Number.NaN : epoch + t - d.event_at;
      }),
    ),
    payToEvent: sorted(answered.map((r) => r.tEvent! - r.tPaySent!)),
    resultToPayDone: sorted(
      records
        .filter((r) => r.resultApplied && r.tResult !== undefined && r.tPayDone !== undefined)
        .map((r) => r.tPayDone! - r.tResult!),
    ),
    pay: sorted(records.filter((r) => r.tradeState !== undefined).map((r) => r.tPayDone! - r.tPaySent!)),
    create: sorted(records.filter((r) => r.tPaySent !== undefined).map((r) => r.tPaySent! - r.tCreate)),
    lateAnswers: answerMs.filter((x) => x > handlerBudgetMs).length,
    maxAnswerMs: answerMs.length ? Math.max(...answerMs) : Number.NaN,
    missedDb: typeof db === 'string' ? undefined : rows.filter((d) => d.decided_by === 'deadline').length,
    missedResponses: records.filter((r) => r.decidedBy === 'deadline').length,
    dbStates: [...states.entries()].map(([k, n]) => `${k} ${int(n)}`).join(', '),
    dbError: typeof db === 'string' ? db : undefined,
    badSignatures: ledger.badSignatures,
    cpu,
    loopDelayP99: loop.percentile(99) / 1e6,
  };
}

interface ServerResult {
  sync: 'FULL' | 'NORMAL';
  runs: RunResult[];
  setupSeconds: number;
  frameBytes: number;
  profile?: ProfileSummary;
  profileError?: string;
  sql?: SqlTiming[];
  aiGranted: number;
  /** Offered rates skipped because a lower one was not sustained. */
  notRun: string[];
  /** Payments started on this server (warm-up included), to put SQL time per payment. */
  payments: number;
}

async function runServer(sync: 'FULL' | 'NORMAL', templateDir: string, creds: MerchantCredentials[]) {
  const dataDir = tmpDir(`zhifu-notify-${sync.toLowerCase()}-`);
  // The database and its data key travel together (a copy without the key is refused).
  for (const file of ['zhifu.db', 'master.key']) copyFileSync(join(templateDir, file), join(dataDir, file));
  const port = await freePort();
  const profDir = cpuProfDir ? join(cpuProfDir, sync.toLowerCase()) : undefined;
  if (profDir) mkdirSync(profDir, { recursive: true });
  const t0 = performance.now();
  const child = await startChild(
    `zhifu ${sync}`,
    [
      ...(profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : []),
      '--import',
      'tsx',
      ...(sqlProfile ? ['--import', './bench/notify-sql-timing.ts'] : []),
      'packages/server/src/main.ts',
    ],
    {
      ...(sqlProfile ? { BENCH_SQL_PROFILE: join(dataDir, 'sql-timing.json') } : {}),
      PORT: String(port),
      ZHIFU_DATA_DIR: dataDir,
      ZHIFU_SQLITE_SYNCHRONOUS: sync,
      ZHIFU_SEED_DEMO: 'true',
      ZHIFU_LOG_LEVEL: 'warn',
      ZHIFU_OPERATOR_TOKEN: operatorToken,
      ZHIFU_CALLBACK_ALLOW_LOOPBACK: 'true',
    },
    'Credentials JSON',
  );
  const base = `http://127.0.0.1:${port}`;
  const server: Server = {
    sync,
    child,
    dbPath: join(dataDir, 'zhifu.db'),
    client: new HttpClient('127.0.0.1', port, Math.max(capacityConcurrency, ...rates.map(inflightCap)) + 16),
    merchants: [],
    ledger: new Ledger(),
    aiGranted: 0,
  };
  const result: ServerResult = {
    sync,
    runs: [],
    notRun: [],
    aiGranted: 0,
    setupSeconds: 0,
    frameBytes: Number.NaN,
    payments: 0,
  };
  try {
    for (let i = 0; i < creds.length; i += 10) {
      const batch = creds.slice(i, i + 10);
      server.merchants.push(
        ...(await Promise.all(batch.map((c, j) => prepareMerchant(server, c, base, i + j)))),
      );
    }
    result.setupSeconds = (performance.now() - t0) / 1000;
    result.aiGranted = server.aiGranted;
    process.stderr.write(
      `bench:notify: ${sync}: server up, ${server.merchants.length} merchants realtime + connected in ${result.setupSeconds.toFixed(1)} s; warm-up…\n`,
    );
    result.payments += (await runLoad(server, { rate: 100 }, thinkZero, 2000)).started;
    server.ledger.frameBytes = 0;
    const report = (r: RunResult) => {
      result.runs.push(r);
      result.payments += r.started;
      serverErrors(r);
      process.stderr.write(
        `  ${sync} think ${r.think.label} offered ${r.offer}: ${int(r.paymentsPerSec)} payments/s, ` +
          `${int(r.decisionsPerSec)} decisions/s, rtt p99 ${p(r.rtt, 99)}, missed ${r.missedDb ?? '?'}, ` +
          `errors ${r.errors}\n`,
      );
    };
    const serverErrors = (r: RunResult) => {
      if (r.errors === 0) return;
      const logged = child
        .stdout()
        .split('\n')
        .filter((l) => l.includes('"level":50'));
      for (const l of logged.slice(-2)) process.stderr.write(`  server error log: ${l.slice(0, 1200)}\n`);
    };
    // Capacity: a closed loop finds what the server sustains, whatever the offered rates below.
    report(await runLoad(server, { concurrency: capacityConcurrency }, thinkZero, windowMs));
    for (const think of thinkModes) {
      let sustained = true;
      for (const rate of rates) {
        if (!sustained) {
          result.notRun.push(`${rate}/s with think ${think.label}`);
          continue;
        }
        const r = await runLoad(server, { rate }, think, windowMs);
        report(r);
        // Past the first rate the server cannot sustain, higher rates only pile up the same queue.
        sustained = r.paymentsPerSec >= sustainedShare * rate;
      }
    }
    const eventFrames = result.runs.reduce((n, r) => n + r.started * 2, 0);
    result.frameBytes = server.ledger.frameBytes / Math.max(1, eventFrames);
  } finally {
    for (const m of server.merchants) m.socket.close();
    server.client.close();
    await stopChild(child);
  }
  if (sqlProfile) {
    try {
      result.sql = JSON.parse(readFileSync(join(dataDir, 'sql-timing.json'), 'utf8')) as SqlTiming[];
    } catch (error) {
      result.profileError = `SQL timing: ${(error as Error).message}`;
    }
  }
  if (profDir) {
    try {
      const files = readdirSync(profDir)
        .filter((f) => f.endsWith('.cpuprofile'))
        .map((f) => join(profDir, f))
        .sort((a, b) => statSync(b).size - statSync(a).size);
      if (!files[0]) throw new Error('no .cpuprofile written');
      result.profile = summariseProfile(files[0]);
    } catch (error) {
      result.profileError = (error as Error).message;
    }
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Report.

function machine(): string[] {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown';
  return [
    `- date: ${new Date().toUTCString()}`,
    `- node: ${process.version}; CPU: ${model}, ${cores} cores; ${
      pinned()
        ? 'this process (load generator + 100 merchant sockets) pinned to CPU 0, servers to CPU 1 (taskset)'
        : 'not pinned'
    }`,
  ];
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const loadStart = loadavg();
  process.stderr.write(`bench:notify: /proc/loadavg at start: ${loadStart}\n`);
  const otherBefore = await machineLoad(1000);
  const templateDir = tmpDir('zhifu-notify-template-');
  process.stderr.write(`bench:notify: creating ${merchantCount} merchants (3 RSA-2048 key pairs each)…\n`);
  const setup = await createBenchMerchants(templateDir, merchantCount, 8, (n) =>
    process.stderr.write(`  ${n} merchants\n`),
  );
  pinSelf();
  process.stderr.write('bench:notify: bare ws echo baseline…\n');
  const echo = await echoBaseline(merchantCount);
  const servers: ServerResult[] = [];
  for (const sync of syncModes) {
    process.stderr.write(`bench:notify: server with ZHIFU_SQLITE_SYNCHRONOUS=${sync}…\n`);
    servers.push(await runServer(sync, templateDir, setup.merchants));
  }
  const loadEnd = loadavg();

  const out: string[] = [];
  const say = (line = '') => out.push(line);
  say('# Zhifu decision notifications benchmark (npm run bench:notify)');
  say();
  for (const line of machine()) say(line);
  say(`- /proc/loadavg at start: \`${loadStart}\`; at end: \`${loadEnd}\``);
  say(`- other processes: ${pct(otherBefore)} of a core busy in the second before the bench`);
  say(
    `- set-up: ${setup.merchants.length} merchants created with createMerchantCredentials() into one SQLite ` +
      `file before any server ran (${setup.seconds.toFixed(1)} s); each server gets a fresh copy, puts every ` +
      'merchant in realtime mode (signed PUT /v1/notifications/settings), adds the Fraud Shield allow rule for ' +
      'a sandbox payer created for each merchant (400-day-old account; as bench:payments) and logs that payer in once; one signed WebSocket per merchant. ' +
      `Rules are gated on volume: the operator API granted AI eligibility to ${servers
        .map((s) => `${s.aiGranted} (${s.sync})`)
        .join(', ')} merchants first. Each merchant's payments carry their own sandbox \`ip\` (10.77.x.y), ` +
      'not all 127.0.0.1.',
  );
  say(
    `- APIv3 callbacks: notify_url is a receiver in this process that acknowledges each one (204), as a merchant ` +
      `backend does (servers started with ZHIFU_CALLBACK_ALLOW_LOOPBACK=true); ${int(receiver.received())} received.`,
  );
  say(
    `- load: signed JSAPI create → POST /sandbox/v1/pay (payer proof), 1 fen, merchants in turn, offered ` +
      `open-loop at each rate for ${windowMs / 1000} s, at most max(32, rate × 0.75 s) payments in flight (beyond: ` +
      `"skipped"); each run then drains (≤ ${drainMs / 1000} s) before the next starts. The pay call returns once the decision is applied (or the 500 ms ` +
      `deadline passes). Handlers answer approve after the think time; a 2 s warm-up at 100/s precedes the runs.`,
  );
  say();
  say('## Baseline: bare `ws` echo (child process), same machine, same run');
  say();
  say('| baseline | msgs/s | RTT p50 / p99 / max | server CPU | client CPU | other CPU |');
  say('|---|---|---|---|---|---|');
  say(
    `| ${merchantCount} clients, 1 message (${echoBytes} B) in flight each, closed loop, 3 s | ` +
      `${int(echo.closed.msgsPerSec)} | ${ppm(echo.closed.rtt)} | ${pct(echo.cpu.server)} | ${pct(echo.cpu.client)} | ${pct(echo.cpu.other)} |`,
  );
  say(
    `| ${merchantCount} clients, paced at ${int(echo.paced.rate)} msgs/s in total, 3 s | ${int(echo.paced.msgsPerSec)} | ` +
      `${ppm(echo.paced.rtt)} | – | – | – |`,
  );
  say();
  say('## Decisions: throughput and outcomes');
  say();
  say(
    '| sqlite sync | think | offered /s | started | skipped (cap) | payments/s (each second) | drain after window | decisions/s | ' +
      'captured | manual review | missed deadlines (DB) | answers > 400 ms (max) | errors | server CPU | server CPU per payment | client CPU | other CPU | client loop p99 |',
  );
  say('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const s of servers) {
    for (const r of s.runs) {
      say(
        `| ${r.sync} | ${r.think.label} | ${r.offer} | ${int(r.started)} | ${int(r.skipped)} (${r.cap}) | ` +
          `${int(r.paymentsPerSec)} (${r.perSecond.map(int).join(' → ')}) | ${(r.drainedMs / 1000).toFixed(1)} s | ` +
          `${int(r.decisionsPerSec)} | ` +
          `${int(r.succeeded)} | ${int(r.heldInReview)} | ${r.missedDb === undefined ? `n/a (responses: ${r.missedResponses})` : int(r.missedDb)} | ` +
          `${int(r.lateAnswers)} (${ms(r.maxAnswerMs)}) | ${int(r.errors)}${r.unfinished ? ` + ${r.unfinished} unfinished` : ''} | ` +
          `${pct(r.cpu.server)} | ${ms((r.cpu.server * 10) / r.paymentsPerSec)} | ${pct(r.cpu.client)} | ` +
          `${pct(r.cpu.other)} | ${ms(r.loopDelayP99)} |`,
      );
    }
  }
  say();
  say('## Decisions: latency (p50 / p99, max where shown)');
  say();
  say(
    '| sqlite sync | think | offered /s | decision RTT: answer sent → decision_result | event frame → decision_result (think incl.) | ' +
      'server: event written → decision applied − think | server: pay starts → event written | event written → frame received | ' +
      'pay sent → event frame | decision_result → pay response | pay call | create call |',
  );
  say('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const s of servers) {
    for (const r of s.runs) {
      say(
        `| ${r.sync} | ${r.think.label} | ${r.offer} | ${ppm(r.rtt)} | ${pp(r.rttGross)} | ${pp(r.serverRtt)} | ` +
          `${pp(r.beforeEvent)} | ${pp(r.delivery)} | ${pp(r.payToEvent)} | ${pp(r.resultToPayDone)} | ${ppm(r.pay)} | ${pp(r.create)} |`,
      );
    }
  }
  say();
  for (const s of servers) {
    say(
      `- ${s.sync}: decisions in the database per run (state/decided_by): ` +
        s.runs
          .map((r) => `${r.offer} ${r.think.label}: ${r.dbError ? `unreadable (${r.dbError})` : r.dbStates}`)
          .join('; '),
    );
  }
  const bad = servers.reduce((n, s) => n + s.runs.reduce((m, r) => m + r.badSignatures, 0), 0);
  say(
    `- every event frame's HMAC was checked: ${bad} bad signatures; average event frame ≈ ${int(
      servers[0]?.frameBytes ?? Number.NaN,
    )} bytes (2 event frames per payment: decision_required, then succeeded).`,
  );
  const samples = servers.flatMap((s) =>
    s.runs.flatMap((r) => r.errorSamples.map((e) => `${r.sync} ${r.offer}: ${e}`)),
  );
  if (samples.length > 0) {
    say('- error samples:');
    for (const e of samples.slice(0, 8)) say(`  - ${e}`);
  }
  say();
  say(
    '## Targets (at 1,000 decisions/s: p99 decision round trip ≤ 20 ms, zero missed deadlines for handlers answering within 400 ms)',
  );
  say();
  say('```');
  for (const s of servers) {
    const capacity = s.runs.find((x) => Number.isNaN(x.rate));
    say(
      `${s.sync.padEnd(6)} capacity (closed loop, ${capacityConcurrency} in flight, think 0 ms): ` +
        `${int(capacity?.paymentsPerSec ?? Number.NaN)} payments/s, ${int(capacity?.decisionsPerSec ?? Number.NaN)} decisions/s`,
    );
    for (const think of thinkModes) {
      if (s.runs.some((x) => x.rate === targetRate && x.think === think)) continue;
      const best = s.runs
        .filter((x) => x.think === think && x.paymentsPerSec >= sustainedShare * x.rate)
        .sort((a, b) => b.rate - a.rate)[0];
      say(
        `${s.sync.padEnd(6)} think ${think.label.padEnd(15)} ${int(targetRate)}/s NOT RUN: a lower rate was not sustained ` +
          `(highest sustained offered rate: ${best ? `${int(best.rate)}/s` : 'none'}) — targets NOT MET`,
      );
    }
    for (const r of s.runs.filter((x) => x.rate === targetRate)) {
      const reached = r.decisionsPerSec >= 0.95 * targetRate;
      const p99 = percentile(r.rtt, 99);
      const label = `${s.sync.padEnd(6)} think ${r.think.label.padEnd(15)}`;
      say(
        `${label} rate: ${int(r.decisionsPerSec).padStart(5)} decisions/s of ${int(targetRate)} offered — ` +
          `${reached ? 'reached' : 'NOT reached'}`,
      );
      say(
        `${label} p99 round trip ${ms(p99).padStart(8)} (target ≤ ${targetP99Ms} ms): ` +
          `${reached && p99 <= targetP99Ms ? 'MET' : p99 <= targetP99Ms ? 'NOT MET (latency ok, rate not reached)' : 'NOT MET'}`,
      );
      if (r.think.maxMs <= handlerBudgetMs) {
        const missed = r.missedDb ?? r.missedResponses;
        say(
          `${label} missed deadlines ${int(missed).padStart(6)} (target 0): ` +
            `${reached && missed === 0 ? 'MET' : missed === 0 ? 'NOT MET (none missed, rate not reached)' : 'NOT MET'}`,
        );
      }
    }
  }
  say('```');
  say();
  // What 1,000/s leaves per decision, next to what the capacity run spent and the echo baseline.
  const echoServerUs = (echo.cpu.server * 1e4) / echo.closed.msgsPerSec;
  say(
    `What ${int(targetRate)} decisions/s leaves per decision: ${int(1e6 / targetRate)} µs of CPU on the server's core. ` +
      `The bare \`ws\` echo above costs the server ${int(echoServerUs)} µs per message (a decision takes at least 3 ` +
      'frames: the event, the answer, the result).',
  );
  for (const s of servers) {
    const capacity = s.runs.find((x) => Number.isNaN(x.rate));
    if (!capacity || capacity.paymentsPerSec <= 0) continue;
    const serverUs = (capacity.cpu.server * 1e4) / capacity.paymentsPerSec;
    const clientUs = (capacity.cpu.client * 1e4) / capacity.paymentsPerSec;
    say(
      `- ${s.sync}: the capacity run spent ${int(serverUs)} µs of server CPU per decision ` +
        `(${(serverUs / (1e6 / targetRate)).toFixed(1)}× that), and ${int(clientUs)} µs of this process's CPU ` +
        `(payers, merchants, callback receiver): at ${int(targetRate)}/s the load generator alone would need ` +
        `${((clientUs * targetRate) / 1e6).toFixed(2)} cores.`,
    );
  }
  for (const s of servers) {
    if (s.profileError) say(`\n- ${s.sync} CPU profile: ${s.profileError}`);
    if (s.sql) {
      const total = s.sql.reduce((n, q) => n + q.ms, 0);
      const prepares = s.sql.filter((q) => q.sql.startsWith('(prepare)'));
      const prepareMs = prepares.reduce((n, q) => n + q.ms, 0);
      const executions = s.sql.filter((q) => !q.sql.startsWith('(prepare)')).reduce((n, q) => n + q.calls, 0);
      const perPayment = (x: number) => x / Math.max(1, s.payments);
      say();
      say(
        `## Server SQLite time by statement (${s.sync}; ${int(total)} ms in better-sqlite3 over ` +
          `${int(s.payments)} payments started = ${ms(perPayment(total))} per payment; ` +
          `${perPayment(executions).toFixed(1)} statements executed per payment, each prepared anew: ` +
          `prepare() alone ${ms(perPayment(prepareMs))} per payment)`,
      );
      say();
      say('| statement | calls | total ms | µs / call | share |');
      say('|---|---|---|---|---|');
      for (const q of s.sql.slice(0, 15)) {
        say(
          `| \`${q.sql.slice(0, 160).replace(/\|/g, '\\|')}${q.sql.length > 160 ? '…' : ''}\` | ${int(q.calls)} | ` +
            `${int(q.ms)} | ${int((q.ms * 1000) / q.calls)} | ${((q.ms / total) * 100).toFixed(1)}% |`,
        );
      }
    }
    if (!s.profile) continue;
    say();
    say(
      `## Server CPU profile (${s.sync}, whole server lifetime, ${int(s.profile.busyMs)} ms busy; self time)`,
    );
    say();
    say('| function | self ms | share |');
    say('|---|---|---|');
    for (const f of s.profile.functions) say(`| \`${f.name}\` | ${int(f.ms)} | ${f.pct.toFixed(1)}% |`);
    say();
    say('| file / package | self ms | share |');
    say('|---|---|---|');
    for (const f of s.profile.places) say(`| \`${f.name}\` | ${int(f.ms)} | ${f.pct.toFixed(1)}% |`);
  }
  say();
  say(`Bench took ${((performance.now() - t0) / 1000).toFixed(0)} s.`);
  process.stdout.write(`${out.join('\n')}\n`);
  process.stderr.write(`bench:notify: /proc/loadavg at end: ${loadEnd}\n`);
}

main()
  .catch((error: unknown) => {
    process.stderr.write(`bench:notify failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  })
  .finally(() => {
    cleanUp();
    // Sockets or timers left by a failed run must not keep the process alive.
    setTimeout(() => process.exit(), 100).unref();
  });
