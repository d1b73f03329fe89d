/**
 * `zhifu simulate` end to end: the real bin in a child process. `--out` needs no server; `--drive`
 * talks to a server listening in this process, whose database the tests then inspect.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultParams, mergeParams, simulate } from '@zhifu/simulator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestApp, type TestApp } from '../../server/test/harness.ts';

const bin = fileURLToPath(new URL('../bin/zhifu.js', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let dir: string;

/** A private data directory and none of the caller's Zhifu settings. */
function zhifu(args: string[], extraEnv: Record<string, string> = {}): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) {
    if (name.startsWith('ZHIFU_') || name === 'PORT') delete env[name];
  }
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { env: { ...env, ZHIFU_DATA_DIR: dir, ...extraEnv }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'zhifu-simulate-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe.concurrent('zhifu simulate: help and usage errors', () => {
  it('is listed in zhifu --help and documents its options in --help', async () => {
    const main = await zhifu(['--help']);
    expect(main.stdout).toContain('simulate --out <file.jsonl>');
    expect(main.stdout).toContain('simulate --drive');
    const run = await zhifu(['simulate', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Usage: zhifu simulate --out <file.jsonl>');
    for (const option of [
      '--preset',
      '--seed',
      '--days',
      '--payers',
      '--merchants',
      '--credentials',
      '--base-url',
      '--events',
      '--rate',
      '--concurrency',
      '--label-feedback',
      '--no-label-feedback',
      '--json',
    ]) {
      expect(run.stdout).toContain(option);
    }
    expect((await zhifu(['help', 'simulate'])).stdout).toBe(run.stdout);
  });

  it.each([
    [[], 'give --out <file> or --drive'],
    [['--out', 'x.jsonl', '--drive'], 'either --out or --drive'],
    [['--out', 'x.jsonl', '--events', '5'], '--events needs --drive'],
    [['--out', 'x.jsonl', '--preset', 'weird'], '--preset must be default, training or shifted'],
    [['--out', 'x.jsonl', '--days', '0'], '--days must be an integer from 1 to 366'],
    [['--out', 'x.jsonl', '--payers', 'many'], '--payers must be an integer'],
    [['--drive', '--rate', '0'], '--rate must be a positive number'],
    [['--drive', '--concurrency', '1000'], '--concurrency must be an integer from 1 to 256'],
    [
      ['--drive', '--label-feedback', '--no-label-feedback'],
      'either --label-feedback or --no-label-feedback',
    ],
    [['--drive', 'extra'], 'unexpected argument "extra"'],
  ])('%j is a usage error (exit 2)', async (args, message) => {
    const run = await zhifu(['simulate', ...args]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
    expect(run.stdout).toBe('');
  });

  it('--drive without credentials says how to get them (exit 1)', async () => {
    const run = await zhifu(['simulate', '--drive']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('cannot read merchant credentials');
    expect(run.stderr).toContain('demo-credentials.json');
  });
});

describe('zhifu simulate --out', () => {
  it('writes a labelled JSON Lines data set; the same seed gives a byte-identical file', async () => {
    const args = [
      '--preset',
      'training',
      '--seed',
      '7',
      '--days',
      '2',
      '--payers',
      '300',
      '--merchants',
      '40',
    ];
    const a = join(dir, 'sim', 'a.jsonl');
    const b = join(dir, 'sim', 'b.jsonl');
    const first = await zhifu(['simulate', '--out', a, ...args]);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const second = await zhifu(['simulate', '--out', b, ...args, '--json']);
    expect(second.code).toBe(0);
    expect(readFileSync(a).equals(readFileSync(b))).toBe(true);

    const lines = readFileSync(a, 'utf8').trimEnd().split('\n');
    const events = lines.map((l) => JSON.parse(l) as { label: string; pattern: string | null; id: string });
    const fraud = events.filter((e) => e.label === 'fraud');
    expect(events.length).toBeGreaterThan(100);
    expect(fraud.length).toBeGreaterThan(0);
    expect(events[0]!.id).toMatch(/^ev_7_/);

    expect(first.stdout).toContain(`Wrote ${events.length} events to ${a}`);
    expect(first.stdout).toContain('preset training, seed 7, 2 days, 300 payers, 40 merchants');
    expect(first.stdout).toMatch(new RegExp(`fraud\\s+${fraud.length} \\(`));
    for (const pattern of ['account_takeover', 'card_testing', 'device_farm', 'mule']) {
      const n = fraud.filter((e) => e.pattern === pattern).length;
      expect(first.stdout).toMatch(new RegExp(`${pattern}\\s+${n}\\n`));
    }
    const summary = JSON.parse(second.stdout) as {
      events: number;
      fraud: number;
      by_pattern: Record<string, number>;
      sha256: string;
    };
    expect(summary).toMatchObject({ events: events.length, fraud: fraud.length });
    expect(Object.values(summary.by_pattern).reduce((x, y) => x + y, 0)).toBe(fraud.length);
    expect(first.stdout).toContain(summary.sha256);

    const other = await zhifu(['simulate', '--out', b, ...args.slice(0, 2), '--seed', '8', ...args.slice(4)]);
    expect(other.code).toBe(0);
    expect(readFileSync(a).equals(readFileSync(b))).toBe(false);
  });
});

describe('zhifu simulate --drive (against a listening server)', () => {
  let t: TestApp;
  let credentials: string;
  beforeAll(async () => {
    t = await openTestApp('sqlite', { realClock: true, listen: true });
    credentials = join(dir, 'merchant.json');
    writeFileSync(credentials, JSON.stringify(t.merchant));
  });
  afterAll(async () => {
    await t?.close();
  });

  const sim = ['--seed', '11', '--days', '2', '--payers', '300', '--merchants', '40'];
  const expected = () => {
    const params = mergeParams(defaultParams, { seed: 11, days: 2, payers: 300, merchants: 40 });
    const events = [];
    for (const ev of simulate(params)) {
      if (events.length === 60) break;
      events.push(ev);
    }
    return events;
  };

  const assessments = () =>
    t.ctx.db.selectFrom('risk_assessments').selectAll().where('mchid', '=', t.merchant.mchid).execute();
  const simulatedPayers = async () =>
    (await t.ctx.db.selectFrom('payers').select('user_id').where('user_id', 'like', 'usr_sim_%').execute())
      .length;

  it('sends 60 events as assessments, labels them and creates their payers', async () => {
    const run = await zhifu(['simulate', '--drive', '--events', '60', '--credentials', credentials, ...sim]);
    expect(run.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('simulate: '))).toEqual([]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`Drove ${t.ctx.publicUrl} as merchant ${t.merchant.mchid}`);
    expect(run.stdout).toMatch(/events sent\s+60 \(/);
    expect(run.stdout).toMatch(/labels posted\s+60\n/);
    expect(run.stdout).toMatch(/errors\s+0\n/);
    expect(run.stdout).toMatch(/assessments\/s/);
    expect(run.stdout).toMatch(/p50 [\d.]+ ms, p99 [\d.]+ ms/);
    expect(run.stdout).toMatch(/suggested_action\s+fraud\s+legit\n\s+block\s+\d+\s+\d+\n\s+review/);

    const events = expected();
    const rows = await assessments();
    expect(rows).toHaveLength(60);
    const fraud = events.filter((e) => e.label === 'fraud').length;
    expect(rows.filter((r) => r.label === 'fraud')).toHaveLength(fraud);
    expect(rows.filter((r) => r.label === 'legitimate')).toHaveLength(60 - fraud);
    expect(rows.filter((r) => r.kind === 'refund')).toHaveLength(
      events.filter((e) => e.type === 'refund').length,
    );
    expect(new Set(rows.map((r) => r.ref))).toEqual(new Set(events.map((e) => e.refund_of ?? e.id)));

    const payerIds = new Set(events.map((e) => e.payer_id));
    expect(await simulatedPayers()).toBe(payerIds.size);
    const bound = await t.ctx.db
      .selectFrom('openids')
      .select('user_id')
      .where('appid', '=', t.merchant.appid)
      .where('user_id', 'like', 'usr_sim_%')
      .execute();
    expect(bound).toHaveLength(payerIds.size);
  });

  it('is idempotent for payers; --json gives the summary; --no-label-feedback posts no labels', async () => {
    const payersBefore = await simulatedPayers();
    // No --credentials: <ZHIFU_DATA_DIR>/demo-credentials.json, whose base_url ZHIFU_BASE_URL overrides.
    writeFileSync(
      join(dir, 'demo-credentials.json'),
      JSON.stringify({ ...t.merchant, base_url: 'http://127.0.0.1:1' }),
    );
    const again = await zhifu(
      [
        'simulate',
        '--drive',
        '--events',
        '60',
        '--json',
        '--no-label-feedback',
        '--concurrency',
        '3',
        ...sim,
      ],
      { ZHIFU_BASE_URL: t.ctx.publicUrl },
    );
    expect(again.code).toBe(0);
    const summary = JSON.parse(again.stdout) as {
      events: number;
      assessments: number;
      labels: number;
      errors: number;
      sandbox_payers: number;
      confusion: Record<string, { fraud: number; legit: number }>;
      latency_ms: { p50: number; p99: number };
    };
    expect(summary).toMatchObject({ events: 60, assessments: 60, labels: 0, errors: 0 });
    expect(summary.sandbox_payers).toBe(payersBefore);
    const cells = Object.values(summary.confusion).flatMap((c) => [c.fraud, c.legit]);
    expect(cells.reduce((x, y) => x + y, 0)).toBe(60);
    expect(summary.latency_ms.p99).toBeGreaterThanOrEqual(summary.latency_ms.p50);

    expect(await simulatedPayers()).toBe(payersBefore);
    const rows = await assessments();
    expect(rows).toHaveLength(120);
    expect(rows.filter((r) => r.label === null)).toHaveLength(60);
  });

  it('an unreachable server stops the run with exit 1', async () => {
    const run = await zhifu([
      'simulate',
      '--drive',
      '--events',
      '20',
      '--credentials',
      credentials,
      '--base-url',
      'http://127.0.0.1:1',
      ...sim,
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^connection_failed: /m);
  });
});
