/**
 * `Idempotency-Key` store (STYLE.md rule 5) for endpoints without a natural key: per merchant and
 * scope, a key maps to the request's hash and the id of what the first request created. A replay
 * with the same hash answers that object again; a different hash is IDEMPOTENCY_KEY_REUSED. Keys
 * are kept for 24 hours (idempotency_key_retention_ms); an older key is free for a new request.
 */
import type { Executor } from '../../db/database.ts';
import type { IdempotencyKeysTable } from '../../db/schema.ts';
import { fail } from '../../lib/errors.ts';
import { idempotency_key_chars_max, idempotency_key_retention_ms } from '../../lib/limits.ts';

const key_format = new RegExp(`^[\\x21-\\x7E]{1,${idempotency_key_chars_max}}$`);

/** The optional `Idempotency-Key` header: 1–64 printable ASCII characters, else PARAM_ERROR. */
export function parseIdempotencyKey(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  if (typeof header !== 'string' || !key_format.test(header)) {
    fail('invalid_parameter', {
      field: 'Idempotency-Key',
      issue: `give one key of 1 to ${idempotency_key_chars_max} printable ASCII characters`,
      location: 'header',
    });
  }
  return header;
}

/** The live record of a key (younger than the retention window), if any. */
export function findIdempotencyKey(db: Executor, mchid: string, scope: string, key: string, now: number) {
  return db
    .selectFrom('idempotency_keys')
    .selectAll()
    .where('mchid', '=', mchid)
    .where('scope', '=', scope)
    .where('idem_key', '=', key)
    .where('created_at', '>', now - idempotency_key_retention_ms)
    .executeTakeFirst();
}

/**
 * Claims a key in the caller's transaction (first statement of it, so a concurrent request with the
 * same key waits on the unique index and then fails with a unique violation the caller turns into
 * a replay). An expired record of the key is removed first.
 */
export async function claimIdempotencyKey(trx: Executor, row: IdempotencyKeysTable): Promise<void> {
  await trx
    .deleteFrom('idempotency_keys')
    .where('mchid', '=', row.mchid)
    .where('scope', '=', row.scope)
    .where('idem_key', '=', row.idem_key)
    .where('created_at', '<=', row.created_at - idempotency_key_retention_ms)
    .execute();
  await trx.insertInto('idempotency_keys').values(row).execute();
}

/** The same key with another request body: a distinct, named error. */
export function idempotencyKeyReused(key: string): never {
  return fail('idempotency_key_reused', { field: 'Idempotency-Key', value: key, location: 'header' });
}
