/**
 * Experiment (not a bench; docs/benchmarks.md "Smart Checkout"): where does rank()'s tail come
 * from? Times every SQLite statement and the group COMMIT on the real connections, the WAL fsync,
 * GC pauses and the rest, per rank() call, and attributes the slow calls (> 2 ms). Run with
 * `node --import tsx bench/checkout-phases.ts`. Env: PHASES_N (default 5000), PHASES_SYNC
 * (FULL|NORMAL, default FULL), PHASES_ASYNC=1 (FULL as the server opens it now: WAL fsync off the
 * event loop, checkpoints in a worker; PHASES_NOCKPT=1 without checkpoints), PHASES_AUTOCKPT
 * (wal_autocheckpoint pages, default SQLite's 1000), PHASES_CONC=k (then k concurrent callers).
 */
import { fdatasync, mkdtempSync, openSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import SQLite from 'better-sqlite3';
import { Kysely } from 'kysely';
import { openDatabase } from '../packages/server/src/db/database.ts';
import { GroupCommitSqliteDialect } from '../packages/server/src/db/group-commit.ts';
import type { Database } from '../packages/server/src/db/schema.ts';
import { WalCheckpointer } from '../packages/server/src/db/wal-checkpointer.ts';
import { default_checkout_options, rank } from '../packages/server/src/modules/checkout/checkout.service.ts';
import { checkoutFixture } from './checkout-fixture.ts';
import { loadAverage } from './risk-machine.ts';

const n = Number(process.env.PHASES_N ?? 5000);
const sync = (process.env.PHASES_SYNC ?? 'FULL') as 'FULL' | 'NORMAL';
const dir = mkdtempSync(join(tmpdir(), 'zhifu-phases-'));
const path = join(dir, 'p.db');
await (await openDatabase({ url: `sqlite:${path}`, sqliteGroupCommit: false })).close();

let sqlMs = 0;
let commitMs = 0;
let commitMax = 0;
const bySql = new Map<string, number>();
function timed(db: SQLite.Database, label: string): SQLite.Database {
  const cache = new Map<string, SQLite.Statement>();
  return new Proxy(db, {
    get(t, p, r) {
      if (p !== 'prepare') return Reflect.get(t, p, r);
      return (s: string) => {
        // Cached as the server's connections cache them (database.ts cachedStatements).
        const hit = cache.get(s);
        if (hit) return hit;
        const stmt = t.prepare(s);
        const wrap =
          (fn: 'run' | 'all' | 'get') =>
          (...args: unknown[]) => {
            const t0 = performance.now();
            try {
              return (stmt[fn] as (...a: unknown[]) => unknown)(...args);
            } finally {
              const d = performance.now() - t0;
              if (s === 'commit') {
                commitMs += d;
                commitMax = Math.max(commitMax, d);
              } else {
                sqlMs += d;
                const k = `${label} ${s.slice(0, 40)}`;
                bySql.set(k, (bySql.get(k) ?? 0) + d);
              }
            }
          };
        const wrapped = { run: wrap('run'), all: wrap('all'), get: wrap('get') };
        const proxy = new Proxy(stmt, {
          get(st, q, rr) {
            if (q === 'run' || q === 'all' || q === 'get') return wrapped[q];
            return Reflect.get(st, q, rr);
          },
        });
        cache.set(s, proxy);
        return proxy;
      };
    },
  });
}
const walSize = () => {
  try {
    return statSync(`${path}-wal`).size;
  } catch {
    return 0;
  }
};
const writer = new SQLite(path);
writer.pragma('journal_mode = WAL');
// PHASES_ASYNC=1: as the server now opens a FULL database (WAL fsync off the event loop).
const asyncSync = sync === 'FULL' && process.env.PHASES_ASYNC === '1';
writer.pragma(`synchronous = ${asyncSync ? 'NORMAL' : sync}`);
if (asyncSync) writer.pragma('wal_autocheckpoint = 0');
writer.pragma('foreign_keys = ON');
writer.pragma('busy_timeout = 5000');
if (process.env.PHASES_AUTOCKPT) writer.pragma(`wal_autocheckpoint = ${process.env.PHASES_AUTOCKPT}`);
const reader = new SQLite(path);
reader.pragma('query_only = ON');
const walFd = openSync(`${path}-wal`, 'r+');
let syncMs = 0;
const walSync = () =>
  new Promise<void>((res, rej) => {
    const t0 = performance.now();
    fdatasync(walFd, (e) => {
      syncMs += performance.now() - t0;
      e ? rej(e) : res();
    });
  });
const dialect = new GroupCommitSqliteDialect(
  timed(writer, 'W'),
  timed(reader, 'R'),
  asyncSync ? walSync : undefined,
  asyncSync
    ? process.env.PHASES_NOCKPT
      ? { passive: async () => ({ log: 0, checkpointed: 0 }), close: async () => {} }
      : new WalCheckpointer(path)
    : undefined,
);
const db = new Kysely<Database>({ dialect });
let gcMs = 0;
new PerformanceObserver((l) => {
  for (const e of l.getEntries()) gcMs += e.duration;
}).observe({ entryTypes: ['gc'] });

const { ctx, merchant, request } = await checkoutFixture(db);
for (let i = 0; i < 300; i++) await rank(ctx, default_checkout_options, merchant.mchid, request);
interface Row {
  total: number;
  sql: number;
  commit: number;
  fsync: number;
  gc: number;
  wal: number;
  /** A WAL restart (the driver's hold for the last copy) or a worker checkpoint ended in the call. */
  restart: number;
  checkpoint: number;
}
const rows: Row[] = [];
const t00 = performance.now();
for (let i = 0; i < n; i++) {
  sqlMs = 0;
  commitMs = 0;
  syncMs = 0;
  gcMs = 0;
  const restarts = dialect.stats.walRestarts;
  const checkpoints = dialect.stats.checkpoints;
  const t0 = performance.now();
  await rank(ctx, default_checkout_options, merchant.mchid, request);
  const total = performance.now() - t0;
  // GC entries are delivered asynchronously: read them after a turn.
  rows.push({
    total,
    sql: sqlMs,
    commit: commitMs,
    fsync: syncMs,
    gc: 0,
    wal: 0,
    restart: dialect.stats.walRestarts - restarts,
    checkpoint: dialect.stats.checkpoints - checkpoints,
  });
  await new Promise((r) => setImmediate(r));
  rows[rows.length - 1]!.gc = gcMs;
}
const wall = performance.now() - t00;
// PHASES_CONC=k: then k concurrent callers (a server under load): throughput and latency.
const conc = Number(process.env.PHASES_CONC ?? 0);
if (conc > 0) {
  const lat: number[] = [];
  const c0 = performance.now();
  await Promise.all(
    Array.from({ length: conc }, async () => {
      for (let i = 0; i < Math.ceil(n / conc); i++) {
        const t0 = performance.now();
        await rank(ctx, default_checkout_options, merchant.mchid, request);
        lat.push(performance.now() - t0);
      }
    }),
  );
  const secs = (performance.now() - c0) / 1000;
  lat.sort((a, b) => a - b);
  console.log(
    `concurrent ×${conc}: ${(lat.length / secs).toFixed(0)} ranks/s, p50 ${lat[lat.length >> 1]!.toFixed(3)} p99 ${lat[Math.floor(lat.length * 0.99)]!.toFixed(3)} ms; ${JSON.stringify({ commits: dialect.stats.commits, members: dialect.stats.members })}`,
  );
}
const q = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
const f = (x: number) => x.toFixed(3);
console.log(
  `sync=${sync}${asyncSync ? ' (WAL fsync off the event loop)' : ''} autockpt=${process.env.PHASES_AUTOCKPT ?? 'default'} n=${n} load ${loadAverage()}`,
);
for (const k of ['total', 'sql', 'commit', 'fsync', 'gc'] as const)
  console.log(
    `${k.padEnd(7)} p50 ${f(
      q(
        rows.map((r) => r[k]),
        50,
      ),
    )} p99 ${f(
      q(
        rows.map((r) => r[k]),
        99,
      ),
    )} max ${f(Math.max(...rows.map((r) => r[k])))}`,
  );
const other = rows.map((r) => r.total - r.sql - r.commit - r.fsync);
console.log(`other   p50 ${f(q(other, 50))} p99 ${f(q(other, 99))}`);
const slow = rows.filter((r) => r.total > 2);
const sum = (k: keyof Row) => slow.reduce((a, r) => a + r[k], 0) / Math.max(1, slow.length);
console.log(
  `slow (>2 ms): ${slow.length} (${((slow.length / n) * 100).toFixed(2)}%); mean total ${f(sum('total'))} = sql ${f(sum('sql'))} + commit ${f(sum('commit'))} + fsync ${f(sum('fsync'))} + rest; gc ${f(sum('gc'))}`,
);
console.log(
  `slow with commit > 1 ms: ${slow.filter((r) => r.commit > 1).length}; fsync > 1 ms: ${slow.filter((r) => r.fsync > 1).length}; gc > 1 ms: ${slow.filter((r) => r.gc > 1).length}; a WAL restart: ${slow.filter((r) => r.restart > 0).length}; a worker checkpoint ended: ${slow.filter((r) => r.checkpoint > 0).length}; sql > 1 ms: ${slow.filter((r) => r.sql > 1).length}`,
);
console.log(
  `commit max ${f(commitMax)}; wal now ${walSize()} bytes; wall ${wall.toFixed(0)} ms; ${JSON.stringify(dialect.stats)}`,
);
const top = [...bySql].sort((a, b) => b[1] - a[1]).slice(0, 8);
for (const [k, v] of top) console.log(`  ${(v / n).toFixed(4)} ms/call  ${k}`);
await db.destroy();
rmSync(dir, { recursive: true, force: true });
