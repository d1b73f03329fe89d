/**
 * Billing (docs/billing.md) on SQLite and PostgreSQL: processing fees and their pro-rata returns as
 * ledger postings, exact and idempotent metering of AI calls, statements that agree with the ledger,
 * APIv3 trade and fund-flow bills (format, hash, tokens, unsigned download), the AI eligibility gate
 * and the operator's grant, and the demo merchant's seeded history.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Formatter, Wechatpay } from 'wechatpay-axios-plugin';
import { loadConfig } from '../src/config.ts';
import { processingFee, refundFeeReturn } from '../src/lib/money.ts';
import { meter, seedDemoHistory, setConversationTiers } from '../src/modules/billing/index.ts';
import { audit } from '../src/modules/ledger/index.ts';
import { seedDemo } from '../src/ops.ts';
import { addMerchant, dialects, openTestApp, openTestDb, type TestApp } from './harness.ts';
import { jsapiOrder, payAs, seedBillHistory, signedRequest } from './requests.ts';

const operatorToken = 'op-token-for-billing-tests-0123456789';
const day_ms = 24 * 3600 * 1000;

/** 12:00 China Standard Time on the 15th of the month after `ms`: a quiet mid-month clock. */
function midNextMonth(ms: number): number {
  const d = new Date(ms + 8 * 3600 * 1000);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 15, 4, 0, 0);
}

const chinaDay = (ms: number) => new Date(ms + 8 * 3600 * 1000).toISOString().slice(0, 10);
const chinaMonth = (ms: number) => chinaDay(ms).slice(0, 7);

let payerSeq = 0;
/** An established, funded sandbox payer of the merchant's app (its own velocity history). */
async function newPayer(t: TestApp, balance = 5_000_000): Promise<string> {
  const res = await t.app.inject({
    method: 'POST',
    url: '/sandbox/v1/payers',
    payload: {
      appid: t.merchant.appid,
      name: `Billing payer ${payerSeq++}`,
      balance_fen: balance,
      account_age_days: 400,
    },
  });
  expect(res.statusCode).toBe(201);
  return res.json().openid as string;
}

async function paidOrder(t: TestApp, amount: number, openid?: string) {
  const payer = openid ?? (await newPayer(t));
  const order = jsapiOrder(t, { amount: { total: amount, currency: 'CNY' }, payer: { openid: payer } });
  const created = await signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', order);
  expect(created.statusCode).toBe(200);
  const paid = await payAs(t, created.json().prepay_id, payer);
  expect(paid.statusCode).toBe(200);
  return { out_trade_no: order.out_trade_no, payer, result: paid.json() };
}

function refund(t: TestApp, outTradeNo: string, outRefundNo: string, amount: number, total: number) {
  return signedRequest(t, 'POST', '/v3/refund/domestic/refunds', {
    out_trade_no: outTradeNo,
    out_refund_no: outRefundNo,
    amount: { refund: amount, total, currency: 'CNY' },
  });
}

async function balance(t: TestApp, accountId: string): Promise<number> {
  const row = await t.ctx.db
    .selectFrom('accounts')
    .select('balance')
    .where('id', '=', accountId)
    .executeTakeFirst();
  return Number(row?.balance ?? 0);
}

async function orderId(t: TestApp, outTradeNo: string): Promise<string> {
  const o = await t.ctx.db
    .selectFrom('orders')
    .select('id')
    .where('out_trade_no', '=', outTradeNo)
    .executeTakeFirstOrThrow();
  return o.id;
}

async function countRows(t: TestApp, table: 'usage_records' | 'risk_assessments', mchid = t.merchant.mchid) {
  const r = await t.ctx.db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('mchid', '=', mchid)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

/** The sum of an account's postings of one journal kind in [start, end). */
async function postedSum(t: TestApp, accountId: string, kind: string, start: number, end: number) {
  const r = await t.ctx.db
    .selectFrom('postings')
    .innerJoin('journals', 'journals.id', 'postings.journal_id')
    .select((eb) => eb.fn.sum<number>('postings.amount').as('s'))
    .where('postings.account_id', '=', accountId)
    .where('journals.kind', '=', kind)
    .where('postings.created_at', '>=', start)
    .where('postings.created_at', '<', end)
    .executeTakeFirstOrThrow();
  return Number(r.s ?? 0);
}

const cleanAudit = { unbalancedJournals: 0, driftedAccounts: [], belowFloor: [] };

const assessment = (openid: string, over: Record<string, unknown> = {}) => ({
  type: 'payment',
  payer: { openid },
  amount: { total: 2_500, currency: 'CNY' },
  device_fingerprint: 'billing-phone',
  ip: '203.0.113.9',
  ...over,
});

describe.each(dialects)('billing (%s)', (dialect) => {
  let t: TestApp;
  let feesAccount: string;
  let dueAccount: string;
  let merchantAccount: string;
  beforeAll(async () => {
    t = await openTestApp(dialect, { app: { background: false, operatorToken } });
    t.clock.set(midNextMonth(Date.now()));
    feesAccount = `acc_fees_${t.merchant.mchid}`;
    dueAccount = `acc_due_${t.merchant.mchid}`;
    merchantAccount = `acc_mch_${t.merchant.mchid}`;
  });
  afterAll(() => t.close());

  describe('processing fees are ledger postings', () => {
    it('a capture in auto mode pays 0.6% (half up) to the platform in the same transaction', async () => {
      const before = { merchant: await balance(t, merchantAccount), fees: await balance(t, feesAccount) };
      const { out_trade_no, result } = await paidOrder(t, 10_250);
      expect(result.trade_state).toBe('SUCCESS');
      const id = await orderId(t, out_trade_no);
      // 0.6% of 102.50 CNY is 61.5 fen: half up → 62.
      expect(processingFee(10_250)).toBe(62);
      expect(await balance(t, merchantAccount)).toBe(before.merchant + 10_250 - 62);
      expect(await balance(t, feesAccount)).toBe(before.fees + 62);
      const journal = await t.ctx.db
        .selectFrom('journals')
        .selectAll()
        .where('id', '=', `jnl_fee_${id}`)
        .executeTakeFirstOrThrow();
      expect(journal).toMatchObject({ kind: 'fee', ref_id: id });
      const postings = await t.ctx.db
        .selectFrom('postings')
        .select(['account_id', 'amount'])
        .where('journal_id', '=', journal.id)
        .orderBy('seq')
        .execute();
      expect(postings.map((p) => [p.account_id, Number(p.amount)])).toEqual([
        [merchantAccount, -62],
        [feesAccount, 62],
      ]);
      expect(await audit(t.ctx.db)).toEqual(cleanAudit);
    });

    it('a capture from hold (realtime, the merchant approves) pays the fee when the funds reach the merchant', async () => {
      expect(
        (await signedRequest(t, 'PUT', '/v1/notifications/settings', { decision_mode: 'realtime' }))
          .statusCode,
      ).toBe(200);
      const payer = await newPayer(t);
      const order = jsapiOrder(t, { amount: { total: 20_000, currency: 'CNY' }, payer: { openid: payer } });
      const created = await signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', order);
      const held = (await payAs(t, created.json().prepay_id, payer)).json();
      expect(held).toMatchObject({ trade_state: 'USERPAYING', zhifu_decision: { state: 'pending' } });
      const id = await orderId(t, order.out_trade_no);
      const before = { merchant: await balance(t, merchantAccount), fees: await balance(t, feesAccount) };
      expect(
        await t.ctx.db.selectFrom('processing_fees').selectAll().where('order_id', '=', id).execute(),
      ).toEqual([]);
      const decided = await signedRequest(t, 'POST', '/v1/decisions', {
        event_id: held.zhifu_decision.event_id,
        decision: 'approve',
      });
      expect(decided.json()).toMatchObject({ applied: true, state: 'approved' });
      expect(await balance(t, merchantAccount)).toBe(before.merchant + 20_000 - 120);
      expect(await balance(t, feesAccount)).toBe(before.fees + 120);
      expect(
        await t.ctx.db
          .selectFrom('journals')
          .select('kind')
          .where('id', '=', `jnl_fee_${id}`)
          .executeTakeFirst(),
      ).toEqual({ kind: 'fee' });
      await signedRequest(t, 'PUT', '/v1/notifications/settings', { decision_mode: 'auto' });
      expect(await audit(t.ctx.db)).toEqual(cleanAudit);
    });

    it('partial refunds return the fee pro rata and, refunding everything, exactly the whole fee', async () => {
      const total = 9_999; // fee 59.994 → 60
      const { out_trade_no } = await paidOrder(t, total);
      const id = await orderId(t, out_trade_no);
      const fee = processingFee(total);
      expect(fee).toBe(60);
      const before = { merchant: await balance(t, merchantAccount), fees: await balance(t, feesAccount) };
      const parts = [1, 3_333, 1_666, 4_999];
      let refunded = 0;
      const returned: number[] = [];
      for (const [i, amount] of parts.entries()) {
        const res = await refund(t, out_trade_no, `${out_trade_no}-R${i}`, amount, total);
        expect(res.statusCode).toBe(200);
        const expected = refundFeeReturn(fee, total, refunded, amount);
        const row = await t.ctx.db
          .selectFrom('fee_returns')
          .selectAll()
          .where('refund_id', '=', res.json().refund_id)
          .executeTakeFirstOrThrow();
        expect(Number(row.returned_fen)).toBe(expected);
        returned.push(expected);
        refunded += amount;
      }
      expect(returned).toEqual([0, 20, 10, 30]);
      expect(returned.reduce((a, b) => a + b, 0)).toBe(fee);
      // Everything went back: the merchant lost the refunds but got the whole fee back.
      expect(await balance(t, merchantAccount)).toBe(before.merchant - total + fee);
      expect(await balance(t, feesAccount)).toBe(before.fees - fee);
      const row = await t.ctx.db
        .selectFrom('processing_fees')
        .selectAll()
        .where('order_id', '=', id)
        .executeTakeFirstOrThrow();
      expect([Number(row.refunded_fen), Number(row.returned_fen)]).toEqual([total, fee]);
      // A replayed refund returns nothing twice.
      const replay = await refund(t, out_trade_no, `${out_trade_no}-R0`, 1, total);
      expect(replay.statusCode).toBe(200);
      expect(await balance(t, feesAccount)).toBe(before.fees - fee);
      expect(await audit(t.ctx.db)).toEqual(cleanAudit);
    });

    it('concurrent captures and refunds of one merchant all succeed (fee accounts lock in one order)', async () => {
      const paid = await Promise.all([1, 2, 3].map((i) => paidOrder(t, 3_000 + i)));
      const payers = await Promise.all([1, 2, 3].map(() => newPayer(t)));
      const orders = payers.map((p) =>
        jsapiOrder(t, { amount: { total: 4_000, currency: 'CNY' }, payer: { openid: p } }),
      );
      const prepay = await Promise.all(
        orders.map(
          async (o) => (await signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', o)).json().prepay_id,
        ),
      );
      const before = await balance(t, feesAccount);
      const results = await Promise.all([
        ...paid.map((p, i) => refund(t, p.out_trade_no, `${p.out_trade_no}-C`, 3_000 + i + 1, 3_000 + i + 1)),
        ...orders.map((o, i) => payAs(t, prepay[i]!, o.payer.openid)),
      ]);
      expect(results.map((r) => r.statusCode)).toEqual([200, 200, 200, 200, 200, 200]);
      // Three whole refunds returned their fees (18 each); three captures paid 24 each.
      expect(await balance(t, feesAccount)).toBe(before - 3 * 18 + 3 * 24);
      expect(await audit(t.ctx.db)).toEqual(cleanAudit);
    });

    it('a merchant with no other funds can still refund a whole payment: the fee comes back first', async () => {
      const other = await addMerchant(t, 'Fresh Store');
      const { out_trade_no } = await paidOrder(other, 5_000);
      expect(await balance(other, `acc_mch_${other.merchant.mchid}`)).toBe(5_000 - 30);
      const res = await refund(other, out_trade_no, `${out_trade_no}-all`, 5_000, 5_000);
      expect(res.statusCode).toBe(200);
      expect(await balance(other, `acc_mch_${other.merchant.mchid}`)).toBe(0);
      expect(await balance(other, `acc_fees_${other.merchant.mchid}`)).toBe(0);
    });
  });

  describe('metering of AI calls', () => {
    let openid: string;
    beforeAll(async () => {
      openid = await newPayer(t);
    });

    it('bills one Fraud Shield assessment once, at 0.05 CNY, posted to the fees-due account', async () => {
      const due = await balance(t, dueAccount);
      const res = await signedRequest(t, 'POST', '/v1/risk/assessments', assessment(openid));
      expect(res.statusCode).toBe(200);
      const id = res.json().assessment_id as string;
      const usage = await t.ctx.db
        .selectFrom('usage_records')
        .selectAll()
        .where('usage_key', '=', `risk:${id}`)
        .executeTakeFirstOrThrow();
      expect(usage).toMatchObject({ kind: 'risk', ref: id, period: chinaMonth(t.clock.now()) });
      expect([Number(usage.quantity), Number(usage.unit_price_fen), Number(usage.amount_fen)]).toEqual([
        1, 5, 5,
      ]);
      expect(usage.journal_id).toBe(`jnl_ai_${usage.id}`);
      expect(await balance(t, dueAccount)).toBe(due - 5);
    });

    it('Idempotency-Key: a retry answers the stored assessment and bills nothing; another body is 409', async () => {
      const [assessments, usage] = [
        await countRows(t, 'risk_assessments'),
        await countRows(t, 'usage_records'),
      ];
      const headers = { headers: { 'idempotency-key': 'retry-key-0001' } };
      const body = assessment(openid, { amount: { total: 7_700, currency: 'CNY' } });
      const first = await signedRequest(t, 'POST', '/v1/risk/assessments', body, headers);
      expect(first.statusCode).toBe(200);
      t.clock.advance(1_000);
      const again = await signedRequest(t, 'POST', '/v1/risk/assessments', body, headers);
      expect(again.statusCode).toBe(200);
      expect(again.body).toBe(first.body);
      expect(await countRows(t, 'risk_assessments')).toBe(assessments + 1);
      expect(await countRows(t, 'usage_records')).toBe(usage + 1);
      const other = await signedRequest(
        t,
        'POST',
        '/v1/risk/assessments',
        assessment(openid, { amount: { total: 7_701, currency: 'CNY' } }),
        headers,
      );
      expect(other.statusCode).toBe(409);
      expect(other.json().code).toBe('IDEMPOTENCY_KEY_REUSED');
      const bad = await signedRequest(t, 'POST', '/v1/risk/assessments', body, {
        headers: { 'idempotency-key': 'x'.repeat(65) },
      });
      expect(bad.statusCode).toBe(400);
      expect(bad.json()).toMatchObject({ code: 'PARAM_ERROR', detail: { field: 'Idempotency-Key' } });
      // Without the key, the same body is a new call and a new bill.
      const fresh = await signedRequest(t, 'POST', '/v1/risk/assessments', body);
      expect(fresh.json().assessment_id).not.toBe(first.json().assessment_id);
      expect(await countRows(t, 'usage_records')).toBe(usage + 2);
    });

    it('concurrent retries with one key create one assessment and one bill', async () => {
      const [assessments, usage] = [
        await countRows(t, 'risk_assessments'),
        await countRows(t, 'usage_records'),
      ];
      const body = assessment(openid, { amount: { total: 3_100, currency: 'CNY' } });
      const answers = await Promise.all(
        [0, 1, 2, 3].map(() =>
          signedRequest(t, 'POST', '/v1/risk/assessments', body, {
            headers: { 'idempotency-key': 'race-key' },
          }),
        ),
      );
      expect(answers.map((a) => a.statusCode)).toEqual([200, 200, 200, 200]);
      expect(new Set(answers.map((a) => a.json().assessment_id)).size).toBe(1);
      expect(await countRows(t, 'risk_assessments')).toBe(assessments + 1);
      expect(await countRows(t, 'usage_records')).toBe(usage + 1);
    });

    it('a rejected call is not billed: unknown payer, bad body, replayed signature', async () => {
      const usage = await countRows(t, 'usage_records');
      const unknown = await signedRequest(
        t,
        'POST',
        '/v1/risk/assessments',
        assessment('o-nobody-of-this-app'),
      );
      expect(unknown.json().code).toBe('USER_NOT_EXISTS');
      const bad = await signedRequest(t, 'POST', '/v1/risk/assessments', { type: 'payment' });
      expect(bad.statusCode).toBe(400);
      const ok = await signedRequest(t, 'POST', '/v1/risk/assessments', assessment(openid), {
        nonce: 'BILL-NONCE-1',
      });
      expect(ok.statusCode).toBe(200);
      const replayed = await signedRequest(t, 'POST', '/v1/risk/assessments', assessment(openid), {
        nonce: 'BILL-NONCE-1',
      });
      expect(replayed.statusCode).toBe(401);
      expect(await countRows(t, 'usage_records')).toBe(usage + 1);
    });

    it('the Fraud Shield check inside a payment is the platform’s own and is not billed', async () => {
      const usage = await countRows(t, 'usage_records');
      const assessments = await countRows(t, 'risk_assessments');
      await paidOrder(t, 1_200);
      expect(await countRows(t, 'risk_assessments')).toBe(assessments + 1);
      expect(await countRows(t, 'usage_records')).toBe(usage);
    });

    it('a batch is billed once, at the batch price (0.03 CNY an item), when its results are stored', async () => {
      const due = await balance(t, dueAccount);
      const items = [1, 2, 3].map((i) =>
        assessment(openid, { amount: { total: 1_000 * i, currency: 'CNY' } }),
      );
      const res = await signedRequest(t, 'POST', '/v1/risk/assessments/batch', { items });
      expect(res.statusCode).toBe(202);
      const batchId = res.json().batch_id as string;
      let view = res.json();
      for (let i = 0; i < 100 && view.status !== 'completed'; i++) {
        await new Promise((r) => setTimeout(r, 20));
        view = (await signedRequest(t, 'GET', `/v1/risk/batches/${batchId}`)).json();
      }
      expect(view.status).toBe('completed');
      const usage = await t.ctx.db
        .selectFrom('usage_records')
        .selectAll()
        .where('usage_key', '=', `risk_batch:${batchId}`)
        .executeTakeFirstOrThrow();
      expect([
        usage.kind,
        Number(usage.quantity),
        Number(usage.unit_price_fen),
        Number(usage.amount_fen),
      ]).toEqual(['risk_batch', 3, 3, 9]);
      expect(await balance(t, dueAccount)).toBe(due - 9);
      // Reading the batch again bills nothing.
      await signedRequest(t, 'GET', `/v1/risk/batches/${batchId}`);
      expect(
        await t.ctx.db.selectFrom('usage_records').select('id').where('ref', '=', batchId).execute(),
      ).toHaveLength(1);
    });

    it('conversations are priced by monthly volume tier; a replayed key is billed once', async () => {
      const tiers = [
        { up_to: 2, unit_price_fen: 10 },
        { up_to: null, unit_price_fen: 5 },
      ];
      const denied = await signedRequest(t, 'PUT', '/v1/operator/billing/conversation-tiers', { tiers });
      expect(denied.statusCode).toBe(401);
      const put = await t.app.inject({
        method: 'PUT',
        url: '/v1/operator/billing/conversation-tiers',
        headers: { authorization: `Bearer ${operatorToken}` },
        payload: { tiers, operator: 'alice' },
      });
      expect(put.statusCode).toBe(200);
      expect(put.json().tiers).toEqual(tiers);
      const bad = await t.app.inject({
        method: 'PUT',
        url: '/v1/operator/billing/conversation-tiers',
        headers: { authorization: `Bearer ${operatorToken}` },
        payload: { tiers: [{ up_to: 5, unit_price_fen: 10 }] },
      });
      expect(bad.json()).toMatchObject({ code: 'PARAM_ERROR' });
      const month = chinaMonth(t.clock.now());
      const priced: (number | undefined)[] = [];
      for (const id of ['c1', 'c2', 'c1', 'c3', 'c4']) {
        const m = await t.ctx.db.transaction().execute((trx) =>
          meter(t.ctx, trx, {
            mchid: t.merchant.mchid,
            kind: 'conversation',
            key: `conversation:${id}:${month}`,
            ref: id,
            quantity: 1,
            now: t.clock.now(),
          }),
        );
        priced.push(m?.amount_fen);
      }
      expect(priced).toEqual([10, 10, undefined, 5, 5]);
      const usage = (await signedRequest(t, 'GET', `/v1/billing/usage?month=${month}`)).json();
      expect(usage.kinds.conversation).toEqual({ quantity: 4, amount_fen: 30 });
      expect(usage.lines.filter((l: { kind: string }) => l.kind === 'conversation')).toEqual([
        {
          kind: 'conversation',
          description: expect.any(String),
          unit_price_fen: 10,
          quantity: 2,
          amount_fen: 20,
        },
        {
          kind: 'conversation',
          description: expect.any(String),
          unit_price_fen: 5,
          quantity: 2,
          amount_fen: 10,
        },
      ]);
      const entries = await t.ctx.db
        .selectFrom('audit_log')
        .select(['actor', 'action'])
        .where('action', '=', 'billing.conversation_tiers.set')
        .execute();
      expect(entries).toEqual([{ actor: 'operator:alice', action: 'billing.conversation_tiers.set' }]);
      await setConversationTiers(t.ctx, 'test', [
        { up_to: 1_000, unit_price_fen: 10 },
        { up_to: 10_000, unit_price_fen: 8 },
        { up_to: null, unit_price_fen: 5 },
      ]);
    });

    it('usage per kind matches the usage records and the fees-due account', async () => {
      const month = chinaMonth(t.clock.now());
      const usage = (await signedRequest(t, 'GET', `/v1/billing/usage?month=${month}`)).json();
      const risk = await t.ctx.db
        .selectFrom('usage_records')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('mchid', '=', t.merchant.mchid)
        .where('kind', '=', 'risk')
        .executeTakeFirstOrThrow();
      expect(usage.kinds.risk).toEqual({ quantity: Number(risk.n), amount_fen: 5 * Number(risk.n) });
      expect(usage.kinds.risk_batch).toEqual({ quantity: 3, amount_fen: 9 });
      expect(usage.kinds.checkout).toEqual({ quantity: 0, amount_fen: 0 });
      expect(usage.total_fen).toBe(-(await balance(t, dueAccount)));
      expect((await signedRequest(t, 'GET', '/v1/billing/usage?month=2026-13')).json().code).toBe(
        'PARAM_ERROR',
      );
    });
  });

  describe('monthly statements', () => {
    it('JSON totals agree with the ledger postings of the month', async () => {
      const month = chinaMonth(t.clock.now());
      const res = await signedRequest(t, 'GET', `/v1/billing/statements/${month}`);
      expect(res.statusCode).toBe(200);
      expect(res.headers['wechatpay-signature']).toBeTruthy();
      const s = res.json();
      const d = new Date(`${month}-01T00:00:00+08:00`).getTime();
      const end = new Date(d + 40 * day_ms);
      const next = new Date(`${end.toISOString().slice(0, 7)}-01T00:00:00+08:00`).getTime();
      expect(s).toMatchObject({ mchid: t.merchant.mchid, month, status: 'provisional', currency: 'CNY' });
      expect(s.processing_fees.amount_fen).toBe(await postedSum(t, feesAccount, 'fee', d, next));
      expect(s.fee_returns.amount_fen).toBe(-(await postedSum(t, feesAccount, 'fee_return', d, next)));
      expect(s.ai_usage.amount_fen).toBe(await postedSum(t, feesAccount, 'ai_fee', d, next));
      expect(s.ai_usage.amount_fen).toBe(-(await postedSum(t, dueAccount, 'ai_fee', d, next)));
      const merchantNet =
        (await postedSum(t, merchantAccount, 'payment', d, next)) +
        (await postedSum(t, merchantAccount, 'refund', d, next)) +
        (await postedSum(t, merchantAccount, 'fee', d, next)) +
        (await postedSum(t, merchantAccount, 'fee_return', d, next));
      expect(s.totals.net_settlement_fen).toBe(merchantNet);
      expect(s.totals.fees_total_fen).toBe(s.totals.processing_fees_net_fen + s.totals.ai_fees_fen);
      // 10,250 + 20,000 + 9,999 + the concurrency test's 3,001..3,003 and 3 × 4,000 + 1,200 (metering).
      expect(s.payments).toEqual({ count: 10, amount_fen: 10_250 + 20_000 + 9_999 + 9_006 + 12_000 + 1_200 });
      expect(s.refunds).toEqual({ count: 7, amount_fen: 9_999 + 9_006 });
      expect(s.ai_usage.lines.map((l: { kind: string }) => l.kind)).toEqual(
        expect.arrayContaining(['risk', 'risk_batch', 'conversation']),
      );
    });

    it('CSV: UTF-8 with BOM, CRLF, the same figures in yuan', async () => {
      const month = chinaMonth(t.clock.now());
      const json = (await signedRequest(t, 'GET', `/v1/billing/statements/${month}`)).json();
      const res = await signedRequest(t, 'GET', `/v1/billing/statements/${month}.csv`);
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/csv/);
      const bytes = res.rawPayload;
      expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
      const text = bytes.subarray(3).toString('utf8');
      expect(text.endsWith('\r\n')).toBe(true);
      expect(text.replaceAll('\r\n', '')).not.toMatch(/[\r\n]/);
      const lines = Object.fromEntries(
        text
          .trimEnd()
          .split('\r\n')
          .map((l) => [l.split(',')[0], l.split(',')]),
      );
      expect(lines.line).toEqual(['line', 'description', 'unit_price_yuan', 'quantity', 'amount_yuan']);
      const yuan = (fen: number) => (fen / 100).toFixed(2);
      expect(lines.payments?.slice(3)).toEqual([String(json.payments.count), yuan(json.payments.amount_fen)]);
      expect(lines.processing_fees?.at(-1)).toBe(yuan(json.processing_fees.amount_fen));
      expect(lines['ai:risk']?.slice(2)).toEqual([
        '0.05',
        String(json.ai_usage.lines.find((l: { kind: string }) => l.kind === 'risk').quantity),
        yuan(json.ai_usage.lines.find((l: { kind: string }) => l.kind === 'risk').amount_fen),
      ]);
      expect(lines['total:fees']?.at(-1)).toBe(yuan(json.totals.fees_total_fen));
    });

    it('refuses a malformed or future month', async () => {
      for (const month of ['2026-1', '2026-13', 'latest', chinaMonth(t.clock.now() + 40 * day_ms)]) {
        const res = await signedRequest(t, 'GET', `/v1/billing/statements/${month}`);
        expect(res.statusCode, month).toBe(400);
        expect(res.json().code).toBe('PARAM_ERROR');
      }
    });
  });

  describe('APIv3 trade and fund-flow bills', () => {
    let day: string;
    let paidNos: string[];
    let refundNo: string;
    let other: TestApp;
    beforeAll(async () => {
      // A fresh day of business: two payments (one with a comma in its description), one refund.
      t.clock.advance(2 * day_ms);
      day = chinaDay(t.clock.now());
      const a = await paidOrder(t, 10_000);
      t.clock.advance(1_000);
      const payer = await newPayer(t);
      const order = jsapiOrder(t, {
        amount: { total: 2_550, currency: 'CNY' },
        payer: { openid: payer },
        description: 'Tea, green\nbox',
        attach: 'a,b',
      });
      const created = await signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', order);
      expect((await payAs(t, created.json().prepay_id, payer)).json().trade_state).toBe('SUCCESS');
      paidNos = [a.out_trade_no, order.out_trade_no];
      t.clock.advance(60_000);
      refundNo = `${a.out_trade_no}-BILL`;
      expect((await refund(t, a.out_trade_no, refundNo, 2_500, 10_000)).statusCode).toBe(200);
      t.clock.advance(day_ms);
      other = await addMerchant(t, 'Bill Other Store');
    });

    const step1 = (who: TestApp, path: string) => signedRequest(who, 'GET', path);
    const download = (who: TestApp, url: string) =>
      signedRequest(who, 'GET', new URL(url).pathname + new URL(url).search);

    it('step 1 is signed and names SHA1 and a download_url; the download is unsigned and hashes to it', async () => {
      const res = await step1(t, `/v3/bill/tradebill?bill_date=${day}&bill_type=ALL`);
      expect(res.statusCode).toBe(200);
      expect(res.headers['wechatpay-signature']).toBeTruthy();
      const q = res.json();
      expect(q).toEqual({
        hash_type: 'SHA1',
        hash_value: expect.stringMatching(/^[0-9a-f]{40}$/),
        download_url: expect.stringMatching(/\/v3\/billdownload\/file\?token=[0-9a-f]{40}$/),
      });
      expect(q.download_url.startsWith(`${t.ctx.publicUrl}/v3/billdownload/file?token=`)).toBe(true);
      const file = await download(t, q.download_url);
      expect(file.statusCode).toBe(200);
      expect(file.headers['wechatpay-signature']).toBeUndefined();
      expect(file.headers['wechatpay-serial']).toBeUndefined();
      expect(createHash('sha1').update(file.rawPayload).digest('hex')).toBe(q.hash_value);
    });

    it('the CSV is BOM + CRLF + backtick cells, amounts in yuan; wechatpay-axios-plugin parses it', async () => {
      const q = (await step1(t, `/v3/bill/tradebill?bill_date=${day}`)).json();
      const bytes = (await download(t, q.download_url)).rawPayload;
      expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
      const text = bytes.subarray(3).toString('utf8');
      const lines = text.split('\r\n');
      expect(lines.at(-1)).toBe('');
      expect(text.replaceAll('\r\n', '')).not.toMatch(/[\r\n]/);
      const header = lines[0]!.split(',');
      expect(header).toHaveLength(27);
      expect(header[0]).toBe('交易时间');
      for (const line of [...lines.slice(1, -3), lines.at(-2)!]) {
        expect(line.startsWith('`')).toBe(true);
        expect(line.slice(1).split(',`')).toHaveLength(line === lines.at(-2) ? 7 : 27);
      }
      const { rows, summary } = Formatter.castCsvBill(bytes) as {
        rows: Record<string, string>[];
        summary: Record<string, string>;
      };
      expect(rows).toHaveLength(3);
      const pay = rows.find((r) => r.商户订单号 === paidNos[0] && r.交易状态 === 'SUCCESS')!;
      expect(pay).toMatchObject({
        商户号: t.merchant.mchid,
        特约商户号: '0',
        交易类型: 'JSAPI',
        货币种类: 'CNY',
        应结订单金额: '100.00',
        订单金额: '100.00',
        手续费: '0.60000',
        费率: '0.60%',
        微信退款单号: '0',
      });
      expect(pay.交易时间).toMatch(new RegExp(`^${day} \\d{2}:\\d{2}:\\d{2}$`));
      // PIPL: the bill is an export, so 用户标识 is the payer's keyed pseudonym, never the OpenID.
      expect(pay.用户标识).toMatch(/^psn_[A-Za-z0-9_-]{22}$/);
      expect(text).not.toMatch(/\bo[A-Za-z0-9_-]{27}\b/);
      const tea = rows.find((r) => r.商户订单号 === paidNos[1])!;
      // 0.6% of 25.50 CNY = 15.3 fen → 15; free text loses its commas and line breaks.
      expect(tea).toMatchObject({
        应结订单金额: '25.50',
        手续费: '0.15000',
        商品名称: 'Tea\\  green\\nbox',
        商户数据包: 'a\\ b',
      });
      const ref = rows.find((r) => r.交易状态 === 'REFUND')!;
      // The refund of 25.00 of 100.00 returns a quarter of the 0.60 fee.
      expect(ref).toMatchObject({
        商户订单号: paidNos[0],
        商户退款单号: refundNo,
        退款金额: '25.00',
        申请退款金额: '25.00',
        应结订单金额: '0.00',
        手续费: '-0.15000',
        退款类型: 'ORIGINAL',
        退款状态: 'SUCCESS',
      });
      expect(summary).toEqual({
        总交易单数: '3',
        应结订单总金额: '125.50',
        退款总金额: '25.00',
        充值券退款总金额: '0.00',
        手续费总金额: '0.60',
        订单总金额: '125.50',
        申请退款总金额: '25.00',
      });
    });

    it('SUCCESS and REFUND bills carry their own columns; GZIP serves the same bill compressed', async () => {
      const success = (await step1(t, `/v3/bill/tradebill?bill_date=${day}&bill_type=SUCCESS`)).json();
      const s = Formatter.castCsvBill((await download(t, success.download_url)).rawPayload) as {
        rows: Record<string, string>[];
      };
      expect(s.rows).toHaveLength(2);
      expect(Object.keys(s.rows[0]!)).not.toContain('退款金额');
      const refunds = (await step1(t, `/v3/bill/tradebill?bill_date=${day}&bill_type=REFUND`)).json();
      const r = Formatter.castCsvBill((await download(t, refunds.download_url)).rawPayload) as {
        rows: Record<string, string>[];
      };
      expect(r.rows).toHaveLength(1);
      expect(r.rows[0]!.退款申请时间).toMatch(new RegExp(`^${day} `));
      const gz = (await step1(t, `/v3/bill/tradebill?bill_date=${day}&tar_type=GZIP`)).json();
      const file = await download(t, gz.download_url);
      expect(file.headers['content-type']).toBe('application/x-gzip');
      const plain = gunzipSync(file.rawPayload);
      expect(createHash('sha1').update(plain).digest('hex')).toBe(gz.hash_value);
    });

    it('the fund-flow bill lists every movement of the merchant account with the running balance', async () => {
      const q = (await step1(t, `/v3/bill/fundflowbill?bill_date=${day}&account_type=BASIC`)).json();
      const file = await download(t, q.download_url);
      expect(createHash('sha1').update(file.rawPayload).digest('hex')).toBe(q.hash_value);
      const { rows, summary } = Formatter.castCsvBill(file.rawPayload) as {
        rows: Record<string, string>[];
        summary: Record<string, string>;
      };
      expect(rows.map((r) => [r.业务名称, r.收支类型, r['收支金额(元)']])).toEqual([
        ['交易', '收入', '100.00'],
        ['扣除交易手续费', '支出', '0.60'],
        ['交易', '收入', '25.50'],
        ['扣除交易手续费', '支出', '0.15'],
        ['退还交易手续费', '收入', '0.15'],
        ['退款', '支出', '25.00'],
      ]);
      const cents = (y: string) => Math.round(Number(y) * 100);
      const start = cents(rows[0]!['账户结余(元)']!) - 10_000;
      expect(cents(rows.at(-1)!['账户结余(元)']!)).toBe(start + 10_000 - 60 + 2_550 - 15 + 15 - 2_500);
      expect(rows.at(-1)!.业务凭证号).toBe(refundNo);
      expect(summary).toEqual({
        资金流水总笔数: '6',
        收入笔数: '3',
        收入金额: '125.65',
        支出笔数: '3',
        支出金额: '25.75',
      });
      const none = await step1(t, `/v3/bill/fundflowbill?bill_date=${day}&account_type=OPERATION`);
      expect(none.json().code).toBe('NO_STATEMENT_EXIST');
      // ALL: every account, and only the basic one has flows.
      const all = (await step1(t, `/v3/bill/fundflowbill?bill_date=${day}&account_type=ALL`)).json();
      expect(all.hash_value).toBe(q.hash_value);
    });

    it('a token works only for its merchant and only for 5 minutes', async () => {
      const q = (await step1(t, `/v3/bill/tradebill?bill_date=${day}`)).json();
      const stolen = await download(other, q.download_url);
      expect(stolen.statusCode).toBe(403);
      expect(stolen.json().code).toBe('NO_AUTH');
      expect((await download(t, `${t.ctx.publicUrl}/v3/billdownload/file?token=feedface`)).json().code).toBe(
        'INVALID_REQUEST',
      );
      t.clock.advance(5 * 60 * 1000);
      const late = await download(t, q.download_url);
      expect(late.statusCode).toBe(400);
      expect(late.json().code).toBe('INVALID_REQUEST');
      const unsigned = await t.app.inject({ method: 'GET', url: new URL(q.download_url).pathname });
      expect(unsigned.statusCode).toBe(401);
    });

    it('bill_date: no trades → NO_STATEMENT_EXIST; today, the future or over 3 months ago → INVALID_REQUEST', async () => {
      const empty = await step1(t, `/v3/bill/tradebill?bill_date=${chinaDay(t.clock.now() - 10 * day_ms)}`);
      expect(empty.statusCode).toBe(400);
      expect(empty.json().code).toBe('NO_STATEMENT_EXIST');
      expect((await step1(other, `/v3/bill/tradebill?bill_date=${day}`)).json().code).toBe(
        'NO_STATEMENT_EXIST',
      );
      for (const date of [
        chinaDay(t.clock.now()),
        chinaDay(t.clock.now() + day_ms),
        chinaDay(t.clock.now() - 100 * day_ms),
      ]) {
        const res = await step1(t, `/v3/bill/tradebill?bill_date=${date}`);
        expect(res.statusCode, date).toBe(400);
        expect(res.json()).toMatchObject({ code: 'INVALID_REQUEST', detail: { field: 'bill_date' } });
      }
      for (const date of ['2026-02-30', '20260101', 'yesterday']) {
        const res = await step1(t, `/v3/bill/tradebill?bill_date=${date}`);
        expect(res.statusCode, date).toBe(400);
        expect(res.json().code).toBe('PARAM_ERROR');
      }
      // Types APIv3 names that the sandbox has no bills of (reference §3.5); an unknown one is refused.
      for (const type of ['RECHARGE_REFUND', 'ALL_SPECIAL', 'SUC_SPECIAL', 'REF_SPECIAL']) {
        const res = await step1(t, `/v3/bill/tradebill?bill_date=${day}&bill_type=${type}`);
        expect([res.statusCode, res.json().code], type).toEqual([400, 'NO_STATEMENT_EXIST']);
      }
      expect((await step1(t, `/v3/bill/tradebill?bill_date=${day}&bill_type=SPECIAL`)).json().code).toBe(
        'PARAM_ERROR',
      );
    });

    it('the ledger audit is clean after all of it', async () => {
      expect(await audit(t.ctx.db)).toEqual(cleanAudit);
    });
  });
});

describe.each(dialects)('AI eligibility (%s)', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await openTestApp(dialect, { eligible: false, app: { background: false, operatorToken } });
  });
  afterAll(() => t.close());

  const operator = (method: 'GET' | 'POST', body?: unknown, token = operatorToken) =>
    t.app.inject({
      method,
      url: `/v1/operator/merchants/${t.merchant.mchid}/ai-eligibility`,
      headers: { authorization: `Bearer ${token}` },
      ...(body ? { payload: body } : {}),
    });

  it('refuses every Fraud Shield endpoint below 10,000 CNY, stating the volume and the threshold; bills nothing', async () => {
    const openid = t.merchant.payers[0]!.openid;
    const res = await signedRequest(t, 'POST', '/v1/risk/assessments', assessment(openid));
    expect(res.statusCode).toBe(403);
    expect(res.json().code).toBe('AI_NOT_ELIGIBLE');
    expect(res.json().message).toContain('Current volume: 0.00 CNY');
    expect(res.json().message).toContain('threshold: 10000.00 CNY');
    expect(res.json().message).toContain('trailing 30 days');
    for (const [method, url] of [
      ['GET', '/v1/risk/rules'],
      ['GET', '/v1/risk/assessments/ra_x'],
      ['GET', '/v1/risk/batches/rb_x'],
      ['POST', '/v1/risk/assessments/batch'],
    ] as const) {
      const r = await signedRequest(t, method, url, method === 'POST' ? { items: [] } : undefined);
      expect(r.json().code, url).toBe('AI_NOT_ELIGIBLE');
    }
    expect(await countRows(t, 'risk_assessments')).toBe(0);
    expect(await countRows(t, 'usage_records')).toBe(0);
    expect((await signedRequest(t, 'GET', '/v1/billing/eligibility')).json()).toMatchObject({
      eligible: false,
      volume_fen: 0,
      threshold_fen: 1_000_000,
      window: 'trailing 30 days of captured payments, net of refunds',
      granted_by_operator: false,
    });
  });

  it('payments still pass the Fraud Shield for an ineligible merchant (the platform’s own check)', async () => {
    const res = await paidOrder(t, 1_000);
    expect(res.result.trade_state).toBe('SUCCESS');
    const risk = await signedRequest(t, 'POST', '/v1/risk/assessments', assessment(res.payer));
    expect(risk.json().message).toContain('Current volume: 10.00 CNY');
  });

  it('the operator API refuses merchant signatures and wrong tokens; the operator grants, audited', async () => {
    const signed = await signedRequest(
      t,
      'POST',
      `/v1/operator/merchants/${t.merchant.mchid}/ai-eligibility`,
      {
        granted: true,
        reason: 'pilot',
      },
    );
    expect(signed.statusCode).toBe(401);
    expect(signed.json().code).toBe('SIGN_ERROR');
    expect((await operator('POST', { granted: true, reason: 'x' }, 'wrong-token')).statusCode).toBe(401);
    const bearerOnMerchantApi = await t.app.inject({
      method: 'GET',
      url: '/v1/billing/eligibility',
      headers: { authorization: `Bearer ${operatorToken}` },
    });
    expect(bearerOnMerchantApi.statusCode).toBe(401);
    const unknown = await t.app.inject({
      method: 'POST',
      url: '/v1/operator/merchants/1999999999/ai-eligibility',
      headers: { authorization: `Bearer ${operatorToken}` },
      payload: { granted: true, reason: 'x' },
    });
    expect(unknown.json().code).toBe('MCH_NOT_EXISTS');
    const unknownRead = await t.app.inject({
      method: 'GET',
      url: '/v1/operator/merchants/1999999999/ai-eligibility',
      headers: { authorization: `Bearer ${operatorToken}` },
    });
    expect(unknownRead.json().code).toBe('MCH_NOT_EXISTS');

    const granted = await operator('POST', { granted: true, reason: 'pilot customer', operator: 'bob' });
    expect(granted.statusCode).toBe(200);
    expect(granted.json()).toMatchObject({
      eligible: true,
      granted_by_operator: true,
      grant: { granted: true, reason: 'pilot customer', actor: 'operator:bob' },
    });
    expect((await signedRequest(t, 'GET', '/v1/risk/rules')).statusCode).toBe(200);
    const entries = await t.ctx.db
      .selectFrom('audit_log')
      .select(['actor', 'action', 'target', 'detail_json'])
      .where('action', 'like', 'billing.ai_eligibility.%')
      .execute();
    expect(entries).toEqual([
      {
        actor: 'operator:bob',
        action: 'billing.ai_eligibility.grant',
        target: `merchant:${t.merchant.mchid}`,
        detail_json: JSON.stringify({ reason: 'pilot customer' }),
      },
    ]);

    const revoked = await operator('POST', { granted: false, reason: 'pilot over' });
    expect(revoked.json()).toMatchObject({ eligible: false, granted_by_operator: false });
    expect((await signedRequest(t, 'GET', '/v1/risk/rules')).json().code).toBe('AI_NOT_ELIGIBLE');
    expect((await operator('GET')).json()).toMatchObject({ eligible: false, grant: { granted: false } });
  });

  it('volume qualifies: captured payments of the trailing 30 days, net of refunds', async () => {
    const seeded = await seedDemoHistory(t.ctx, t.merchant.mchid, t.merchant.appid);
    expect(seeded.volume_fen).toBeGreaterThanOrEqual(1_000_000);
    expect((await signedRequest(t, 'GET', '/v1/risk/rules')).statusCode).toBe(200);
    const e = (await signedRequest(t, 'GET', '/v1/billing/eligibility')).json();
    expect(e).toMatchObject({ eligible: true, granted_by_operator: false, volume_fen: seeded.volume_fen });
    // Refunds in the window count against the volume: refund seeded orders until below the threshold
    // (the merchant trusts its own refunds with a rule, so the Fraud Shield does not get in the way).
    const rule = await signedRequest(t, 'POST', '/v1/risk/rules', { rule: "allow if type == 'refund'" });
    expect(rule.statusCode).toBe(201);
    const biggest = await t.ctx.db
      .selectFrom('orders')
      .selectAll()
      .where('mchid', '=', t.merchant.mchid)
      .where('out_trade_no', 'like', 'DEMO%')
      .orderBy('amount_total', 'desc')
      .execute();
    let refunded = 0;
    for (const o of biggest) {
      if (seeded.volume_fen - refunded < 1_000_000) break;
      const total = Number(o.amount_total);
      const res = await refund(t, o.out_trade_no, `VOLUME-${o.out_trade_no}`, total, total);
      expect(res.statusCode).toBe(200);
      refunded += total;
    }
    const after = (await signedRequest(t, 'GET', '/v1/billing/eligibility')).json();
    expect(after).toMatchObject({ eligible: false, volume_fen: seeded.volume_fen - refunded });
    // An eligible merchant stays cached for a minute on this node; then the refunds tell.
    expect((await signedRequest(t, 'GET', '/v1/risk/rules')).statusCode).toBe(200);
    t.clock.advance(61_000);
    const refused = (await signedRequest(t, 'GET', '/v1/risk/rules')).json();
    expect(refused.code).toBe('AI_NOT_ELIGIBLE');
    expect(refused.message).toContain(`Current volume: ${(after.volume_fen / 100).toFixed(2)} CNY`);
    // Thirty days later the seeded history has left the window.
    t.clock.advance(30 * day_ms);
    expect((await signedRequest(t, 'GET', '/v1/billing/eligibility')).json()).toMatchObject({
      eligible: false,
      volume_fen: 0,
    });
    expect(await audit(t.ctx.db)).toEqual(cleanAudit);
  });
});

describe.each(dialects)('the demo merchant (%s)', (dialect) => {
  it('qualifies through seeded history: captured orders, their fees, a clean ledger; a restart seeds nothing', async () => {
    const db = await openTestDb(dialect);
    const dir = mkdtempSync(join(tmpdir(), 'zhifu-demo-'));
    try {
      const config = loadConfig({ ZHIFU_DATA_DIR: dir });
      const { credentials } = await seedDemo(db.ctx, config);
      const { aiEligibility } = await import('../src/modules/billing/index.ts');
      const e = await aiEligibility(db.ctx.db, credentials.mchid, db.clock.now());
      expect(e).toMatchObject({ eligible: true, granted_by_operator: false });
      expect(e.volume_fen).toBeGreaterThanOrEqual(1_000_000);
      const orders = await db.ctx.db
        .selectFrom('orders')
        .select(['trade_state', 'success_time', 'amount_total', 'id'])
        .where('mchid', '=', credentials.mchid)
        .execute();
      expect(orders.length).toBeGreaterThan(5);
      for (const o of orders) {
        expect(o.trade_state).toBe('SUCCESS');
        expect(Number(o.success_time)).toBeGreaterThan(db.clock.now() - 30 * day_ms);
        expect(Number(o.success_time)).toBeLessThan(db.clock.now());
      }
      const fees = await db.ctx.db
        .selectFrom('processing_fees')
        .select((eb) => eb.fn.sum<number>('fee_fen').as('s'))
        .where('mchid', '=', credentials.mchid)
        .executeTakeFirstOrThrow();
      expect(Number(fees.s)).toBe(orders.reduce((s, o) => s + processingFee(Number(o.amount_total)), 0));
      expect(await audit(db.ctx.db)).toEqual(cleanAudit);
      const again = await seedDemoHistory(db.ctx, credentials.mchid, credentials.appid);
      expect(again.orders).toBe(0);
      // A month later the history has aged out: the top-up reuses its customer, funded again.
      const payers = () =>
        db.ctx.db.selectFrom('openids').select('openid').where('appid', '=', credentials.appid).execute();
      const before = (await payers()).length;
      db.clock.advance(31 * day_ms);
      const topUp = await seedDemoHistory(db.ctx, credentials.mchid, credentials.appid);
      expect(topUp.orders).toBeGreaterThan(5);
      expect(topUp.volume_fen).toBeGreaterThanOrEqual(1_000_000);
      expect((await payers()).length).toBe(before);
      expect(await audit(db.ctx.db)).toEqual(cleanAudit);
    } finally {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

interface PluginReply<T> {
  status: number;
  data: T;
  headers: Record<string, string | undefined>;
}
interface PluginGet {
  get<T = unknown>(config?: object): Promise<PluginReply<T>>;
}
/** The part of wechatpay-axios-plugin's URL chain used here. */
interface BillChain {
  v3: { bill: { tradebill: PluginGet; fundflowbill: PluginGet }; billdownload: { file: PluginGet } };
}

describe.each(dialects)('bills through the official wechatpay-axios-plugin 0.9.6 (%s)', (dialect) => {
  let t: TestApp;
  let api: BillChain;
  let billDate: string;
  beforeAll(async () => {
    t = await openTestApp(dialect, { realClock: true, listen: true });
    billDate = await seedBillHistory(t);
    const m = t.merchant;
    api = new Wechatpay({
      mchid: m.mchid,
      serial: m.merchant_serial_no,
      privateKey: m.merchant_private_key_pem,
      certs: { [m.platform_serial_no]: m.platform_certificate_pem },
      baseURL: `${t.ctx.publicUrl}/`,
    }) as unknown as BillChain;
  });
  afterAll(() => t?.close());

  it('verifies the signed step 1, downloads the unsigned file and parses it with Formatter.castCsvBill', async () => {
    const q = await api.v3.bill.tradebill.get<{
      hash_type: string;
      hash_value: string;
      download_url: string;
    }>({
      params: { bill_date: billDate, bill_type: 'ALL' },
    });
    expect(q.status).toBe(200);
    expect(q.data.hash_type).toBe('SHA1');
    const token = new URL(q.data.download_url).searchParams.get('token');
    const file = await api.v3.billdownload.file.get<ArrayBuffer>({
      params: { token },
      responseType: 'arraybuffer',
    });
    expect(file.status).toBe(200);
    expect(file.headers['wechatpay-signature']).toBeUndefined();
    const bytes = Buffer.from(file.data);
    expect(createHash('sha1').update(bytes).digest('hex')).toBe(q.data.hash_value);
    const { rows, summary } = Formatter.castCsvBill(bytes) as {
      rows: Record<string, string>[];
      summary: Record<string, string>;
    };
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) {
      expect(r.商户号).toBe(t.merchant.mchid);
      expect(r.交易状态).toBe('SUCCESS');
      expect(r.应结订单金额).toMatch(/^\d+\.\d{2}$/);
    }
    expect(summary.总交易单数).toBe(String(rows.length));
    const fund = await api.v3.bill.fundflowbill.get<{ hash_value: string }>({
      params: { bill_date: billDate, account_type: 'BASIC' },
    });
    expect(fund.status).toBe(200);
    expect(fund.data.hash_value).toMatch(/^[0-9a-f]{40}$/);
  });
});
