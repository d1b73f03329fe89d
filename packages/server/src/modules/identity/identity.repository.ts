import type { Executor } from '../../db/database.ts';
import { prepared } from '../../db/prepared.ts';
import type { LoginCodesTable, OpenidsTable, SessionsTable } from '../../db/schema.ts';
import { cachedRows } from '../../lib/row-cache.ts';

/** An OpenID's binding (appid, payer) never changes: reads outside transactions are memoised. */
export const findOpenid = cachedRows((db, openid) =>
  db.selectFrom('openids').selectAll().where('openid', '=', openid).executeTakeFirst(),
);

export function insertOpenid(db: Executor, row: OpenidsTable) {
  return db
    .insertInto('openids')
    .values(row)
    .onConflict((oc) => oc.doNothing())
    .execute();
}

export function openidsOfApp(db: Executor, appid: string) {
  return db
    .selectFrom('openids')
    .innerJoin('payers', 'payers.user_id', 'openids.user_id')
    .select(['openids.openid', 'payers.name', 'payers.fixture', 'payers.user_id'])
    .where('openids.appid', '=', appid)
    .orderBy('payers.created_at')
    .orderBy('payers.user_id')
    .execute();
}

/** A new login on a device ends that device's earlier sessions (WeChat refreshes session_key on login). */
export function endDeviceSessions(db: Executor, appid: string, userId: string, device: string, now: number) {
  return db
    .updateTable('sessions')
    .set({ expires_at: now })
    .where('appid', '=', appid)
    .where('user_id', '=', userId)
    .where('device_fingerprint', '=', device)
    .where('expires_at', '>', now)
    .execute();
}

export function insertSession(db: Executor, row: SessionsTable) {
  return db.insertInto('sessions').values(row).execute();
}

export function insertLoginCode(db: Executor, row: LoginCodesTable) {
  return db.insertInto('login_codes').values(row).execute();
}

export function findLoginCode(db: Executor, code: string) {
  return db.selectFrom('login_codes').selectAll().where('code', '=', code).executeTakeFirst();
}

/** Marks a login code used; false if it was already used (codes are single-use). */
export async function useLoginCode(db: Executor, code: string, now: number): Promise<boolean> {
  const r = await db
    .updateTable('login_codes')
    .set({ used_at: now })
    .where('code', '=', code)
    .where('used_at', 'is', null)
    .executeTakeFirst();
  return r.numUpdatedRows === 1n;
}

export function findSession(db: Executor, id: string) {
  return db.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirst();
}

const live = prepared((db, p: { appid: string; user_id: string; device: string; now: number }) =>
  db
    .selectFrom('sessions')
    .selectAll()
    .where('appid', '=', p.appid)
    .where('user_id', '=', p.user_id)
    .where('device_fingerprint', '=', p.device)
    .where('expires_at', '>', p.now)
    .orderBy('created_at', 'desc')
    .limit(5),
);

export function liveSessions(db: Executor, appid: string, userId: string, device: string, now: number) {
  return live.all(db, { appid, user_id: userId, device, now });
}

const touch = prepared((db, p: { user_id: string; fingerprint: string; now: number }) =>
  db
    .insertInto('devices')
    .values({ user_id: p.user_id, fingerprint: p.fingerprint, first_seen_at: p.now, last_seen_at: p.now })
    .onConflict((oc) => oc.columns(['user_id', 'fingerprint']).doUpdateSet({ last_seen_at: p.now })),
);

export async function touchDevice(db: Executor, userId: string, fingerprint: string, now: number) {
  await touch.run(db, { user_id: userId, fingerprint, now });
}

/** Deletes up to `limit` expired login codes and sessions; the number deleted. */
export async function deleteExpired(db: Executor, now: number, limit: number): Promise<number> {
  const codes = await db
    .deleteFrom('login_codes')
    .where(
      'code',
      'in',
      db.selectFrom('login_codes').select('code').where('expires_at', '<=', now).limit(limit),
    )
    .executeTakeFirst();
  const sessions = await db
    .deleteFrom('sessions')
    .where('id', 'in', db.selectFrom('sessions').select('id').where('expires_at', '<=', now).limit(limit))
    .executeTakeFirst();
  return Number(codes.numDeletedRows) + Number(sessions.numDeletedRows);
}
