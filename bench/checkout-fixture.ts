/**
 * The Smart Checkout merchant of bench:checkout and bench/checkout-phases.ts: a merchant with AI
 * eligibility and two bank promotions in force (every query prices them), and the rank request
 * both time (a payer with a 20-payment history).
 */
import { randomBytes } from 'node:crypto';
import { type Ctx, dataKeys } from '../packages/server/src/context.ts';
import type { Db } from '../packages/server/src/db/database.ts';
import { rfc3339, systemClock } from '../packages/server/src/lib/clock.ts';
import { cryptoIds } from '../packages/server/src/lib/ids.ts';
import { insertGrantForFixture } from '../packages/server/src/modules/billing/index.ts';
import {
  createPromotion,
  type RankRequest,
} from '../packages/server/src/modules/checkout/checkout.service.ts';
import { createMerchant } from '../packages/server/src/modules/merchants/index.ts';

export async function checkoutFixture(db: Db) {
  const ctx: Ctx = {
    db,
    dialect: 'sqlite',
    clock: systemClock,
    ids: cryptoIds,
    publicUrl: 'http://127.0.0.1:0',
    keys: dataKeys('bench', randomBytes(16)),
  };
  const now = Date.now();
  const merchant = await createMerchant(ctx, { name: 'Bench Store' });
  await insertGrantForFixture(ctx.db, merchant.mchid, 'bench', now);
  for (const [bank, off] of [
    ['ICBC_DEBIT', 1_000],
    ['CMB_CREDIT', 2_000],
  ] as const)
    await createPromotion(ctx, merchant.mchid, {
      name: `${bank} promo`,
      kind: 'amount_off',
      eligibility: { bank_type: bank, min_amount_fen: 5_000 },
      discount_fen: off,
      budget_fen: 100_000_000,
      funded_by: 'bank',
      starts_at: rfc3339(now - 60_000),
      ends_at: rfc3339(now + 86_400_000),
    });
  const request: RankRequest = {
    feature_version: 'checkout.v1',
    appid: merchant.appid,
    transaction: { amount: { total: 12_800, currency: 'CNY' }, mcc: '5411', scene: 'jsapi' },
    payer: { openid: merchant.payers[0]!.openid },
    history: {
      window_days: 90,
      payments: 20,
      last_instrument_id: 'ins_zhangwei_icbc_debit',
      instruments: [
        { instrument_id: 'ins_zhangwei_icbc_debit', uses: 12, failures: 1, last_used_days_ago: 2 },
        { instrument_id: 'ins_zhangwei_balance', uses: 6, failures: 0, last_used_days_ago: 9 },
      ],
    },
    client: { network_latency_ms: 80 },
  };
  return { ctx, merchant, request };
}
