/**
 * Merchant isolation (issue "Eligibility": no merchant can read or act on another merchant's
 * objects, and no merchant credential reaches the operator API). Merchant A has an order, a refund,
 * an assessment, a batch, a rule, callbacks, events and a pending decision; merchant B, properly
 * signed with its own credentials, tries every one of them by id. Each attempt answers as if the
 * object did not exist (or B sees an empty list) and changes nothing of A's.
 */
import { hmacAuthorization } from '@zhifu/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { audit } from '../src/modules/ledger/index.ts';
import { addMerchant, dialects, openTestApp, type TestApp } from './harness.ts';
import { jsapiOrder, payAs, signedRequest } from './requests.ts';

const operatorToken = 'op-token-for-isolation-tests-0123456789';

describe.each(dialects)('merchant isolation (%s)', (dialect) => {
  let a: TestApp;
  let b: TestApp;
  const A: {
    outTradeNo: string;
    transactionId: string;
    outRefundNo: string;
    assessmentId: string;
    batchId: string;
    ruleId: string;
    heldNo: string;
    eventId: string;
    openid: string;
  } = {} as never;

  beforeAll(async () => {
    a = await openTestApp(dialect, { app: { background: false, operatorToken } });
    b = await addMerchant(a, 'Merchant B');
    A.openid = a.merchant.payers[0]!.openid;
    const order = jsapiOrder(a, { amount: { total: 5_000, currency: 'CNY' } });
    const created = await signedRequest(a, 'POST', '/v3/pay/transactions/jsapi', order);
    const paid = (await payAs(a, created.json().prepay_id, A.openid)).json();
    expect(paid.trade_state).toBe('SUCCESS');
    A.outTradeNo = order.out_trade_no;
    A.transactionId = paid.transaction_id;
    A.outRefundNo = `${order.out_trade_no}-R1`;
    const refund = await signedRequest(a, 'POST', '/v3/refund/domestic/refunds', {
      out_trade_no: A.outTradeNo,
      out_refund_no: A.outRefundNo,
      amount: { refund: 1_000, total: 5_000, currency: 'CNY' },
    });
    expect(refund.statusCode).toBe(200);
    const item = {
      type: 'payment',
      payer: { openid: A.openid },
      amount: { total: 1_234, currency: 'CNY' },
      device_fingerprint: 'iso-phone',
      ip: '203.0.113.20',
    };
    A.assessmentId = (await signedRequest(a, 'POST', '/v1/risk/assessments', item)).json().assessment_id;
    A.batchId = (
      await signedRequest(a, 'POST', '/v1/risk/assessments/batch', { items: [item] })
    ).json().batch_id;
    A.ruleId = (
      await signedRequest(a, 'POST', '/v1/risk/rules', { rule: 'review if amount > 999999' })
    ).json().rule_id;
    // A pending decision: realtime mode, nobody answers, the fake clock never reaches the deadline.
    await signedRequest(a, 'PUT', '/v1/notifications/settings', { decision_mode: 'realtime' });
    const held = jsapiOrder(a, { amount: { total: 2_000, currency: 'CNY' } });
    const heldRes = await signedRequest(a, 'POST', '/v3/pay/transactions/jsapi', held);
    const pending = (await payAs(a, heldRes.json().prepay_id, A.openid)).json();
    expect(pending.zhifu_decision.state).toBe('pending');
    A.heldNo = held.out_trade_no;
    A.eventId = pending.zhifu_decision.event_id;
  });
  afterAll(() => a.close());

  const asB = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, body?: unknown) =>
    signedRequest(b, method, url, body);

  it("B cannot query or close A's order, by out_trade_no or transaction_id", async () => {
    const byNo = await asB(
      'GET',
      `/v3/pay/transactions/out-trade-no/${A.outTradeNo}?mchid=${b.merchant.mchid}`,
    );
    expect([byNo.statusCode, byNo.json().code]).toEqual([404, 'ORDER_NOT_EXIST']);
    const byId = await asB('GET', `/v3/pay/transactions/id/${A.transactionId}?mchid=${b.merchant.mchid}`);
    expect([byId.statusCode, byId.json().code]).toEqual([404, 'ORDER_NOT_EXIST']);
    // Naming A's mchid does not help: the query's mchid must be the signer's.
    const claimed = await asB(
      'GET',
      `/v3/pay/transactions/out-trade-no/${A.outTradeNo}?mchid=${a.merchant.mchid}`,
    );
    expect(claimed.statusCode).toBe(400);
    const close = await asB('POST', `/v3/pay/transactions/out-trade-no/${A.heldNo}/close`, {
      mchid: b.merchant.mchid,
    });
    expect([close.statusCode, close.json().code]).toEqual([404, 'ORDER_NOT_EXIST']);
    const mine = await signedRequest(
      a,
      'GET',
      `/v3/pay/transactions/out-trade-no/${A.outTradeNo}?mchid=${a.merchant.mchid}`,
    );
    expect(mine.json().trade_state).toBe('REFUND');
  });

  it("B's out_trade_no namespace is its own: the same number is a new order, not A's", async () => {
    const order = { ...jsapiOrder(b), out_trade_no: A.outTradeNo };
    const res = await asB('POST', '/v3/pay/transactions/jsapi', order);
    expect(res.statusCode).toBe(200);
    const q = await asB('GET', `/v3/pay/transactions/out-trade-no/${A.outTradeNo}?mchid=${b.merchant.mchid}`);
    expect(q.json()).toMatchObject({ mchid: b.merchant.mchid, trade_state: 'NOTPAY' });
  });

  it("B cannot refund A's order or read A's refund; A's out_refund_no is not a replay for B", async () => {
    for (const ref of [{ out_trade_no: A.outTradeNo }, { transaction_id: A.transactionId }]) {
      const res = await asB('POST', '/v3/refund/domestic/refunds', {
        ...ref,
        out_refund_no: `B-${Date.now()}`,
        amount: { refund: 100, total: 5_000, currency: 'CNY' },
      });
      expect([res.statusCode, res.json().code]).toEqual([404, 'RESOURCE_NOT_EXISTS']);
    }
    const replay = await asB('POST', '/v3/refund/domestic/refunds', {
      transaction_id: A.transactionId,
      out_refund_no: A.outRefundNo,
      amount: { refund: 1_000, total: 5_000, currency: 'CNY' },
    });
    expect([replay.statusCode, replay.json().code]).toEqual([404, 'RESOURCE_NOT_EXISTS']);
    const read = await asB('GET', `/v3/refund/domestic/refunds/${A.outRefundNo}`);
    expect([read.statusCode, read.json().code]).toEqual([404, 'RESOURCE_NOT_EXISTS']);
    const order = await a.ctx.db
      .selectFrom('orders')
      .select(['refunded_total', 'refund_count'])
      .where('mchid', '=', a.merchant.mchid)
      .where('out_trade_no', '=', A.outTradeNo)
      .executeTakeFirstOrThrow();
    expect([Number(order.refunded_total), Number(order.refund_count)]).toEqual([1_000, 1]);
  });

  it("B cannot read or label A's assessment, read A's batch, delete A's rule, or score A's payers", async () => {
    const assessment = await asB('GET', `/v1/risk/assessments/${A.assessmentId}`);
    expect([assessment.statusCode, assessment.json().code]).toEqual([404, 'RESOURCE_NOT_EXISTS']);
    const label = await asB('POST', '/v1/risk/labels', { assessment_id: A.assessmentId, label: 'fraud' });
    expect([label.statusCode, label.json().code]).toEqual([404, 'RESOURCE_NOT_EXISTS']);
    const byRef = await asB('POST', '/v1/risk/labels', { out_trade_no: A.outTradeNo, label: 'fraud' });
    expect(byRef.statusCode).toBe(404);
    const batch = await asB('GET', `/v1/risk/batches/${A.batchId}`);
    expect([batch.statusCode, batch.json().code]).toEqual([404, 'RESOURCE_NOT_EXISTS']);
    expect(A.ruleId).toMatch(/\S/);
    const rule = await asB('DELETE', `/v1/risk/rules/${A.ruleId}`);
    expect([rule.statusCode, rule.json().code]).toEqual([404, 'RESOURCE_NOT_EXISTS']);
    expect((await asB('GET', '/v1/risk/rules')).json()).toEqual({ data: [] });
    const payer = await asB('POST', '/v1/risk/assessments', {
      type: 'payment',
      payer: { openid: A.openid },
      amount: { total: 100, currency: 'CNY' },
      device_fingerprint: 'b-phone',
      ip: '203.0.113.21',
    });
    expect([payer.statusCode, payer.json().code]).toEqual([404, 'USER_NOT_EXISTS']);
    const mine = (await signedRequest(a, 'GET', `/v1/risk/assessments/${A.assessmentId}`)).json();
    expect(mine.label).toBeNull();
    expect((await signedRequest(a, 'GET', '/v1/risk/rules')).json().data).toHaveLength(1);
  });

  it("B sees none of A's callbacks or events and cannot answer or resolve A's decisions", async () => {
    const aCallbacks = (
      await signedRequest(a, 'GET', `/v1/notifications/callbacks?ref=${A.outTradeNo}`)
    ).json();
    expect(aCallbacks.data.length).toBeGreaterThan(0);
    const callbacks = await asB('GET', `/v1/notifications/callbacks?ref=${A.outTradeNo}`);
    expect(callbacks.json()).toEqual({ data: [] });
    expect((await asB('GET', '/v1/notifications/callbacks')).json()).toEqual({ data: [] });
    const events = (await asB('GET', '/v1/notifications/events')).json();
    expect(JSON.stringify(events)).not.toContain(A.outTradeNo);
    expect(JSON.stringify(events)).not.toContain(a.merchant.mchid);
    const decide = await asB('POST', '/v1/decisions', { event_id: A.eventId, decision: 'approve' });
    expect([decide.statusCode, decide.json().code]).toEqual([404, 'RESOURCE_NOT_EXISTS']);
    const review = await asB('POST', `/v1/payments/${A.heldNo}/review`, { decision: 'approve' });
    expect([review.statusCode, review.json().code]).toEqual([404, 'ORDER_NOT_EXIST']);
    const held = await signedRequest(
      a,
      'GET',
      `/v3/pay/transactions/out-trade-no/${A.heldNo}?mchid=${a.merchant.mchid}`,
    );
    expect(held.json()).toMatchObject({ trade_state: 'USERPAYING', zhifu_decision: { state: 'pending' } });
  });

  it("B's billing shows none of A's business", async () => {
    const month = new Date(a.clock.now() + 8 * 3600 * 1000).toISOString().slice(0, 7);
    const s = (await asB('GET', `/v1/billing/statements/${month}`)).json();
    expect(s).toMatchObject({ mchid: b.merchant.mchid, payments: { count: 0 }, refunds: { count: 0 } });
    expect((await asB('GET', `/v1/billing/usage?month=${month}`)).json().total_fen).toBe(0);
    const aUsage = (await signedRequest(a, 'GET', `/v1/billing/usage?month=${month}`)).json();
    expect(aUsage.total_fen).toBeGreaterThan(0);
  });

  it('no merchant credential reaches the operator API; the operator token is no merchant credential', async () => {
    for (const who of [a, b]) {
      const res = await signedRequest(
        who,
        'POST',
        `/v1/operator/merchants/${who.merchant.mchid}/ai-eligibility`,
        {
          granted: true,
          reason: 'self-service',
        },
      );
      expect([res.statusCode, res.json().code]).toEqual([401, 'SIGN_ERROR']);
      const read = await signedRequest(
        who,
        'GET',
        `/v1/operator/merchants/${who.merchant.mchid}/ai-eligibility`,
      );
      expect(read.statusCode).toBe(401);
    }
    const asMerchant = await a.app.inject({
      method: 'GET',
      url: `/v3/pay/transactions/out-trade-no/${A.outTradeNo}?mchid=${a.merchant.mchid}`,
      headers: { authorization: `Bearer ${operatorToken}` },
    });
    expect(asMerchant.statusCode).toBe(401);
    const ok = await a.app.inject({
      method: 'GET',
      url: `/v1/operator/merchants/${b.merchant.mchid}/ai-eligibility`,
      headers: { authorization: `Bearer ${operatorToken}` },
    });
    expect(ok.statusCode).toBe(200);
  });

  it("A's key cannot sign as B: the mchid in the Authorization header must match the key", async () => {
    const url = '/v1/risk/rules';
    const authorization = hmacAuthorization({
      mchid: b.merchant.mchid,
      hmacKey: a.merchant.hmac_key,
      method: 'GET',
      url,
      body: '',
      timestamp: Math.floor(a.clock.now() / 1000),
    });
    const res = await a.app.inject({ method: 'GET', url, headers: { authorization } });
    expect([res.statusCode, res.json().code]).toEqual([401, 'SIGN_ERROR']);
    expect(await audit(a.ctx.db)).toEqual({ unbalancedJournals: 0, driftedAccounts: [], belowFloor: [] });
  });
});
