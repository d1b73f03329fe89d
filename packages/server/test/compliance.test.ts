import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { verify } from '../src/modules/audit/index.ts';
import { freeze } from '../src/modules/compliance/index.ts';
import { dialects, openTestApp, type TestApp } from './harness.ts';
import { jsapiOrder, payAs, rowCount, signedRequest } from './requests.ts';

const operatorToken = 'operator-token-for-tests-0123456789';
const op = (t: TestApp, method: 'GET' | 'POST', url: string, payload?: object) =>
  t.app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${operatorToken}` },
    ...(payload ? { payload } : {}),
  });

describe.each(dialects)('compliance: restricted categories and freezes (%s)', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await openTestApp(dialect, { app: { operatorToken, background: false, auditSampleRate: 0 } });
  });
  afterAll(() => t.close());

  const create = (over: Record<string, unknown> = {}) =>
    signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', jsapiOrder(t, over));

  it('an obfuscated gambling description freezes the merchant for 72 h; new payments are refused, refunds go on', async () => {
    // A paid order from before the freeze, to refund later.
    const before = jsapiOrder(t, { amount: { total: 800, currency: 'CNY' } });
    const { prepay_id } = (await signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', before)).json();
    expect((await payAs(t, prepay_id, before.payer.openid)).json().trade_state).toBe('SUCCESS');
    const pendingOrder = jsapiOrder(t);
    const pending = (await signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', pendingOrder)).json()
      .prepay_id;

    const orders = await rowCount(t, 'orders');
    const hit = await create({ description: '充值 赌·博 百 家 乐 上分' });
    expect([hit.statusCode, hit.json().code]).toEqual([403, 'ACCOUNT_FROZEN']);
    expect(hit.json().detail.issue).toMatch(/restricted_category \(gambling\); frozen until/);
    expect(await rowCount(t, 'orders')).toBe(orders);

    const next = await create({ description: '牛奶 面包' });
    expect([next.statusCode, next.json().code]).toEqual([403, 'ACCOUNT_FROZEN']);
    const paying = await payAs(t, pending, pendingOrder.payer.openid);
    expect([paying.statusCode, paying.json().code]).toEqual([403, 'ACCOUNT_FROZEN']);
    const refund = await signedRequest(t, 'POST', '/v3/refund/domestic/refunds', {
      out_trade_no: before.out_trade_no,
      out_refund_no: `${before.out_trade_no}R`,
      amount: { refund: 300, total: 800, currency: 'CNY' },
    });
    expect(refund.json().status).toBe('SUCCESS');

    const freezes = (await signedRequest(t, 'GET', '/v1/compliance/freezes')).json().data;
    expect(freezes[0]).toMatchObject({
      status: 'frozen',
      reason: 'restricted_category',
      category: 'gambling',
    });
    const events = (await signedRequest(t, 'GET', '/v1/notifications/events?after_seq=0')).json().data;
    expect(events.some((e: { type: string }) => e.type === 'merchant.frozen')).toBe(true);

    // 72 hours later the freeze has ended by itself.
    t.clock.advance(72 * 3600 * 1000 + 1);
    expect((await create({ description: '牛奶 面包' })).statusCode).toBe(200);
    t.clock.advance(-(72 * 3600 * 1000 + 1));
  });

  it('the operator reviews freezes with its own credential; merchant credentials cannot reach the operator API; all audited', async () => {
    const asMerchant = await signedRequest(t, 'GET', '/v1/operator/freezes');
    expect([asMerchant.statusCode, asMerchant.json().code]).toEqual([401, 'SIGN_ERROR']);
    const bad = await t.app.inject({
      method: 'GET',
      url: '/v1/operator/freezes',
      headers: { authorization: 'Bearer nope' },
    });
    expect(bad.statusCode).toBe(401);
    const list = (await op(t, 'GET', `/v1/operator/freezes?mchid=${t.merchant.mchid}`)).json().data;
    const id = list[0].freeze_id;
    const extended = (
      await op(t, 'POST', `/v1/operator/freezes/${id}/review`, {
        action: 'extend',
        hours: 24,
        note: 'repeat offender',
      })
    ).json();
    expect(extended.status).toBe('extended');
    const released = (
      await op(t, 'POST', `/v1/operator/freezes/${id}/review`, {
        action: 'appeal_approve',
        note: 'appeal: it was a game show',
      })
    ).json();
    expect(released.status).toBe('released');
    expect((await create({ description: '牛奶 面包' })).statusCode).toBe(200);
    const actions = (await t.ctx.db.selectFrom('audit_log').select('action').orderBy('seq').execute()).map(
      (r) => r.action,
    );
    expect(actions).toEqual(
      expect.arrayContaining(['merchant.freeze', 'freeze.extend', 'freeze.appeal_approve']),
    );
    expect((await op(t, 'GET', '/v1/operator/audit/verify')).json()).toMatchObject({ ok: true });
  });

  it('a mislabelled transaction freezes too (restaurant selling game cards)', async () => {
    await t.ctx.db
      .updateTable('merchants')
      .set({ mcc: '5812' })
      .where('mchid', '=', t.merchant.mchid)
      .execute();
    const res = await create({ description: '游戏点卡 100元' });
    expect([res.statusCode, res.json().code]).toEqual([403, 'ACCOUNT_FROZEN']);
    expect(res.json().detail.issue).toMatch(/mislabelled_transaction/);
    const [f] = (await op(t, 'GET', `/v1/operator/freezes?mchid=${t.merchant.mchid}`)).json().data;
    await op(t, 'POST', `/v1/operator/freezes/${f.freeze_id}/review`, {
      action: 'appeal_approve',
      note: 'ok',
    });
    await t.ctx.db
      .updateTable('merchants')
      .set({ mcc: '5999' })
      .where('mchid', '=', t.merchant.mchid)
      .execute();
  });

  it('a held payment cannot be captured while frozen: the approval is refused and the funds stay held', async () => {
    await signedRequest(t, 'PUT', '/v1/notifications/settings', { decision_mode: 'realtime' });
    const o = jsapiOrder(t, { amount: { total: 700, currency: 'CNY' } });
    const { prepay_id } = (await signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', o)).json();
    expect((await payAs(t, prepay_id, o.payer.openid)).json().trade_state).toBe('USERPAYING');
    await t.ctx.db
      .transaction()
      .execute((trx) =>
        freeze(t.ctx, trx, t.merchant.mchid, { reason: 'operator', category: null, evidence: {} }, 'test'),
      );
    const d = await t.ctx.db
      .selectFrom('decisions')
      .select('event_id')
      .where('state', '=', 'pending')
      .executeTakeFirstOrThrow();
    const approve = await signedRequest(t, 'POST', '/v1/decisions', {
      event_id: d.event_id,
      decision: 'approve',
    });
    expect([approve.statusCode, approve.json().code]).toEqual([403, 'ACCOUNT_FROZEN']);
    const q = await signedRequest(
      t,
      'GET',
      `/v3/pay/transactions/out-trade-no/${o.out_trade_no}?mchid=${t.merchant.mchid}`,
    );
    expect(q.json()).toMatchObject({ trade_state: 'USERPAYING', zhifu_decision: { state: 'pending' } });
    await t.ctx.db
      .updateTable('merchants')
      .set({ frozen_until: null })
      .where('mchid', '=', t.merchant.mchid)
      .execute();
    await signedRequest(t, 'PUT', '/v1/notifications/settings', { decision_mode: 'auto' });
  });

  it('hard negatives do not freeze: 博物馆门票, ethernet cable, 成人教育', async () => {
    for (const description of [
      '故宫博物馆门票',
      'Ethernet cable 2m',
      '成人教育 网课',
      '比特率 320kbps 音响',
    ]) {
      expect((await create({ description })).statusCode, description).toBe(200);
    }
  });

  it('freezing is race-safe: no payment is captured after the freeze commits', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: 6 }), fc.nat({ max: 5 }), async (payments, freezeAfter) => {
        await t.ctx.db
          .updateTable('merchants')
          .set({ frozen_until: null })
          .where('mchid', '=', t.merchant.mchid)
          .execute();
        const prepared = [];
        for (let i = 0; i < payments; i++) {
          const o = jsapiOrder(t, { amount: { total: 10, currency: 'CNY' } });
          prepared.push({
            o,
            prepay: (await signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', o)).json()
              .prepay_id as string,
          });
        }
        const pays = prepared.map(({ o, prepay }) => payAs(t, prepay, o.payer.openid));
        const frozen = (async () => {
          for (let i = 0; i < freezeAfter; i++) await new Promise((r) => setImmediate(r));
          return t.ctx.db
            .transaction()
            .execute((trx) =>
              freeze(
                t.ctx,
                trx,
                t.merchant.mchid,
                { reason: 'operator', category: null, evidence: {} },
                'test',
              ),
            );
        })();
        const [f] = await Promise.all([frozen, ...pays]);
        // Sequence numbers are allocated under a per-merchant row lock, so they follow commit order.
        const after = await t.ctx.db
          .selectFrom('events')
          .select(['seq', 'type'])
          .where('mchid', '=', t.merchant.mchid)
          .where('seq', '>', f.event.seq)
          .where('type', '=', 'payment.succeeded')
          .execute();
        expect(after).toEqual([]);
        const stillPayable = await payAs(t, prepared[0]!.prepay, prepared[0]!.o.payer.openid);
        expect([403]).toContain(stillPayable.statusCode);
      }),
      { numRuns: dialect === 'sqlite' ? 15 : 8 },
    );
    await t.ctx.db
      .updateTable('merchants')
      .set({ frozen_until: null })
      .where('mchid', '=', t.merchant.mchid)
      .execute();
  });
});

describe('audit log and PIPL', () => {
  let t: TestApp;
  const logs: string[] = [];
  beforeAll(async () => {
    t = await openTestApp('sqlite', {
      app: {
        operatorToken,
        auditSampleRate: 1,
        background: false,
        logLevel: 'trace',
        logStream: { write: (line) => logs.push(line) },
      },
    });
  });
  afterAll(() => t.close());

  it('samples API calls into an SM3-chained log; altering or removing an entry is detected', async () => {
    await signedRequest(t, 'GET', '/v3/certificates');
    await signedRequest(t, 'GET', `/v3/pay/transactions/out-trade-no/none123?mchid=${t.merchant.mchid}`);
    await signedRequest(t, 'GET', '/v1/notifications/settings');
    // The sample is written after the response went out (onResponse): wait for its commit.
    await vi.waitFor(async () => {
      expect((await t.ctx.db.selectFrom('audit_log').select('seq').execute()).length).toBeGreaterThanOrEqual(
        3,
      );
    });
    expect(await verify(t.ctx.db)).toMatchObject({ ok: true });
    const rows = await t.ctx.db.selectFrom('audit_log').selectAll().orderBy('seq').execute();
    expect(rows.length).toBeGreaterThanOrEqual(3);
    expect(rows[0]!.target).toBe('GET /v3/certificates');
    await t.ctx.db
      .updateTable('audit_log')
      .set({ detail_json: '{"status":200,"request_id":"forged"}' })
      .where('seq', '=', 1)
      .execute();
    expect(await verify(t.ctx.db)).toMatchObject({ ok: false, broken_at: 1, problem: 'entry was altered' });
    await t.ctx.db
      .updateTable('audit_log')
      .set({ detail_json: rows[0]!.detail_json })
      .where('seq', '=', 1)
      .execute();
    await t.ctx.db.deleteFrom('audit_log').where('seq', '=', 2).execute();
    expect(await verify(t.ctx.db)).toMatchObject({ ok: false, broken_at: 2, problem: 'entry 2 is missing' });
  });

  it('zhifu audit verify exits 0 on an intact chain and 1 on a broken one', async () => {
    const run = promisify(execFile);
    const dir = await import('node:fs/promises').then((fs) => fs.mkdtemp('/tmp/zhifu-audit-'));
    const env = { ...process.env, ZHIFU_DATA_DIR: dir };
    const bin = new URL('../../cli/bin/zhifu.js', import.meta.url).pathname;
    const { stdout } = await run(process.execPath, [bin, 'audit', 'verify'], { env });
    expect(stdout).toMatch(/verifies: 0 entries/);
    const { openDatabase } = await import('../src/db/database.ts');
    const h = await openDatabase({ url: `sqlite:${dir}/zhifu.db` });
    await h.db
      .insertInto('audit_log')
      .values({
        seq: 1,
        at: 1,
        actor: 'x',
        action: 'y',
        target: 'z',
        detail_json: '{}',
        prev_hash: '0'.repeat(64),
        hash: 'bad',
      })
      .execute();
    await h.close();
    await expect(run(process.execPath, [bin, 'audit', 'verify'], { env })).rejects.toMatchObject({ code: 1 });
  });

  it('raw OpenIDs and device fingerprints never reach the logs, events or consent exports', async () => {
    const order = jsapiOrder(t);
    const { prepay_id } = (await signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', order)).json();
    await payAs(t, prepay_id, order.payer.openid, { device: 'canary-device-7f3a' });
    await t.app.inject({ method: 'GET', url: `/sandbox/v1/payers/${order.payer.openid}/instruments` });
    await signedRequest(
      t,
      'GET',
      `/v3/pay/transactions/out-trade-no/${order.out_trade_no}?mchid=${t.merchant.mchid}`,
    );
    const text = logs.join('');
    expect(text.length).toBeGreaterThan(100);
    expect(text).not.toContain(order.payer.openid);
    expect(text).not.toContain('canary-device-7f3a');
    const events = (await signedRequest(t, 'GET', '/v1/notifications/events?after_seq=0')).json().data;
    expect(JSON.stringify(events)).not.toContain(order.payer.openid);
    expect(JSON.stringify(events)).toMatch(/psn_/);
    const audits = await t.ctx.db
      .selectFrom('audit_log')
      .select(['actor', 'target', 'detail_json'])
      .execute();
    expect(JSON.stringify(audits)).not.toContain(order.payer.openid);
  });

  it('consents are recorded and queried per purpose; the cross-border log counts people per year', async () => {
    const openid = t.merchant.payers[1]!.openid;
    await signedRequest(t, 'POST', '/v1/pipl/consents', { openid, purpose: 'marketing', granted: true });
    await signedRequest(t, 'POST', '/v1/pipl/consents', { openid, purpose: 'marketing', granted: false });
    await signedRequest(t, 'POST', '/v1/pipl/consents', {
      openid,
      purpose: 'cross_border_llm',
      granted: true,
    });
    const c = (await signedRequest(t, 'GET', `/v1/pipl/consents?openid=${openid}`)).json();
    expect(c.current).toEqual({ marketing: false, cross_border_llm: true });
    expect(c.history).toHaveLength(3);
    const other = await signedRequest(t, 'POST', '/v1/pipl/consents', {
      openid: 'oNOBODY',
      purpose: 'marketing',
      granted: true,
    });
    expect(other.json().code).toBe('USER_NOT_EXISTS');
    const { recordTransfer } = await import('../src/modules/compliance/index.ts');
    for (const userId of ['usr_zhangwei', 'usr_zhangwei', 'usr_lina']) {
      await recordTransfer(t.ctx, t.ctx.db, { userId, destination: 'openai', purpose: 'llm' });
    }
    const year = new Date(t.ctx.clock.now() + 8 * 3_600_000).getUTCFullYear();
    expect((await op(t, 'GET', `/v1/operator/pipl/cross-border?year=${year}`)).json()).toEqual({
      year,
      people: 2,
      transfers: 3,
    });
  });
});
