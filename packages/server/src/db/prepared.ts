/**
 * Hot queries compiled once per database and run again with new values.
 *
 * Kysely builds a query's tree and compiles it to SQL on every call: 15–30 µs and a few KB of
 * short-lived objects per statement. A Smart Checkout query ran ~10 such statements (its ranking
 * row and its metering), about a third of its CPU time, and the young-generation collections that
 * garbage caused (one every ~80 queries, ~1 ms each) were a share of its p99 (bench:checkout).
 * Kysely offers no prepared-query API, hence this file: a query whose SQL does not depend on its
 * values is written once as an ordinary Kysely query over named placeholders; its first run on a
 * database compiles it with that database's dialect (so SQLite and PostgreSQL each get their own
 * SQL), later runs only bind the values. Values a query fixes itself (a `null` in `is null`, a
 * literal) stay as compiled.
 *
 * Only for a query whose shape is the same for all values: each inserted column named one by one
 * (`values({ id: p.id, … })`, always present), no `in (…)` list of varying length. The compiled SQL runs through the executor like any Kysely
 * query (the same connection, transaction and group commit).
 */
import { type Compilable, createQueryId, type QueryResult, type RootOperationNode } from 'kysely';
import type { Executor } from './database.ts';

/** Stands for a named value while the query is compiled. */
class Placeholder {
  constructor(readonly name: string) {}
}

interface Compiled {
  sql: string;
  query: RootOperationNode;
  /** Per SQL parameter: the value's name, or the constant the query itself fixes. */
  parameters: ({ name: string } | { constant: unknown })[];
}

export type PreparedQuery<P, R> = (db: Executor, values: P) => Promise<QueryResult<R>>;

/**
 * A query run with `values` on `db` (a database or an open transaction). `build` receives
 * placeholders typed as the values (annotate its parameter: `(db, p: { id: string }) => …`), so
 * the query type-checks as if it used them.
 */
export function prepare<P extends object, R>(
  build: (db: Executor, values: P) => Compilable<R>,
): PreparedQuery<P, R> {
  // Keyed by the dialect's adapter: one per database, shared by its transactions.
  const compiled = new WeakMap<object, Compiled>();
  return async (db, values) => {
    const adapter = db.getExecutor().adapter;
    let c = compiled.get(adapter);
    if (!c) {
      const placeholders = new Proxy({} as P, {
        get: (_, name) => new Placeholder(String(name)),
        // `values(p)` would see no columns: a prepared insert lists its columns one by one.
        ownKeys: () => {
          throw new Error('a prepared query names each value (p.column), not the whole object');
        },
      });
      const q = build(db, placeholders).compile();
      c = {
        sql: q.sql,
        query: q.query,
        parameters: q.parameters.map((v) => (v instanceof Placeholder ? { name: v.name } : { constant: v })),
      };
      compiled.set(adapter, c);
    }
    const named = values as Record<string, unknown>;
    const parameters = c.parameters.map((p) => ('name' in p ? named[p.name] : p.constant));
    return db.executeQuery<R>({ sql: c.sql, query: c.query, parameters, queryId: createQueryId() });
  };
}
