/**
 * Crash test (issue #4 §3, reliability.md test 9): a real server process on SQLite in realtime
 * mode is killed with SIGKILL while payments and decisions flow, then restarted on the same data.
 * A client that resumes from its last processed sequence number must receive every event, in
 * order, and no decision may be applied twice.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hmacAuthorization, payerProof } from '@zhifu/sdk';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/db/database.ts';
import { audit } from '../src/modules/ledger/index.ts';
import { TestWsClient } from './ws-client.ts';

const root = new URL('../../../', import.meta.url).pathname;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function startServer(dataDir: string, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'packages/server/src/main.ts'], {
    cwd: root,
    env: {
      ...process.env,
      PORT: String(port),
      ZHIFU_DATA_DIR: dataDir,
      ZHIFU_LOG_LEVEL: 'error',
      ZHIFU_RISK_BATCH_THREADS: '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 30_000);
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('Credentials JSON')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.stderr!.on('data', (d) => {
      out += d;
    });
    child.once('exit', (code) => reject(new Error(`server exited ${code}: ${out}`)));
  });
}

interface Creds {
  base_url: string;
  mchid: string;
  appid: string;
  hmac_key: string;
  payers: { openid: string }[];
}

async function signed(c: Creds, method: string, path: string, body?: unknown): Promise<Response> {
  const text = body === undefined ? '' : JSON.stringify(body);
  const authorization = hmacAuthorization({
    mchid: c.mchid,
    hmacKey: c.hmac_key,
    method,
    url: path,
    body: text,
  });
  return fetch(`${c.base_url}${path}`, {
    method,
    headers: { authorization, ...(text ? { 'content-type': 'application/json' } : {}) },
    ...(text ? { body: text } : {}),
  });
}

async function payOnce(c: Creds, i: number, sessionKey: string): Promise<void> {
  const openid = c.payers[0]!.openid;
  const no = `CRASH${i}x${Date.now() % 100000}`;
  const created = await signed(c, 'POST', '/v3/pay/transactions/jsapi', {
    appid: c.appid,
    mchid: c.mchid,
    description: 'crash test',
    out_trade_no: no,
    notify_url: 'https://merchant.example.com/notify',
    amount: { total: 1 },
    payer: { openid },
  });
  const { prepay_id } = (await created.json()) as { prepay_id: string };
  const timestamp = String(Math.floor(Date.now() / 1000));
  const nonce = `n${i}${Math.random().toString(36).slice(2)}`;
  const signature = payerProof({
    target: prepay_id,
    openid,
    deviceFingerprint: 'crash-phone',
    timestamp,
    nonce,
    sessionKey,
  });
  await fetch(`${c.base_url}/sandbox/v1/pay`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      prepay_id,
      openid,
      device_fingerprint: 'crash-phone',
      timestamp,
      nonce,
      signature,
    }),
  });
}

async function login(c: Creds): Promise<string> {
  const res = await fetch(`${c.base_url}/sandbox/v1/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ appid: c.appid, openid: c.payers[0]!.openid, device_fingerprint: 'crash-phone' }),
  });
  return ((await res.json()) as { session_key: string }).session_key;
}

describe('SIGKILL while events flow', () => {
  let dataDir = '';
  const children: ChildProcess[] = [];
  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('every event is delivered after a restart and no decision is applied twice', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'zhifu-crash-'));
    const port = await freePort();
    let server = await startServer(dataDir, port);
    children.push(server);
    const creds = JSON.parse(readFileSync(join(dataDir, 'demo-credentials.json'), 'utf8')) as Creds;
    expect(
      (await signed(creds, 'PUT', '/v1/notifications/settings', { decision_mode: 'realtime' })).status,
    ).toBe(200);

    const seen = new Map<number, string>();
    let lastSeq = 0;
    const attach = (client: TestWsClient) => {
      client.ws.on('message', (raw) => {
        const m = JSON.parse(raw.toString()) as { type: string; seq?: number; data?: string };
        if (m.type !== 'event') return;
        const event = JSON.parse(m.data!) as { id: string; type: string };
        expect(m.seq).toBe(lastSeq + 1); // in order, no gap, no duplicate within a connection
        lastSeq = m.seq!;
        seen.set(m.seq!, event.type);
        if (event.type === 'payment.decision_required')
          client.send({ type: 'decision', event_id: event.id, decision: 'approve' });
      });
    };
    const first = await TestWsClient.connect(creds.base_url, creds, 0);
    attach(first);
    const sessionKey = await login(creds);
    // Payments flow; the server is killed in the middle of them.
    const flow = (async () => {
      for (let i = 0; i < 200; i++) {
        try {
          await payOnce(creds, i, sessionKey);
        } catch {
          return i;
        }
      }
      return 200;
    })();
    await first.until(() => lastSeq >= 20, 20_000);
    server.kill('SIGKILL');
    const made = await flow;
    expect(made).toBeLessThan(200);
    await first.close();

    server = await startServer(dataDir, port);
    children.push(server);
    const second = await TestWsClient.connect(creds.base_url, creds, lastSeq);
    attach(second);
    // Give the restarted node time to apply any deadlines that passed while it was down.
    await new Promise((r) => setTimeout(r, 1500));
    const db = await openDatabase({ url: `sqlite:${join(dataDir, 'zhifu.db')}`, migrate: false });
    try {
      const last = await db.db
        .selectFrom('merchant_sequences')
        .select('last_seq')
        .where('mchid', '=', creds.mchid)
        .executeTakeFirstOrThrow();
      await second.until(() => lastSeq >= last.last_seq, 10_000);
      expect([...seen.keys()].sort((a, b) => a - b)).toEqual(
        Array.from({ length: last.last_seq }, (_, i) => i + 1),
      );
      const pending = await db.db
        .selectFrom('decisions')
        .select('order_id')
        .where('state', '=', 'pending')
        .execute();
      expect(pending).toEqual([]);
      // One outcome per payment: the capture or release journal exists at most once per order.
      const decided = await db.db.selectFrom('decisions').select(['order_id', 'state']).execute();
      const journals = await db.db.selectFrom('journals').select('id').execute();
      for (const d of decided) {
        const outcomes = journals.filter(
          (j) => j.id === `jnl_cap_${d.order_id}` || j.id === `jnl_rel_${d.order_id}`,
        ).length;
        expect(outcomes, d.order_id).toBe(
          d.state === 'approved' || d.state === 'blocked' || d.state === 'released' ? 1 : 0,
        );
      }
      const succeeded = await db.db
        .selectFrom('events')
        .select('data_json')
        .where('type', '=', 'payment.succeeded')
        .execute();
      const nos = succeeded.map((e) => (JSON.parse(e.data_json) as { out_trade_no: string }).out_trade_no);
      expect(new Set(nos).size).toBe(nos.length);
      expect(await audit(db.db)).toEqual({ unbalancedJournals: 0, driftedAccounts: [], belowFloor: [] });
    } finally {
      await db.close();
      await second.close();
    }
  }, 90_000);
});
