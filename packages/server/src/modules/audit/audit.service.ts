/**
 * The tamper-evident audit log (DESIGN.md "Compliance", issue #6 §6): an append-only chain where
 * each entry's hash is SM3(previous hash ‖ canonical entry), so altering or removing any entry
 * breaks every hash after it — `zhifu audit verify` recomputes the chain. Every operator action is
 * recorded, and a configurable random sample of API calls (method, route pattern, status, who —
 * never bodies, raw OpenIDs or device fingerprints).
 */

import { sql } from 'kysely';
import type { Ctx } from '../../context.ts';
import type { Executor } from '../../db/database.ts';
import { sm3 } from '../../lib/crypto/index.ts';
import { canonicalJson } from '../idempotency/index.ts';

export interface AuditEntry {
  actor: string;
  action: string;
  target: string;
  detail?: Record<string, unknown>;
}

const genesis = '0'.repeat(64);

function entryHash(prev: string, seq: number, at: number, e: AuditEntry): string {
  const body = canonicalJson({
    seq,
    at,
    actor: e.actor,
    action: e.action,
    target: e.target,
    detail: e.detail ?? {},
  });
  return sm3(Buffer.from(`${prev}\n${body}`, 'utf8')).toString('hex');
}

/**
 * Appends an entry in the caller's transaction (so an action and its audit record commit
 * together). On PostgreSQL a transaction-scoped advisory lock serialises appenders across nodes;
 * SQLite transactions are serialised already.
 */
export async function record(ctx: Ctx, trx: Executor, e: AuditEntry): Promise<void> {
  if (ctx.dialect === 'postgres') await sql`select pg_advisory_xact_lock(7261120)`.execute(trx);
  const last = await trx
    .selectFrom('audit_log')
    .select(['seq', 'hash'])
    .orderBy('seq', 'desc')
    .limit(1)
    .executeTakeFirst();
  const seq = (last?.seq ?? 0) + 1;
  const prev = last?.hash ?? genesis;
  const at = ctx.clock.now();
  await trx
    .insertInto('audit_log')
    .values({
      seq,
      at,
      actor: e.actor,
      action: e.action,
      target: e.target,
      detail_json: JSON.stringify(e.detail ?? {}),
      prev_hash: prev,
      hash: entryHash(prev, seq, at, e),
    })
    .execute();
}

export interface AuditVerification {
  entries: number;
  ok: boolean;
  /** The first entry whose hash or link does not verify (an altered or removed entry before it). */
  broken_at?: number;
  problem?: string;
}

export async function verify(db: Executor): Promise<AuditVerification> {
  let prev = genesis;
  let expectedSeq = 1;
  let entries = 0;
  let afterSeq = 0;
  for (;;) {
    const rows = await db
      .selectFrom('audit_log')
      .selectAll()
      .where('seq', '>', afterSeq)
      .orderBy('seq')
      .limit(1000)
      .execute();
    if (rows.length === 0) break;
    for (const r of rows) {
      entries++;
      if (r.seq !== expectedSeq)
        return { entries, ok: false, broken_at: expectedSeq, problem: `entry ${expectedSeq} is missing` };
      if (r.prev_hash !== prev)
        return { entries, ok: false, broken_at: r.seq, problem: 'link to the previous entry is broken' };
      const e = {
        actor: r.actor,
        action: r.action,
        target: r.target,
        detail: JSON.parse(r.detail_json) as Record<string, unknown>,
      };
      if (entryHash(prev, r.seq, r.at, e) !== r.hash)
        return { entries, ok: false, broken_at: r.seq, problem: 'entry was altered' };
      prev = r.hash;
      expectedSeq++;
      afterSeq = r.seq;
    }
  }
  return { entries, ok: true };
}

/** Decides whether an API call is sampled, from the id port (no Math.random in domain code). */
export function sampled(ctx: Ctx, rate: number): boolean {
  if (rate <= 0) return false;
  if (rate >= 1) return true;
  return ctx.ids.bytes(4).readUInt32BE(0) / 2 ** 32 < rate;
}
