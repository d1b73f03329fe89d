/**
 * Operations that act on the configured database directly, without a running server: used by
 * main.ts (demo seeding) and by the CLI's local commands (`zhifu merchant create`, `zhifu serve`).
 * The CLI loads this entry point only for those commands; everything else goes over the wire.
 */

import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type Config, ConfigError } from './config.ts';
import { type Ctx, dataKeys } from './context.ts';
import { type DatabaseHandle, openDatabase } from './db/database.ts';
import { systemClock } from './lib/clock.ts';
import { cryptoIds } from './lib/ids.ts';
import { type AuditVerification, verify } from './modules/audit/index.ts';
import { seedDemoHistory, setAiEligibilityGrant } from './modules/billing/index.ts';
import { dataKeyMatches } from './modules/compliance/index.ts';
import { createMerchant, findMerchant, type MerchantCredentials } from './modules/merchants/index.ts';
import { ensureSandboxPayers } from './modules/wallet/index.ts';

export { loadConfig } from './config.ts';
export type { MerchantCredentials };

/** A context whose public URL main.ts may fix once the port is known. */
export type MutableCtx = { -readonly [K in keyof Ctx]: Ctx[K] };

export async function openContext(config: Config): Promise<{ ctx: MutableCtx; handle: DatabaseHandle }> {
  const handle = await openDatabase({
    url: config.databaseUrl,
    sqliteSynchronous: config.sqliteSynchronous,
    sqliteGroupCommit: config.sqliteGroupCommit,
  });
  const ctx: MutableCtx = {
    db: handle.db,
    dialect: handle.dialect,
    clock: systemClock,
    ids: cryptoIds,
    publicUrl: config.publicUrl,
    keys: dataKeys(config.masterKeyId, config.masterKey ?? localMasterKey(config)),
  };
  if (!(await dataKeyMatches(ctx))) {
    await handle.close();
    throw new ConfigError(
      `${config.masterKey ? 'ZHIFU_MASTER_KEY' : join(config.dataDir, 'master.key')} is not the key this database's ` +
        `personal data is sealed with (key id ${config.masterKeyId}): every node of a database needs the same key ` +
        '(set ZHIFU_MASTER_KEY, or copy master.key from the first node); see docs/operations.md',
    );
  }
  return { ctx, handle };
}

/** Without ZHIFU_MASTER_KEY: a key created once in the data directory, readable by its owner only. */
function localMasterKey(config: Config): Buffer {
  const file = join(config.dataDir, 'master.key');
  if (!existsSync(file)) {
    mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    writeFileSync(file, `${randomBytes(16).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  }
  return Buffer.from(readFileSync(file, 'utf8').trim(), 'hex');
}

export async function createMerchantCredentials(ctx: Ctx, name: string): Promise<MerchantCredentials> {
  return createMerchant(ctx, { name });
}

/** `zhifu audit verify`: recomputes the audit log's SM3 chain in the configured database. */
export async function verifyAuditLog(config: Config): Promise<AuditVerification> {
  const handle = await openDatabase({
    url: config.databaseUrl,
    sqliteSynchronous: config.sqliteSynchronous,
    sqliteGroupCommit: config.sqliteGroupCommit,
  });
  try {
    return await verify(handle.db);
  } finally {
    await handle.close();
  }
}

export const demoCredentialsFile = (config: Config) => join(config.dataDir, 'demo-credentials.json');

function readCredentials(file: string): MerchantCredentials {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as MerchantCredentials;
  } catch (error) {
    throw new ConfigError(
      `${file} is not readable JSON (${(error as Error).message}): restore it, or move it away to get a new demo merchant`,
    );
  }
}

/**
 * Writes a credentials file, owner-only, whole or not at all (a temporary file renamed over it): it
 * holds the merchant's only copy of its private key. Creates its directory (owner-only) if needed.
 */
export function writeCredentials(file: string, credentials: MerchantCredentials): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
  renameSync(temporary, file);
}

/**
 * First start: sandbox payers and a demo merchant whose credentials go to
 * `<dataDir>/demo-credentials.json`. Later starts reuse that file while its merchant exists.
 */
export async function seedDemo(
  ctx: Ctx,
  config: Config,
): Promise<{ file: string; credentials: MerchantCredentials; created: boolean }> {
  await ensureSandboxPayers(ctx);
  const file = demoCredentialsFile(config);
  if (existsSync(file)) {
    const credentials = readCredentials(file);
    if (await findMerchant(ctx.db, credentials.mchid)) {
      if (credentials.base_url !== ctx.publicUrl) {
        credentials.base_url = ctx.publicUrl;
        writeCredentials(file, credentials);
      }
      // Seeded volume ages out of the 30-day window: top it up so the demo keeps its AI features.
      await seedDemoHistory(ctx, credentials.mchid, credentials.appid);
      return { file, credentials, created: false };
    }
  }
  const credentials = await createMerchant(ctx, { name: '智付演示商户 Zhifu Demo Store' });
  // The demo merchant qualifies for AI features through a month of captured payments (docs/billing.md).
  await seedDemoHistory(ctx, credentials.mchid, credentials.appid);
  writeCredentials(file, credentials);
  return { file, credentials, created: true };
}

/**
 * Grants a merchant AI eligibility as the operator, without a running server (CLI and benchmarks
 * that create merchants with no sales); audited like the operator API's grant.
 */
export async function grantAiEligibility(ctx: Ctx, mchid: string, reason: string, actor = 'operator:local') {
  return setAiEligibilityGrant(ctx, { mchid, granted: true, reason, actor });
}
