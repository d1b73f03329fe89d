/**
 * Velocity windows of the SQL feature store on SQLite, kept in memory and caught up from the
 * database. Aggregating a key's 24 hours in SQL on every payment costs time linear in the key's
 * recent volume (a busy payer, IP or merchant: milliseconds per payment, bench:payments). Here each
 * snapshot first reads the risk_events rows committed since the last one (`rowid > mark`: one
 * short range scan, however many keys there are) and appends them to the keys it holds; a key not
 * yet held is loaded once from its (key, ts) index range. The window statistics are then computed by
 * the same functions as the in-memory store (payerStats, windowStats, distinctPayers), so the
 * parity test holds both stores to the same vectors.
 *
 * Exactness: rows are read only once committed (the committed-data connection, db/group-commit.ts),
 * and SQLite gives a later commit a higher rowid (one writer at a time), so `rowid > mark` misses
 * nothing; a key's first load stops at the same mark. Rows are never updated or deleted. A snapshot
 * whose window starts before what a key holds reloads the key. Snapshots run one at a time per
 * database (they share the mark). Used only on SQLite and outside transactions; PostgreSQL (several
 * nodes, no rowid order) keeps the SQL aggregates.
 */
import { type Kysely, SqliteAdapter, sql } from 'kysely';
import type { Executor } from '../../db/database.ts';
import {
  day_ms,
  distinctPayers,
  type HistoryRow,
  hour_ms,
  payerStats,
  windowStats,
} from './feature-store.ts';
import type { RiskEvent, Snapshot, WindowStats } from './features.ts';

type Column = 'payer_id' | 'device_id' | 'ip' | 'merchant_id';

const span: Record<Column, number> = {
  payer_id: day_ms,
  device_id: day_ms,
  ip: day_ms,
  merchant_id: hour_ms,
};
/** Loads reach this far before the window, so slightly older snapshot times need no reload. */
const margin_ms = 10 * 60_000;
/** Memory bound: least recently used keys are dropped beyond this many held rows. */
const max_rows = 400_000;
/** A longer gap than this many new rows starts the cache afresh. */
const max_catch_up = 20_000;

interface Row extends HistoryRow {
  ip: string;
  merchant_id: string;
}

interface Held {
  from: number;
  rows: Row[];
}

export interface Windows {
  payer: Snapshot['payer'];
  device: WindowStats & { payers24h: number };
  ip: WindowStats & { payers24h: number };
  merchant: WindowStats;
}

const row_columns = [
  'ts',
  'amount_fen',
  'failed',
  'payer_id',
  'device_id',
  'promo',
  'refund',
  'ip',
  'merchant_id',
] as const;

class WindowCache {
  private mark = -1;
  private readonly held = new Map<string, Held>();
  private total = 0;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly db: Executor) {}

  windows(e: RiskEvent): Promise<Windows> {
    const next = this.queue.then(() => this.compute(e));
    this.queue = next.catch(() => {});
    return next;
  }

  private async compute(e: RiskEvent): Promise<Windows> {
    const now = e.ts;
    await this.catchUp();
    const payer = await this.rowsOf('payer_id', e.payer_id, now);
    const device = await this.rowsOf('device_id', e.device_id, now);
    const ip = await this.rowsOf('ip', e.ip, now);
    const merchant = await this.rowsOf('merchant_id', e.merchant_id, now);
    this.evict();
    return {
      payer: payerStats(payer, now),
      device: { ...windowStats(device, now), payers24h: distinctPayers(device, now) },
      ip: { ...windowStats(ip, now), payers24h: distinctPayers(ip, now) },
      // The merchant window is one hour (as the SQL aggregate): its "24 h" figures cover that hour.
      merchant: windowStats(
        merchant.filter((r) => r.ts > now - hour_ms),
        now,
      ),
    };
  }

  private async catchUp(): Promise<void> {
    if (this.mark < 0) {
      const top = await this.db
        .selectFrom('risk_events')
        .select(sql<number | null>`max(rowid)`.as('m'))
        .executeTakeFirst();
      this.mark = Number(top?.m ?? 0);
      return;
    }
    const rows = await this.db
      .selectFrom('risk_events')
      .select([sql<number>`rowid`.as('rid'), ...row_columns])
      .where(sql`rowid`, '>', this.mark)
      .orderBy(sql`rowid`)
      .limit(max_catch_up)
      .execute();
    if (rows.length === max_catch_up) {
      this.held.clear();
      this.total = 0;
      this.mark = -1;
      await this.catchUp();
      return;
    }
    for (const r of rows) {
      const { rid, ...row } = r;
      for (const col of ['payer_id', 'device_id', 'ip', 'merchant_id'] as const) {
        const h = this.held.get(`${col}\n${row[col]}`);
        if (h) {
          h.rows.push(row);
          this.total++;
        }
      }
      this.mark = rid;
    }
  }

  private async rowsOf(col: Column, value: string, now: number): Promise<Row[]> {
    const key = `${col}\n${value}`;
    const start = now - span[col];
    let h = this.held.get(key);
    if (h && start < h.from) {
      this.drop(key, h);
      h = undefined;
    }
    if (!h) {
      const from = start - margin_ms;
      const rows = await this.db
        .selectFrom('risk_events')
        .select(row_columns)
        .where(col, '=', value)
        .where('ts', '>', from)
        .where(sql`rowid`, '<=', this.mark)
        .execute();
      h = { from, rows };
      this.total += rows.length;
    } else {
      this.held.delete(key); // most recently used last
      const keep = start - margin_ms;
      if (h.rows.length > 0 && h.rows[0]!.ts <= keep) {
        const before = h.rows.length;
        h.rows = h.rows.filter((r) => r.ts > keep);
        h.from = keep;
        this.total -= before - h.rows.length;
      }
    }
    this.held.set(key, h);
    return h.rows;
  }

  private drop(key: string, h: Held): void {
    this.held.delete(key);
    this.total -= h.rows.length;
  }

  private evict(): void {
    for (const [key, h] of this.held) {
      if (this.total <= max_rows) break;
      this.drop(key, h);
    }
  }
}

const caches = new WeakMap<object, WindowCache>();

/** The windows of `e`'s keys from memory, or undefined where the SQL aggregates must be used. */
export function cachedWindows(db: Executor, e: RiskEvent): Promise<Windows> | undefined {
  if (db.isTransaction || !((db as Kysely<unknown>).getExecutor().adapter instanceof SqliteAdapter))
    return undefined;
  let cache = caches.get(db);
  if (!cache) {
    cache = new WindowCache(db);
    caches.set(db, cache);
  }
  return cache.windows(e);
}
