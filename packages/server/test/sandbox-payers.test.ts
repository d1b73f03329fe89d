/** POST /sandbox/v1/payers: simulated sandbox payers for load generators (zhifu simulate) and demos. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { purgeExpiredSessions } from '../src/modules/identity/index.ts';
import { createMerchant } from '../src/modules/merchants/index.ts';
import { dialects, openTestApp, type TestApp } from './harness.ts';
import { jsapiOrder, payAs, rowCount, signedRequest } from './requests.ts';

type Table = 'payers' | 'instruments' | 'accounts' | 'journals' | 'postings' | 'openids' | 'settings';

async function counts(t: TestApp): Promise<Record<Table, number>> {
  const tables: Table[] = [
    'payers',
    'instruments',
    'accounts',
    'journals',
    'postings',
    'openids',
    'settings',
  ];
  const out = {} as Record<Table, number>;
  for (const table of tables) {
    const r = await t.ctx.db
      .selectFrom(table)
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    out[table] = Number(r.n);
  }
  return out;
}

interface CreatedPayer {
  openid: string;
  user_id: string;
  name: string;
  instruments: { id: string; kind: string; available_fen: number; per_txn_limit_fen: number | null }[];
}

describe.each(dialects)('sandbox payers: POST /sandbox/v1/payers (%s)', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await openTestApp(dialect);
  });
  afterAll(() => t.close());

  const create = (body: Record<string, unknown>) =>
    t.app.inject({ method: 'POST', url: '/sandbox/v1/payers', payload: body });

  it('creates a payer with an empty wallet (balance_fen 0), who cannot pay', async () => {
    const res = await create({ appid: t.merchant.appid, name: 'Empty', balance_fen: 0 });
    expect(res.statusCode, res.body).toBe(201);
    const payer = res.json() as CreatedPayer;
    const order = jsapiOrder(t, { payer: { openid: payer.openid } });
    const { prepay_id } = (await signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', order)).json();
    const paid = await payAs(t, prepay_id, payer.openid);
    expect([paid.statusCode, paid.json().code]).toEqual([403, 'INSUFFICIENT_FUNDS']);
  });

  it('creates a payer with a funded wallet balance, bound to the appid', async () => {
    const res = await create({ appid: t.merchant.appid, name: '模拟 Sim One', balance_fen: 123_456 });
    expect(res.statusCode).toBe(201);
    const payer = res.json() as CreatedPayer;
    expect(payer.user_id).toMatch(/^usr_sim_[0-9a-f]{24}$/);
    expect(payer.openid).toMatch(/^o[A-Za-z0-9_-]{27}$/);
    expect(payer.name).toBe('模拟 Sim One');
    expect(payer.instruments).toEqual([
      {
        id: `ins_${payer.user_id.slice(4)}_balance`,
        kind: 'balance',
        bank_type: 'OTHERS',
        display_name: '零钱 Wallet balance',
        last4: null,
        available_fen: 123_456,
        per_txn_limit_fen: null,
      },
    ]);

    const listed = await t.app.inject({ method: 'GET', url: `/sandbox/v1/payers?appid=${t.merchant.appid}` });
    expect(listed.json().data).toContainEqual({ openid: payer.openid, name: '模拟 Sim One', fixture: null });
    const instruments = await t.app.inject({
      method: 'GET',
      url: `/sandbox/v1/payers/${payer.openid}/instruments`,
    });
    expect(instruments.json().data).toEqual(payer.instruments);

    // Funded by a normal journal from the sandbox issuer, like the fixture payers.
    const journal = await t.ctx.db
      .selectFrom('journals')
      .selectAll()
      .where('id', '=', `jnl_fund_${payer.instruments[0]!.id}`)
      .executeTakeFirst();
    expect(journal?.kind).toBe('funding');

    // Without external_ref every call makes a new payer; account_age_days dates the account back.
    const other = await create({ appid: t.merchant.appid, name: 'Sim Two', account_age_days: 400 });
    expect(other.statusCode).toBe(201);
    const second = other.json() as CreatedPayer;
    expect(second.user_id).not.toBe(payer.user_id);
    expect(second.instruments[0]!.available_fen).toBe(1_000_000);
    const row = await t.ctx.db
      .selectFrom('payers')
      .selectAll()
      .where('user_id', '=', second.user_id)
      .executeTakeFirstOrThrow();
    expect(row.fixture).toBeNull();
    expect(t.ctx.clock.now() - Number(row.created_at)).toBe(400 * 86_400_000);
  });

  it('is idempotent by appid + external_ref, also under concurrent requests', async () => {
    const body = { appid: t.merchant.appid, name: 'Sim Ref', balance_fen: 5_000, external_ref: 'u_0a1b2c' };
    const first = await create(body);
    expect(first.statusCode).toBe(201);
    const before = await counts(t);

    const again = await create({ ...body, name: 'Renamed', balance_fen: 99 });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual(first.json());
    expect(await counts(t)).toEqual(before);

    const racers = await Promise.all(
      Array.from({ length: 5 }, () => create({ ...body, external_ref: 'u_race' })),
    );
    expect(racers.map((r) => r.statusCode).sort()).toEqual([200, 200, 200, 200, 201]);
    expect(new Set(racers.map((r) => (r.json() as CreatedPayer).openid)).size).toBe(1);
    expect((await counts(t)).payers).toBe(before.payers + 1);

    // The same reference under another appid is another payer.
    const shop = await createMerchant(t.ctx, { name: 'Other Store' });
    const elsewhere = await create({ ...body, appid: shop.appid });
    expect(elsewhere.statusCode).toBe(201);
    expect((elsewhere.json() as CreatedPayer).user_id).not.toBe((first.json() as CreatedPayer).user_id);
  });

  it('the new payer can log in and pay a JSAPI order through the sandbox', async () => {
    const created = await create({
      appid: t.merchant.appid,
      name: 'Sim Buyer',
      balance_fen: 10_000,
      external_ref: 'buyer-1',
      account_age_days: 365,
    });
    const payer = created.json() as CreatedPayer;
    const order = jsapiOrder(t, {
      amount: { total: 2_500, currency: 'CNY' },
      payer: { openid: payer.openid },
    });
    const placed = await signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', order);
    expect(placed.statusCode).toBe(200);
    const paid = await payAs(t, placed.json().prepay_id as string, payer.openid);
    expect(paid.statusCode).toBe(200);
    expect(paid.json()).toMatchObject({
      trade_state: 'SUCCESS',
      instrument_id: payer.instruments[0]!.id,
      amount: { total: 2_500 },
    });
    const query = await signedRequest(
      t,
      'GET',
      `/v3/pay/transactions/out-trade-no/${order.out_trade_no}?mchid=${t.merchant.mchid}`,
    );
    expect(query.json()).toMatchObject({ trade_state: 'SUCCESS', payer: { openid: payer.openid } });
    const instruments = await t.app.inject({
      method: 'GET',
      url: `/sandbox/v1/payers/${payer.openid}/instruments`,
    });
    expect(instruments.json().data[0].available_fen).toBe(7_500);
  });

  it.each([
    [{ appid: 'wx00000000deadbeef', name: 'Nobody' }, 'APPID_MCHID_NOT_MATCH', '/appid'],
    [{ name: 'No appid' }, 'PARAM_ERROR', '/appid'],
    [{ appid: 'APPID', name: '' }, 'PARAM_ERROR', '/name'],
    [{ appid: 'APPID', name: 'x'.repeat(65) }, 'PARAM_ERROR', '/name'],
    [{ appid: 'APPID', name: 'Rich', balance_fen: 100_000_001 }, 'PARAM_ERROR', '/balance_fen'],
    [{ appid: 'APPID', name: 'Debt', balance_fen: -1 }, 'PARAM_ERROR', '/balance_fen'],
    [{ appid: 'APPID', name: 'Cents', balance_fen: 1.5 }, 'PARAM_ERROR', '/balance_fen'],
    [{ appid: 'APPID', name: 'Ref', external_ref: 'r'.repeat(65) }, 'PARAM_ERROR', '/external_ref'],
    [{ appid: 'APPID', name: 'Old', account_age_days: -1 }, 'PARAM_ERROR', '/account_age_days'],
    [{ appid: 'APPID', name: 'Extra', fixture: 'always_declined' }, 'PARAM_ERROR', '/fixture'],
  ])('rejects %j with %s and writes nothing', async (input, code, field) => {
    const body = JSON.parse(
      JSON.stringify(input).replace('"APPID"', JSON.stringify(t.merchant.appid)),
    ) as Record<string, unknown>;
    const before = await counts(t);
    const res = await create(body);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code, detail: { field } });
    expect(await counts(t)).toEqual(before);
  });
});

describe.each(dialects)('sandbox sessions and login codes are purged once expired (%s)', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await openTestApp(dialect);
  });
  afterAll(() => t.close());

  it('keeps live sessions (a payment still verifies) and deletes the expired ones', async () => {
    const openid = t.merchant.payers[0]!.openid;
    const rows = (table: 'sessions' | 'login_codes') => rowCount(t, table);
    const login = (device: string) =>
      t.app.inject({
        method: 'POST',
        url: '/sandbox/v1/login',
        payload: { appid: t.merchant.appid, openid, device_fingerprint: device },
      });
    for (const device of ['old-1', 'old-2', 'old-2']) await login(device);
    expect([await rows('sessions'), await rows('login_codes')]).toEqual([3, 3]);
    t.clock.advance(2 * 24 * 3_600_000 + 1); // sessions last 2 days, codes 5 minutes
    expect(await purgeExpiredSessions(t.ctx)).toBe(6);
    expect([await rows('sessions'), await rows('login_codes')]).toEqual([0, 0]);
    // A fresh login pays as before (payAs logs in again on its device).
    const o = jsapiOrder(t);
    const { prepay_id } = (await signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', o)).json();
    expect((await payAs(t, prepay_id, openid)).json().trade_state).toBe('SUCCESS');
    expect(await purgeExpiredSessions(t.ctx)).toBe(0);
    expect(await rows('sessions')).toBe(1);
  });
});
