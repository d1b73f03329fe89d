/** Storage of the LLM gateway: API keys, the request log, merchant redaction patterns. */
import type { Executor } from '../../db/database.ts';
import type { LlmKeysTable, LlmRequestsTable } from '../../db/schema.ts';

export function insertKey(db: Executor, row: LlmKeysTable) {
  return db.insertInto('llm_keys').values(row).execute();
}

export function findKeyByHash(db: Executor, key_hash: string) {
  return db.selectFrom('llm_keys').selectAll().where('key_hash', '=', key_hash).executeTakeFirst();
}

export function findKey(db: Executor, mchid: string, id: string) {
  return db
    .selectFrom('llm_keys')
    .selectAll()
    .where('mchid', '=', mchid)
    .where('id', '=', id)
    .executeTakeFirst();
}

export function keysOf(db: Executor, mchid: string) {
  return db
    .selectFrom('llm_keys')
    .selectAll()
    .where('mchid', '=', mchid)
    .orderBy('created_at', 'desc')
    .orderBy('id')
    .execute();
}

export async function activeKeyCount(db: Executor, mchid: string): Promise<number> {
  const row = await db
    .selectFrom('llm_keys')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('mchid', '=', mchid)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

export function revokeKey(db: Executor, mchid: string, id: string, now: number) {
  return db
    .updateTable('llm_keys')
    .set({ revoked_at: now })
    .where('mchid', '=', mchid)
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
}

export function updateKeyLimits(
  db: Executor,
  mchid: string,
  id: string,
  set: Partial<Pick<LlmKeysTable, 'rpm' | 'tpm' | 'budget_fen_monthly' | 'models' | 'name'>>,
) {
  return db
    .updateTable('llm_keys')
    .set(set)
    .where('mchid', '=', mchid)
    .where('id', '=', id)
    .executeTakeFirst();
}

/** Provider cost of a key's calls since `from` (micro-fen). */
export async function spentSince(db: Executor, key_id: string, from: number): Promise<number> {
  const row = await db
    .selectFrom('llm_requests')
    .select((eb) => eb.fn.sum<number>('cost_ufen').as('c'))
    .where('key_id', '=', key_id)
    .where('created_at', '>=', from)
    .executeTakeFirst();
  return Number(row?.c ?? 0);
}

export function insertRequests(db: Executor, rows: LlmRequestsTable[]) {
  return db.insertInto('llm_requests').values(rows).execute();
}

export function requestsOf(
  db: Executor,
  mchid: string,
  q: { key_id?: string | undefined; before?: number | undefined; limit: number },
) {
  let query = db.selectFrom('llm_requests').selectAll().where('mchid', '=', mchid);
  if (q.key_id !== undefined) query = query.where('key_id', '=', q.key_id);
  if (q.before !== undefined) query = query.where('created_at', '<', q.before);
  return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(q.limit).execute();
}

export function getSettings(db: Executor, mchid: string) {
  return db.selectFrom('llm_settings').selectAll().where('mchid', '=', mchid).executeTakeFirst();
}

export async function putPatterns(db: Executor, mchid: string, patterns: string, now: number) {
  await db
    .insertInto('llm_settings')
    .values({ mchid, redaction_patterns: patterns, updated_at: now })
    .onConflict((oc) => oc.column('mchid').doUpdateSet({ redaction_patterns: patterns, updated_at: now }))
    .execute();
}

/** Which of `candidates` are out_trade_no values of the merchant's orders. */
export async function knownTradeNos(db: Executor, mchid: string, candidates: string[]): Promise<Set<string>> {
  if (candidates.length === 0) return new Set();
  const rows = await db
    .selectFrom('orders')
    .select('out_trade_no')
    .where('mchid', '=', mchid)
    .where('out_trade_no', 'in', candidates)
    .execute();
  return new Set(rows.map((r) => r.out_trade_no));
}
