/**
 * APIv3 behaviour of the less-travelled paths, each against the reference section it follows:
 * refund amounts of a discounted order, funds_account and amount.from, refunds of unpaid or
 * year-old orders, a repeated create on a closed order, the 5-minute h5_url.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestApp, type TestApp } from './harness.ts';
import { createPromotion, jsapiOrder, payAs, signedRequest } from './requests.ts';

const ICBC = 'ins_zhangwei_icbc_debit';
const minute = 60_000;

describe('APIv3 details of refunds and prepay ids (sqlite)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await openTestApp('sqlite', { app: { checkout: { explorationShare: 0 }, background: false } });
  });
  afterAll(() => t.close());

  const nativeOrder = (over: Record<string, unknown> = {}) => {
    const { payer: _p, ...o } = jsapiOrder(t, over);
    return o;
  };

  it('refund of a discounted order reports payer_total/payer_refund/discount_refund (ref §3.4)', async () => {
    await createPromotion(t, { budget_fen: 1_000 });
    const o = jsapiOrder(t, { amount: { total: 10_000, currency: 'CNY' } });
    const { prepay_id } = (await signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', o)).json();
    const paid = await payAs(t, prepay_id, t.merchant.payers[0]!.openid, { instrumentId: ICBC });
    expect(paid.statusCode).toBe(200);
    expect(paid.json().amount.payer_total).toBe(9_000);
    const refund = await signedRequest(t, 'POST', '/v3/refund/domestic/refunds', {
      out_trade_no: o.out_trade_no,
      out_refund_no: `${o.out_trade_no}R1`,
      amount: { refund: 5_000, total: 10_000, currency: 'CNY' },
    });
    expect(refund.statusCode).toBe(200);
    // The payer paid 90.00 of 100.00; half is refunded: the payer gets 45.00, the discount share 5.00.
    expect(refund.json().amount).toMatchObject({
      total: 10_000,
      refund: 5_000,
      payer_total: 9_000,
      payer_refund: 4_500,
      discount_refund: 500,
    });
  });

  it('an identical Native prepay re-call on a closed order answers 400 ORDER_CLOSED (ref §3.1, §9)', async () => {
    const o = nativeOrder();
    const first = await signedRequest(t, 'POST', '/v3/pay/transactions/native', o);
    expect(first.statusCode).toBe(200);
    const close = await signedRequest(
      t,
      'POST',
      `/v3/pay/transactions/out-trade-no/${o.out_trade_no}/close`,
      {
        mchid: t.merchant.mchid,
      },
    );
    expect(close.statusCode).toBe(204);
    const again = await signedRequest(t, 'POST', '/v3/pay/transactions/native', o);
    expect({ status: again.statusCode, body: again.json() }).toMatchObject({
      status: 400,
      body: { code: 'ORDER_CLOSED' },
    });
  });

  it('an h5_url is valid for 5 minutes (ref §3.1 "h5_url 5 min")', async () => {
    const o = nativeOrder({
      scene_info: { payer_client_ip: '14.23.150.211', h5_info: { type: 'Wap' } },
    });
    const { h5_url } = (await signedRequest(t, 'POST', '/v3/pay/transactions/h5', o)).json();
    const prepayId = new URL(h5_url).searchParams.get('prepay_id')!;
    t.clock.advance(6 * minute);
    const paid = await payAs(t, prepayId, t.merchant.payers[0]!.openid);
    expect(paid.statusCode).toBe(400);
  });

  it('funds_account and amount.from are answered as asked; amount.from must add up to the refund (ref §3.4)', async () => {
    const o = jsapiOrder(t, { amount: { total: 300, currency: 'CNY' } });
    const { prepay_id } = (await signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', o)).json();
    expect((await payAs(t, prepay_id, t.merchant.payers[0]!.openid)).statusCode).toBe(200);
    const refund = await signedRequest(t, 'POST', '/v3/refund/domestic/refunds', {
      out_trade_no: o.out_trade_no,
      out_refund_no: `${o.out_trade_no}R1`,
      funds_account: 'AVAILABLE',
      amount: { refund: 100, total: 300, currency: 'CNY', from: [{ account: 'AVAILABLE', amount: 100 }] },
    });
    expect(refund.statusCode).toBe(200);
    expect(refund.json().funds_account).toBe('AVAILABLE');
    expect(refund.json().amount.from).toEqual([{ account: 'AVAILABLE', amount: 100 }]);
    const uneven = await signedRequest(t, 'POST', '/v3/refund/domestic/refunds', {
      out_trade_no: o.out_trade_no,
      out_refund_no: `${o.out_trade_no}R2`,
      amount: { refund: 100, total: 300, currency: 'CNY', from: [{ account: 'AVAILABLE', amount: 60 }] },
    });
    expect([uneven.statusCode, uneven.json().code, uneven.json().detail.field]).toEqual([
      400,
      'PARAM_ERROR',
      '/amount/from',
    ]);
  });

  it('a refund more than one year after payment answers TRADE_OVERDUE (ref §9, §3.4)', async () => {
    const o = jsapiOrder(t, { amount: { total: 300, currency: 'CNY' } });
    const { prepay_id } = (await signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', o)).json();
    expect((await payAs(t, prepay_id, t.merchant.payers[0]!.openid)).statusCode).toBe(200);
    t.clock.advance(367 * 24 * 3600_000);
    const refund = await signedRequest(t, 'POST', '/v3/refund/domestic/refunds', {
      out_trade_no: o.out_trade_no,
      out_refund_no: `${o.out_trade_no}R1`,
      amount: { refund: 100, total: 300, currency: 'CNY' },
    });
    expect(refund.json().code).toBe('TRADE_OVERDUE');
  });
});

describe('review-e probes, held payments (sqlite, real clock)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await openTestApp('sqlite', { realClock: true, app: { background: false } });
  });
  afterAll(() => t.close());

  it('a refund of a held (USERPAYING, unpaid) order answers 404 RESOURCE_NOT_EXISTS (ref §3.4)', async () => {
    expect(
      (await signedRequest(t, 'PUT', '/v1/notifications/settings', { decision_mode: 'realtime' })).statusCode,
    ).toBe(200);
    const o = jsapiOrder(t, { amount: { total: 2_000, currency: 'CNY' } });
    const { prepay_id } = (await signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', o)).json();
    const paid = await payAs(t, prepay_id, o.payer.openid);
    expect(paid.json().trade_state).toBe('USERPAYING');
    const refund = await signedRequest(t, 'POST', '/v3/refund/domestic/refunds', {
      out_trade_no: o.out_trade_no,
      out_refund_no: `${o.out_trade_no}R1`,
      amount: { refund: 100, total: 2_000, currency: 'CNY' },
    });
    expect({ status: refund.statusCode, body: refund.json() }).toMatchObject({
      status: 404,
      body: { code: 'RESOURCE_NOT_EXISTS' },
    });
    // Paying it again while it is held: ORDER_PAID, as the loser of a race is told.
    const again = await payAs(t, prepay_id, o.payer.openid, { device: 'another-phone' });
    expect([again.statusCode, again.json().code]).toEqual([403, 'ORDER_PAID']);
  });
});
