import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchScorer } from '../src/modules/risk/index.ts';
import { dialects, openTestApp, type TestApp } from './harness.ts';
import { jsapiOrder, payAs, rowCount, signedRequest } from './requests.ts';

const count = async (t: TestApp, table: 'risk_assessments' | 'risk_events' | 'risk_rules' | 'risk_batches') =>
  Number(
    (
      await t.ctx.db
        .selectFrom(table)
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );

describe.each(dialects)('AI Fraud Shield over HTTP (%s)', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await openTestApp(dialect);
  });
  afterAll(() => t.close());

  const item = (over: Record<string, unknown> = {}) => ({
    type: 'payment',
    payer: { openid: t.merchant.payers[0]!.openid },
    amount: { total: 2_500, currency: 'CNY' },
    device_fingerprint: 'phone-zhangwei',
    ip: '203.0.113.7',
    ...over,
  });
  const assess = (body: unknown) => signedRequest(t, 'POST', '/v1/risk/assessments', body);

  it('assesses a payment: score 0–100, level, action, reasons, model version; stores it', async () => {
    const before = await count(t, 'risk_assessments');
    const res = await assess(item());
    expect(res.statusCode).toBe(200);
    const a = res.json();
    expect(a.assessment_id).toMatch(/^ra_/);
    expect(a.risk_score).toBeGreaterThanOrEqual(0);
    expect(a.risk_score).toBeLessThanOrEqual(100);
    expect(['low', 'elevated', 'high']).toContain(a.risk_level);
    expect(['approve', 'review', 'block']).toContain(a.suggested_action);
    expect(a.model_version).toMatch(/^risk-gbdt-/);
    expect(Array.isArray(a.reasons)).toBe(true);
    for (const r of a.reasons) expect(r.contribution).toBeGreaterThan(0);
    expect(await count(t, 'risk_assessments')).toBe(before + 1);
    const again = await signedRequest(t, 'GET', `/v1/risk/assessments/${a.assessment_id}`);
    expect(again.json()).toMatchObject({
      assessment_id: a.assessment_id,
      risk_score: a.risk_score,
      label: null,
    });
  });

  it('velocity raises the score: a burst of tiny payments from a new foreign device', async () => {
    const calm = (await assess(item({ amount: { total: 3_000 } }))).json().risk_score as number;
    let last = 0;
    for (let i = 0; i < 25; i++) {
      last = (
        await assess(
          item({
            amount: { total: 1 + i },
            device_fingerprint: 'burst-dev',
            ip: '198.51.100.9',
            ip_country: 'US',
          }),
        )
      ).json().risk_score;
    }
    expect(last).toBeGreaterThan(calm);
  });

  it('the sandbox fraud device always scores 99 and blocks a payment before money moves', async () => {
    const a = (await assess(item({ device_fingerprint: 'sandbox-fraud-device-1' }))).json();
    expect(a).toMatchObject({ risk_score: 99, suggested_action: 'block', risk_level: 'high' });
    expect(a.reasons[0].feature).toBe('sandbox_fraud_device');
    const order = jsapiOrder(t);
    const { prepay_id } = (await signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', order)).json();
    const journals = await rowCount(t, 'journals');
    const res = await payAs(t, prepay_id, order.payer.openid, { device: 'sandbox-fraud-device-2' });
    expect([res.statusCode, res.json().code]).toEqual([403, 'RISK_BLOCKED']);
    expect(await rowCount(t, 'journals')).toBe(journals);
    const q = await signedRequest(
      t,
      'GET',
      `/v3/pay/transactions/out-trade-no/${order.out_trade_no}?mchid=${t.merchant.mchid}`,
    );
    expect(q.json().trade_state).toBe('NOTPAY');
    const ok = await payAs(t, prepay_id, order.payer.openid);
    expect(ok.json()).toMatchObject({
      trade_state: 'SUCCESS',
      risk: { suggested_action: expect.stringMatching(/approve|review/) },
    });
  });

  it('rejects bad input with documented errors and stores nothing', async () => {
    const before = await count(t, 'risk_assessments');
    const events = await count(t, 'risk_events');
    const cases: [unknown, number, string][] = [
      [item({ payer: { openid: 'oNOBODY' } }), 404, 'USER_NOT_EXISTS'],
      [item({ amount: { total: 0 } }), 400, 'PARAM_ERROR'],
      [item({ type: 'transfer' }), 400, 'PARAM_ERROR'],
      [item({ instrument_id: 'ins_lina_balance' }), 400, 'INVALID_REQUEST'],
      [{ ...item(), device_fingerprint: undefined }, 400, 'PARAM_ERROR'],
    ];
    for (const [body, status, code] of cases) {
      const res = await assess(body);
      expect([res.statusCode, res.json().code], JSON.stringify(body)).toEqual([status, code]);
    }
    expect(await count(t, 'risk_assessments')).toBe(before);
    expect(await count(t, 'risk_events')).toBe(events);
  });

  it('rules: a malformed rule is rejected with its position; a rule blocks; backtesting counts hits and fraud', async () => {
    const bad = await signedRequest(t, 'POST', '/v1/risk/rules', { rule: 'block if amout > 500000' });
    expect([bad.statusCode, bad.json().code]).toEqual([400, 'RULE_INVALID']);
    expect(bad.json().message).toMatch(/amout.*9.*amount/);
    expect(await count(t, 'risk_rules')).toBe(0);

    const big = (await assess(item({ amount: { total: 600_000 }, out_trade_no: 'BIG-1' }))).json();
    await signedRequest(t, 'POST', '/v1/risk/labels', { assessment_id: big.assessment_id, label: 'fraud' });
    const small = (await assess(item({ amount: { total: 1_000 } }))).json();
    await signedRequest(t, 'POST', '/v1/risk/labels', {
      assessment_id: small.assessment_id,
      label: 'legitimate',
    });
    const backtest = await signedRequest(t, 'POST', '/v1/risk/rules/backtest', {
      rule: 'block if amount > 500000 and ip_country == "CN"',
    });
    expect(backtest.statusCode).toBe(200);
    expect(backtest.json()).toMatchObject({
      hits: 1,
      hits_labelled_fraud: 1,
      labelled_fraud: 1,
      precision: 1,
    });

    const added = await signedRequest(t, 'POST', '/v1/risk/rules', { rule: 'block if amount > 500000' });
    expect(added.statusCode).toBe(201);
    const blocked = (await assess(item({ amount: { total: 600_001 } }))).json();
    expect(blocked).toMatchObject({ suggested_action: 'block', rules_matched: ['block if amount > 500000'] });
    await signedRequest(t, 'PUT', '/v1/risk/lists/vip', { values: [t.merchant.payers[0]!.openid] });
    await signedRequest(t, 'POST', '/v1/risk/rules', { rule: 'allow if openid in @vip' });
    expect((await assess(item({ amount: { total: 600_002 } }))).json().suggested_action).toBe('approve');
    const list = (await signedRequest(t, 'GET', '/v1/risk/rules')).json().data;
    for (const r of list)
      expect((await signedRequest(t, 'DELETE', `/v1/risk/rules/${r.rule_id}`)).statusCode).toBe(204);
  });

  it('labels by out_trade_no, and unknown ones are 404', async () => {
    const res = await signedRequest(t, 'POST', '/v1/risk/labels', {
      out_trade_no: 'BIG-1',
      label: 'chargeback',
    });
    expect(res.json()).toEqual({ labelled: 1 });
    const none = await signedRequest(t, 'POST', '/v1/risk/labels', {
      assessment_id: 'ra_nope',
      label: 'fraud',
    });
    expect([none.statusCode, none.json().code]).toEqual([404, 'RESOURCE_NOT_EXISTS']);
  });

  it('thresholds are per merchant: a block threshold of 0 blocks everything', async () => {
    const bad = await signedRequest(t, 'PUT', '/v1/risk/settings', {
      review_threshold: 80,
      block_threshold: 50,
    });
    expect(bad.json().code).toBe('PARAM_ERROR');
    await signedRequest(t, 'PUT', '/v1/risk/settings', { review_threshold: 0, block_threshold: 0 });
    expect((await assess(item())).json().suggested_action).toBe('block');
    await signedRequest(t, 'PUT', '/v1/risk/settings', { review_threshold: 30, block_threshold: 75 });
    expect((await assess(item())).json().suggested_action).not.toBe('block');
  });

  it('a refund assessed with the order number of an assessed payment gets the refund delay', async () => {
    const features = async (id: string) =>
      JSON.parse(
        (
          await t.ctx.db
            .selectFrom('risk_assessments')
            .select('features_json')
            .where('id', '=', id)
            .executeTakeFirstOrThrow()
        ).features_json,
      ) as Record<string, number>;
    const paid = (await assess(item({ out_trade_no: 'RD-1' }))).json();
    const refund = (
      await assess(
        item({ type: 'refund', out_trade_no: 'RD-1', amount: { total: 2_500, original_total: 2_500 } }),
      )
    ).json();
    const unknown = (await assess(item({ type: 'refund', out_trade_no: 'RD-none' }))).json();
    const f = await features(refund.assessment_id);
    expect(f.refund_delay_hours).toBeGreaterThanOrEqual(0);
    expect(f.refund_share_of_payment).toBe(1);
    expect((await features(unknown.assessment_id)).refund_delay_hours).toBe(-1);
    expect((await features(paid.assessment_id)).refund_delay_hours).toBe(-1);
  });

  it('batch: 202, then all results within the 2-second window, billed as batch', async () => {
    const items = Array.from({ length: 60 }, (_, i) =>
      item({ amount: { total: 100 + i }, out_trade_no: `B-${i}` }),
    );
    const res = await signedRequest(t, 'POST', '/v1/risk/assessments/batch', { items });
    expect(res.statusCode).toBe(202);
    const { batch_id, status } = res.json();
    expect(status).toBe('processing');
    const started = Date.now();
    let view = res.json();
    while (view.status === 'processing' && Date.now() - started < 2_000) {
      await new Promise((r) => setTimeout(r, 20));
      view = (await signedRequest(t, 'GET', `/v1/risk/batches/${batch_id}`)).json();
    }
    expect(view.status).toBe('completed');
    expect(view.results).toHaveLength(60);
    expect(view.results.map((r: { index: number }) => r.index)).toEqual(items.map((_, i) => i));
    const kinds = await t.ctx.db
      .selectFrom('risk_assessments')
      .select('billing_kind')
      .where('batch_id', '=', batch_id)
      .execute();
    expect(new Set(kinds.map((k) => k.billing_kind))).toEqual(new Set(['risk_batch']));
  });

  it('batch: an invalid item rejects the whole batch; an oversize batch is refused', async () => {
    const batches = await count(t, 'risk_batches');
    const bad = await signedRequest(t, 'POST', '/v1/risk/assessments/batch', {
      items: [item(), item({ payer: { openid: 'oNOBODY' } })],
    });
    expect([bad.statusCode, bad.json().code, bad.json().detail.field]).toEqual([
      404,
      'USER_NOT_EXISTS',
      '/items/1/payer/openid',
    ]);
    const huge = await signedRequest(t, 'POST', '/v1/risk/assessments/batch', {
      items: Array.from({ length: 10_001 }, () => item()),
    });
    expect([huge.statusCode, huge.json().code]).toEqual([400, 'PARAM_ERROR']);
    expect(await count(t, 'risk_batches')).toBe(batches);
  });

  it('refunds pass the Fraud Shield: a merchant rule can block refunds', async () => {
    const order = jsapiOrder(t, { amount: { total: 5_000, currency: 'CNY' } });
    const { prepay_id } = (await signedRequest(t, 'POST', '/v3/pay/transactions/jsapi', order)).json();
    expect((await payAs(t, prepay_id, order.payer.openid)).statusCode).toBe(200);
    const rule = (
      await signedRequest(t, 'POST', '/v1/risk/rules', {
        rule: "block if type == 'refund' and refund_share_of_payment > 0.9",
      })
    ).json();
    const refund = (no: string, amount: number) =>
      signedRequest(t, 'POST', '/v3/refund/domestic/refunds', {
        out_trade_no: order.out_trade_no,
        out_refund_no: no,
        amount: { refund: amount, total: 5_000, currency: 'CNY' },
      });
    const blocked = await refund(`${order.out_trade_no}-all`, 5_000);
    expect([blocked.statusCode, blocked.json().code]).toEqual([403, 'RISK_BLOCKED']);
    expect(await rowCount(t, 'refunds')).toBe(0);
    const partial = await refund(`${order.out_trade_no}-part`, 1_000);
    expect(partial.json().status).toBe('SUCCESS');
    await signedRequest(t, 'DELETE', `/v1/risk/rules/${rule.rule_id}`);
  });
});

describe('batch scoring in worker threads (the server default)', () => {
  it('a 300-item batch completes in worker threads, each with its own database connection', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const { buildApp } = await import('../src/app.ts');
    const { openDatabase } = await import('../src/db/database.ts');
    const { FakeClock } = await import('../src/lib/clock.ts');
    const { seededIds } = await import('../src/lib/ids.ts');
    const { createMerchant } = await import('../src/modules/merchants/index.ts');
    const { grantAiEligibility } = await import('../src/ops.ts');
    const { WorkerBatchScorer, default_model_path, loadRiskModel } = await import(
      '../src/modules/risk/index.ts'
    );
    const dir = mkdtempSync(join(tmpdir(), 'zhifu-workers-'));
    const url = `sqlite:${join(dir, 'z.db')}`;
    const handle = await openDatabase({ url });
    const ctx = {
      db: handle.db,
      dialect: handle.dialect,
      clock: new FakeClock(Date.now()),
      ids: seededIds('workers'),
      publicUrl: 'http://127.0.0.1:0',
      keys: (await import('../src/context.ts')).dataKeys('test', Buffer.alloc(16, 7)),
    };
    const batch = new WorkerBatchScorer({ databaseUrl: url, modelPath: default_model_path, threads: 2 });
    const app = await buildApp({ ctx, risk: { model: loadRiskModel(), batch }, background: false });
    try {
      const merchant = await createMerchant(ctx, { name: 'workers' });
      await grantAiEligibility(ctx, merchant.mchid, 'test');
      const t = { app, ctx, merchant } as unknown as TestApp;
      const items = Array.from({ length: 300 }, (_, i) => ({
        type: 'payment',
        payer: { openid: merchant.payers[i % 2]!.openid },
        amount: { total: 100 + i },
        device_fingerprint: `dev-${i % 7}`,
        ip: '203.0.113.9',
      }));
      const res = await signedRequest(t, 'POST', '/v1/risk/assessments/batch', { items });
      expect(res.statusCode).toBe(202);
      let view = res.json();
      const started = Date.now();
      while (view.status === 'processing' && Date.now() - started < 20_000) {
        await new Promise((r) => setTimeout(r, 50));
        view = (await signedRequest(t, 'GET', `/v1/risk/batches/${view.batch_id}`)).json();
      }
      expect(view.status).toBe('completed');
      expect(view.results).toHaveLength(300);
    } finally {
      await app.close();
      await handle.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Submits a batch of `n` payments of the merchant's first payer; expects 202. */
async function submitBatch(t: TestApp, n: number) {
  const items = Array.from({ length: n }, (_, i) => ({
    type: 'payment',
    payer: { openid: t.merchant.payers[0]!.openid },
    amount: { total: 100 + i },
    device_fingerprint: 'phone-a',
    ip: '203.0.113.7',
  }));
  const res = await signedRequest(t, 'POST', '/v1/risk/assessments/batch', { items });
  expect(res.statusCode).toBe(202);
  return res;
}

describe.each(dialects)('batch storage semantics (%s)', (dialect) => {
  it('a batch that fails while storing shows no result, is marked failed, bills nothing and announces only risk.batch_failed', async () => {
    const { InProcessBatchScorer, loadRiskModel } = await import('../src/modules/risk/index.ts');
    const model = loadRiskModel();
    let inner: InstanceType<typeof InProcessBatchScorer> | undefined;
    let storedBeforeFailure = 0;
    // A scorer that stores the first half of the batch for real, then fails (a disk or worker error).
    const failing: BatchScorer = {
      score: (policy, items) => inner!.score(policy, items),
      async scoreAndStore(policy, target, items) {
        const half = await inner!.scoreAndStore(policy, target, items.slice(0, items.length >> 1));
        storedBeforeFailure = half.stored;
        throw new Error('disk full');
      },
      close: async () => {},
    };
    const t = await openTestApp(dialect, { app: { risk: { model, batch: failing } } });
    inner = new InProcessBatchScorer(t.ctx.db, model);
    try {
      const res = await submitBatch(t, 120);
      let view = res.json();
      for (let k = 0; k < 200 && view.status === 'processing'; k++) {
        await new Promise((r) => setTimeout(r, 10));
        view = (await signedRequest(t, 'GET', `/v1/risk/batches/${view.batch_id}`)).json();
      }
      expect(storedBeforeFailure).toBe(60);
      expect(view.status).toBe('failed');
      expect(view.results).toBeUndefined();
      const rows = await t.ctx.db
        .selectFrom('risk_assessments')
        .select('id')
        .where('batch_id', '=', view.batch_id)
        .execute();
      expect(rows).toHaveLength(0);
      const usage = await t.ctx.db
        .selectFrom('usage_records')
        .select('usage_key')
        .where('usage_key', '=', `risk_batch:${view.batch_id}`)
        .execute();
      expect(usage).toHaveLength(0);
      const events = await t.ctx.db
        .selectFrom('events')
        .select('type')
        .where('mchid', '=', t.merchant.mchid)
        .where('type', 'like', 'risk.batch_%')
        .execute();
      expect(events.map((e) => e.type)).toEqual(['risk.batch_failed']);
    } finally {
      await t.close();
    }
  });

  it('the sweeper fails a batch whose run stopped, deletes its rows, and a late finish changes nothing', async () => {
    const { InProcessBatchScorer, loadRiskModel, sweepBatches } = await import(
      '../src/modules/risk/index.ts'
    );
    const model = loadRiskModel();
    let inner: InstanceType<typeof InProcessBatchScorer> | undefined;
    let resume!: () => void;
    let lateStored!: () => void;
    const late = new Promise<void>((r) => {
      lateStored = r;
    });
    let storedFirst!: () => void;
    const first = new Promise<void>((r) => {
      storedFirst = r;
    });
    let again: (() => Promise<unknown>) | undefined;
    // Stores half the batch, then stalls (as a process that died mid-batch would, from the database's
    // point of view) until the test resumes it, after the sweeper has failed the batch.
    const stalling: BatchScorer = {
      score: (policy, items) => inner!.score(policy, items),
      async scoreAndStore(policy, target, items) {
        const half = items.length >> 1;
        const a = await inner!.scoreAndStore(policy, target, items.slice(0, half));
        again = () => inner!.scoreAndStore(policy, target, items.slice(0, 10));
        storedFirst();
        await new Promise<void>((r) => {
          resume = r;
        });
        const b = await inner!.scoreAndStore(policy, target, items.slice(half));
        lateStored();
        return { stored: a.stored + b.stored, blocked: a.blocked + b.blocked, review: a.review + b.review };
      },
      close: async () => {},
    };
    const t = await openTestApp(dialect, { app: { risk: { model, batch: stalling } } });
    inner = new InProcessBatchScorer(t.ctx.db, model);
    const rowsOf = async (batchId: string) =>
      (await t.ctx.db.selectFrom('risk_assessments').select('id').where('batch_id', '=', batchId).execute())
        .length;
    try {
      const res = await submitBatch(t, 40);
      const batchId = res.json().batch_id as string;
      await first;
      expect(await rowsOf(batchId)).toBe(20);
      // Not stale yet: the sweeper leaves a batch that may still be running alone.
      t.clock.advance(5 * 60_000);
      const published: string[] = [];
      const deps = {
        publish: (_m: string, es: { type: string }[]) => published.push(...es.map((e) => e.type)),
      };
      expect(await sweepBatches(t.ctx, deps)).toBe(0);
      expect((await signedRequest(t, 'GET', `/v1/risk/batches/${batchId}`)).json().status).toBe('processing');
      t.clock.advance(6 * 60_000);
      expect(await sweepBatches(t.ctx, deps)).toBe(1);
      expect(published).toEqual(['risk.batch_failed']);
      const view = (await signedRequest(t, 'GET', `/v1/risk/batches/${batchId}`)).json();
      expect(view.status).toBe('failed');
      expect(view.results).toBeUndefined();
      expect(await rowsOf(batchId)).toBe(0);
      // The stalled run finishes late: its completion is refused and what it stored is removed.
      resume();
      await late;
      for (let k = 0; k < 200 && (await rowsOf(batchId)) > 0; k++)
        await new Promise((r) => setTimeout(r, 10));
      expect(await rowsOf(batchId)).toBe(0);
      expect((await signedRequest(t, 'GET', `/v1/risk/batches/${batchId}`)).json().status).toBe('failed');
      // Rows stored under a failed batch afterwards (another worker's job) go at the next sweep.
      await again!();
      expect(await rowsOf(batchId)).toBe(10);
      expect(await sweepBatches(t.ctx, deps)).toBe(0);
      expect(await rowsOf(batchId)).toBe(0);
      const billed = await t.ctx.db
        .selectFrom('usage_records')
        .select('usage_key')
        .where('usage_key', '=', `risk_batch:${batchId}`)
        .execute();
      expect(billed).toHaveLength(0);
      // One risk.batch_failed (from the sweep; the late finish found the batch already failed).
      const events = await t.ctx.db
        .selectFrom('events')
        .select(['type', 'data_json'])
        .where('mchid', '=', t.merchant.mchid)
        .where('type', 'like', 'risk.batch_%')
        .execute();
      expect(events.map((e) => e.type)).toEqual(['risk.batch_failed']);
      expect(JSON.parse(events[0]!.data_json)).toEqual({ batch_id: batchId, items: 40, status: 'failed' });
      expect(published).toEqual(['risk.batch_failed']);
    } finally {
      await t.close();
    }
  });
});
