/**
 * The sandbox cashier in a real browser (Debian's Chromium driven by playwright-core): it shows the
 * Smart Checkout ranking with reasons and a promotion's price, the payer picks an instrument, and the
 * payment follows the ranking (the ranking row records the choice and the outcome). Skipped when
 * /usr/bin/chromium is not installed (apt-get install -y chromium).
 */
import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestApp, type TestApp } from './harness.ts';
import { createPromotion, jsapiOrder, signedRequest } from './requests.ts';

const executablePath = '/usr/bin/chromium';

describe.skipIf(!existsSync(executablePath))('sandbox cashier with Smart Checkout (Chromium)', () => {
  let t: TestApp;
  let browser: Browser;

  beforeAll(async () => {
    t = await openTestApp('sqlite', {
      listen: true,
      realClock: true,
      app: { checkout: { explorationShare: 0 }, background: false },
    });
    browser = await chromium.launch({
      executablePath,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('shows ranked instruments with reasons, applies the chosen one and records the outcome', async () => {
    await createPromotion(t);
    const order = jsapiOrder(t, { amount: { total: 12_000, currency: 'CNY' } }, 0);
    const created = await signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', order);
    const prepayId = created.json().prepay_id as string;

    const page = await browser.newPage();
    await page.goto(`${t.ctx.publicUrl}/cashier?prepay_id=${prepayId}`);
    await page.waitForSelector('#ranking_id');
    const rankingId = (await page.textContent('#ranking_id'))!.trim();
    expect(rankingId).toMatch(/^rk_[0-9a-f]{24}$/);
    const labels = page.locator('#instruments label.inst');
    expect(await labels.count()).toBe(4);
    const ranks = await labels.evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-rank'))));
    expect(ranks).toEqual([1, 2, 3, 4]);
    const icbc = page.locator('label.inst[data-instrument="ins_zhangwei_icbc_debit"]');
    await expect.poll(() => icbc.textContent()).toContain('¥10.00 off');
    expect(await icbc.textContent()).toContain('实付 Pay ¥110.00');
    // The first eligible instrument is preselected; the payer picks the ICBC card instead.
    await icbc.locator('input[type=radio]').check();
    if (process.env.ZHIFU_TEST_SCREENSHOT)
      await page.screenshot({ path: process.env.ZHIFU_TEST_SCREENSHOT, fullPage: true });
    await page.click('#pay');
    await page.waitForSelector('#result:not([hidden])');
    expect(await page.textContent('.tx-amount')).toBe('¥110.00');
    expect(await page.textContent('.tx-promo')).toContain('ICBC 满100减10');
    expect(await page.isDisabled('#pay')).toBe(true);
    await page.close();

    // Opened again, the paid order is shown as not payable, and Pay stays off.
    const again = await browser.newPage();
    await again.goto(`${t.ctx.publicUrl}/cashier?prepay_id=${prepayId}`);
    await again.waitForSelector('#not_payable');
    expect(await again.textContent('#not_payable')).toContain('paid or closed');
    await again.waitForSelector('#instruments label.inst');
    expect(await again.isDisabled('#pay')).toBe(true);
    await again.close();

    const row = await t.ctx.db
      .selectFrom('checkout_rankings')
      .selectAll()
      .where('id', '=', rankingId)
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({ chosen_instrument_id: 'ins_zhangwei_icbc_debit', succeeded: 1 });
    expect(Number(row.reward)).toBe(row.top_instrument_id === 'ins_zhangwei_icbc_debit' ? 1 : 0);
  });
});
