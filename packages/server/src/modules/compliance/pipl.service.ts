/**
 * PIPL localisation (issue #6 §4). Raw OpenIDs and device fingerprints stay in this (domestic)
 * database; everything that leaves it — logs, exports, events, analytics, integrations marked
 * foreign — carries keyed pseudonyms (HMAC-SM3, lib/crypto/pseudonym.ts). Consent records are
 * append-only (the latest per purpose is the current state) and every transfer abroad is logged,
 * so the operator can count the people whose data crossed the border each year.
 */
import type { Ctx } from '../../context.ts';
import type { Executor } from '../../db/database.ts';
import { getSetting, settingOnce } from '../../db/settings.ts';
import { assert } from '../../lib/assert.ts';
import { rfc3339 } from '../../lib/clock.ts';
import { hmacSm3, type Keyring, openRecord } from '../../lib/crypto/index.ts';
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

const data_key_setting = 'data_key_check';
const keyCheck = (key: Uint8Array) => hmacSm3(key, 'zhifu data key check').toString('hex');

/**
 * The data key the database's personal data is sealed with, as the first node to open it recorded
 * it: its id and an HMAC-SM3 of a fixed label, which proves the key without revealing it.
 */
export async function recordedDataKey(db: Executor): Promise<{ id: string; check: string } | undefined> {
  const value = await getSetting(db, data_key_setting);
  return value === undefined ? undefined : parseDataKey(value);
}

function parseDataKey(value: string): { id: string; check: string } {
  const colon = value.lastIndexOf(':');
  return { id: value.slice(0, colon), check: value.slice(colon + 1) };
}

/**
 * Checks this node's data key against the database's, recording it when the database has none
 * yet. A node with another key or key id would seal records the other nodes cannot open, and could
 * not open theirs: its start is refused, and the answer says why. A database from before this
 * record must first show that its sealed records open with the key.
 */
export async function adoptDataKey(ctx: Ctx): Promise<string | undefined> {
  const { current, keyring } = ctx.keys;
  const key = keyring.get(current);
  assert(key, 'the current data key is not in the keyring');
  if ((await recordedDataKey(ctx.db)) === undefined) {
    const sealed = await oneSealedRecord(ctx.db);
    if (sealed && !opens(keyring, sealed.text, sealed.context)) {
      return `its sealed records (${sealed.context}) do not open with this key (id ${current})`;
    }
  }
  // A node starting at the same time may record its key first: the first record stands.
  const recorded = parseDataKey(
    await settingOnce(ctx.db, data_key_setting, () => `${current}:${keyCheck(key)}`),
  );
  if (recorded.id !== current)
    return `its personal data is sealed with the key of id ${recorded.id}, and this node's key id is ${current}`;
  if (recorded.check !== keyCheck(key))
    return `its personal data is sealed with another key of the same id (${current})`;
  return undefined;
}

async function oneSealedRecord(db: Executor): Promise<{ text: string; context: string } | undefined> {
  const callback = await db
    .selectFrom('callbacks')
    .select(['id', 'resource_json'])
    .limit(1)
    .executeTakeFirst();
  if (callback) return { text: callback.resource_json, context: `callbacks:${callback.id}` };
  const message = await db
    .selectFrom('conversation_messages')
    .select(['id', 'sealed'])
    .limit(1)
    .executeTakeFirst();
  return message && { text: message.sealed, context: `conversation_messages:${message.id}` };
}

function opens(keyring: Keyring, sealed: string, context: string): boolean {
  try {
    openRecord(keyring, sealed, context);
    return true;
  } catch {
    return false;
  }
}
