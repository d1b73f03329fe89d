/**
 * Smart Checkout (docs/checkout.md) on SQLite and PostgreSQL, over real HTTP: merchant calls go
 * through the SDK (signed requests, verified answers), payer confirmations through the sandbox API.
 * Covers ranking with eligibility and reasons, feature-version and field errors that store nothing,
 * promotions applied in payments with their ledger funding and budget exhaustion, a channel outage
 * demoting instruments, the bandit's update and logged propensities, and per-query billing.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { payerProof, type RankRequest, ZhifuApiError, ZhifuClient } from '@zhifu/sdk';
import SQLite from 'better-sqlite3';
import { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ctx, dataKeys } from '../src/context.ts';
import { openDatabase } from '../src/db/database.ts';
import { GroupCommitSqliteDialect } from '../src/db/group-commit.ts';
import type { Database } from '../src/db/schema.ts';
import { rfc3339, systemClock } from '../src/lib/clock.ts';
import { seededIds } from '../src/lib/ids.ts';
import { insertGrantForFixture } from '../src/modules/billing/index.ts';
import { findRanking } from '../src/modules/checkout/checkout.repository.ts';
import { rank } from '../src/modules/checkout/checkout.service.ts';
import {
  default_checkout_options,
  forgetState,
  isWarm,
  rankingForPayment,
} from '../src/modules/checkout/index.ts';
import { resolveOpenid } from '../src/modules/identity/index.ts';
import { audit } from '../src/modules/ledger/index.ts';
import { createMerchant } from '../src/modules/merchants/index.ts';
import { dialects, openTestApp, type TestApp } from './harness.ts';
import { jsapiOrder, signedRequest } from './requests.ts';

const ICBC = 'ins_zhangwei_icbc_debit';
const CMB = 'ins_zhangwei_cmb_credit';
const BALANCE = 'ins_zhangwei_balance';
const FENFU = 'ins_zhangwei_fenfu';
const minute = 60_000;

function rankRequest(t: TestApp, over: Partial<RankRequest> = {}, payer = 0): RankRequest {
  return {
    feature_version: 'checkout.v1',
    appid: t.merchant.appid,
    transaction: { amount: { total: 10_000, currency: 'CNY' }, mcc: '5411', scene: 'jsapi' },
    payer: { openid: t.merchant.payers[payer]!.openid },
    history: { window_days: 90, payments: 0, instruments: [] },
    ...over,
  };
}

async function count(
  t: TestApp,
  table: 'checkout_rankings' | 'usage_records' | 'checkout_promotions' | 'journals',
) {
  const r = await t.ctx.db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

async function balance(t: TestApp, accountId: string) {
  const r = await t.ctx.db
    .selectFrom('accounts')
    .select('balance')
    .where('id', '=', accountId)
    .executeTakeFirstOrThrow();
  return Number(r.balance);
}

/** The payer logs in and confirms over HTTP, optionally following a ranking. */
async function pay(
  t: TestApp,
  target: string,
  openid: string,
  o: { instrumentId?: string; rankingId?: string } = {},
): Promise<{ status: number; body: Record<string, unknown> & { code?: string } }> {
  const base = t.ctx.publicUrl;
  const device = `dev-${openid.slice(0, 16)}`;
  const post = (path: string, body: object) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const login = (await (
    await post('/sandbox/v1/login', { appid: t.merchant.appid, openid, device_fingerprint: device })
  ).json()) as { session_key: string };
  const timestamp = String(Math.floor(t.ctx.clock.now() / 1000));
  const nonce = `n${Math.random().toString(36).slice(2)}`;
  const signature = payerProof({
    target,
    openid,
    ...(o.instrumentId ? { instrumentId: o.instrumentId } : {}),
    deviceFingerprint: device,
    timestamp,
    nonce,
    sessionKey: login.session_key,
  });
  const res = await post('/sandbox/v1/pay', {
    prepay_id: target,
    openid,
    ...(o.instrumentId ? { instrument_id: o.instrumentId } : {}),
    ...(o.rankingId ? { ranking_id: o.rankingId } : {}),
    device_fingerprint: device,
    timestamp,
    nonce,
    signature,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function apiError(p: Promise<unknown>): Promise<ZhifuApiError> {
  try {
    await p;
  } catch (error) {
    if (error instanceof ZhifuApiError) return error;
    throw error;
  }
  throw new Error('expected an API error');
}

describe.each(dialects)('Smart Checkout on %s', (dialect) => {
  let t: TestApp;
  let client: ZhifuClient;

  beforeAll(async () => {
    t = await openTestApp(dialect, {
      listen: true,
      app: { checkout: { explorationShare: 0 }, background: false },
    });
    client = new ZhifuClient({
      baseUrl: t.ctx.publicUrl,
      mchid: t.merchant.mchid,
      auth: { scheme: 'hmac', hmacKey: t.merchant.hmac_key },
      maxRetries: 0,
    });
  });
  afterAll(() => t.close());

  async function order(amount: number, payer = 0) {
    const o = jsapiOrder(t, { amount: { total: amount, currency: 'CNY' } }, payer);
    const { prepay_id } = await client.createJsapiOrder(o);
    return { prepay_id, out_trade_no: o.out_trade_no };
  }

  it('ranks the instruments with eligibility reasons, and bills 0.01 CNY per query', async () => {
    const before = await count(t, 'usage_records');
    // ¥6,000: more than the wallet balance (¥5,000), the ICBC card's limit (¥5,000) and the credit line.
    const r = await client.rankInstruments(
      rankRequest(t, { transaction: { amount: { total: 600_000 }, mcc: '5732', scene: 'jsapi' } }),
    );
    expect(r.ranking_id).toMatch(/^rk_[0-9a-f]{24}$/);
    expect(r.instruments.map((i) => i.instrument_id)).toHaveLength(4);
    const [first, ...rest] = r.instruments;
    expect(first).toMatchObject({ instrument_id: CMB, rank: 1, eligible: true });
    expect(first!.p_complete).toBeGreaterThan(0.3);
    expect(first!.score).toBeGreaterThan(0);
    const byId = new Map(rest.map((i) => [i.instrument_id, i]));
    expect(byId.get(BALANCE)!.eligible).toBe(false);
    expect(byId.get(BALANCE)!.eligibility).toContainEqual({
      code: 'insufficient_balance',
      available_fen: 500_000,
      needed_fen: 600_000,
    });
    expect(byId.get(ICBC)!.eligibility).toContainEqual({
      code: 'over_card_limit',
      per_txn_limit_fen: 500_000,
    });
    expect(byId.get(ICBC)!.reasons.join(' ')).toContain('per-transaction limit of ¥5000.00');
    expect(byId.get(FENFU)!.eligibility.map((e) => e.code)).toEqual(['insufficient_balance']);
    expect(r.policy).toMatchObject({ name: 'linucb', exploration_share: 0, explored: false, propensity: 1 });

    const usage = await t.ctx.db
      .selectFrom('usage_records')
      .selectAll()
      .where('usage_key', '=', `checkout:${r.ranking_id}`)
      .executeTakeFirstOrThrow();
    expect(usage).toMatchObject({ kind: 'checkout', mchid: t.merchant.mchid, ref: r.ranking_id });
    expect(Number(usage.amount_fen)).toBe(1);
    expect(Number(usage.unit_price_fen)).toBe(1);
    expect(await count(t, 'usage_records')).toBe(before + 1);
    // The usage row names its fee's journal: fees due → the platform's fee account, 1 fen.
    expect(usage.journal_id).toBe(`jnl_ai_${usage.id}`);
    const postings = await t.ctx.db
      .selectFrom('postings')
      .select(['account_id', 'amount'])
      .where('journal_id', '=', usage.journal_id!)
      .orderBy('seq')
      .execute();
    expect(postings.map((p) => [p.account_id, Number(p.amount)])).toEqual([
      [`acc_due_${t.merchant.mchid}`, -1],
      [`acc_fees_${t.merchant.mchid}`, 1],
    ]);
  });

  it('answers with every instrument ineligible, and no propensity, when none can pay', async () => {
    // Liu Yang has ¥1.00 in the wallet and nothing else.
    const r = await client.rankInstruments(rankRequest(t, {}, 3));
    expect(r.instruments).toHaveLength(1);
    expect(r.instruments[0]).toMatchObject({ eligible: false, score: 0, p_complete: 0, rank: 1 });
    expect(r.instruments[0]!.eligibility[0]).toMatchObject({
      code: 'insufficient_balance',
      needed_fen: 10_000,
    });
    expect(r.policy).toMatchObject({ explored: false, propensity: null });
    const { prepay_id } = await order(10_000, 3);
    const paid = await pay(t, prepay_id, t.merchant.payers[3]!.openid, { rankingId: r.ranking_id });
    expect(paid.status).toBe(403);
    expect(paid.body.code).toBe('INSUFFICIENT_FUNDS');
    const row = await t.ctx.db
      .selectFrom('checkout_rankings')
      .selectAll()
      .where('id', '=', r.ranking_id)
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({
      top_instrument_id: null,
      succeeded: 0,
      chosen_instrument_id: null,
    });
    expect(Number(row.reward)).toBe(0);
  });

  it("follows the payer's habits: the instrument used most and last comes first", async () => {
    const habits = (id: string) =>
      rankRequest(t, {
        history: {
          window_days: 90,
          payments: 10,
          last_instrument_id: id,
          instruments: [{ instrument_id: id, uses: 9, failures: 0, last_used_days_ago: 1 }],
        },
      });
    const a = await client.rankInstruments(habits(ICBC));
    expect(a.instruments[0]!.instrument_id).toBe(ICBC);
    expect(a.instruments[0]!.reasons).toContain("used for 9 of the payer's last 10 payments");
    expect(a.instruments[0]!.reasons).toContain('used last time');
    const b = await client.rankInstruments(habits(FENFU));
    expect(b.instruments[0]!.instrument_id).toBe(FENFU);
  });

  it('rejects an unknown feature version and bad fields by name, storing and billing nothing', async () => {
    const [rankings, usage] = [await count(t, 'checkout_rankings'), await count(t, 'usage_records')];
    const v2 = await apiError(
      client.request('POST', '/v1/checkout/rankings', { ...rankRequest(t), feature_version: 'checkout.v2' }),
    );
    expect(v2.code).toBe('FEATURE_VERSION_UNSUPPORTED');
    expect(v2.httpStatus).toBe(400);
    expect(v2.detail).toMatchObject({ field: '/feature_version', value: 'checkout.v2' });

    const mcc = await apiError(
      client.request('POST', '/v1/checkout/rankings', {
        ...rankRequest(t),
        transaction: { amount: { total: 100 }, mcc: 'food', scene: 'jsapi' },
      }),
    );
    expect(mcc.code).toBe('PARAM_ERROR');
    expect(mcc.detail?.field).toBe('/transaction/mcc');

    const unknownField = await apiError(
      client.request('POST', '/v1/checkout/rankings', {
        ...rankRequest(t),
        history: { window_days: 90, payments: 1, instruments: [], colour: 'red' },
      }),
    );
    expect(unknownField.detail?.field).toBe('/history/colour');

    const foreign = await apiError(
      client.rankInstruments(
        rankRequest(t, {
          history: {
            window_days: 30,
            payments: 3,
            instruments: [{ instrument_id: 'ins_lina_ccb_debit', uses: 3, failures: 0 }],
          },
        }),
      ),
    );
    expect(foreign.code).toBe('PARAM_ERROR');
    expect(foreign.detail).toMatchObject({
      field: '/history/instruments/0/instrument_id',
      issue: 'is not an instrument of this payer',
    });

    const inconsistent = await apiError(
      client.rankInstruments(
        rankRequest(t, {
          history: {
            window_days: 30,
            payments: 2,
            instruments: [{ instrument_id: ICBC, uses: 5, failures: 0 }],
          },
        }),
      ),
    );
    expect(inconsistent.detail?.field).toBe('/history/payments');

    const wrongPayer = await apiError(
      client.rankInstruments({ ...rankRequest(t), payer: { openid: 'o_not_a_payer_of_this_app' } }),
    );
    expect(wrongPayer.code).toBe('OPENID_MISMATCH');
    expect(wrongPayer.detail?.field).toBe('/payer/openid');

    const badPromotion = await apiError(
      client.createPromotion({
        name: 'broken',
        kind: 'amount_off',
        discount_fen: 0,
        budget_fen: 100,
        funded_by: 'merchant',
        starts_at: rfc3339(t.clock.now()),
        ends_at: rfc3339(t.clock.now() + minute),
      }),
    );
    expect(badPromotion.detail?.field).toBe('/discount_fen');
    expect(await count(t, 'checkout_rankings')).toBe(rankings);
    expect(await count(t, 'usage_records')).toBe(usage);
    expect(await count(t, 'checkout_promotions')).toBe(0);
  });

  it('applies a promotion in the payment, funds it in the ledger, and stops when the budget is spent', async () => {
    const now = t.clock.now();
    const promo = await client.createPromotion({
      name: 'ICBC 满100减10',
      kind: 'amount_off',
      eligibility: { bank_type: 'ICBC_DEBIT', min_amount_fen: 10_000 },
      discount_fen: 1_000,
      budget_fen: 1_500,
      funded_by: 'bank',
      starts_at: rfc3339(now - minute),
      ends_at: rfc3339(now + 60 * minute),
    });
    expect(promo).toMatchObject({ active: true, remaining_fen: 1_500, funded_by: 'bank' });
    // A promotion whose window has not started is not offered.
    await client.createPromotion({
      name: 'later',
      kind: 'amount_off',
      eligibility: { bank_type: 'CMB_CREDIT' },
      discount_fen: 5_000,
      budget_fen: 100_000,
      funded_by: 'merchant',
      starts_at: rfc3339(now + 30 * minute),
      ends_at: rfc3339(now + 60 * minute),
    });

    // The card's ¥5,000.00 limit counts what it is charged: ¥5,005.00 less ¥10.00 fits.
    const limit = await client.rankInstruments(
      rankRequest(t, { transaction: { amount: { total: 500_500 }, mcc: '5732', scene: 'jsapi' } }),
    );
    expect(limit.instruments.find((i) => i.instrument_id === ICBC)).toMatchObject({ eligible: true });

    const ranking = await client.rankInstruments(rankRequest(t));
    const icbc = ranking.instruments.find((i) => i.instrument_id === ICBC)!;
    expect(icbc.eligibility).toContainEqual({
      code: 'promotion_applied',
      promotion_id: promo.promotion_id,
      name: 'ICBC 满100减10',
      discount_fen: 1_000,
      instalments: null,
    });
    expect(icbc.payable_fen).toBe(9_000);
    const cmb = ranking.instruments.find((i) => i.instrument_id === CMB)!;
    expect(cmb.eligibility.map((e) => e.code)).not.toContain('promotion_applied');

    const instrumentBefore = await balance(t, `acc_${ICBC}`);
    const { prepay_id, out_trade_no } = await order(10_000);
    const paid = await pay(t, prepay_id, t.merchant.payers[0]!.openid, {
      instrumentId: ICBC,
      rankingId: ranking.ranking_id,
    });
    expect(paid.status).toBe(200);
    expect(paid.body.amount).toMatchObject({ total: 10_000, payer_total: 9_000 });
    expect(paid.body.promotion).toMatchObject({
      promotion_id: promo.promotion_id,
      discount_fen: 1_000,
      funded_by: 'bank',
    });
    expect(await balance(t, `acc_${ICBC}`)).toBe(instrumentBefore - 9_000);
    // The promotion's account (owned by its funder) paid the discount.
    expect(await balance(t, promo.ledger_account_id)).toBe(-1_000);
    const orderRow = await t.ctx.db
      .selectFrom('orders')
      .select(['id', 'payer_total'])
      .where('out_trade_no', '=', out_trade_no)
      .executeTakeFirstOrThrow();
    expect(Number(orderRow.payer_total)).toBe(9_000);
    const postings = await t.ctx.db
      .selectFrom('postings')
      .select(['account_id', 'amount'])
      .where('journal_id', '=', `jnl_promo_${orderRow.id}`)
      .orderBy('amount')
      .execute();
    expect(postings.map((p) => [p.account_id, Number(p.amount)])).toEqual([
      [promo.ledger_account_id, -1_000],
      [`acc_${ICBC}`, 1_000],
    ]);
    const queried = await client.queryOrderByOutTradeNo(out_trade_no);
    expect(queried.amount.payer_total).toBe(9_000);
    // APIv3's promotion_detail: a bank-funded discount is CASH, contributed by "other".
    expect(queried.promotion_detail).toMatchObject([
      {
        type: 'CASH',
        amount: 1_000,
        stock_id: promo.promotion_id,
        merchant_contribute: 0,
        other_contribute: 1_000,
      },
    ]);

    // ¥5 left of the budget: the next ranking no longer offers it and the next payment pays in full.
    const { data } = await client.listPromotions();
    expect(data.find((p) => p.promotion_id === promo.promotion_id)).toMatchObject({
      spent_fen: 1_000,
      remaining_fen: 500,
      active: true,
    });
    const again = await client.rankInstruments(rankRequest(t));
    expect(
      again.instruments.find((i) => i.instrument_id === ICBC)!.eligibility.map((e) => e.code),
    ).not.toContain('promotion_applied');
    const second = await order(10_000);
    const full = await pay(t, second.prepay_id, t.merchant.payers[0]!.openid, { instrumentId: ICBC });
    expect(full.status).toBe(200);
    expect(full.body.amount).toMatchObject({ total: 10_000, payer_total: 10_000 });
    expect(full.body.promotion).toBeUndefined();
    expect(await balance(t, promo.ledger_account_id)).toBe(-1_000);

    // Refunding the discounted order in two halves: the payer gets back what it paid (¥90), the
    // funder its discount (¥10), pro rata.
    const icbcBefore = await balance(t, `acc_${ICBC}`);
    for (const [n, share] of [
      [1, 500],
      [2, 1_000],
    ] as const) {
      const refund = await client.createRefund({
        out_trade_no,
        out_refund_no: `${out_trade_no}R${n}`,
        amount: { refund: 5_000, total: 10_000, currency: 'CNY' },
      });
      expect(refund.status).toBe('SUCCESS');
      expect(await balance(t, promo.ledger_account_id)).toBe(-1_000 + share);
    }
    expect(await balance(t, `acc_${ICBC}`)).toBe(icbcBefore + 9_000);
    expect(await audit(t.ctx.db)).toEqual({ unbalancedJournals: 0, driftedAccounts: [], belowFloor: [] });
  });

  it('applies a promotion to a held (realtime) payment: approved, the query shows it; declined, the discount and budget go back', async () => {
    const now = t.clock.now();
    const promo = await client.createPromotion({
      name: '商户满100减20',
      kind: 'amount_off',
      eligibility: { bank_type: 'CMB_CREDIT', min_amount_fen: 10_000 },
      discount_fen: 2_000,
      budget_fen: 10_000,
      funded_by: 'merchant',
      starts_at: rfc3339(now - minute),
      ends_at: rfc3339(now + 60 * minute),
    });
    const setMode = (decision_mode: string) =>
      signedRequest(t, 'PUT', '/v1/notifications/settings', { decision_mode });
    const review = (outTradeNo: string, decision: string) =>
      signedRequest(t, 'POST', `/v1/payments/${outTradeNo}/review`, { decision });
    const spent = async () =>
      (await client.listPromotions()).data.find((p) => p.promotion_id === promo.promotion_id)!.spent_fen;
    await setMode('realtime');
    try {
      for (const decision of ['approve', 'decline'] as const) {
        const cmbBefore = await balance(t, `acc_${CMB}`);
        const promoBefore = await balance(t, promo.ledger_account_id);
        const spentBefore = await spent();
        const { prepay_id, out_trade_no } = await order(12_000);
        const held = await pay(t, prepay_id, t.merchant.payers[0]!.openid, { instrumentId: CMB });
        expect(held.body).toMatchObject({
          trade_state: 'USERPAYING',
          amount: { total: 12_000, payer_total: 10_000 },
          promotion: { promotion_id: promo.promotion_id, discount_fen: 2_000, funded_by: 'merchant' },
        });
        expect(await balance(t, `acc_${CMB}`)).toBe(cmbBefore - 10_000);
        expect(await spent()).toBe(spentBefore + 2_000);
        t.clock.advance(600);
        await t.app.zhifu.tick();
        expect((await review(out_trade_no, decision)).statusCode).toBe(200);
        const queried = await client.queryOrderByOutTradeNo(out_trade_no);
        if (decision === 'approve') {
          expect(queried).toMatchObject({ trade_state: 'SUCCESS', amount: { payer_total: 10_000 } });
          expect(queried.promotion_detail).toEqual([
            {
              coupon_id: expect.stringContaining(promo.promotion_id),
              name: '商户满100减20',
              scope: 'GLOBAL',
              type: 'NOCASH',
              amount: 2_000,
              stock_id: promo.promotion_id,
              wechatpay_contribute: 0,
              merchant_contribute: 2_000,
              other_contribute: 0,
              currency: 'CNY',
            },
          ]);
          expect(await balance(t, promo.ledger_account_id)).toBe(promoBefore - 2_000);
          expect(await spent()).toBe(spentBefore + 2_000);
        } else {
          // Declined: the payer gets back what they paid, the promotion its discount and budget.
          expect(queried.trade_state).toBe('PAYERROR');
          expect(await balance(t, `acc_${CMB}`)).toBe(cmbBefore);
          expect(await balance(t, promo.ledger_account_id)).toBe(promoBefore);
          expect(await spent()).toBe(spentBefore);
        }
      }
    } finally {
      await setMode('auto');
    }
    expect(await audit(t.ctx.db)).toEqual({ unbalancedJournals: 0, driftedAccounts: [], belowFloor: [] });
  });

  it('offers interest-free instalments on the credit line and records them without a ledger posting', async () => {
    const now = t.clock.now();
    const promo = await client.createPromotion({
      name: '分付 3 期免息',
      kind: 'instalments',
      instalments: 3,
      eligibility: { instrument_kind: 'credit_line', min_amount_fen: 50_000 },
      budget_fen: 1_000_000,
      funded_by: 'platform',
      starts_at: rfc3339(now - minute),
      ends_at: rfc3339(now + 60 * minute),
    });
    const ranking = await client.rankInstruments(
      rankRequest(t, { transaction: { amount: { total: 60_000 }, mcc: '5311', scene: 'jsapi' } }),
    );
    const fenfu = ranking.instruments.find((i) => i.instrument_id === FENFU)!;
    expect(fenfu.eligibility).toContainEqual({
      code: 'promotion_applied',
      promotion_id: promo.promotion_id,
      name: '分付 3 期免息',
      discount_fen: 0,
      instalments: 3,
    });
    expect(fenfu.reasons).toContain('promotion "分付 3 期免息": 3 interest-free instalments');
    const journals = await count(t, 'journals');
    const { prepay_id } = await order(60_000);
    const paid = await pay(t, prepay_id, t.merchant.payers[0]!.openid, { instrumentId: FENFU });
    expect(paid.status).toBe(200);
    expect(paid.body.amount).toMatchObject({ total: 60_000, payer_total: 60_000 });
    expect(paid.body.promotion).toMatchObject({
      promotion_id: promo.promotion_id,
      discount_fen: 0,
      instalments: 3,
    });
    const { data } = await client.listPromotions();
    expect(data.find((p) => p.promotion_id === promo.promotion_id)).toMatchObject({ spent_fen: 60_000 });
    // The payment journal and the processing fee: no promotion journal for instalments.
    const kinds = await t.ctx.db
      .selectFrom('journals')
      .select('kind')
      .orderBy('created_at')
      .offset(journals)
      .limit(100)
      .execute();
    expect(kinds.map((k) => k.kind)).not.toContain('promotion');
  });

  it('refuses a bad sandbox channel setting by field and keeps the old one', async () => {
    const put = (body: object) =>
      fetch(`${t.ctx.publicUrl}/sandbox/v1/channels/CCB_DEBIT`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await put({ latency_ms: 200, failure_rate: 0.1 })).status).toBe(200);
    const now = t.clock.now();
    const backwards = await put({
      latency_ms: 300,
      failure_rate: 0,
      schedule: [{ from: rfc3339(now + minute), until: rfc3339(now), failure_rate: 1 }],
    });
    expect(backwards.status).toBe(400);
    expect(((await backwards.json()) as { detail: { field: string } }).detail.field).toBe(
      '/schedule/0/until',
    );
    const rate = await put({ latency_ms: 300, failure_rate: 1.5 });
    expect(rate.status).toBe(400);
    expect(((await rate.json()) as { detail: { field: string } }).detail.field).toBe('/failure_rate');
    const row = await t.ctx.db
      .selectFrom('checkout_channels')
      .selectAll()
      .where('bank_type', '=', 'CCB_DEBIT')
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({ latency_ms: 200, schedule_json: '[]' });
    expect(Number(row.failure_rate)).toBeCloseTo(0.1, 9);
  });

  it('learns from the outcome of the ranking a payment followed and logs its propensity', async () => {
    const request = rankRequest(t, {
      transaction: { amount: { total: 2_000 }, mcc: '5812', scene: 'jsapi' },
    });
    const first = await client.rankInstruments(request);
    const top = first.instruments[0]!;
    const row = await t.ctx.db
      .selectFrom('checkout_rankings')
      .selectAll()
      .where('id', '=', first.ranking_id)
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({ top_instrument_id: top.instrument_id, explored: 0, outcome_at: null });
    expect(Number(row.propensity)).toBe(1);
    const arms = JSON.parse(row.arms_json) as { instrument_id: string; x: number[] }[];
    expect(arms.map((a) => a.instrument_id).sort()).toEqual(
      first.instruments
        .filter((i) => i.eligible)
        .map((i) => i.instrument_id)
        .sort(),
    );

    const { prepay_id } = await order(2_000);
    const paid = await pay(t, prepay_id, t.merchant.payers[0]!.openid, {
      instrumentId: top.instrument_id,
      rankingId: first.ranking_id,
    });
    expect(paid.status).toBe(200);
    const after = await t.ctx.db
      .selectFrom('checkout_rankings')
      .selectAll()
      .where('id', '=', first.ranking_id)
      .executeTakeFirstOrThrow();
    expect(after).toMatchObject({ chosen_instrument_id: top.instrument_id, succeeded: 1 });
    expect(Number(after.reward)).toBe(1);

    const next = await client.rankInstruments(request);
    expect(next.policy.model_updates).toBe(first.policy.model_updates + 1);
    const same = next.instruments.find((i) => i.instrument_id === top.instrument_id)!;
    // A success raises the estimate for this context (the prior is below 1).
    expect(same.p_complete).toBeGreaterThan(top.p_complete);
  });

  it('rebuilds the bandit when the app starts, not on the first query after a restart (defect: log replay on the request path)', async () => {
    const request = rankRequest(t, {
      transaction: { amount: { total: 1_500 }, mcc: '5812', scene: 'jsapi' },
    });
    const ranked = await client.rankInstruments(request);
    const { prepay_id } = await order(1_500);
    const paid = await pay(t, prepay_id, t.merchant.payers[0]!.openid, {
      instrumentId: ranked.instruments[0]!.instrument_id,
      rankingId: ranked.ranking_id,
    });
    expect(paid.status).toBe(200);
    const learned = async () =>
      Number(
        (
          await t.ctx.db
            .selectFrom('checkout_rankings')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .where('outcome_at', 'is not', null)
            .where('reward', 'is not', null)
            .where('top_instrument_id', 'is not', null)
            .executeTakeFirstOrThrow()
        ).n,
      );
    const logged = await learned();
    expect(logged).toBeGreaterThan(0);

    // A restart: the process has no model in memory, only the log.
    forgetState(t.ctx.db);
    expect(isWarm(t.ctx.db)).toBe(false);
    const { buildApp } = await import('../src/app.ts');
    const restarted = await buildApp({ ctx: t.ctx, checkout: { explorationShare: 0 }, background: false });
    try {
      await restarted.ready();
      expect(isWarm(t.ctx.db)).toBe(true);
      // An outcome logged after the start: a query that replayed the log would learn it too.
      const row = await t.ctx.db
        .selectFrom('checkout_rankings')
        .selectAll()
        .where('id', '=', ranked.ranking_id)
        .executeTakeFirstOrThrow();
      await t.ctx.db
        .insertInto('checkout_rankings')
        .values({ ...row, id: `${row.id}x`, order_id: null, outcome_at: t.ctx.clock.now() })
        .execute();
      expect(await learned()).toBe(logged + 1);
      const res = await signedRequest({ ...t, app: restarted }, 'POST', '/v1/checkout/rankings', request);
      expect(res.statusCode).toBe(200);
      expect((res.json() as { policy: { model_updates: number } }).policy.model_updates).toBe(logged);
    } finally {
      await restarted.close();
    }
  });

  it('logs the propensity of an explored first place (exploration share 1 → 1/K)', async () => {
    const { buildApp } = await import('../src/app.ts');
    const exploring = await buildApp({ ctx: t.ctx, checkout: { explorationShare: 1 }, background: false });
    try {
      const res = await signedRequest(
        { ...t, app: exploring },
        'POST',
        '/v1/checkout/rankings',
        rankRequest(t),
      );
      expect(res.statusCode).toBe(200);
      const body = res.json() as {
        ranking_id: string;
        instruments: { eligible: boolean }[];
        policy: Record<string, unknown>;
      };
      const k = body.instruments.filter((i) => i.eligible).length;
      expect(k).toBeGreaterThan(1);
      expect(body.policy).toMatchObject({ exploration_share: 1, explored: true });
      expect(body.policy.propensity).toBeCloseTo(1 / k, 6);
      const row = await t.ctx.db
        .selectFrom('checkout_rankings')
        .select(['propensity', 'explored'])
        .where('id', '=', body.ranking_id)
        .executeTakeFirstOrThrow();
      expect(Number(row.propensity)).toBeCloseTo(1 / k, 6);
      expect(row.explored).toBe(1);
    } finally {
      await exploring.close();
    }
  });

  it("ranks for the sandbox cashier from the payer's paid orders, billed to the order's merchant", async () => {
    const { prepay_id } = await order(3_000);
    const usage = await count(t, 'usage_records');
    const res = await fetch(`${t.ctx.publicUrl}/sandbox/v1/checkout/rankings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prepay_id, openid: t.merchant.payers[0]!.openid }),
    });
    expect(res.status).toBe(200);
    const r = (await res.json()) as {
      ranking_id: string;
      instruments: { instrument_id: string; reasons: string[] }[];
    };
    // Earlier tests paid with the ICBC card: the cashier's history says so.
    const icbc = r.instruments.find((i) => i.instrument_id === ICBC)!;
    expect(icbc.reasons.some((x) => /^used for \d+ of the payer's last \d+ payments$/.test(x))).toBe(true);
    expect(await count(t, 'usage_records')).toBe(usage + 1);
    const paid = await pay(t, prepay_id, t.merchant.payers[0]!.openid, {
      instrumentId: r.instruments[0]!.instrument_id,
      rankingId: r.ranking_id,
    });
    expect(paid.status).toBe(200);
    const unknown = await fetch(`${t.ctx.publicUrl}/sandbox/v1/checkout/rankings`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prepay_id: 'wx_not_an_order', openid: t.merchant.payers[0]!.openid }),
    });
    expect(unknown.status).toBe(404);
    expect(await count(t, 'usage_records')).toBe(usage + 1);
  });

  it('refuses a payment naming an unknown ranking before anything is stored', async () => {
    const { prepay_id, out_trade_no } = await order(1_000);
    const journals = await count(t, 'journals');
    const res = await pay(t, prepay_id, t.merchant.payers[0]!.openid, {
      rankingId: 'rk_000000000000000000000000',
    });
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('RESOURCE_NOT_EXISTS');
    expect(await count(t, 'journals')).toBe(journals);
    expect((await client.queryOrderByOutTradeNo(out_trade_no)).trade_state).toBe('NOTPAY');
  });

  it('demotes instruments on a channel in an outage, measured from its own authorisations', async () => {
    const now = t.clock.now();
    const history = {
      window_days: 90,
      payments: 10,
      last_instrument_id: BALANCE,
      instruments: [{ instrument_id: BALANCE, uses: 9, failures: 0, last_used_days_ago: 1 }],
    };
    const before = await client.rankInstruments(rankRequest(t, { history }));
    expect(before.instruments[0]!.instrument_id).toBe(BALANCE);

    // The wallet channel (bank_type OTHERS) goes down for 30 minutes with 4-second answers.
    const put = await fetch(`${t.ctx.publicUrl}/sandbox/v1/channels/OTHERS`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        latency_ms: 120,
        failure_rate: 0,
        schedule: [
          {
            from: rfc3339(now - minute),
            until: rfc3339(now + 30 * minute),
            failure_rate: 1,
            latency_ms: 4_000,
          },
        ],
      }),
    });
    expect(put.status).toBe(200);
    expect(await put.json()).toMatchObject({
      in_force: { failure_rate: 1, latency_ms: 4_000, override: true },
    });

    // Simulated payers (wallet balance only) try to pay on that channel and fail with BANK_ERROR.
    for (let i = 0; i < 6; i++) {
      const created = await t.app.inject({
        method: 'POST',
        url: '/sandbox/v1/payers',
        payload: {
          appid: t.merchant.appid,
          name: `Outage payer ${i}`,
          balance_fen: 100_000,
          account_age_days: 300,
        },
      });
      const openid = created.json().openid as string;
      const o = jsapiOrder(t, { amount: { total: 1_500, currency: 'CNY' }, payer: { openid } });
      const { prepay_id } = await client.createJsapiOrder(o);
      const res = await pay(t, prepay_id, openid);
      expect(res.status).toBe(503);
      expect(res.body.code).toBe('BANK_ERROR');
    }
    const channels = (await (await fetch(`${t.ctx.publicUrl}/sandbox/v1/channels`)).json()) as {
      data: { bank_type: string; measured: { degraded: boolean; samples: number } }[];
    };
    const others = channels.data.find((c) => c.bank_type === 'OTHERS')!.measured;
    expect(others.degraded).toBe(true);
    // Six failures, plus the wallet payments of earlier tests still in the 15-minute window.
    expect(others.samples).toBeGreaterThanOrEqual(6);

    const during = await client.rankInstruments(rankRequest(t, { history }));
    const wallet = during.instruments.find((i) => i.instrument_id === BALANCE)!;
    expect(wallet.eligibility.map((e) => e.code)).toContain('channel_degraded');
    expect(wallet.rank).toBeGreaterThan(1);
    expect(wallet.reasons.join(' ')).toMatch(/OTHERS channel degraded/);
    expect(during.instruments[0]!.bank_type).not.toBe('OTHERS');
  });
});

describe('Smart Checkout on SQLite while another transaction’s fsync is in flight', () => {
  it('a payment finds a ranking answered before its fsync (asynchronous commit)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'zhifu-checkout-async-'));
    const path = join(dir, 'c.db');
    await (await openDatabase({ url: `sqlite:${path}`, sqliteGroupCommit: false })).close();
    const writer = new SQLite(path);
    writer.pragma('synchronous = NORMAL');
    const reader = new SQLite(path);
    // The test holds fsyncs while `held` is set.
    let held: (() => void)[] | undefined;
    const walSync = () => new Promise<void>((resolve) => (held ? held.push(resolve) : resolve()));
    const db = new Kysely<Database>({ dialect: new GroupCommitSqliteDialect(writer, reader, walSync) });
    try {
      const ctx: Ctx = {
        db,
        dialect: 'sqlite',
        clock: systemClock,
        ids: seededIds('checkout-async'),
        publicUrl: 'http://127.0.0.1:0',
        keys: dataKeys('test', randomBytes(16)),
      };
      const merchant = await createMerchant(ctx, { name: 'Async Store' });
      await insertGrantForFixture(db, merchant.mchid, 'test', Date.now());
      const payer = merchant.payers[0]!;
      held = [];
      // A durable write whose fsync is in flight: reads outside transactions show what preceded it.
      const durable = db.insertInto('settings').values({ key: 'durable', value: '1' }).execute();
      const ranking = await rank(ctx, default_checkout_options, merchant.mchid, {
        feature_version: 'checkout.v1',
        appid: merchant.appid,
        transaction: { amount: { total: 1_000, currency: 'CNY' }, mcc: '5411', scene: 'jsapi' },
        payer: { openid: payer.openid },
        history: { window_days: 90, payments: 0, instruments: [] },
      });
      expect(held.length).toBe(1); // answered with that fsync still held
      expect(await findRanking(db, ranking.ranking_id)).toBeUndefined();
      const who = await resolveOpenid(db, payer.openid);
      // The payment's read runs, and is answered (it only reads), while that fsync is still held.
      let found: { id: string } | undefined;
      const finding = rankingForPayment(ctx, ranking.ranking_id, merchant.mchid, who!.user_id).then((r) => {
        found = r;
      });
      await new Promise((r) => setTimeout(r, 20));
      expect(found?.id).toBe(ranking.ranking_id);
      for (const resolve of held.splice(0)) resolve();
      held = undefined;
      await finding;
      await durable;
    } finally {
      held = undefined;
      await db.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
