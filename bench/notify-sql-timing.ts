/**
 * `npm run bench:notify` with BENCH_SQL_PROFILE: preloaded into the server (`--import`), times every
 * better-sqlite3 statement execution and `prepare()` by SQL text, and writes the totals as JSON to
 * the file named by BENCH_SQL_PROFILE when the process exits. Diagnostic only; the server's code is
 * not touched (the prototype methods are wrapped at load time).
 */
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';
import SQLite from 'better-sqlite3';

export interface SqlTiming {
  sql: string;
  calls: number;
  ms: number;
}

const out = process.env.BENCH_SQL_PROFILE;
const totals = new Map<string, { calls: number; ms: number }>();

function add(sql: string, msTime: number): void {
  const key = sql.replace(/\s+/g, ' ').trim();
  const t = totals.get(key) ?? { calls: 0, ms: 0 };
  t.calls += 1;
  t.ms += msTime;
  totals.set(key, t);
}

type Method = (this: SQLite.Statement, ...args: unknown[]) => unknown;

if (out && isMainThread) {
  const probe = new SQLite(':memory:');
  const statementProto = Object.getPrototypeOf(probe.prepare('select 1')) as Record<string, Method>;
  probe.close();
  for (const name of ['run', 'get', 'all'] as const) {
    const original = statementProto[name]!;
    statementProto[name] = function (this: SQLite.Statement, ...args: unknown[]) {
      const t0 = performance.now();
      try {
        return original.apply(this, args);
      } finally {
        add(this.source, performance.now() - t0);
      }
    };
  }
  const dbProto = SQLite.prototype as unknown as Record<
    string,
    (this: SQLite.Database, sql: string) => unknown
  >;
  const prepare = dbProto.prepare!;
  dbProto.prepare = function (this: SQLite.Database, sql: string) {
    const t0 = performance.now();
    try {
      return prepare.call(this, sql);
    } finally {
      add(`(prepare) ${sql}`, performance.now() - t0);
    }
  };
  process.on('exit', () => {
    const rows: SqlTiming[] = [...totals.entries()]
      .map(([sql, t]) => ({ sql, calls: t.calls, ms: t.ms }))
      .sort((a, b) => b.ms - a.ms);
    writeFileSync(out, JSON.stringify(rows));
  });
}
