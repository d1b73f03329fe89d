/** `zhifu llm-key` end to end: the real bin in a child process against a server listening here. */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestApp, type TestApp } from '../../server/test/harness.ts';

const bin = fileURLToPath(new URL('../bin/zhifu.js', import.meta.url));

function zhifu(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith('ZHIFU_') || name === 'PORT') delete env[name];
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { env, timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

describe('zhifu llm-key', () => {
  let t: TestApp;
  let dir: string;
  let credentials: string;

  beforeAll(async () => {
    t = await openTestApp('sqlite', { listen: true, realClock: true });
    dir = mkdtempSync(join(tmpdir(), 'zhifu-llm-key-'));
    credentials = join(dir, 'merchant.json');
    writeFileSync(
      credentials,
      JSON.stringify({ mchid: t.merchant.mchid, hmac_key: t.merchant.hmac_key, base_url: t.ctx.publicUrl }),
    );
  });

  afterAll(async () => {
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates a key with limits (shown once), lists and revokes it', async () => {
    const created = await zhifu([
      'llm-key',
      'create',
      '--name',
      'web',
      '--rpm',
      '5',
      '--credentials',
      credentials,
      '--json',
    ]);
    expect(created.code, created.stderr).toBe(0);
    const key = JSON.parse(created.stdout) as { key_id: string; api_key: string; rpm: number };
    expect(key.api_key).toMatch(/^zk-/);
    expect(key.rpm).toBe(5);
    const listed = await zhifu(['llm-key', 'list', '--credentials', credentials]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(key.key_id);
    expect(listed.stdout).not.toContain(key.api_key);
    const revoked = await zhifu(['llm-key', 'revoke', key.key_id, '--credentials', credentials]);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toContain('revoked');
  });

  it('refuses a bad command line with exit code 2', async () => {
    expect((await zhifu(['llm-key', 'create', '--credentials', credentials])).code).toBe(2);
    expect(
      (await zhifu(['llm-key', 'create', '--name', 'x', '--rpm', 'many', '--credentials', credentials])).code,
    ).toBe(2);
    expect((await zhifu(['llm-key', 'rotate', '--credentials', credentials])).code).toBe(2);
  });
});
