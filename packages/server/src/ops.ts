/**
 * Operations that act on the configured database directly, without a running server: used by
 * main.ts (demo seeding) and by the CLI's local commands (`zhifu merchant create`, `zhifu serve`).
 * The CLI loads this entry point only for those commands; everything else goes over the wire.
 */

import { randomBytes } from 'node:crypto';
import {
  existsSync,
  linkSync,
  mkdirSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { type Config, ConfigError } from './config.ts';
import { type Ctx, dataKeys } from './context.ts';
import { type DatabaseHandle, openDatabase } from './db/database.ts';
import { systemClock } from './lib/clock.ts';
import { cryptoIds } from './lib/ids.ts';
import { type AuditVerification, verify } from './modules/audit/index.ts';
import { seedDemoHistory, setAiEligibilityGrant } from './modules/billing/index.ts';
import { adoptDataKey, recordedDataKey } from './modules/compliance/index.ts';
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
  try {
    const recorded = await recordedDataKey(handle.db);
    const ctx: MutableCtx = {
      db: handle.db,
      dialect: handle.dialect,
      clock: systemClock,
      ids: cryptoIds,
      publicUrl: config.publicUrl,
      keys: dataKeys(config.masterKeyId, config.masterKey ?? localMasterKey(config, recorded)),
    };
    const refused = await adoptDataKey(ctx);
    if (refused) {
      throw new ConfigError(
        `${config.masterKey ? 'ZHIFU_MASTER_KEY' : masterKeyFile(config)} is not this database's data key: ${refused}. ` +
          'Every node of a database needs the same key and ZHIFU_MASTER_KEY_ID (set ZHIFU_MASTER_KEY, or copy ' +
          "master.key from the first node's data directory); see docs/operations.md",
      );
    }
    return { ctx, handle };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

const masterKeyFile = (config: Config) => join(config.dataDir, 'master.key');

/**
 * Without ZHIFU_MASTER_KEY: the key in `<dataDir>/master.key`, readable by its owner only. It is
 * made there (whole, or not at all) only for a database that has no data key yet: a node joining a
 * database sealed with a key must be given that key.
 */
function localMasterKey(config: Config, recorded: { id: string } | undefined): Buffer {
  const file = masterKeyFile(config);
  let text: string;
  try {
    if (!existsSync(file)) {
      if (recorded !== undefined) {
        throw new ConfigError(
          `${file} does not exist, and this database's personal data is sealed with a key ` +
            `(id ${recorded.id}): set ZHIFU_MASTER_KEY to it, or copy master.key ` +
            "from the first node's data directory",
        );
      }
      mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
      const temporary = `${file}.${process.pid}.tmp`;
      writeFileSync(temporary, `${randomBytes(16).toString('hex')}\n`, { mode: 0o600 });
      // A link, not a rename: a key another process has just made there is kept, not replaced.
      try {
        linkSync(temporary, file);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      } finally {
        unlinkSync(temporary);
      }
    }
    text = readFileSync(file, 'utf8').trim();
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(
      `cannot use ${file} (ZHIFU_DATA_DIR, ZHIFU_MASTER_KEY): ${(error as Error).message}`,
    );
  }
  if (!/^[0-9a-fA-F]{32}$/.test(text))
    throw new ConfigError(
      `${file} must hold 32 hex characters (a 128-bit SM4 key): restore it from a backup`,
    );
  return Buffer.from(text, 'hex');
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
