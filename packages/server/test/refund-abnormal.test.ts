/**
 * Refunds that cannot reach the payer (APIv3 §3.4 ABNORMAL and CLOSED, callbacks §5): the payer
 * closes the instrument that paid, a refund to it is accepted ABNORMAL with its money held apart,
 * and the sweep closes it after the window, the money back with the merchant.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Aes, Rsa } from 'wechatpay-axios-plugin';
import { refund_abnormal_close_ms } from '../src/lib/limits.ts';
import { audit, balanceOf } from '../src/modules/ledger/index.ts';
import { eventsAfter } from '../src/modules/notifications/index.ts';
import { closeAbnormalRefund, refundHoldAccountId } from '../src/modules/refunds/index.ts';
import { callbackReceiver as receiver } from './callback-receiver.ts';
import { dialects, openTestApp, type TestApp } from './harness.ts';
import { createPromotion, jsapiOrder, payAs, rowCount, signedRequest } from './requests.ts';

const clean = { unbalancedJournals: 0, driftedAccounts: [], belowFloor: [] };
const CMB = 'ins_zhangwei_cmb_credit';

describe.each(dialects)('a refund to a closed instrument (%s)', (dialect) => {
  let t: TestApp;
  let r: Awaited<ReturnType<typeof receiver>>;
  beforeAll(async () => {
    t = await openTestApp(dialect, { app: { background: false, callbacksAllowLoopback: true } });
    r = await receiver();
  });
  afterAll(async () => {
    await r.close();
    await t.close();
  });

  const zhang = () => t.merchant.payers[0]!.openid;
  const close = (instrumentId: string, openid: string) =>
    t.app.inject({
      method: 'POST',
      url: `/sandbox/v1/instruments/${instrumentId}/close`,
      payload: { openid },
    });
  const refund = (outTradeNo: string, no: string, amount: number) =>
    signedRequest(t, 'POST', '/v3/refund/domestic/refunds', {
      out_trade_no: outTradeNo,
      out_refund_no: no,
      amount: { refund: amount, total: 1_000, currency: 'CNY' },
    });
  const query = async (no: string) =>
    (await signedRequest(t, 'GET', `/v3/refund/domestic/refunds/${no}`)).json();
  const orderState = async (no: string) =>
    (
      await signedRequest(t, 'GET', `/v3/pay/transactions/out-trade-no/${no}?mchid=${t.merchant.mchid}`)
    ).json().trade_state;
  const merchantBalance = () => balanceOf(t.ctx.db, `acc_mch_${t.merchant.mchid}`);
  const holdBalance = () => balanceOf(t.ctx.db, refundHoldAccountId(t.merchant.mchid));
  const closedCount = async () =>
    Number(
      (
        await t.ctx.db
          .selectFrom('instruments')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('closed_at', 'is not', null)
          .executeTakeFirstOrThrow()
      ).n,
    );
  /** The decrypted resource of the receiver's callbacks of `type`, each checked signed by the platform. */
  const callbacksOf = (type: string) =>
    r.received
      .map((got) => {
        const h = got.headers as Record<string, string>;
        expect(
          Rsa.verify(
            `${h['wechatpay-timestamp']}\n${h['wechatpay-nonce']}\n${got.body}\n`,
            h['wechatpay-signature']!,
            t.merchant.platform_certificate_pem,
          ),
        ).toBe(true);
        return JSON.parse(got.body);
      })
      .filter((b) => b.event_type === type)
      .map((b) => ({
        body: b,
        resource: JSON.parse(
          Aes.AesGcm.decrypt(
            b.resource.ciphertext,
            t.merchant.apiv3_key,
            b.resource.nonce,
            b.resource.associated_data,
          ),
        ),
      }));

  async function paidOrder() {
    const order = jsapiOrder(t, { amount: { total: 1_000, currency: 'CNY' }, notify_url: r.url });
    const { prepay_id } = (await signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', order)).json();
    const paid = await payAs(t, prepay_id, zhang(), { instrumentId: CMB });
    expect(paid.json()).toMatchObject({ trade_state: 'SUCCESS', instrument_id: CMB });
    return order.out_trade_no as string;
  }

  it("closing an unknown instrument, another payer's, or for an unknown OpenID is refused and writes nothing", async () => {
    const unknown = await close('ins_nobody_card', zhang());
    expect([unknown.statusCode, unknown.json().code]).toEqual([400, 'INVALID_REQUEST']);
    const others = await close('ins_lina_balance', zhang());
    expect([others.statusCode, others.json().code]).toEqual([400, 'INVALID_REQUEST']);
    const nobody = await close(CMB, 'o-nobody');
    expect([nobody.statusCode, nobody.json().code]).toEqual([404, 'USER_NOT_EXISTS']);
    const bad = await t.app.inject({
      method: 'POST',
      url: `/sandbox/v1/instruments/${CMB}/close`,
      payload: { openid: zhang(), extra: 1 },
    });
    expect([bad.statusCode, bad.json().code]).toEqual([400, 'PARAM_ERROR']);
    expect(await closedCount()).toBe(0);
  });

  it('ends ABNORMAL with a REFUND.ABNORMAL callback, then CLOSED with a REFUND.CLOSED callback and the money back', async () => {
    const outTradeNo = await paidOrder();
    await t.app.zhifu.tick();
    const instrumentBefore = await balanceOf(t.ctx.db, `acc_${CMB}`);

    const closed = await close(CMB, zhang());
    expect(closed.statusCode).toBe(200);
    expect(closed.json()).toMatchObject({ id: CMB, last4: '0403', closed_at: expect.any(String) });
    t.clock.advance(1_000);
    const again = await close(CMB, zhang());
    expect(again.json()).toEqual(closed.json());
    expect(await closedCount()).toBe(1);
    const listed = await t.app.inject({ method: 'GET', url: `/sandbox/v1/payers/${zhang()}/instruments` });
    expect(listed.json().data.map((i: { id: string }) => i.id)).not.toContain(CMB);

    // Accepted, but the money cannot reach the payer: it leaves the merchant for the hold account.
    const merchantBefore = await merchantBalance();
    const res = await refund(outTradeNo, `${outTradeNo}A`, 400);
    expect(res.statusCode).toBe(200);
    const abnormal = res.json();
    expect(abnormal).toMatchObject({
      status: 'ABNORMAL',
      user_received_account: '招商银行信用卡0403',
      amount: { refund: 400, total: 1_000, payer_refund: 400 },
    });
    expect(abnormal).not.toHaveProperty('success_time');
    expect(await merchantBalance()).toBe(merchantBefore - 400);
    expect(await holdBalance()).toBe(400);
    expect(await balanceOf(t.ctx.db, `acc_${CMB}`)).toBe(instrumentBefore);
    expect(await query(`${outTradeNo}A`)).toEqual(abnormal);
    expect(await orderState(outTradeNo)).toBe('REFUND');

    // An abnormal refund still counts against the refundable amount.
    const over = await refund(outTradeNo, `${outTradeNo}B`, 700);
    expect([over.statusCode, over.json().code, over.json().detail.issue]).toEqual([
      400,
      'INVALID_REQUEST',
      'refundable: 600 fen',
    ]);
    // A replay answers the same refund and moves nothing.
    expect((await refund(outTradeNo, `${outTradeNo}A`, 400)).json()).toEqual(abnormal);
    expect(await merchantBalance()).toBe(merchantBefore - 400);

    await t.app.zhifu.tick();
    const [ab] = callbacksOf('REFUND.ABNORMAL');
    expect(ab!.body).toMatchObject({ resource: { original_type: 'refund', algorithm: 'AEAD_AES_256_GCM' } });
    expect(ab!.resource).toEqual({
      mchid: t.merchant.mchid,
      transaction_id: abnormal.transaction_id,
      out_trade_no: outTradeNo,
      refund_id: abnormal.refund_id,
      out_refund_no: `${outTradeNo}A`,
      refund_status: 'ABNORMAL',
      user_received_account: '招商银行信用卡0403',
      amount: { total: 1_000, refund: 400, payer_total: 1_000, payer_refund: 400 },
    });

    // Not before the window; at its end the sweep closes it.
    t.clock.advance(refund_abnormal_close_ms - 1);
    await t.app.zhifu.tick();
    expect((await query(`${outTradeNo}A`)).status).toBe('ABNORMAL');
    expect(callbacksOf('REFUND.CLOSED')).toHaveLength(0);
    t.clock.advance(1);
    await t.app.zhifu.tick();
    const closedRefund = await query(`${outTradeNo}A`);
    expect(closedRefund).toEqual({ ...abnormal, status: 'CLOSED' });
    expect(await merchantBalance()).toBe(merchantBefore);
    expect(await holdBalance()).toBe(0);
    expect(await balanceOf(t.ctx.db, `acc_${CMB}`)).toBe(instrumentBefore);
    expect(await orderState(outTradeNo)).toBe('SUCCESS');
    const [cl] = callbacksOf('REFUND.CLOSED');
    expect(cl!.resource).toMatchObject({
      refund_id: abnormal.refund_id,
      out_refund_no: `${outTradeNo}A`,
      refund_status: 'CLOSED',
      user_received_account: '招商银行信用卡0403',
      amount: { total: 1_000, refund: 400 },
    });
    expect(cl!.resource).not.toHaveProperty('success_time');
    expect(callbacksOf('REFUND.ABNORMAL')).toHaveLength(1);

    // The Zhifu events, in order.
    const events = (await eventsAfter(t.ctx.db, t.merchant.mchid, 0)).filter((e) =>
      e.type.startsWith('refund.'),
    );
    expect(events.map((e) => [e.type, e.data.status])).toEqual([
      ['refund.abnormal', 'ABNORMAL'],
      ['refund.closed', 'CLOSED'],
    ]);

    // The same out_refund_no is the same, closed refund; the amount is refundable again.
    expect((await refund(outTradeNo, `${outTradeNo}A`, 400)).json()).toEqual(closedRefund);
    expect(await merchantBalance()).toBe(merchantBefore);
    // (An abnormal refund takes its whole amount from the merchant's balance: the processing fee is
    // returned only with a delivered refund, so the 6 fen fee of this order is not there to draw on.)
    const whole = await refund(outTradeNo, `${outTradeNo}C`, 1_000);
    expect([whole.statusCode, whole.json().code]).toEqual([403, 'NOT_ENOUGH']);
    const partial = await refund(outTradeNo, `${outTradeNo}D`, 900);
    expect([partial.statusCode, partial.json().status]).toEqual([200, 'ABNORMAL']);
    expect(await holdBalance()).toBe(900);
    expect(await audit(t.ctx.db)).toEqual(clean);
  });

  it('a refund closes once, whatever sweeps race for it; the closed instrument cannot pay', async () => {
    // Zhang Wei's CMB card is closed now: naming it is refused, as another payer's card is.
    const order = jsapiOrder(t, { amount: { total: 1_000, currency: 'CNY' }, notify_url: r.url });
    const { prepay_id } = (await signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', order)).json();
    const refused = await payAs(t, prepay_id, zhang(), { instrumentId: CMB });
    expect([refused.statusCode, refused.json().code]).toEqual([400, 'INVALID_REQUEST']);

    const pending = await t.ctx.db
      .selectFrom('refunds')
      .select('refund_id')
      .where('status', '=', 'ABNORMAL')
      .executeTakeFirstOrThrow();
    const before = await rowCount(t, 'journals');
    const deps = { publish: () => {} };
    const results = await Promise.all([
      closeAbnormalRefund(t.ctx, deps, pending.refund_id),
      closeAbnormalRefund(t.ctx, deps, pending.refund_id),
    ]);
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await closeAbnormalRefund(t.ctx, deps, pending.refund_id)).toBe(false);
    expect(await rowCount(t, 'journals')).toBe(before + 1);
    expect(await holdBalance()).toBe(0);
    expect(await audit(t.ctx.db)).toEqual(clean);
  });
});

describe.each(dialects)('an abnormal refund of a discounted order (%s)', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await openTestApp(dialect, { app: { background: false } });
  });
  afterAll(() => t.close());

  it('reports the payer share and the discount share as a delivered refund would, and moves only the refund', async () => {
    const ICBC = 'ins_zhangwei_icbc_debit';
    const openid = t.merchant.payers[0]!.openid;
    await createPromotion(t); // ICBC debit: 10.00 off from 100.00
    // An abnormal refund takes its whole amount from the merchant's balance (no fee return yet):
    // another payment first gives the balance the 0.60 fee.
    const other = jsapiOrder(t, { amount: { total: 500, currency: 'CNY' } });
    const paidOther = (await signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', other)).json();
    await payAs(t, paidOther.prepay_id, openid, { instrumentId: 'ins_zhangwei_balance' });
    const order = jsapiOrder(t, { amount: { total: 10_000, currency: 'CNY' } });
    const { prepay_id } = (await signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', order)).json();
    expect((await payAs(t, prepay_id, openid, { instrumentId: ICBC })).json().amount.payer_total).toBe(9_000);
    const closed = await t.app.inject({
      method: 'POST',
      url: `/sandbox/v1/instruments/${ICBC}/close`,
      payload: { openid },
    });
    expect(closed.statusCode).toBe(200);
    const res = await signedRequest(t, 'POST', '/v3/refund/domestic/refunds', {
      out_trade_no: order.out_trade_no,
      out_refund_no: `${order.out_trade_no}R`,
      amount: { refund: 10_000, total: 10_000, currency: 'CNY' },
    });
    expect(res.json()).toMatchObject({
      status: 'ABNORMAL',
      amount: { refund: 10_000, payer_total: 9_000, payer_refund: 9_000, discount_refund: 1_000 },
    });
    t.clock.advance(refund_abnormal_close_ms);
    await t.app.zhifu.tick();
    expect(
      (await signedRequest(t, 'GET', `/v3/refund/domestic/refunds/${order.out_trade_no}R`)).json(),
    ).toMatchObject({
      status: 'CLOSED',
      amount: { payer_refund: 9_000, discount_refund: 1_000 },
    });
    expect(await audit(t.ctx.db)).toEqual(clean);
  });
});
