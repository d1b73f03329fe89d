/**
 * `npm run bench:fanout`: how soon a merchant's WebSocket on one node gets an event committed on
 * another node of the same deployment (two server processes over one PostgreSQL database), with
 * Redis (ZHIFU_REDIS_URL: the fan-out channel) and without it (the 1 s outbox poll), next to the
 * baseline measured in the same run: the same event on a socket of the node that committed it.
 *
 * Each payment is created and paid on node A (signed create, sandbox pay) one after another; the
 * latency of a socket is from sending the pay request to its `payment.succeeded` frame. The
 * merchant allows every payment (`allow if amount >= 1`): one payer paying over and over is the
 * card-testing pattern the Fraud Shield would block. Environment: BENCH_PAYMENTS (200),
 * BENCH_REDIS_URL (redis://127.0.0.1:6379), BENCH_PG_URL (postgres://postgres@127.0.0.1:5432/test:
 * a database `zhifu_fanout_<tag>` is made next to it for each mode and dropped after).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { NotificationClient, SandboxClient, ZhifuClient } from '@zhifu/sdk';
import pg from 'pg';
import { cleanUp, freePort, startChild, stopChild, tmpDir } from './children.ts';
import { int, machineLoad, ms, percentile } from './load.ts';

const payments = Number(process.env.BENCH_PAYMENTS ?? 200);
const redisUrl = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const pgUrl = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const tag = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
const masterKey = randomBytes(16).toString('hex');
/** A frame later than this counts as missed. */
const missed_after_ms = 5_000;

interface Credentials {
  mchid: string;
  appid: string;
  hmac_key: string;
  payers: { openid: string }[];
}

interface ModeResult {
  mode: string;
  sameNode: number[];
  otherNode: number[];
  missed: number;
}

async function sql(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

async function runMode(mode: 'redis' | 'poll'): Promise<ModeResult> {
  const database = `zhifu_fanout_${tag}_${mode}`;
  await sql(pgUrl, `CREATE DATABASE ${database}`);
  const databaseUrl = pgUrl.replace(/\/[^/]*$/, `/${database}`);
  const common = {
    ZHIFU_DATABASE_URL: databaseUrl,
    ZHIFU_MASTER_KEY: masterKey,
    ZHIFU_LOG_LEVEL: 'warn',
    ZHIFU_RISK_BATCH_THREADS: '0',
    ...(mode === 'redis' ? { ZHIFU_REDIS_URL: redisUrl, ZHIFU_REDIS_PREFIX: `zhifu-bench:${tag}:` } : {}),
  };
  const dirA = tmpDir('zhifu-fanout-a-');
  const portA = await freePort();
  const portB = await freePort();
  const args = ['--import', 'tsx', 'packages/server/src/main.ts'];
  const a = await startChild(
    'node A',
    args,
    { ...common, PORT: String(portA), ZHIFU_DATA_DIR: dirA },
    'Credentials JSON',
  );
  const b = await startChild(
    'node B',
    args,
    { ...common, PORT: String(portB), ZHIFU_DATA_DIR: tmpDir('zhifu-fanout-b-'), ZHIFU_SEED_DEMO: 'false' },
    'is running',
  );
  const sockets: NotificationClient[] = [];
  try {
    const creds = JSON.parse(readFileSync(join(dirA, 'demo-credentials.json'), 'utf8')) as Credentials;
    const baseA = `http://127.0.0.1:${portA}`;
    const auth = { scheme: 'hmac' as const, hmacKey: creds.hmac_key };
    const merchant = new ZhifuClient({ baseUrl: baseA, mchid: creds.mchid, auth });
    await merchant.request('POST', '/v1/risk/rules', { rule: 'allow if amount >= 1' });
    const sandbox = new SandboxClient({ baseUrl: baseA });
    // Each socket records when each order's payment.succeeded frame arrived.
    const seen: Map<string, number>[] = [new Map(), new Map()];
    const waiters: Map<string, () => void>[] = [new Map(), new Map()];
    for (const [i, port] of [portA, portB].entries()) {
      const socket = new NotificationClient({
        baseUrl: `http://127.0.0.1:${port}`,
        mchid: creds.mchid,
        auth,
        ackEveryMs: 0,
        onEvent: (event) => {
          if (event.type !== 'payment.succeeded') return;
          const no = String(event.data.out_trade_no);
          seen[i]!.set(no, performance.now());
          waiters[i]!.get(no)?.();
        },
      });
      socket.on('error', (e) => process.stderr.write(`bench:fanout: socket ${i}: ${e.message}\n`));
      await socket.connectOnce();
      sockets.push(socket);
    }
    const payer = creds.payers[0]!.openid;
    const result: ModeResult = { mode, sameNode: [], otherNode: [], missed: 0 };
    for (let n = 0; n < payments; n++) {
      const out_trade_no = `F${tag}${mode[0]}${n}`;
      const { prepay_id } = await merchant.createJsapiOrder({
        appid: creds.appid,
        description: 'fan-out bench',
        out_trade_no,
        notify_url: 'https://shop.example/notify',
        amount: { total: 1 },
        payer: { openid: payer },
      });
      const arrived = [0, 1].map(
        (i) =>
          new Promise<void>((resolve) => {
            if (seen[i]!.has(out_trade_no)) resolve();
            else waiters[i]!.set(out_trade_no, resolve);
          }),
      );
      const sent = performance.now();
      await sandbox.payAs({
        appid: creds.appid,
        target: prepay_id,
        openid: payer,
        deviceFingerprint: 'bench-fanout',
      });
      await Promise.race([Promise.all(arrived), new Promise((r) => setTimeout(r, missed_after_ms))]);
      const atA = seen[0]!.get(out_trade_no);
      const atB = seen[1]!.get(out_trade_no);
      if (atA === undefined || atB === undefined) result.missed++;
      if (atA !== undefined) result.sameNode.push(atA - sent);
      if (atB !== undefined) result.otherNode.push(atB - sent);
      for (const w of waiters) w.delete(out_trade_no);
      // Payments do not line up with the other node's poll.
      await new Promise((r) => setTimeout(r, Math.random() * 20));
    }
    return result;
  } finally {
    for (const s of sockets) await s.close();
    await stopChild(b);
    await stopChild(a);
    await sql(pgUrl, `DROP DATABASE IF EXISTS ${database}`);
  }
}

function cells(values: number[]): string {
  const sorted = Float64Array.from(values).sort();
  return `${ms(percentile(sorted, 0.5))} | ${ms(percentile(sorted, 0.99))} | ${ms(sorted[sorted.length - 1] ?? Number.NaN)}`;
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const load = await machineLoad(1000);
  const results: ModeResult[] = [];
  for (const mode of ['redis', 'poll'] as const) {
    process.stderr.write(
      `bench:fanout: two nodes, ${mode === 'redis' ? 'Redis fan-out' : 'no Redis (outbox poll)'}…\n`,
    );
    results.push(await runMode(mode));
  }
  const out = [
    '# Zhifu WebSocket fan-out across nodes (npm run bench:fanout)',
    '',
    `- date: ${new Date().toUTCString()}; node ${process.version}; other processes: ${int(load)}% of a core busy before the bench`,
    `- two server processes (node A, node B) over one PostgreSQL database; ${payments} payments created and paid on A one after another; a merchant socket on each node; latency from sending the pay request to the socket's payment.succeeded frame`,
    '',
    '| mode | socket | p50 | p99 | max | frames | missed (> 5 s) |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    const label = r.mode === 'redis' ? 'Redis (ZHIFU_REDIS_URL)' : 'no Redis (1 s outbox poll)';
    out.push(
      `| ${label} | baseline: node A (committed the event) | ${cells(r.sameNode)} | ${r.sameNode.length} | ${r.missed} |`,
    );
    out.push(
      `| ${label} | node B (another node) | ${cells(r.otherNode)} | ${r.otherNode.length} | ${r.missed} |`,
    );
  }
  out.push('', `Bench took ${((performance.now() - t0) / 1000).toFixed(0)} s.`);
  process.stdout.write(`${out.join('\n')}\n`);
  if (results.some((r) => r.missed > 0)) process.exitCode = 1;
}

main()
  .catch((error: unknown) => {
    process.stderr.write(`bench:fanout failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  })
  .finally(() => cleanUp());
