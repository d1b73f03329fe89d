import { CompiledQuery, PostgresAdapter } from 'kysely';
import type { Executor } from '../../db/database.ts';
import { prepared } from '../../db/prepared.ts';
import type { RiskAssessmentsTable, RiskBatchesTable } from '../../db/schema.ts';

/** Every column of risk_assessments, in the order of the insert statement (the compiler checks all are named). */
const assessment_columns = Object.keys({
  id: 0,
  mchid: 0,
  kind: 0,
  event_id: 0,
  ref: 0,
  batch_id: 0,
  risk_score: 0,
  risk_level: 0,
  suggested_action: 0,
  reasons_json: 0,
  rules_matched_json: 0,
  model_version: 0,
  features_json: 0,
  label: 0,
  labelled_at: 0,
  billing_kind: 0,
  created_at: 0,
} satisfies Record<keyof RiskAssessmentsTable, 0>) as (keyof RiskAssessmentsTable)[];

/**
 * Rows per INSERT statement: 50 × 17 = 850 parameters, far below SQLite's and PostgreSQL's limits;
 * larger statements did not insert faster per row.
 */
export const assessment_insert_rows = 50;

const insertTexts = new Map<string, string>();

/** `insert into risk_assessments (…) values (…), …` for `rows` rows in the dialect's placeholders. */
function insertText(postgres: boolean, rows: number): string {
  const key = `${postgres ? 'pg' : 'sqlite'}:${rows}`;
  let text = insertTexts.get(key);
  if (text === undefined) {
    let k = 0;
    const tuple = () => `(${assessment_columns.map(() => (postgres ? `$${++k}` : '?')).join(', ')})`;
    text = `insert into risk_assessments (${assessment_columns.join(', ')}) values ${Array.from({ length: rows }, tuple).join(', ')}`;
    insertTexts.set(key, text);
  }
  return text;
}

/**
 * Inserts assessments in statements of up to `assessment_insert_rows` rows. The statement text is
 * built once per dialect and row count, not compiled by the query builder for every call: Kysely
 * compiling a 250-row insert of this table took ~13 ms (bench:risk), and SQLite reuses the
 * prepared statement (db/database.ts caches them by text).
 */
export async function insertAssessments(db: Executor, rows: readonly RiskAssessmentsTable[]): Promise<void> {
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  for (let i = 0; i < rows.length; i += assessment_insert_rows) {
    const n = Math.min(assessment_insert_rows, rows.length - i);
    const parameters: unknown[] = [];
    for (let r = i; r < i + n; r++) {
      const row = rows[r]!;
      for (const column of assessment_columns) parameters.push(row[column]);
    }
    await db.executeQuery(CompiledQuery.raw(insertText(postgres, n), parameters));
  }
}

export function findAssessment(db: Executor, mchid: string, id: string) {
  return db
    .selectFrom('risk_assessments')
    .selectAll()
    .where('mchid', '=', mchid)
    .where('id', '=', id)
    .executeTakeFirst();
}

/** One page of a batch's results in item order (keyset on event_id), without the stored features. */
export function assessmentsOfBatch(db: Executor, batchId: string, afterEventId: string, limit: number) {
  return db
    .selectFrom('risk_assessments')
    .select([
      'id',
      'event_id',
      'risk_score',
      'risk_level',
      'suggested_action',
      'reasons_json',
      'rules_matched_json',
      'model_version',
      'created_at',
      'label',
    ])
    .where('batch_id', '=', batchId)
    .where('event_id', '>', afterEventId)
    .orderBy('event_id')
    .limit(limit)
    .execute();
}

export async function labelAssessment(
  db: Executor,
  mchid: string,
  id: string,
  label: string,
  now: number,
): Promise<boolean> {
  const r = await db
    .updateTable('risk_assessments')
    .set({ label, labelled_at: now })
    .where('mchid', '=', mchid)
    .where('id', '=', id)
    .executeTakeFirst();
  return r.numUpdatedRows === 1n;
}

/** Labels every assessment of a payment (by its order reference). */
export async function labelByRef(
  db: Executor,
  mchid: string,
  ref: string,
  label: string,
  now: number,
): Promise<number> {
  const r = await db
    .updateTable('risk_assessments')
    .set({ label, labelled_at: now })
    .where('mchid', '=', mchid)
    .where('ref', '=', ref)
    .executeTakeFirst();
  return Number(r.numUpdatedRows);
}

export function history(db: Executor, mchid: string, since: number, limit: number) {
  return db
    .selectFrom('risk_assessments')
    .select(['id', 'kind', 'risk_score', 'features_json', 'label', 'created_at'])
    .where('mchid', '=', mchid)
    .where('created_at', '>=', since)
    .where('batch_id', 'is', null)
    .orderBy('created_at', 'desc')
    .limit(limit)
    .execute();
}

export function rulesOf(db: Executor, mchid: string) {
  return db
    .selectFrom('risk_rules')
    .selectAll()
    .where('mchid', '=', mchid)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
}

export function insertRule(
  db: Executor,
  row: { id: string; mchid: string; source: string; action: string; created_at: number },
) {
  return db.insertInto('risk_rules').values(row).execute();
}

export async function deleteRule(db: Executor, mchid: string, id: string): Promise<boolean> {
  const r = await db
    .deleteFrom('risk_rules')
    .where('mchid', '=', mchid)
    .where('id', '=', id)
    .executeTakeFirst();
  return r.numDeletedRows === 1n;
}

export function listsOf(db: Executor, mchid: string) {
  return db.selectFrom('risk_lists').selectAll().where('mchid', '=', mchid).execute();
}

export function upsertList(db: Executor, mchid: string, name: string, values: string[], now: number) {
  const values_json = JSON.stringify(values);
  return db
    .insertInto('risk_lists')
    .values({ mchid, name, values_json, updated_at: now })
    .onConflict((oc) => oc.columns(['mchid', 'name']).doUpdateSet({ values_json, updated_at: now }))
    .execute();
}

export function settingsOf(db: Executor, mchid: string) {
  return db.selectFrom('risk_settings').selectAll().where('mchid', '=', mchid).executeTakeFirst();
}

export function upsertSettings(db: Executor, mchid: string, review: number, block: number, now: number) {
  return db
    .insertInto('risk_settings')
    .values({ mchid, review_threshold: review, block_threshold: block, updated_at: now })
    .onConflict((oc) =>
      oc.column('mchid').doUpdateSet({ review_threshold: review, block_threshold: block, updated_at: now }),
    )
    .execute();
}

export function insertBatch(db: Executor, row: RiskBatchesTable) {
  return db.insertInto('risk_batches').values(row).execute();
}

export function findBatch(db: Executor, mchid: string, id: string) {
  return db
    .selectFrom('risk_batches')
    .selectAll()
    .where('mchid', '=', mchid)
    .where('id', '=', id)
    .executeTakeFirst();
}

/** Ends a `processing` batch; false if it had already ended (e.g. the sweeper failed it). */
export async function completeBatch(db: Executor, id: string, status: string, now: number): Promise<boolean> {
  const r = await db
    .updateTable('risk_batches')
    .set({ status, completed_at: now })
    .where('id', '=', id)
    .where('status', '=', 'processing')
    .executeTakeFirst();
  return r.numUpdatedRows === 1n;
}

/** Batches still `processing` that were accepted before `before`. */
export function staleBatches(db: Executor, before: number) {
  return db
    .selectFrom('risk_batches')
    .select(['id', 'mchid', 'items'])
    .where('status', '=', 'processing')
    .where('created_at', '<', before)
    .execute();
}

/** Deletes the assessments stored under the batches that failed at or after `since`. */
export function deleteFailedBatchAssessments(db: Executor, since: number) {
  return db
    .deleteFrom('risk_assessments')
    .where(
      'batch_id',
      'in',
      db
        .selectFrom('risk_batches')
        .select('id')
        .where('status', '=', 'failed')
        .where('completed_at', '>=', since),
    )
    .execute();
}

/**
 * When the merchant's order `ref` was paid: the time of the earliest successful payment event
 * assessed with that order number (refunds assessed through the API give the refund delay).
 */
export async function paymentTimeOfRef(
  db: Executor,
  mchid: string,
  ref: string,
): Promise<number | undefined> {
  const row = await db
    .selectFrom('risk_assessments')
    .innerJoin('risk_events', 'risk_events.id', 'risk_assessments.event_id')
    .select('risk_events.ts')
    .where('risk_assessments.mchid', '=', mchid)
    .where('risk_assessments.ref', '=', ref)
    .where('risk_assessments.kind', '=', 'payment')
    .where('risk_events.failed', '=', 0)
    .orderBy('risk_events.ts')
    .limit(1)
    .executeTakeFirst();
  return row === undefined ? undefined : Number(row.ts);
}

/** Removes the results stored so far of a batch that failed. */
export function deleteBatchAssessments(db: Executor, batchId: string) {
  return db.deleteFrom('risk_assessments').where('batch_id', '=', batchId).execute();
}

const paidEvent = prepared((db, p: { payer_id: string; since: number; id_pattern: string }) =>
  db
    .selectFrom('risk_events')
    .select(['device_id', 'ip', 'ts'])
    .where('payer_id', '=', p.payer_id)
    .where('ts', '>=', p.since)
    .where('id', 'like', p.id_pattern)
    .where('failed', '=', 0),
);

/** The payer's event since `since` whose id matches `idPattern` and that did not fail. */
export function paidEventOfPayer(db: Executor, payerId: string, since: number, idPattern: string) {
  return paidEvent.first(db, { payer_id: payerId, since, id_pattern: idPattern });
}
