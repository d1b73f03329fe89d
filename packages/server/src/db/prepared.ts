/**
 * Queries compiled once, for the hot paths. Kysely builds and compiles a query on every execution
 * (its immutable operation nodes are cloned and frozen, then visited into SQL): 8–25 µs per
 * statement on this machine against 3–6 µs for running the compiled SQL. A payment runs ~43
 * statements (Kysely was ~19% of the server's CPU samples in bench:payments; with all of them
 * compiled once, 3%, and 16–24% less CPU per payment), a Smart Checkout query ~10 (its CPU per call
 * halved); docs/benchmarks.md.
 *
 * `prepared()` keeps the typed builder: the query is written once with Kysely, built with
 * placeholder values, compiled once per dialect (and per shape, see below), and each call sends the
 * compiled SQL and tree with the call's values in the compiled order through the same executor, so
 * it runs in the caller's transaction, or on the committed-data reader, like any other query.
 * Written here because Kysely has no prepared-query API; it is a few lines over its public
 * `compile()` and `executeQuery()`.
 *
 * Rules: every value that varies is a parameter (`p.name`); the query's shape must not depend on
 * the values (no optional clauses, no `in` lists of varying length: such queries stay ordinary
 * Kysely). Where the shape follows the keys of an object (an insert of a row whose undefined
 * fields are left to their defaults as Kysely does, an update of the given columns), use
 * `preparedByKeys`, `insertRow` or `insertRows`: one compiled plan per set of keys. A parameter
 * given as `undefined` is sent as NULL.
 */
import {
  type Compilable,
  createQueryId,
  type Insertable,
  type QueryResult,
  type RootOperationNode,
} from 'kysely';
import type { Executor } from './database.ts';
import type { Database } from './schema.ts';

/** Where a compiled parameter's value comes from, for each call. */
class Placeholder {
  constructor(readonly value: (params: never) => unknown) {}
}

interface Plan {
  sql: string;
  /** The compiled query's tree: the driver tells reads from writes by it (db/group-commit.ts). */
  query: RootOperationNode;
  /** The compiled parameters: a Placeholder takes the call's value, anything else is a constant. */
  slots: readonly unknown[];
}

export interface Prepared<P, O> {
  all(db: Executor, params: P): Promise<O[]>;
  first(db: Executor, params: P): Promise<O | undefined>;
  /** Rows inserted, updated or deleted. */
  run(db: Executor, params: P): Promise<number>;
}

/** Placeholders named after the parameters: `p.mchid` stands for `params.mchid`. */
const named = new Proxy(
  {},
  {
    get: (_target, name) => new Placeholder((params: Record<string, unknown>) => params[name as string]),
    // `values(p)` would see no columns: name each value (`p.column`), or use insertRow / pick.
    ownKeys: () => {
      throw new Error('a prepared query names each value (p.column), not the whole placeholder object');
    },
  },
);

function preparedWith<P, O>(
  shapeOf: (params: P) => string,
  build: (db: Executor, params: P) => Compilable<O>,
): Prepared<P, O> {
  // One plan per dialect (the adapter tells SQLite's `?` from PostgreSQL's `$1`) and shape.
  const plans = new Map<unknown, Map<string, Plan>>();
  const execute = (db: Executor, params: P): Promise<QueryResult<O>> => {
    const dialect = db.getExecutor().adapter.constructor;
    let byShape = plans.get(dialect);
    if (!byShape) {
      byShape = new Map();
      plans.set(dialect, byShape);
    }
    const shape = shapeOf(params);
    let plan = byShape.get(shape);
    if (!plan) {
      const compiled = build(db, params).compile();
      plan = { sql: compiled.sql, query: compiled.query, slots: compiled.parameters };
      byShape.set(shape, plan);
    }
    const bound = plan.slots.map((slot) =>
      slot instanceof Placeholder ? (slot.value(params as never) ?? null) : slot,
    );
    return db.executeQuery<O>({
      sql: plan.sql,
      query: plan.query,
      parameters: bound,
      queryId: createQueryId(),
    });
  };
  return {
    all: async (db, params) => (await execute(db, params)).rows,
    first: async (db, params) => (await execute(db, params)).rows[0],
    run: async (db, params) => Number((await execute(db, params)).numAffectedRows ?? 0n),
  };
}

/** A query of fixed shape; `p.x` in the builder stands for the call's `params.x`. */
export function prepared<P extends object, O>(build: (db: Executor, p: P) => Compilable<O>): Prepared<P, O> {
  return preparedWith(
    () => '',
    (db) => build(db, named as P),
  );
}

/** The keys of `row` whose value is not undefined, in order: the columns Kysely would write. */
export function definedKeys(row: object): string[] {
  return Object.keys(row).filter((k) => (row as Record<string, unknown>)[k] !== undefined);
}

/**
 * The columns an update sets: the defined keys of its parameters except the `where_*` ones, which
 * name its conditions (`where_id`), for `preparedByKeys`.
 */
export function setKeys(params: object): string[] {
  return definedKeys(params).filter((k) => !k.startsWith('where_'));
}

/**
 * A query whose shape follows some keys of its parameters (`keysOf`): one plan per distinct list of
 * keys. `p` is as in `prepared`.
 */
export function preparedByKeys<P extends object, O>(
  keysOf: (params: P) => string[],
  build: (db: Executor, p: P, keys: string[]) => Compilable<O>,
): Prepared<P, O> {
  return preparedWith(
    (params) => keysOf(params).join('\0'),
    (db, params) => build(db, named as P, keysOf(params)),
  );
}

/** Picks `keys` of the placeholder object `p`: the value object of an insert or update. */
export function pick<P extends object>(p: P, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.map((k) => [k, (p as Record<string, unknown>)[k]]));
}

/** `insert into <table>` of one row; its undefined fields take the column defaults. */
export function insertRow<T extends keyof Database & string>(table: T) {
  const q = preparedByKeys<Insertable<Database[T]>, unknown>(definedKeys, (db, p, keys) =>
    db.insertInto(table).values(pick(p, keys) as Insertable<Database[T]>),
  );
  return (db: Executor, row: Insertable<Database[T]>) => q.run(db, row);
}

/** `insert into <table>` of several rows with the same defined fields, in one statement. */
export function insertRows<T extends keyof Database & string>(table: T) {
  const q = preparedWith<Insertable<Database[T]>[], unknown>(
    (rows) => {
      const shape = definedKeys(rows[0] ?? {}).join('\0');
      for (let i = 1; i < rows.length; i++)
        if (definedKeys(rows[i]!).join('\0') !== shape)
          throw new Error(`insertRows(${table}): rows must define the same fields`);
      return `${rows.length}\0${shape}`;
    },
    (db, rows) => {
      const keys = definedKeys(rows[0] ?? {});
      const values = rows.map((_row, i) =>
        Object.fromEntries(
          keys.map((k) => [k, new Placeholder((r: Record<string, unknown>[]) => r[i]?.[k])]),
        ),
      );
      return db.insertInto(table).values(values as Insertable<Database[T]>[]);
    },
  );
  return async (db: Executor, rows: Insertable<Database[T]>[]) => (rows.length === 0 ? 0 : q.run(db, rows));
}
