/**
 * The demo merchant's transaction history (DESIGN.md "Billing": the demo merchant qualifies for AI
 * features). A simulated sandbox payer, funded from the sandbox issuer by a normal journal, paid a
 * series of orders over the trailing 30 days: each order is a captured JSAPI order with its payment
 * journal (payer's wallet → merchant) and its processing fee, written in one transaction exactly as
 * a capture writes them, so bills, statements and the ledger audit all agree with it. Volume ages
 * out of the 30-day window, so this tops the history up whenever the merchant has fallen below the
 * threshold (every start of `zhifu serve`).
 */
import type { Ctx } from '../../context.ts';
import { assert } from '../../lib/assert.ts';
import { chinaDate } from '../../lib/clock.ts';
import { alphanumeric, digits, hex, prefixed } from '../../lib/ids.ts';
import { ai_eligibility_volume_fen_min } from '../../lib/limits.ts';
import { requestHash } from '../idempotency/index.ts';
import * as ledger from '../ledger/index.ts';
import * as merchants from '../merchants/index.ts';
import * as wallet from '../wallet/index.ts';
import * as repo from './billing.repository.ts';
import { aiEligibility } from './eligibility.service.ts';
import { chargeProcessingFee } from './fees.service.ts';

/** Seed up to this volume (12,888 CNY): above the threshold with room for a few demo refunds. */
const demo_volume_target_fen = 1_288_800;
const amounts_fen = [38_800, 128_800, 6_600, 52_000, 99_900, 18_800, 268_800, 12_345, 45_600, 88_800];
const hour_ms = 3_600_000;
const day_ms = 24 * hour_ms;

export interface SeededHistory {
  orders: number;
  amount_fen: number;
  volume_fen: number;
}

export async function seedDemoHistory(ctx: Ctx, mchid: string, appid: string): Promise<SeededHistory> {
  const now = ctx.clock.now();
  const before = await aiEligibility(ctx.db, mchid, now);
  if (before.volume_fen >= ai_eligibility_volume_fen_min) {
    return { orders: 0, amount_fen: 0, volume_fen: before.volume_fen };
  }
  const amounts: number[] = [];
  let total = 0;
  for (let i = 0; total < demo_volume_target_fen - before.volume_fen; i++) {
    const amount = amounts_fen[i % amounts_fen.length]!;
    amounts.push(amount);
    total += amount;
  }
  const merchant = await merchants.findMerchant(ctx.db, mchid);
  assert(merchant, `demo merchant ${mchid} missing`);
  // One history customer per app, made on the first top-up and funded again by each later one.
  const { payer, created } = await wallet.createSimulatedPayer(ctx, {
    appid,
    name: '历史顾客 Demo history customer',
    balance_fen: total,
    account_age_days: 400,
    external_ref: 'demo-history-customer',
  });
  const instrument = await wallet.instrumentById(ctx.db, payer.instruments[0]!.id);
  assert(instrument, 'simulated payer without its wallet');
  await ctx.db.transaction().execute(async (trx) => {
    if (!created) {
      await ledger.post(trx, {
        id: prefixed(ctx.ids, 'jnl_fund'),
        kind: 'funding',
        refId: payer.user_id,
        postings: [
          { accountId: wallet.issuer_account_id, amount: -total },
          { accountId: instrument.account_id, amount: total },
        ],
        now,
        onInsufficient: 'system_error',
      });
    }
    for (const [i, amount] of amounts.entries()) {
      // Spread over the window: from 29 days ago up to an hour ago, oldest first.
      const paidAt = now - 29 * day_ms + Math.floor(((28 * day_ms + 23 * hour_ms) * i) / amounts.length);
      const id = prefixed(ctx.ids, 'ord');
      const outTradeNo = `DEMO${chinaDate(paidAt)}${hex(ctx.ids, 8)}`;
      const body = {
        appid,
        mchid,
        description: '智付演示历史订单 Demo history order',
        out_trade_no: outTradeNo,
        notify_url: 'https://merchant.example.com/notify',
        amount: { total: amount, currency: 'CNY' },
        payer: { openid: payer.openid },
      };
      await repo.insertOrder(trx, {
        id,
        mchid,
        appid,
        out_trade_no: outTradeNo,
        trade_type: 'JSAPI',
        description: body.description,
        attach: null,
        notify_url: body.notify_url,
        amount_total: amount,
        currency: 'CNY',
        payer_openid: payer.openid,
        prepay_id: `wx${hex(ctx.ids, 34)}`,
        code_token: alphanumeric(ctx.ids, 16),
        time_expire: paidAt + 2 * hour_ms,
        prepay_expires_at: paidAt + 2 * hour_ms,
        trade_state: 'SUCCESS',
        transaction_id: `4200${chinaDate(paidAt)}${digits(ctx.ids, 16)}`,
        success_time: paidAt,
        bank_type: instrument.bank_type,
        paid_openid: payer.openid,
        instrument_id: instrument.id,
        payer_total: amount,
        refunded_total: 0,
        refund_count: 0,
        request_hash: requestHash('JSAPI', body),
        extra_json: '{}',
        created_at: paidAt - 60_000,
        updated_at: paidAt,
      });
      await ledger.post(trx, {
        id: `jnl_pay_${id}`,
        kind: 'payment',
        refId: id,
        postings: [
          { accountId: instrument.account_id, amount: -amount },
          { accountId: merchant.account_id, amount },
        ],
        now: paidAt,
        onInsufficient: 'system_error',
      });
      await chargeProcessingFee(trx, {
        orderId: id,
        mchid,
        merchantAccountId: merchant.account_id,
        amountFen: amount,
        now: paidAt,
      });
    }
  });
  const after = await aiEligibility(ctx.db, mchid, now);
  return { orders: amounts.length, amount_fen: total, volume_fen: after.volume_fen };
}
