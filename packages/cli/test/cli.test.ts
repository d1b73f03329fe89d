/**
 * The zhifu command end to end: each test runs the real bin (node packages/cli/bin/zhifu.js) in a
 * child process against a temporary data directory; sandbox commands talk to a server listening in
 * this process.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ZhifuClient } from '@zhifu/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestApp, type TestApp } from '../../server/test/harness.ts';
import { yuan } from '../src/commands/sandbox.ts';
import { defaultBaseUrl } from '../src/credentials.ts';

const bin = fileURLToPath(new URL('../bin/zhifu.js', import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let dataDir: string;

/** The child's environment: a private data directory and none of the caller's Zhifu settings. */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) {
    if (name.startsWith('ZHIFU_') || name === 'PORT') delete env[name];
  }
  return {
    ...env,
    ZHIFU_DATA_DIR: dataDir,
    ZHIFU_DATABASE_URL: `sqlite:${join(dataDir, 'z.db')}`,
    ...extra,
  };
}

function zhifu(args: string[], extraEnv: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { env: childEnv(extraEnv), timeout: 30_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'zhifu-cli-'));
});

afterAll(() => {
  rmSync(dataDir, { recursive: true, force: true });
});

const pemOf = (label: string) =>
  new RegExp(`^-----BEGIN ${label}-----\\n[A-Za-z0-9+/=\\n]+\\n-----END ${label}-----\\n?$`);
const serialNo = /^[1-9A-F][0-9A-F]{39}$/;

describe.concurrent('help, version and usage errors', () => {
  it('--help exits 0 and lists the commands', async () => {
    const run = await zhifu(['--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Usage: zhifu <command>');
    for (const command of [
      'serve',
      'merchant create',
      'sandbox pay',
      'sandbox payers',
      'sandbox instruments',
    ]) {
      expect(run.stdout).toContain(command);
    }
    expect(run.stderr).toBe('');
  });

  it.each([
    [['merchant', 'create', '--help'], 'Usage: zhifu merchant create'],
    [['serve', '--help'], 'Usage: zhifu serve'],
    [['sandbox', 'pay', '--help'], 'Usage: zhifu sandbox pay'],
    [['sandbox', 'payers', '-h'], 'Usage: zhifu sandbox payers'],
    [['help', 'sandbox', 'instruments'], 'Usage: zhifu sandbox instruments'],
    [['sandbox', '--help'], 'Usage: zhifu sandbox <command>'],
  ])('%j prints its help', async (args, usage) => {
    const run = await zhifu(args);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(usage);
  });

  it('--version prints the package version', async () => {
    const run = await zhifu(['--version']);
    expect(run.code).toBe(0);
    expect(run.stdout.trim()).toBe('0.1.0');
  });

  it.each([
    [['frobnicate'], 'unknown command "frobnicate"'],
    [[], 'Usage: zhifu <command>'],
    [['--frobnicate'], 'unknown option "--frobnicate"'],
    [['merchant', 'delete'], 'unknown merchant command "delete"'],
    [['merchant', 'create', '--bogus'], "'--bogus'"],
    [['merchant', 'create', 'extra'], 'unexpected argument "extra"'],
    [['sandbox', 'pay'], 'missing <prepay_id|code_url>'],
    [['sandbox', 'pay', 'wx123'], 'missing --payer'],
    [['sandbox', 'payers'], 'missing --appid'],
    [['sandbox', 'instruments'], 'missing <openid>'],
    [['serve', '--port', 'eighty'], '--port must be an integer'],
  ])('%j is a usage error (exit 2)', async (args, message) => {
    const run = await zhifu(args);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
    expect(run.stdout).toBe('');
  });
});

describe('zhifu merchant create', () => {
  it('--json prints exactly one JSON object with the credentials', async () => {
    const run = await zhifu(['merchant', 'create', '--json', '--name', 'CLI Test Store']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout.trimStart().startsWith('{')).toBe(true);
    const creds = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(Object.keys(creds).sort()).toEqual(
      [
        'base_url',
        'mchid',
        'appid',
        'hmac_key',
        'apiv3_key',
        'merchant_serial_no',
        'merchant_private_key_pem',
        'merchant_certificate_pem',
        'platform_serial_no',
        'platform_certificate_pem',
        'platform_public_key_id',
        'platform_public_key_pem',
        'payers',
      ].sort(),
    );
    expect(creds.base_url).toBe('http://127.0.0.1:8080');
    expect(creds.mchid).toMatch(/^\d{10}$/);
    expect(creds.appid).toMatch(/^wx[0-9a-f]{16}$/);
    expect(creds.hmac_key).toMatch(/^[0-9a-f]{64}$/);
    expect(creds.apiv3_key).toMatch(/^[0-9A-Za-z]{32}$/);
    expect(creds.merchant_serial_no).toMatch(serialNo);
    expect(creds.platform_serial_no).toMatch(serialNo);
    expect(creds.merchant_private_key_pem).toMatch(pemOf('PRIVATE KEY'));
    expect(creds.merchant_certificate_pem).toMatch(pemOf('CERTIFICATE'));
    expect(creds.platform_certificate_pem).toMatch(pemOf('CERTIFICATE'));
    expect(creds.platform_public_key_pem).toMatch(pemOf('PUBLIC KEY'));
    expect(creds.platform_public_key_id).toMatch(/^PUB_KEY_ID_/);
    const payers = creds.payers as { openid: string; name: string }[];
    expect(payers.length).toBeGreaterThan(0);
    for (const payer of payers) {
      expect(payer.openid).toEqual(expect.any(String));
      expect(payer.name).toEqual(expect.any(String));
    }

    const again = await zhifu(['merchant', 'create', '--json']);
    expect(again.code).toBe(0);
    const second = JSON.parse(again.stdout) as { mchid: string; appid: string };
    expect(second.mchid).not.toBe(creds.mchid);
    expect(second.appid).not.toBe(creds.appid);
  });

  it('writes base_url from ZHIFU_PUBLIC_URL', async () => {
    const run = await zhifu(['merchant', 'create', '--json'], { ZHIFU_PUBLIC_URL: 'https://pay.example/' });
    expect(run.code).toBe(0);
    expect((JSON.parse(run.stdout) as { base_url: string }).base_url).toBe('https://pay.example');
  });

  it('without --json prints a summary and saves the credentials to the data directory', async () => {
    const run = await zhifu(['merchant', 'create', '--name', '小店 Little Shop']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Created merchant "小店 Little Shop"');
    expect(run.stdout).toContain('--json > creds.json');
    const mchid = /mchid\s+(\d{10})/.exec(run.stdout)?.[1];
    expect(mchid).toBeDefined();
    const file = join(dataDir, `merchant-${mchid}.json`);
    expect(run.stdout).toContain(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const saved = JSON.parse(readFileSync(file, 'utf8')) as {
      mchid: string;
      merchant_private_key_pem: string;
    };
    expect(saved.mchid).toBe(mchid);
    expect(saved.merchant_private_key_pem).toMatch(pemOf('PRIVATE KEY'));
    expect(run.stdout).not.toContain(saved.merchant_private_key_pem.trim());
  });

  it('reports a bad configuration with exit 1', async () => {
    const run = await zhifu(['merchant', 'create', '--json'], { ZHIFU_DATABASE_URL: 'mysql://nope' });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('ZHIFU_DATABASE_URL must be sqlite:<file> or postgres://');
    expect(run.stdout).toBe('');
  });
});

describe('zhifu sandbox (against a listening server)', () => {
  let t: TestApp;
  let baseUrl: string;
  let client: ZhifuClient;
  let seq = 0;

  beforeAll(async () => {
    t = await openTestApp('sqlite', { realClock: true, listen: true });
    baseUrl = t.ctx.publicUrl;
    client = new ZhifuClient({
      baseUrl,
      mchid: t.merchant.mchid,
      auth: { scheme: 'hmac', hmacKey: t.merchant.hmac_key },
    });
  });

  afterAll(async () => {
    await t?.close();
  });

  const order = (total: number) => ({
    appid: t.merchant.appid,
    description: 'CLI sandbox test',
    out_trade_no: `CLI${Date.now()}${seq++}`,
    notify_url: 'https://shop.example/notify',
    amount: { total, currency: 'CNY' },
  });

  it('pay --json pays a JSAPI order by prepay_id', async () => {
    const payer = t.merchant.payers[0]!;
    const input = { ...order(1234), payer: { openid: payer.openid } };
    const { prepay_id } = await client.createJsapiOrder(input);

    const run = await zhifu([
      'sandbox',
      'pay',
      prepay_id,
      '--payer',
      payer.openid,
      '--base-url',
      baseUrl,
      '--json',
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const payment = JSON.parse(run.stdout) as {
      transaction_id: string;
      trade_state: string;
      out_trade_no: string;
      amount: { total: number };
    };
    expect(payment.trade_state).toBe('SUCCESS');
    expect(payment.out_trade_no).toBe(input.out_trade_no);
    expect(payment.amount.total).toBe(1234);

    const queried = await client.queryOrderByOutTradeNo(input.out_trade_no);
    expect(queried.trade_state).toBe('SUCCESS');
    expect(queried.transaction_id).toBe(payment.transaction_id);

    // Paying again is an API error: `code: message` on stderr, exit 1.
    const twice = await zhifu(['sandbox', 'pay', prepay_id, '--payer', payer.openid, '--base-url', baseUrl]);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toMatch(/^ORDER_PAID: \S/);
    expect(twice.stdout).toBe('');
  });

  it('pay prints a summary and pays a Native order by code_url with a chosen instrument', async () => {
    const payer = t.merchant.payers[0]!;
    const listed = await zhifu(['sandbox', 'instruments', payer.openid, '--base-url', baseUrl, '--json']);
    expect(listed.code).toBe(0);
    const instruments = (JSON.parse(listed.stdout) as { data: { id: string; kind: string }[] }).data;
    const card = instruments.find((i) => i.kind === 'debit_card');
    expect(card).toBeDefined();

    const input = order(250);
    const { code_url } = await client.createNativeOrder(input);
    const run = await zhifu(
      [
        'sandbox',
        'pay',
        code_url,
        '--payer',
        payer.openid,
        '--instrument',
        card!.id,
        '--device',
        'cli-test-phone',
      ],
      { ZHIFU_BASE_URL: baseUrl },
    );
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/trade_state\s+SUCCESS/);
    expect(run.stdout).toMatch(/amount\s+2\.50 CNY/);
    expect(run.stdout).toContain(card!.id);
    expect(run.stdout).toMatch(/transaction_id\s+\S+/);
    expect((await client.queryOrderByOutTradeNo(input.out_trade_no)).trade_state).toBe('SUCCESS');
  });

  it('pay of a payment held for the merchant says it is not captured, with no success_time', async () => {
    const settings = (decision_mode: 'realtime' | 'auto') =>
      client.request('PUT', '/v1/notifications/settings', { decision_mode });
    await settings('realtime');
    try {
      const { code_url } = await client.createNativeOrder(order(300));
      const run = await zhifu([
        'sandbox',
        'pay',
        code_url,
        '--payer',
        t.merchant.payers[0]!.openid,
        '--base-url',
        baseUrl,
      ]);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^Not captured \(USERPAYING\): /);
      expect(run.stdout).not.toContain('success_time');
      expect(run.stdout).not.toContain('undefined');
    } finally {
      await settings('auto');
    }
  });

  it("payers lists the payers of an appid; instruments lists a payer's instruments", async () => {
    const payers = await zhifu(['sandbox', 'payers', '--appid', t.merchant.appid, '--base-url', baseUrl]);
    expect(payers.code).toBe(0);
    expect(payers.stdout).toMatch(/^OPENID\s+NAME\s+FIXTURE/);
    for (const payer of t.merchant.payers) expect(payers.stdout).toContain(payer.openid);

    const json = await zhifu([
      'sandbox',
      'payers',
      '--appid',
      t.merchant.appid,
      '--base-url',
      baseUrl,
      '--json',
    ]);
    const listed = (JSON.parse(json.stdout) as { data: { openid: string }[] }).data.map((p) => p.openid);
    expect(listed.sort()).toEqual(t.merchant.payers.map((p) => p.openid).sort());

    const instruments = await zhifu([
      'sandbox',
      'instruments',
      t.merchant.payers[0]!.openid,
      '--base-url',
      baseUrl,
    ]);
    expect(instruments.code).toBe(0);
    expect(instruments.stdout).toMatch(/^ID\s+KIND\s+BANK_TYPE/);
    expect(instruments.stdout).toContain('balance');
  });

  it('an unknown payer is an API error', async () => {
    const run = await zhifu(['sandbox', 'instruments', 'o-nobody', '--base-url', baseUrl]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^USER_NOT_EXISTS: /);
  });

  it('an unreachable server is an error (exit 1)', async () => {
    const run = await zhifu(['sandbox', 'payers', '--appid', 'wx1', '--base-url', 'http://127.0.0.1:1']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^connection_failed: /);
  });
});

describe('zhifu serve', () => {
  it('starts the server, answers /healthz and closes on SIGTERM', async () => {
    const child = spawn(process.execPath, [bin, 'serve', '--port', '0'], {
      env: childEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString();
          const found = /API base URL\s+(\S+)/.exec(stdout);
          if (found?.[1]) resolve(found[1]);
        });
        void exited.then((code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
      });
      const health = await fetch(`${url}/healthz`);
      expect(await health.json()).toEqual({ status: 'ok' });
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});

describe('helpers', () => {
  it('defaultBaseUrl: ZHIFU_BASE_URL, then demo-credentials.json, then PORT', () => {
    const dir = mkdtempSync(join(tmpdir(), 'zhifu-cli-base-'));
    try {
      expect(defaultBaseUrl({ ZHIFU_DATA_DIR: dir })).toBe('http://127.0.0.1:8080');
      expect(defaultBaseUrl({ ZHIFU_DATA_DIR: dir, PORT: '9090' })).toBe('http://127.0.0.1:9090');
      writeFileSync(join(dir, 'demo-credentials.json'), JSON.stringify({ base_url: 'http://demo:1234' }));
      expect(defaultBaseUrl({ ZHIFU_DATA_DIR: dir, PORT: '9090' })).toBe('http://demo:1234');
      expect(defaultBaseUrl({ ZHIFU_DATA_DIR: dir, ZHIFU_BASE_URL: 'http://env:1' })).toBe('http://env:1');
      writeFileSync(join(dir, 'demo-credentials.json'), 'not json');
      expect(defaultBaseUrl({ ZHIFU_DATA_DIR: dir })).toBe('http://127.0.0.1:8080');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('yuan formats fen without floating point', () => {
    expect(yuan(0)).toBe('0.00');
    expect(yuan(5)).toBe('0.05');
    expect(yuan(250)).toBe('2.50');
    expect(yuan(123456789)).toBe('1234567.89');
    expect(yuan(-101)).toBe('-1.01');
  });
});
