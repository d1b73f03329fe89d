/**
 * Races a demanding user hits, on both dialects where it matters (PostgreSQL runs transactions
 * concurrently on several pool connections; SQLite serialises them in one process): identical
 * requests racing, two devices paying one order, a payment and a refund of one payer, a payment and
 * a close, a late review answer. Each ends in exactly one outcome, a 4xx for the loser, never a
 * 5xx, and a ledger that balances. A second PostgreSQL session holding a row lock widens a window
 * where the race is otherwise a matter of timing.
 */

import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/db/database.ts';
import { audit } from '../src/modules/ledger/index.ts';
import { ensureSandboxPayers } from '../src/modules/wallet/index.ts';
import { dialects, openTestApp, openTestDb, pgUrl, type TestApp } from './harness.ts';
import { createPromotion, jsapiOrder, payAs, signedRequest } from './requests.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function schemaOf(t: TestApp): Promise<string> {
  const r = await sql<{ s: string }>`select current_schema() as s`.execute(t.ctx.db);
  return r.rows[0]!.s;
}

async function paidOrder(t: TestApp, total = 1000) {
  const body = jsapiOrder(t, { amount: { total, currency: 'CNY' } });
  const created = await signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', body);
  expect(created.statusCode).toBe(200);
  return { body, prepay_id: created.json().prepay_id as string };
}

describe('a payment and a refund of the same payer instrument (postgres)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await openTestApp('postgres');
  });
  afterAll(() => t.close());

  it('a refund of order 1 racing the payment of order 2 by the same instrument both succeed (no 5xx)', async () => {
    const openid = t.merchant.payers[0]!.openid;
    const first = await paidOrder(t);
    const paid = await payAs(t, first.prepay_id, openid);
    expect(paid.statusCode).toBe(200);
    const insId = paid.json().instrument_id as string;
    const ins = await t.ctx.db
      .selectFrom('instruments')
      .select('account_id')
      .where('id', '=', insId)
      .executeTakeFirstOrThrow();
    const second = await paidOrder(t);
    // Another session holds the instrument's row for a moment (it only widens the window).
    const other = new pg.Client({ connectionString: pgUrl });
    await other.connect();
    await other.query(`set search_path = ${await schemaOf(t)}`);
    await other.query('begin');
    await other.query('select * from accounts where id = $1 for update', [ins.account_id]);
    const pay2 = payAs(t, second.prepay_id, openid, { instrumentId: insId });
    await sleep(600);
    const refund = signedRequest(t, 'POST', '/v3/refund/domestic/refunds', {
      out_trade_no: first.body.out_trade_no,
      out_refund_no: `${first.body.out_trade_no}-r1`,
      amount: { refund: 100, total: 1000, currency: 'CNY' },
    });
    await sleep(600);
    await other.query('commit');
    await other.end();
    const [p, r] = await Promise.all([pay2, refund]);
    const statuses = {
      pay: [p.statusCode, p.body.slice(0, 200)],
      refund: [r.statusCode, r.body.slice(0, 200)],
    };
    expect(statuses.pay[0], JSON.stringify(statuses)).toBe(200);
    expect(statuses.refund[0], JSON.stringify(statuses)).toBe(200);
    expect(await audit(t.ctx.db)).toEqual({ unbalancedJournals: 0, driftedAccounts: [], belowFloor: [] });
  }, 30_000);
});

describe.each(dialects)('identical requests racing (%s)', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await openTestApp(dialect);
  });
  afterAll(() => t.close());

  it('two identical full refunds racing both answer the same refund (200), one row', async () => {
    for (let i = 0; i < 5; i++) {
      const o = await paidOrder(t, 1000);
      expect((await payAs(t, o.prepay_id, t.merchant.payers[0]!.openid)).statusCode).toBe(200);
      const body = {
        out_trade_no: o.body.out_trade_no,
        out_refund_no: `${o.body.out_trade_no}-full`,
        amount: { refund: 1000, total: 1000, currency: 'CNY' },
      };
      const rs = await Promise.all([
        signedRequest(t, 'POST', '/v3/refund/domestic/refunds', body),
        signedRequest(t, 'POST', '/v3/refund/domestic/refunds', body),
      ]);
      expect(
        rs.map((r) => r.statusCode),
        rs.map((r) => r.body).join(' | '),
      ).toEqual([200, 200]);
      expect(rs[0]!.json().refund_id).toBe(rs[1]!.json().refund_id);
    }
  }, 60_000);

  it('two identical creates racing after the prepay_id expired answer the same, still valid prepay_id', async () => {
    const body = jsapiOrder(t);
    const first = await signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', body);
    expect(first.statusCode).toBe(200);
    t.clock.advance(2 * 3600 * 1000 + 1000);
    const rs = await Promise.all([
      signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', body),
      signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', body),
    ]);
    expect(rs.map((r) => r.statusCode)).toEqual([200, 200]);
    const ids = rs.map((r) => r.json().prepay_id as string);
    const stored = await t.ctx.db
      .selectFrom('orders')
      .select('prepay_id')
      .where('out_trade_no', '=', body.out_trade_no)
      .executeTakeFirstOrThrow();
    // Each caller must be able to pay with what it was given.
    expect({ a: ids[0], b: ids[1] }).toEqual({ a: stored.prepay_id, b: stored.prepay_id });
  });
});

describe.each(dialects)('two devices pay one order that gets a promotion (%s)', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await openTestApp(dialect);
  });
  afterAll(() => t.close());

  it('the loser gets a 4xx (already paid), never a 5xx', async () => {
    await createPromotion(t, { budget_fen: 1_000_000 });
    const openid = t.merchant.payers[0]!.openid;
    const seen: number[][] = [];
    for (let i = 0; i < 5; i++) {
      const o = await paidOrder(t, 10_000);
      const rs = await Promise.all([
        payAs(t, o.prepay_id, openid, { instrumentId: 'ins_zhangwei_icbc_debit', device: 'phone' }),
        payAs(t, o.prepay_id, openid, { instrumentId: 'ins_zhangwei_icbc_debit', device: 'tablet' }),
      ]);
      seen.push(rs.map((r) => r.statusCode).sort());
    }
    expect(
      seen.filter((s) => s.some((c) => c >= 500)),
      JSON.stringify(seen),
    ).toEqual([]);
    expect(await audit(t.ctx.db)).toEqual({ unbalancedJournals: 0, driftedAccounts: [], belowFloor: [] });
  }, 60_000);
});

describe('payments and refunds of one payer racing, no outside help (postgres)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await openTestApp('postgres');
  });
  afterAll(() => t.close());

  it('20 rounds of (refund of an earlier order || payment of a new order), same instrument: no 5xx', async () => {
    const openid = t.merchant.payers[0]!.openid;
    const prev = await paidOrder(t, 100_000);
    const first = await payAs(t, prev.prepay_id, openid);
    expect(first.statusCode).toBe(200);
    const insId = first.json().instrument_id as string;
    const codes: number[][] = [];
    for (let i = 0; i < 20; i++) {
      const next = await Promise.all([paidOrder(t, 100), paidOrder(t, 100), paidOrder(t, 100)]);
      const rs = await Promise.all([
        ...next.map((n) => payAs(t, n.prepay_id, openid, { instrumentId: insId })),
        ...[0, 1, 2].map((k) =>
          signedRequest(t, 'POST', '/v3/refund/domestic/refunds', {
            out_trade_no: prev.body.out_trade_no,
            out_refund_no: `${prev.body.out_trade_no}-${i}-${k}`,
            amount: { refund: 100, total: 100_000, currency: 'CNY' },
          }),
        ),
      ]);
      codes.push(rs.map((r) => r.statusCode));
    }
    expect(
      codes.filter((c) => c.some((x) => x >= 500)),
      JSON.stringify(codes),
    ).toEqual([]);
  }, 120_000);
});

describe.each(dialects)('review window vs a late approve (%s)', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await openTestApp(dialect, { app: { background: false, callbacksAllowLoopback: false } });
  });
  afterAll(() => t.close());

  it('an approve after review_until (sweeper not yet run) is refused and the funds go back', async () => {
    await signedRequest(t, 'PUT', '/v1/notifications/settings', {
      decision_mode: 'realtime',
      review_window_seconds: 3600,
    });
    const o = await paidOrder(t, 4_000);
    await payAs(t, o.prepay_id, o.body.payer.openid);
    t.clock.advance(600);
    await t.app.zhifu.tick();
    const q1 = await signedRequest(
      t,
      'GET',
      `/v3/pay/transactions/out-trade-no/${o.body.out_trade_no}?mchid=${t.merchant.mchid}`,
    );
    expect(q1.json().zhifu_decision.state).toBe('manual_review');
    // The window has run out by the server's clock; the sweeper just has not come round yet.
    t.clock.advance(3600 * 1000 + 1);
    const approve = await signedRequest(t, 'POST', `/v1/payments/${o.body.out_trade_no}/review`, {
      decision: 'approve',
    });
    await t.app.zhifu.tick();
    const q2 = await signedRequest(
      t,
      'GET',
      `/v3/pay/transactions/out-trade-no/${o.body.out_trade_no}?mchid=${t.merchant.mchid}`,
    );
    expect({
      status: approve.statusCode,
      trade_state: q2.json().trade_state,
      d: q2.json().zhifu_decision.state,
    }).toEqual({
      status: 409,
      trade_state: 'PAYERROR',
      d: 'released',
    });
  });
});

describe('a payment losing to a close (postgres)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await openTestApp('postgres');
  });
  afterAll(() => t.close());

  it('the payer is told ORDER_CLOSED, not ORDER_PAID, and nothing moved', async () => {
    const o = await paidOrder(t, 500);
    const row = await t.ctx.db
      .selectFrom('orders')
      .select('id')
      .where('out_trade_no', '=', o.body.out_trade_no)
      .executeTakeFirstOrThrow();
    const other = new pg.Client({ connectionString: pgUrl });
    await other.connect();
    await other.query(`set search_path = ${await schemaOf(t)}`);
    await other.query('begin');
    await other.query('select id from orders where id = $1 for update', [row.id]);
    const close = signedRequest(t, 'POST', `/v3/pay/transactions/out-trade-no/${o.body.out_trade_no}/close`, {
      mchid: t.merchant.mchid,
    });
    await sleep(400);
    const pay = payAs(t, o.prepay_id, o.body.payer.openid);
    await sleep(800);
    await other.query('commit');
    await other.end();
    const [c, p] = await Promise.all([close, pay]);
    expect(c.statusCode).toBe(204);
    expect([p.statusCode, p.json().code]).toEqual([400, 'ORDER_CLOSED']);
  }, 30_000);
});

describe('nodes starting together on one new database (postgres)', () => {
  it('seed the sandbox payers once, none of them failing', async () => {
    const t = await openTestDb('postgres');
    const schema = await schemaOf(t as TestApp);
    const others = await Promise.all(
      [1, 2].map(() => openDatabase({ url: pgUrl, pgSchema: schema, pgPoolSize: 2, migrate: false })),
    );
    try {
      const nodes = [t.ctx, ...others.map((h) => ({ ...t.ctx, db: h.db }))];
      await Promise.all(nodes.map((ctx) => ensureSandboxPayers(ctx)));
      const payers = await t.ctx.db.selectFrom('payers').select('user_id').execute();
      expect(payers.length).toBe(new Set(payers.map((p) => p.user_id)).size);
      expect(payers.length).toBeGreaterThan(0);
      expect(await audit(t.ctx.db)).toEqual({ unbalancedJournals: 0, driftedAccounts: [], belowFloor: [] });
    } finally {
      for (const h of others) await h.close();
      await t.close();
    }
  });
});
