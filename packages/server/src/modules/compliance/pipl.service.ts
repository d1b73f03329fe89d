/**
 * PIPL localisation (issue #6 §4). Raw OpenIDs and device fingerprints stay in this (domestic)
 * database; everything that leaves it — logs, exports, events, analytics, integrations marked
 * foreign — carries keyed pseudonyms (HMAC-SM3, lib/crypto/pseudonym.ts). Consent records are
 * append-only (the latest per purpose is the current state) and every transfer abroad is logged,
 * so the operator can count the people whose data crossed the border each year.
 */
import type { Ctx } from '../../context.ts';
import type { Executor } from '../../db/database.ts';
import { rfc3339 } from '../../lib/clock.ts';
import { hmacSm3 } from '../../lib/crypto/index.ts';
import { fail } from '../../lib/errors.ts';
import { prefixed } from '../../lib/ids.ts';
import * as identity from '../identity/index.ts';
import * as merchants from '../merchants/index.ts';

async function payerOfMerchant(ctx: Ctx, mchid: string, openid: string): Promise<string> {
  const who = await identity.resolveOpenid(ctx.db, openid);
  const app = who ? await merchants.findApp(ctx.db, who.appid) : undefined;
  if (!who || app?.mchid !== mchid)
    fail('payer_unknown', { field: '/openid', value: openid, location: 'body' });
  return who.user_id;
}

export async function recordConsent(
  ctx: Ctx,
  mchid: string,
  input: { openid: string; purpose: string; granted: boolean },
) {
  const userId = await payerOfMerchant(ctx, mchid, input.openid);
  // Records of one payer are numbered, so their order never depends on clock resolution; a
  // concurrent writer that takes the same number fails on the unique key instead of interleaving.
  const last = await ctx.db
    .selectFrom('consents')
    .select((eb) => eb.fn.max('version').as('v'))
    .where('mchid', '=', mchid)
    .where('user_id', '=', userId)
    .executeTakeFirst();
  const row = {
    id: prefixed(ctx.ids, 'cns'),
    mchid,
    user_id: userId,
    purpose: input.purpose,
    granted: input.granted ? 1 : 0,
    version: Number(last?.v ?? 0) + 1,
    at: ctx.clock.now(),
  };
  await ctx.db.insertInto('consents').values(row).execute();
  return { consent_id: row.id, purpose: row.purpose, granted: input.granted, at: rfc3339(row.at) };
}

export async function consentsOf(ctx: Ctx, mchid: string, openid: string) {
  const userId = await payerOfMerchant(ctx, mchid, openid);
  const rows = await ctx.db
    .selectFrom('consents')
    .selectAll()
    .where('mchid', '=', mchid)
    .where('user_id', '=', userId)
    .orderBy('version')
    .execute();
  const current: Record<string, boolean> = {};
  for (const r of rows) current[r.purpose] = r.granted === 1;
  return {
    current,
    history: rows.map((r) => ({
      consent_id: r.id,
      purpose: r.purpose,
      granted: r.granted === 1,
      at: rfc3339(r.at),
    })),
  };
}

/** Logs one transfer of a person's data abroad (called by integrations marked foreign). */
export async function recordTransfer(
  ctx: Ctx,
  db: Executor,
  t: { userId: string; destination: string; purpose: string },
): Promise<void> {
  const at = ctx.clock.now();
  await db
    .insertInto('cross_border_transfers')
    .values({
      id: prefixed(ctx.ids, 'xbt'),
      at,
      year: new Date(at + 8 * 3_600_000).getUTCFullYear(),
      subject: await identity.payerPseudonym(ctx, t.userId),
      destination: t.destination,
      purpose: t.purpose,
    })
    .execute();
}

export async function transferSummary(ctx: Ctx, year: number) {
  const row = await ctx.db
    .selectFrom('cross_border_transfers')
    .select((eb) => [
      eb.fn.countAll<number>().as('transfers'),
      eb.fn.count<number>('subject').distinct().as('people'),
    ])
    .where('year', '=', year)
    .executeTakeFirstOrThrow();
  return { year, people: Number(row.people), transfers: Number(row.transfers) };
}

/**
 * Whether this node's data key is the one the database's personal data is sealed with. The first
 * node to open a database records a check value per key id (HMAC-SM3 of a fixed label: it proves
 * the key without revealing it); a node started later with another key — a lost or regenerated
 * `master.key`, or a second node that was not given the first one's key — would seal records the
 * others cannot open, and cannot open theirs.
 */
export async function dataKeyMatches(ctx: Ctx): Promise<boolean> {
  const key = ctx.keys.keyring.get(ctx.keys.current);
  if (!key) return false;
  const name = `data_key_check:${ctx.keys.current}`;
  const check = hmacSm3(key, 'zhifu data key check').toString('hex');
  await ctx.db
    .insertInto('settings')
    .values({ key: name, value: check })
    .onConflict((oc) => oc.doNothing())
    .execute();
  const row = await ctx.db
    .selectFrom('settings')
    .select('value')
    .where('key', '=', name)
    .executeTakeFirstOrThrow();
  return row.value === check;
}
