/**
 * ZHIFU_TRUST_PROXY: behind a reverse proxy the client's address comes from X-Forwarded-For, but
 * only from the proxies the operator trusts — the Fraud Shield's IP features depend on it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.ts';
import { openTestApp, type TestApp } from './harness.ts';
import { jsapiOrder, payAs, signedRequest } from './requests.ts';

async function paidFromIp(t: TestApp, forwardedFor: string): Promise<string> {
  const ids = async () =>
    new Set(
      (await t.ctx.db.selectFrom('risk_events').select('id').where('type', '=', 'payment').execute()).map(
        (r) => r.id,
      ),
    );
  const before = await ids();
  const order = jsapiOrder(t);
  const created = await signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', order);
  const paid = await payAs(t, created.json().prepay_id, order.payer.openid, {
    headers: { 'x-forwarded-for': forwardedFor },
  });
  expect(paid.json().trade_state).toBe('SUCCESS');
  // The payment's own history event (the fake clock gives every event the same time).
  const added = [...(await ids())].filter((id) => !before.has(id));
  expect(added).toHaveLength(1);
  const event = await t.ctx.db
    .selectFrom('risk_events')
    .select('ip')
    .where('id', '=', added[0]!)
    .executeTakeFirstOrThrow();
  return event.ip;
}

describe('the client address behind a proxy', () => {
  let trusting: TestApp;
  let plain: TestApp;
  beforeAll(async () => {
    trusting = await openTestApp('sqlite', { app: { trustProxy: ['127.0.0.1', '10.0.0.0/8'] } });
    plain = await openTestApp('sqlite');
  });
  afterAll(async () => {
    await trusting.close();
    await plain.close();
  });

  it('takes the address a trusted proxy forwarded, and ignores the header otherwise', async () => {
    // The request comes from 127.0.0.1 (trusted), which got it from 10.1.2.3 (trusted), from the payer.
    expect(await paidFromIp(trusting, '203.0.113.7, 10.1.2.3')).toBe('203.0.113.7');
    // An untrusted hop ends the chain: the address it claims to have seen is not believed.
    expect(await paidFromIp(trusting, '203.0.113.7, 198.51.100.9')).toBe('198.51.100.9');
    // Without ZHIFU_TRUST_PROXY anyone can send the header, so it is ignored.
    expect(await paidFromIp(plain, '203.0.113.7')).toBe('127.0.0.1');
  });

  it('reads ZHIFU_TRUST_PROXY and refuses a bad value naming the variable', () => {
    expect(loadConfig({}).trustProxy).toBe(false);
    expect(loadConfig({ ZHIFU_TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(loadConfig({ ZHIFU_TRUST_PROXY: '2' }).trustProxy).toBe(2);
    expect(loadConfig({ ZHIFU_TRUST_PROXY: '10.0.0.0/8, ::1' }).trustProxy).toEqual(['10.0.0.0/8', '::1']);
    for (const bad of ['10.0.0.0/33', 'proxy.example', '0/8/1']) {
      expect(() => loadConfig({ ZHIFU_TRUST_PROXY: bad })).toThrow(ConfigError);
      expect(() => loadConfig({ ZHIFU_TRUST_PROXY: bad })).toThrow(/ZHIFU_TRUST_PROXY/);
    }
  });
});
