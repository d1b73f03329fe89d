/**
 * The server as an operator runs it (docs/operations.md, docs/configuration.md): the real
 * `main.ts` in a child process — a clean stop on SIGTERM while a keep-alive client is being
 * answered, owner-only database files, one-line messages naming the setting at fault — and the
 * configuration's parsing.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { hmacAuthorization } from '@zhifu/sdk';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, maskPassword } from '../src/config.ts';
import { sealRecord } from '../src/lib/crypto/index.ts';
import { openContext } from '../src/ops.ts';
import { pgUrl } from './harness.ts';

const root = new URL('../../../', import.meta.url).pathname;
const dirs: string[] = [];

afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Runs main.ts; resolves when it is up (or has exited), with its output so far and its exit. */
function run(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'packages/server/src/main.ts'], {
    cwd: root,
    env: { ...process.env, ZHIFU_LOG_LEVEL: 'error', ZHIFU_RISK_BATCH_THREADS: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    err += d;
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const ready = new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      if (out.includes('Docs ')) {
        clearInterval(timer);
        resolve();
      }
    }, 50);
    void exited.then(() => {
      clearInterval(timer);
      resolve();
    });
  });
  return { child, ready, exited, out: () => out, err: () => err };
}

async function dataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'zhifu-ops-'));
  dirs.push(dir);
  return join(dir, 'data');
}

describe('the server process', () => {
  it('SIGTERM while a keep-alive client is being answered: the answer comes, the process exits 0 at once', async () => {
    const dir = await dataDir();
    const port = await freePort();
    const server = run({ PORT: String(port), ZHIFU_DATA_DIR: dir });
    await server.ready;
    const creds = JSON.parse(readFileSync(join(dir, 'demo-credentials.json'), 'utf8')) as {
      mchid: string;
      appid: string;
      hmac_key: string;
    };
    // Headers now, body after the signal: the request is in flight when the server starts closing.
    const path = '/v3/pay/transactions/native';
    const body = JSON.stringify({
      appid: creds.appid,
      mchid: creds.mchid,
      description: 'in flight at SIGTERM',
      out_trade_no: `OPS${Date.now()}`,
      notify_url: 'https://shop.example/notify',
      amount: { total: 1 },
    });
    const answer = new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          path,
          method: 'POST',
          agent: new Agent({ keepAlive: true }),
          headers: {
            authorization: hmacAuthorization({
              mchid: creds.mchid,
              hmacKey: creds.hmac_key,
              method: 'POST',
              url: path,
              body,
            }),
            'content-type': 'application/json',
            'content-length': String(Buffer.byteLength(body)),
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
        },
      );
      req.on('error', reject);
      req.flushHeaders();
      setTimeout(() => {
        server.child.kill('SIGTERM');
        setTimeout(() => req.end(body), 200);
      }, 100);
    });
    const { status, connection } = await answer;
    expect(status).toBe(200);
    expect(connection).toBe('close');
    // Fastify's keep-alive timeout is 72 s: an exit within 15 s means the socket did not hold it.
    const code = await Promise.race([server.exited, new Promise((r) => setTimeout(() => r('hung'), 15_000))]);
    expect(code).toBe(0);
    // The database holds merchants' keys: owner-only, like the credentials file.
    expect(statSync(join(dir, 'zhifu.db')).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  }, 60_000);

  it('a database or address it cannot use stops it with one line naming the setting', async () => {
    const dir = await dataDir();
    const unreachable = run({
      PORT: '0',
      ZHIFU_DATA_DIR: dir,
      ZHIFU_DATABASE_URL: 'postgres://zhifu:secret@127.0.0.1:1/zhifu',
      ZHIFU_MASTER_KEY: 'a'.repeat(32),
    });
    expect(await unreachable.exited).toBe(1);
    expect(unreachable.err()).toMatch(
      /^zhifu: cannot open the database postgres:\/\/zhifu:\*\*\*@127\.0\.0\.1:1\/zhifu \(ZHIFU_DATABASE_URL\): /,
    );
    expect(unreachable.err()).not.toContain('secret');
    expect(unreachable.err().trim().split('\n')).toHaveLength(1);
    const noRedis = run({ PORT: '0', ZHIFU_DATA_DIR: dir, ZHIFU_REDIS_URL: 'redis://:hush@127.0.0.1:1/0' });
    expect(await noRedis.exited).toBe(1);
    expect(noRedis.err()).toMatch(
      /^zhifu: cannot reach Redis redis:\/\/:\*\*\*@127\.0\.0\.1:1\/0 \(ZHIFU_REDIS_URL\): .*ECONNREFUSED/,
    );
    expect(noRedis.err()).not.toContain('hush');
    expect(noRedis.err().trim().split('\n')).toHaveLength(1);
    const busy = createServer();
    const port = await new Promise<number>((r) =>
      busy.listen(0, '127.0.0.1', () => r((busy.address() as { port: number }).port)),
    );
    const taken = run({ PORT: String(port), ZHIFU_DATA_DIR: dir });
    expect(await taken.exited).toBe(1);
    busy.close();
    expect(taken.err()).toMatch(
      /^zhifu: cannot listen on 127\.0\.0\.1:\d+ \(ZHIFU_HOST, PORT\): .*EADDRINUSE/,
    );
  }, 60_000);
});

describe('PostgreSQL with one setting', () => {
  const database = `zhifu_ops_${process.pid}_${Date.now()}`;
  const admin = () => new pg.Client({ connectionString: pgUrl });
  const sql = async (text: string) => {
    const client = admin();
    await client.connect();
    try {
      await client.query(text);
    } finally {
      await client.end();
    }
  };
  afterAll(() => sql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`));

  it('starts on a connection URL alone; a node with another data key refuses to start', async () => {
    await sql(`CREATE DATABASE ${database}`);
    const url = new URL(pgUrl);
    url.pathname = `/${database}`;
    const dir = await dataDir();
    const first = run({ PORT: '0', ZHIFU_DATA_DIR: dir, ZHIFU_DATABASE_URL: url.href });
    await first.ready;
    expect(first.err()).toBe('');
    expect(first.out()).toContain('Credentials JSON');
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    // The key made on first start sits in the data directory, owner-only.
    expect(statSync(join(dir, 'master.key')).mode & 0o777).toBe(0o600);
    const stranger = run({
      PORT: '0',
      ZHIFU_DATA_DIR: await dataDir(),
      ZHIFU_DATABASE_URL: url.href,
      ZHIFU_MASTER_KEY: 'b'.repeat(32),
    });
    expect(await stranger.exited).toBe(1);
    expect(stranger.err()).toMatch(/^zhifu: ZHIFU_MASTER_KEY is not this database's data key: /);
    expect(stranger.err().trim().split('\n')).toHaveLength(1);
    // The first node's key, given as the setting, is the database's key.
    const same = run({
      PORT: '0',
      ZHIFU_DATA_DIR: await dataDir(),
      ZHIFU_DATABASE_URL: url.href,
      ZHIFU_MASTER_KEY: readFileSync(join(dir, 'master.key'), 'utf8').trim(),
    });
    await same.ready;
    expect(same.err()).toBe('');
    same.child.kill('SIGTERM');
    expect(await same.exited).toBe(0);
  }, 90_000);
});

describe('the data key (master.key, ZHIFU_MASTER_KEY)', () => {
  const open = async (env: Record<string, string>) => {
    const { handle } = await openContext(loadConfig(env));
    await handle.close();
  };
  const hexKey = () => randomBytes(16).toString('hex');

  it('is made once in the data directory; a node with another key, key id or none is refused', async () => {
    const dir = await dataDir();
    await open({ ZHIFU_DATA_DIR: dir });
    const file = join(dir, 'master.key');
    const key = readFileSync(file, 'utf8').trim();
    expect(key).toMatch(/^[0-9a-f]{32}$/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    await open({ ZHIFU_DATA_DIR: dir });
    await open({ ZHIFU_DATA_DIR: dir, ZHIFU_MASTER_KEY: key.toUpperCase() });
    await expect(open({ ZHIFU_DATA_DIR: dir, ZHIFU_MASTER_KEY: hexKey() })).rejects.toThrow(
      /^ZHIFU_MASTER_KEY is not this database's data key: its personal data is sealed with another key of the same id \(k1\)/,
    );
    await expect(open({ ZHIFU_DATA_DIR: dir, ZHIFU_MASTER_KEY_ID: 'k2' })).rejects.toThrow(
      /sealed with the key of id k1, and this node's key id is k2/,
    );
    // A lost master.key is not replaced by a new one: the database's key is asked for.
    rmSync(file);
    await expect(open({ ZHIFU_DATA_DIR: dir })).rejects.toThrow(
      /master\.key does not exist, and this database's/,
    );
    expect(existsSync(file)).toBe(false);
    writeFileSync(file, '\n', { mode: 0o600 });
    await expect(open({ ZHIFU_DATA_DIR: dir })).rejects.toThrow(/must hold 32 hex characters/);
    writeFileSync(file, `${key}\n`);
    await open({ ZHIFU_DATA_DIR: dir });
  });

  it('a database from before the check is adopted only by the key its sealed records open with', async () => {
    const dir = await dataDir();
    const key = hexKey();
    const { ctx, handle } = await openContext(loadConfig({ ZHIFU_DATA_DIR: dir, ZHIFU_MASTER_KEY: key }));
    await ctx.db.deleteFrom('settings').where('key', '=', 'data_key_check').execute();
    await ctx.db
      .insertInto('callbacks')
      .values({
        id: 'cb_old',
        mchid: '1900000001',
        event_type: 'TRANSACTION.SUCCESS',
        ref: 'T1',
        notify_url: 'https://shop.example/notify',
        summary: '支付成功',
        original_type: 'transaction',
        resource_json: sealRecord(Buffer.from(key, 'hex'), 'k1', '{}', 'callbacks:cb_old'),
        status: 'delivered',
        attempts: 1,
        next_attempt_at: 0,
        created_at: 0,
        delivered_at: 0,
      })
      .execute();
    await handle.close();
    await expect(open({ ZHIFU_DATA_DIR: dir, ZHIFU_MASTER_KEY: hexKey() })).rejects.toThrow(
      /its sealed records \(callbacks:cb_old\) do not open with this key/,
    );
    await open({ ZHIFU_DATA_DIR: dir, ZHIFU_MASTER_KEY: key });
    await expect(open({ ZHIFU_DATA_DIR: dir, ZHIFU_MASTER_KEY: hexKey() })).rejects.toThrow(/another key/);
  });
});

describe('configuration', () => {
  const bad = (env: Record<string, string>) => () => loadConfig({ ZHIFU_DATA_DIR: '/tmp/x', ...env });

  it('takes decimal integers only, and a blank value as unset', () => {
    for (const port of ['1e3', '0x1F90', '0b11', '8080.0', '-1']) {
      expect(bad({ PORT: port }), port).toThrow(ConfigError);
    }
    expect(loadConfig({ PORT: ' ' }).port).toBe(8080);
    expect(loadConfig({ PORT: ' 9090 ' }).port).toBe(9090);
    const blank = loadConfig({
      ZHIFU_DATA_DIR: ' ',
      ZHIFU_HOST: ' ',
      ZHIFU_SEED_DEMO: '',
      ZHIFU_LOG_LEVEL: ' ',
      ZHIFU_MASTER_KEY: ' ',
      ZHIFU_OPERATOR_TOKEN: '\t',
      ZHIFU_PUBLIC_URL: ' ',
    });
    expect(blank).toMatchObject({
      dataDir: resolve('./data'),
      host: '127.0.0.1',
      seedDemo: true,
      logLevel: 'info',
      masterKey: undefined,
      operatorToken: undefined,
      publicUrl: 'http://127.0.0.1:8080',
    });
    expect(loadConfig({ ZHIFU_SANDBOX: ' false ' }).sandbox).toBe(false);
    expect(loadConfig({ ZHIFU_AUDIT_SAMPLE_RATE: ' ' }).auditSampleRate).toBe(0.01);
    expect(bad({ ZHIFU_AUDIT_SAMPLE_RATE: '1e-2' })).toThrow(/ZHIFU_AUDIT_SAMPLE_RATE/);
  });

  it('checks database and public URLs, and brackets an IPv6 host', () => {
    expect(bad({ ZHIFU_DATABASE_URL: 'postgres://bad:url:x@@' })).toThrow(/ZHIFU_DATABASE_URL/);
    expect(bad({ ZHIFU_DATABASE_URL: 'sqlite:' })).toThrow(/file path/);
    expect(bad({ ZHIFU_PUBLIC_URL: 'localhost:8080' })).toThrow(
      /ZHIFU_PUBLIC_URL must be an absolute http\(s\) URL/,
    );
    expect(bad({ ZHIFU_PUBLIC_URL: 'ftp://x' })).toThrow(/http\(s\)/);
    expect(bad({ ZHIFU_REDIS_URL: '127.0.0.1:6379' })).toThrow(/ZHIFU_REDIS_URL must be redis:/);
    expect(bad({ ZHIFU_REDIS_URL: 'http://u:pw@cache:6379' })).toThrow(/"http:\/\/u:\*\*\*@cache:6379\/"/);
    expect(loadConfig({ ZHIFU_REDIS_URL: ' rediss://cache:6380/1 ' })).toMatchObject({
      redisUrl: 'rediss://cache:6380/1',
      redisPrefix: 'zhifu:',
    });
    expect(loadConfig({ ZHIFU_HOST: '::1' }).publicUrl).toBe('http://[::1]:8080');
    expect(loadConfig({ ZHIFU_HOST: '::' }).publicUrl).toBe('http://[::1]:8080');
  });

  it('masks a database password wherever the URL carries it', () => {
    expect(maskPassword('postgres://postgres:se:cret@db:5432/zhifu')).toBe(
      'postgres://postgres:***@db:5432/zhifu',
    );
    expect(maskPassword('postgres://u@db/zhifu?password=topsecret')).toBe(
      'postgres://u@db/zhifu?password=***',
    );
    expect(maskPassword('postgres://u@db/zhifu')).toBe('postgres://u@db/zhifu');
  });
});
