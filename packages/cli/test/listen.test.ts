/**
 * `zhifu listen` end to end: the real bin in a child process, connected to a server listening in
 * this process; payments in realtime mode are decided by the CLI (--auto-decide) or by a local
 * URL it forwards events to (--forward).
 */
import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestApp, type TestApp } from '../../server/test/harness.ts';
import { jsapiOrder, payAs, signedRequest } from '../../server/test/requests.ts';
import { describeEvent } from '../src/commands/listen.ts';

const bin = fileURLToPath(new URL('../bin/zhifu.js', import.meta.url));

let dir: string;
let t: TestApp;
let credentialsFile: string;

function env(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(e)) if (name.startsWith('ZHIFU_') || name === 'PORT') delete e[name];
  return { ...e, ZHIFU_DATA_DIR: dir };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'zhifu-listen-'));
  t = await openTestApp('sqlite', { realClock: true, listen: true });
  credentialsFile = join(dir, 'merchant.json');
  writeFileSync(credentialsFile, JSON.stringify(t.merchant));
});

afterAll(async () => {
  await t?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Starts `zhifu listen …` and resolves once it is connected (its status line on stderr). */
async function listen(args: string[]) {
  const child: ChildProcessWithoutNullStreams = spawn(
    process.execPath,
    [bin, 'listen', '--credentials', credentialsFile, '--base-url', t.ctx.publicUrl, ...args],
    { env: env() },
  );
  const run = { child, stdout: '', stderr: '' };
  child.stdout.on('data', (c: Buffer) => {
    run.stdout += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    run.stderr += c.toString();
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  await until(
    () => run.stderr.includes('Listening to'),
    20_000,
    () => run.stderr,
  );
  return {
    ...run,
    get out() {
      return run.stdout;
    },
    get err() {
      return run.stderr;
    },
    exited,
  };
}

async function until(predicate: () => boolean, ms = 15_000, context: () => string = () => ''): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${context()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function pay(amount: number) {
  const order = jsapiOrder(t, { amount: { total: amount, currency: 'CNY' } });
  const res = await signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', order);
  const paid = (await payAs(t, res.json().prepay_id as string, order.payer.openid)).json();
  return { order, paid };
}

const setMode = (decision_mode: 'auto' | 'realtime') =>
  signedRequest(t, 'PUT', '/v1/notifications/settings', { decision_mode });

describe('zhifu listen', () => {
  it('--auto-decide --json: answers realtime decisions with the suggested action and prints the events', async () => {
    const cli = await listen(['--auto-decide', '--json', '--after-seq', '0']);
    try {
      await setMode('realtime');
      const { order, paid } = await pay(1_500);
      expect(paid).toMatchObject({
        trade_state: 'SUCCESS',
        zhifu_decision: { state: 'approved', decided_by: 'merchant' },
      });
      await until(
        () => cli.out.includes('"payment.succeeded"'),
        5000,
        () => cli.out,
      );
      const events = cli.out
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { seq: number; type: string; data: { out_trade_no: string } });
      const mine = events.filter((e) => e.data.out_trade_no === order.out_trade_no).map((e) => e.type);
      expect(mine).toEqual(['payment.decision_required', 'payment.succeeded']);
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
      expect(cli.err).toMatch(/answered approve for \S+ \(auto-decide, \d+ ms\)/);
    } finally {
      await setMode('auto');
      cli.child.kill('SIGINT');
    }
    expect(await cli.exited).toBe(0);
    expect(cli.err).toMatch(/Closed after seq \d+\./);
    // The ack on close: the next connection without --after-seq resumes after it.
    const settings = (await signedRequest(t, 'GET', '/v1/notifications/settings')).json();
    expect(settings.acked_seq).toBeGreaterThan(0);
  });

  it('--forward: POSTs each event to a local URL whose answer decides; prints one line per event', async () => {
    const forwarded: { type: string; data: { out_trade_no?: string } }[] = [];
    const target: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        const e = JSON.parse(body) as { type: string; data: { out_trade_no?: string } };
        forwarded.push(e);
        res.setHeader('content-type', 'application/json');
        res.end(e.type === 'payment.decision_required' ? '{"decision":"block"}' : '{}');
      });
    });
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
    const port = (target.address() as { port: number }).port;
    const cli = await listen(['--forward', `http://127.0.0.1:${port}/events`]);
    try {
      await setMode('realtime');
      const { order, paid } = await pay(2_600);
      expect(paid).toMatchObject({ trade_state: 'PAYERROR', zhifu_decision: { state: 'blocked' } });
      await until(
        () => cli.out.includes('payment.blocked'),
        5000,
        () => cli.out,
      );
      expect(cli.out).toMatch(
        new RegExp(
          `#\\d+\\s+payment\\.decision_required\\s+${order.out_trade_no}  26\\.00 CNY  risk \\d+ \\w+  decision pending`,
        ),
      );
      expect(cli.out).toMatch(/answered block for \S+ \(forward \/ auto-decide, \d+ ms\)/);
      expect(cli.out).toMatch(
        new RegExp(`payment\\.blocked\\s+${order.out_trade_no}  26\\.00 CNY .* decision blocked`),
      );
      await until(() => forwarded.some((e) => e.type === 'payment.blocked'));
      expect(forwarded.filter((e) => e.data.out_trade_no === order.out_trade_no).map((e) => e.type)).toEqual([
        'payment.decision_required',
        'payment.blocked',
      ]);
    } finally {
      await setMode('auto');
      cli.child.kill('SIGTERM');
      await new Promise<void>((r) => target.close(() => r()));
    }
    expect(await cli.exited).toBe(0);
  });

  it('--auto-decide --forward: a forward target that never answers gives the suggested action in time', async () => {
    const target: Server = createServer((req) => {
      req.resume(); // reads the event, never answers
    });
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
    const port = (target.address() as { port: number }).port;
    const cli = await listen(['--auto-decide', '--forward', `http://127.0.0.1:${port}/events`]);
    try {
      await setMode('realtime');
      const { paid } = await pay(1_700);
      // This sandbox payer's payments are approved by the Fraud Shield (as in the --auto-decide test).
      expect(paid).toMatchObject({
        trade_state: 'SUCCESS',
        zhifu_decision: { state: 'approved', decided_by: 'merchant' },
      });
      await until(
        () => /answered/.test(cli.out),
        5000,
        () => cli.out + cli.err,
      );
      expect(cli.out).toMatch(/answered approve for \S+ \(no answer in 400 ms: default, \d+ ms\)/);
    } finally {
      await setMode('auto');
      cli.child.kill('SIGTERM');
      target.closeAllConnections();
      await new Promise<void>((r) => target.close(() => r()));
    }
    await cli.exited;
  });

  it('usage errors exit 2; a wrong key exits 1 with the API error', async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
        execFile(process.execPath, [bin, ...args], { env: env(), timeout: 30_000 }, (error, stdout, stderr) =>
          resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr }),
        ),
      );
    const helpRun = await run(['listen', '--help']);
    expect(helpRun.code).toBe(0);
    for (const option of [
      '--credentials',
      '--base-url',
      '--after-seq',
      '--auto-decide',
      '--forward',
      '--json',
    ]) {
      expect(helpRun.stdout).toContain(option);
    }
    expect((await run(['--help'])).stdout).toContain('listen [--auto-decide|--forward]');
    expect((await run(['listen', '--after-seq', 'x'])).stderr).toContain('--after-seq must be an integer');
    expect((await run(['listen', '--forward', 'ftp://x'])).code).toBe(2);
    const missing = await run(['listen', '--credentials', join(dir, 'nope.json')]);
    expect([missing.code, missing.stderr]).toEqual([
      1,
      expect.stringContaining('cannot read merchant credentials'),
    ]);
    const wrong = join(dir, 'wrong.json');
    writeFileSync(wrong, JSON.stringify({ ...t.merchant, hmac_key: 'wrong' }));
    const refused = await run(['listen', '--credentials', wrong, '--base-url', t.ctx.publicUrl]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^SIGN_ERROR: /m);
  });

  it('describeEvent formats each kind of event on one line', () => {
    const base = { id: 'evt_1', mchid: '1', created_at: '2024-01-01T00:00:00+08:00' };
    expect(
      describeEvent({
        ...base,
        seq: 7,
        type: 'payment.succeeded',
        data: {
          out_trade_no: 'T1',
          transaction_id: '42',
          appid: 'wx1',
          trade_state: 'SUCCESS',
          amount: { total: 1050, currency: 'CNY' },
          payer_ref: 'psn_1',
          instrument: { bank_type: 'OTHERS' },
          risk: { assessment_id: 'ra_1', score: 12, level: 'low', suggested_action: 'approve', reasons: [] },
        },
      }),
    ).toBe('#7     payment.succeeded          T1  10.50 CNY  risk 12 approve  trade SUCCESS');
    expect(
      describeEvent({
        ...base,
        seq: 8,
        type: 'merchant.frozen',
        data: {
          freeze_id: 'frz_1',
          frozen_until: '2024-01-02T00:00:00+08:00',
          reason: 'restricted_category',
          category: 'gambling',
        },
      }),
    ).toBe('#8     merchant.frozen            until 2024-01-02T00:00:00+08:00  restricted_category gambling');
  });
});
