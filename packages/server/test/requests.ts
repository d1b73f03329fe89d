/** Signed in-process requests for tests: the merchant signs with the fake clock's time. */
import { hmacAuthorization, payerProof, rsaAuthorization } from '@zhifu/sdk';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import type { Database } from '../src/db/schema.ts';
import { rfc3339 } from '../src/lib/clock.ts';
import { seedDemoHistory } from '../src/modules/billing/index.ts';
import { chinaDay } from '../src/modules/billing/periods.ts';
import type { TestApp } from './harness.ts';

export interface SignOptions {
  scheme?: 'hmac' | 'rsa';
  timestamp?: number;
  nonce?: string;
  headers?: Record<string, string>;
  /** Send this exact body text instead of JSON.stringify(body). */
  rawBody?: string;
}

/** The merchant's `Authorization` header for a request, signed at the fake clock's time unless `o.timestamp`. */
export function authorizationFor(
  t: TestApp,
  method: string,
  url: string,
  text = '',
  o: Pick<SignOptions, 'scheme' | 'timestamp' | 'nonce'> = {},
): string {
  const common = {
    mchid: t.merchant.mchid,
    method,
    url,
    body: text,
    timestamp: o.timestamp ?? Math.floor(t.ctx.clock.now() / 1000),
    ...(o.nonce ? { nonce: o.nonce } : {}),
  };
  return o.scheme === 'rsa'
    ? rsaAuthorization({
        ...common,
        serialNo: t.merchant.merchant_serial_no,
        privateKey: t.merchant.merchant_private_key_pem,
      })
    : hmacAuthorization({ ...common, hmacKey: t.merchant.hmac_key });
}

export function signedRequest(
  t: TestApp,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  url: string,
  body?: unknown,
  o: SignOptions = {},
): Promise<LightMyRequestResponse> {
  const text = o.rawBody ?? (body === undefined ? '' : JSON.stringify(body));
  const authorization = authorizationFor(t, method, url, text, o);
  const request: InjectOptions = {
    method,
    url,
    headers: { authorization, ...(text ? { 'content-type': 'application/json' } : {}), ...o.headers },
    ...(text ? { payload: text } : {}),
  };
  return t.app.inject(request);
}

export function jsapiOrder(t: TestApp, overrides: Record<string, unknown> = {}, payer = 0) {
  return {
    appid: t.merchant.appid,
    mchid: t.merchant.mchid,
    description: 'Image形象店-深圳腾大-QQ公仔',
    out_trade_no: `T${Math.random().toString(36).slice(2, 14)}`,
    notify_url: 'https://merchant.example.com/notify',
    amount: { total: 100, currency: 'CNY' },
    payer: { openid: t.merchant.payers[payer]!.openid },
    ...overrides,
  };
}

/** Logs the payer in on a device and pays `target` (prepay_id or code_url) in-process. */
export async function payAs(
  t: TestApp,
  target: string,
  openid: string,
  o: { instrumentId?: string; device?: string; headers?: Record<string, string>; nonce?: string } = {},
): Promise<LightMyRequestResponse> {
  const device = o.device ?? `dev-${openid}`;
  const login = await t.app.inject({
    method: 'POST',
    url: '/sandbox/v1/login',
    payload: { appid: t.merchant.appid, openid, device_fingerprint: device },
  });
  const { session_key } = login.json() as { session_key: string };
  const timestamp = String(Math.floor(t.ctx.clock.now() / 1000));
  const nonce = o.nonce ?? Math.random().toString(36).slice(2);
  const signature = payerProof({
    target,
    openid,
    ...(o.instrumentId ? { instrumentId: o.instrumentId } : {}),
    deviceFingerprint: device,
    timestamp,
    nonce,
    sessionKey: session_key,
  });
  const key = target.startsWith('weixin://') ? 'code_url' : 'prepay_id';
  return t.app.inject({
    method: 'POST',
    url: '/sandbox/v1/pay',
    ...(o.headers ? { headers: o.headers } : {}),
    payload: {
      [key]: target,
      openid,
      ...(o.instrumentId ? { instrument_id: o.instrumentId } : {}),
      device_fingerprint: device,
      timestamp,
      nonce,
      signature,
    },
  });
}

export async function rowCount(t: TestApp, table: keyof Database & string): Promise<number> {
  const r = await t.ctx.db
    .selectFrom(table as 'orders')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

/**
 * Creates a Smart Checkout promotion in force for the next hour (default: ICBC debit cards, ¥10
 * off ¥100, funded by the bank); `overrides` replace any field. Fails the test unless created.
 */
export async function createPromotion(t: TestApp, overrides: Record<string, unknown> = {}) {
  const now = t.ctx.clock.now();
  const res = await signedRequest(t, 'POST', '/v1/checkout/promotions', {
    name: 'ICBC 满100减10',
    kind: 'amount_off',
    eligibility: { bank_type: 'ICBC_DEBIT', min_amount_fen: 10_000 },
    discount_fen: 1_000,
    budget_fen: 100_000,
    funded_by: 'bank',
    starts_at: rfc3339(now - 60_000),
    ends_at: rfc3339(now + 3_600_000),
    ...overrides,
  });
  if (res.statusCode !== 201) throw new Error(`promotion not created: ${res.statusCode} ${res.body}`);
  return res.json() as { id: string };
}

/** Seeds the merchant's demo history (a month of captured orders); the China day of its first order. */
export async function seedBillHistory(t: TestApp): Promise<string> {
  await seedDemoHistory(t.ctx, t.merchant.mchid, t.merchant.appid);
  const first = await t.ctx.db
    .selectFrom('orders')
    .select('success_time')
    .where('mchid', '=', t.merchant.mchid)
    .orderBy('success_time')
    .limit(1)
    .executeTakeFirstOrThrow();
  return chinaDay(Number(first.success_time));
}

/**
 * The merchant allows payments from `device` whatever their score (a real merchant rule,
 * docs/risk.md), for tests about something else than the Fraud Shield: the model scores the hour
 * of the day (China time) too, so an unremarkable payment can be held for review at night.
 * Returns the rule's id.
 */
export async function trustDevice(t: TestApp, device: string): Promise<string> {
  const res = await signedRequest(t, 'POST', '/v1/risk/rules', { rule: `allow if device_id == '${device}'` });
  if (res.statusCode !== 201) throw new Error(`rule refused: ${res.body}`);
  return res.json().rule_id as string;
}
