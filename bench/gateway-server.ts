/**
 * Child process of bench:gateway: a Zhifu server (temporary SQLite, real clock) whose gateway has
 * two providers on the same fake upstream — `bench-dom` (domestic: no redaction) and `bench-far`
 * (foreign: every request redacted, every answer restored) — and one gateway API key without
 * limits. Prints `{"url","key"}` on stdout once listening. argv: <upstream base URL> <port>.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp } from '../packages/server/src/app.ts';
import { dataKeys } from '../packages/server/src/context.ts';
import { openDatabase } from '../packages/server/src/db/database.ts';
import { systemClock } from '../packages/server/src/lib/clock.ts';
import { cryptoIds } from '../packages/server/src/lib/ids.ts';
import { insertGrantForFixture } from '../packages/server/src/modules/billing/index.ts';
import type { ProviderConfig } from '../packages/server/src/modules/llm/index.ts';
import { createKey } from '../packages/server/src/modules/llm/keys.service.ts';
import { createMerchant } from '../packages/server/src/modules/merchants/index.ts';

const [upstream, port] = process.argv.slice(2);
const dir = mkdtempSync(join(tmpdir(), 'zhifu-bench-gateway-'));
const handle = await openDatabase({ url: `sqlite:${join(dir, 'zhifu.db')}`, sqliteSynchronous: 'NORMAL' });
const ctx = {
  db: handle.db,
  dialect: handle.dialect,
  clock: systemClock,
  ids: cryptoIds,
  publicUrl: `http://127.0.0.1:${port}`,
  keys: dataKeys('bench', randomBytes(16)),
};
const base = {
  kind: 'openai' as const,
  base_url: upstream!,
  api_key: 'sk-bench',
  priority: 1,
  input_fen_per_mtok: 200,
  output_fen_per_mtok: 800,
  timeout_ms: 10_000,
  stream_idle_timeout_ms: 10_000,
  retries: 0,
  retry_backoff_ms: 0,
};
const providers: ProviderConfig[] = [
  { ...base, name: 'dom', region: 'domestic', models: ['bench-dom'] },
  { ...base, name: 'far', region: 'foreign', models: ['bench-far'] },
];
const app = await buildApp({
  ctx,
  sandbox: false,
  background: false,
  llm: { providers, strategy: 'priority' },
});
const merchant = await createMerchant(ctx, { name: 'Bench Store' });
await insertGrantForFixture(ctx.db, merchant.mchid, 'bench', Date.now());
const key = await createKey(ctx, merchant.mchid, { name: 'bench' });
await app.listen({ port: Number(port), host: '127.0.0.1' });
process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${port}`, key: key.api_key })}\n`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
