/**
 * Writes docs/openapi.json: the OpenAPI 3.1 document of the HTTP API, built by @fastify/swagger
 * from the route schemas. The app runs on an in-memory SQLite database and never listens.
 * Deterministic: the same routes always give the same file.
 *
 *   npm run docs:openapi
 */

import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { buildApp } from '../src/app.ts';
import { type Ctx, dataKeys } from '../src/context.ts';
import { openDatabase } from '../src/db/database.ts';
import { systemClock } from '../src/lib/clock.ts';
import { cryptoIds } from '../src/lib/ids.ts';

const out = new URL('../../../docs/openapi.json', import.meta.url);

const handle = await openDatabase({ url: 'sqlite::memory:' });
try {
  const ctx: Ctx = {
    db: handle.db,
    dialect: handle.dialect,
    clock: systemClock,
    ids: cryptoIds,
    publicUrl: 'http://127.0.0.1:8080',
    keys: dataKeys('local', randomBytes(16)),
  };
  const app = await buildApp({ ctx });
  await app.ready();
  const document = app.swagger();
  writeFileSync(out, `${JSON.stringify(document, null, 2)}\n`);
  await app.close();
  process.stdout.write(`wrote docs/openapi.json (${Object.keys(document.paths ?? {}).length} paths)\n`);
} finally {
  await handle.close();
}
