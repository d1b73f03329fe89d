/**
 * Payer identity (DESIGN.md §1 "Authentication", reference §8): an OpenID per (user, appid),
 * derived with HMAC-SHA256 under a per-installation secret so it is stable but not guessable;
 * code2session-style logins that hand out a `session_key`; device fingerprints; and the check of
 * a payer's proof — an HMAC under their session key bound to the device — which a merchant's
 * credentials alone can never produce.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Ctx } from '../../context.ts';
import type { Executor } from '../../db/database.ts';
import { settingOnce } from '../../db/settings.ts';
import { pseudonymize } from '../../lib/crypto/index.ts';
import { fail } from '../../lib/errors.ts';
import { alphanumeric, prefixed } from '../../lib/ids.ts';
import { login_code_validity_ms, payer_proof_window_s, session_validity_ms } from '../../lib/limits.ts';
import { type NonceStore, windowEndMs, withinWindow } from '../idempotency/index.ts';
import * as repo from './identity.repository.ts';

const openid_secret_key = 'openid_secret';

// The secret never changes once created: one read per database per process.
const secrets = new WeakMap<object, Buffer>();

/** The installation's OpenID secret, created on first use and kept in the database. */
export async function openidSecret(ctx: Ctx): Promise<Buffer> {
  const cached = secrets.get(ctx.db);
  if (cached) return cached;
  const hexSecret = await settingOnce(ctx.db, openid_secret_key, () => ctx.ids.bytes(32).toString('hex'));
  const secret = Buffer.from(hexSecret, 'hex');
  secrets.set(ctx.db, secret);
  return secret;
}

/** 28 characters starting with `o`, like WeChat OpenIDs (reference §3.6). */
export function deriveOpenid(secret: Buffer, appid: string, userId: string): string {
  const mac = createHmac('sha256', secret).update(`${appid}\n${userId}`).digest('base64url');
  return `o${mac.slice(0, 27)}`;
}

/**
 * A keyed pseudonym of a payer for events, logs and exports (PIPL): stable per installation, not
 * reversible without the secret, never the raw OpenID.
 */
export async function payerPseudonym(ctx: Ctx, userId: string): Promise<string> {
  return pseudonymize(await openidSecret(ctx), 'payer', userId);
}

export async function bindPayerToApp(
  db: Executor,
  secret: Buffer,
  appid: string,
  userId: string,
  now: number,
): Promise<string> {
  const openid = deriveOpenid(secret, appid, userId);
  await repo.insertOpenid(db, { openid, appid, user_id: userId, created_at: now });
  return openid;
}

export function resolveOpenid(db: Executor, openid: string) {
  return repo.findOpenid(db, openid);
}

export const payersOfApp = (db: Executor, appid: string) => repo.openidsOfApp(db, appid);

export interface LoginResult {
  code: string;
  session_key: string;
  expires_at: number;
}

/**
 * The sandbox stand-in for `wx.login` on the payer's phone: opens a session bound to the device
 * and returns a single-use code (for the merchant's code2session call) with the session key that
 * the simulated WeChat client keeps to sign the payer's confirmations.
 */
export async function login(
  ctx: Ctx,
  input: { appid: string; openid: string; device_fingerprint: string },
): Promise<LoginResult> {
  const who = await repo.findOpenid(ctx.db, input.openid);
  if (!who || who.appid !== input.appid) fail('payer_unknown', { field: '/openid', location: 'body' });
  const now = ctx.clock.now();
  const session_key = ctx.ids.bytes(16).toString('base64');
  const sessionId = prefixed(ctx.ids, 'ses');
  const code = alphanumeric(ctx.ids, 32);
  await ctx.db.transaction().execute(async (trx) => {
    await repo.endDeviceSessions(trx, input.appid, who.user_id, input.device_fingerprint, now);
    await repo.insertSession(trx, {
      id: sessionId,
      appid: input.appid,
      user_id: who.user_id,
      session_key,
      device_fingerprint: input.device_fingerprint,
      expires_at: now + session_validity_ms,
      created_at: now,
    });
    await repo.insertLoginCode(trx, {
      code,
      appid: input.appid,
      user_id: who.user_id,
      session_id: sessionId,
      expires_at: now + login_code_validity_ms,
      used_at: null,
    });
    await repo.touchDevice(trx, who.user_id, input.device_fingerprint, now);
  });
  return { code, session_key, expires_at: now + session_validity_ms };
}

export type Code2SessionResult =
  | { openid: string; session_key: string }
  | { errcode: number; errmsg: string };

/**
 * A query parameter of `GET /sns/jscode2session` that is malformed (over-long, or given twice): the
 * WeChat way too, HTTP 200 with the errcode of that parameter being invalid.
 */
export function code2sessionMalformed(parameter: string): Code2SessionResult {
  if (parameter === 'appid') return { errcode: 40013, errmsg: 'invalid appid' };
  if (parameter === 'secret') return { errcode: 40125, errmsg: 'invalid appsecret' };
  return { errcode: 40029, errmsg: 'invalid code' };
}

/** `GET /sns/jscode2session` semantics (reference §8): errors are HTTP 200 with errcode/errmsg. */
export async function code2session(
  ctx: Ctx,
  q: { appid?: string; secret?: string; js_code?: string; grant_type?: string },
  appSecretOf: (appid: string) => Promise<string | undefined>,
): Promise<Code2SessionResult> {
  if (!q.appid) return { errcode: 41002, errmsg: 'appid missing' };
  if (!q.secret) return { errcode: 41004, errmsg: 'appsecret missing' };
  if (!q.js_code) return { errcode: 41008, errmsg: 'missing code' };
  const secret = await appSecretOf(q.appid);
  if (secret === undefined) return { errcode: 40013, errmsg: 'invalid appid' };
  if (!safeEqual(secret, q.secret)) return { errcode: 40125, errmsg: 'invalid appsecret' };
  const now = ctx.clock.now();
  const code = await repo.findLoginCode(ctx.db, q.js_code);
  if (!code || code.appid !== q.appid || code.expires_at <= now) {
    return { errcode: 40029, errmsg: 'invalid code' };
  }
  if (!(await repo.useLoginCode(ctx.db, q.js_code, now))) return { errcode: 40163, errmsg: 'code been used' };
  const session = await repo.findSession(ctx.db, code.session_id);
  // A later login on the device ended this code's session (reference §8: a login rotates the key).
  if (session && session.expires_at <= now) return { errcode: 40029, errmsg: 'invalid code' };
  const openid = (await repo.openidsOfApp(ctx.db, q.appid)).find((o) => o.user_id === code.user_id)?.openid;
  if (!session || !openid) return { errcode: -1, errmsg: 'system error' };
  return { openid, session_key: merchantSessionKey(session.session_key) };
}

/**
 * The merchant's `session_key` of a session: derived one way from the key the payer's client holds
 * (HMAC-SHA256 with a fixed label, first 16 bytes). It is per session and rotates with each login,
 * as in WeChat, but it cannot sign a payer confirmation: those are signed with the client's key,
 * so a merchant's backend — which gets this key from code2session — can never confirm a payment
 * on its own (DESIGN.md "Sandbox wallet").
 */
function merchantSessionKey(clientKey: string): string {
  return createHmac('sha256', Buffer.from(clientKey, 'base64'))
    .update('zhifu code2session')
    .digest()
    .subarray(0, 16)
    .toString('base64');
}

export interface PayerProof {
  target: string;
  openid: string;
  instrument_id?: string | undefined;
  device_fingerprint: string;
  timestamp: string;
  nonce: string;
  signature: string;
}

export function proofMessage(p: Omit<PayerProof, 'signature'>): string {
  return `ZHIFU-PAYER-CONFIRM\n${p.target}\n${p.openid}\n${p.instrument_id ?? ''}\n${p.device_fingerprint}\n${p.timestamp}\n${p.nonce}\n`;
}

/**
 * Verifies a payer's confirmation: fresh timestamp, a live session of this payer on this device
 * whose key produced the HMAC, and a nonce not seen before. Returns the payer's user id.
 */
export async function verifyPayerProof(
  ctx: Ctx,
  nonces: NonceStore,
  p: PayerProof,
): Promise<{ userId: string; appid: string }> {
  const now = ctx.clock.now();
  const ts = Number(p.timestamp);
  if (!/^\d{1,12}$/.test(p.timestamp) || !withinWindow(ts, now, payer_proof_window_s)) {
    fail('payer_proof_invalid', { field: '/timestamp', location: 'body', issue: 'stale or malformed' });
  }
  const who = await repo.findOpenid(ctx.db, p.openid);
  if (!who) fail('payer_unknown', { field: '/openid', location: 'body' });
  const sessions = await repo.liveSessions(ctx.db, who.appid, who.user_id, p.device_fingerprint, now);
  const message = proofMessage(p);
  const given = Buffer.from(p.signature, 'base64');
  const ok = sessions.some((s) => {
    const expected = createHmac('sha256', Buffer.from(s.session_key, 'base64')).update(message).digest();
    return expected.length === given.length && timingSafeEqual(expected, given);
  });
  if (!ok) fail('payer_proof_invalid');
  const claim = await nonces.claim(
    `payer:${who.user_id}`,
    p.nonce,
    now,
    windowEndMs(ts, payer_proof_window_s),
  );
  if (claim === 'full') fail('nonce_store_full');
  if (claim === 'replayed')
    fail('payer_proof_invalid', { field: '/nonce', location: 'body', issue: 'nonce already used' });
  return { userId: who.user_id, appid: who.appid };
}

export const touchDevice = repo.touchDevice;

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Deletes expired login codes and sessions (the minute sweep, app.ts): `/sandbox/v1/login` needs
 * no credentials and every sandbox payment opens a session, so without this both tables grow
 * forever. An expired code or session is never read again: code2session refuses the code by its
 * expiry before it looks for its session.
 */
export async function purgeExpiredSessions(ctx: Ctx): Promise<number> {
  return repo.deleteExpired(ctx.db, ctx.clock.now(), 10_000);
}
