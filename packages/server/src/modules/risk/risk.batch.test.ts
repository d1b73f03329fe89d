import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DatabaseHandle, openDatabase } from '../../db/database.ts';
import { requestHash } from '../idempotency/index.ts';
import { SqlFeatureStore } from './feature-store.sql.ts';
import type { RiskEvent } from './features.ts';
import {
  actions,
  type BatchItem,
  type BatchTally,
  InProcessBatchScorer,
  job_items,
  type PackedEvaluations,
  type StoredItem,
  WorkerBatchScorer,
} from './risk.batch.ts';
import { type AssessItem, batchHash, type MerchantPolicy, ruleSchemaWithFeatures } from './risk.service.ts';
import { default_model_path, loadRiskModel } from './risk-model.ts';
import { compileRule } from './rules/index.ts';

/** Payment events over a few payers, devices and IPs, one minute apart. */
function events(n: number, start: number, prefix: string): RiskEvent[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `${prefix}${i}`,
    ts: start + i * 60_000,
    type: i % 11 === 10 ? 'refund' : 'payment',
    payer_id: `p${i % 9}`,
    merchant_id: 'm1',
    mcc: ['5411', '6051', '5732'][i % 3]!,
    amount_fen: 100 + ((i * 7919) % 90_000),
    device_id: `d${i % 5}`,
    ip: `10.0.0.${i % 4}`,
    ip_country: i % 13 === 0 ? 'US' : 'CN',
    ip_region: '110000',
    instrument_id: `i${i % 3}`,
    instrument_created_ts: start - 5 * 86_400_000,
    payer_created_ts: start - 30 * 86_400_000,
    promotion_id: i % 6 === 0 ? 'promo' : null,
    refund_of_amount_fen: i % 11 === 10 ? 90_000 : null,
    refund_of_ts: i % 11 === 10 ? start : null,
  }));
}

describe('batch scoring: worker threads and the in-process scorer agree', () => {
  let dir: string;
  let handle: DatabaseHandle;
  let url: string;
  const start = Date.UTC(2026, 10, 1);
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'zhifu-batch-'));
    url = `sqlite:${join(dir, 'z.db')}`;
    handle = await openDatabase({ url });
    const store = new SqlFeatureStore(handle.db);
    await handle.db.transaction().execute(async (trx) => {
      for (const e of events(400, start, 'h')) await store.within(trx).record(e, 'success');
    });
  });
  afterAll(async () => {
    await handle.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('packs the same results in the same order across jobs, with the policy (rules, lists) applied', async () => {
    const model = loadRiskModel();
    const schema = ruleSchemaWithFeatures();
    const policy: MerchantPolicy = {
      thresholds: { review: 30, block: 75 },
      rules: [
        compileRule('review if device_id in @watched and amount > 50000', schema),
        compileRule("block if ip_country != 'CN'", schema),
      ],
      lists: { watched: new Set(['d1', 'd3']) },
    };
    // More than two jobs per worker, and a last job that is not full.
    const n = 5 * job_items + 37;
    const items: BatchItem[] = events(n, start + 400 * 60_000, 'b').map((e) => ({ e, openid: 'o_test' }));
    const workers = new WorkerBatchScorer({ databaseUrl: url, modelPath: default_model_path, threads: 2 });
    let fromWorkers: PackedEvaluations;
    let second: PackedEvaluations;
    try {
      // Two batches at once share the workers and each gets its own results.
      [fromWorkers, second] = await Promise.all([
        workers.score(policy, items),
        workers.score(policy, items.slice(0, 10)),
      ]);
    } finally {
      await workers.close();
    }
    const inProcess = await new InProcessBatchScorer(handle.db, model).score(policy, items);
    expect(fromWorkers.scores.length).toBe(n);
    expect(Array.from(fromWorkers.scores)).toEqual(Array.from(inProcess.scores));
    expect(Array.from(fromWorkers.actions)).toEqual(Array.from(inProcess.actions));
    expect(fromWorkers.text).toEqual(inProcess.text);
    expect(Array.from(second.scores)).toEqual(Array.from(inProcess.scores.subarray(0, 10)));
    // The policy was applied in the workers: every foreign-IP item is blocked by the rule.
    items.forEach((item, i) => {
      if (item.e.ip_country !== 'CN') expect(actions[fromWorkers.actions[i]!]).toBe('block');
    });
    const matched = fromWorkers.text.filter((_, k) => k % 3 === 1).map((t) => JSON.parse(t) as string[]);
    expect(matched.some((m) => m.includes('review if device_id in @watched and amount > 50000'))).toBe(true);
    // The stored features are the item's own.
    const features = JSON.parse(fromWorkers.text[3 * 5 + 2]!) as Record<string, number | string>;
    expect([features.device_id, features.amount]).toEqual([items[5]!.e.device_id, items[5]!.e.amount_fen]);
  });

  it('workers store every assessment once, as the in-process scorer stores it, across jobs and statements', async () => {
    const model = loadRiskModel();
    const policy: MerchantPolicy = {
      thresholds: { review: 30, block: 75 },
      rules: [compileRule("block if ip_country != 'CN'", ruleSchemaWithFeatures())],
      lists: {},
    };
    // Several jobs per worker, statements of assessment_insert_rows and a last partial one.
    const n = 5 * job_items + 37;
    const evs = events(n, start + 2_000 * 60_000, 's');
    const stored = (tag: string): StoredItem[] =>
      evs.map((e, i) => ({ e, openid: 'o_test', id: `ra_${tag}_${i}`, ref: i % 2 ? `T-${i}` : null }));
    const target = (batchId: string) => ({ batchId, mchid: 'm1', billing: 'risk_batch', now: start });
    const workers = new WorkerBatchScorer({ databaseUrl: url, modelPath: default_model_path, threads: 2 });
    let tally: BatchTally;
    try {
      tally = await workers.scoreAndStore(policy, target('rb_w'), stored('w'));
    } finally {
      await workers.close();
    }
    const inProcess = await new InProcessBatchScorer(handle.db, model).scoreAndStore(
      policy,
      target('rb_p'),
      stored('p'),
    );
    expect(tally).toEqual(inProcess);
    expect(tally.stored).toBe(n);
    const rowsOf = (batchId: string) =>
      handle.db
        .selectFrom('risk_assessments')
        .selectAll()
        .where('batch_id', '=', batchId)
        .orderBy('event_id')
        .execute();
    const [w, p] = await Promise.all([rowsOf('rb_w'), rowsOf('rb_p')]);
    expect(w).toHaveLength(n);
    expect(new Set(w.map((r) => r.event_id)).size).toBe(n);
    const comparable = (r: (typeof w)[number]) => ({ ...r, id: r.id.slice('ra_w_'.length), batch_id: null });
    expect(w.map(comparable)).toEqual(p.map(comparable));
    expect(w.filter((r) => r.suggested_action === 'block').length).toBe(tally.blocked);
  });

  it('a job that fails to store fails the batch only once no other job of it is still running', async () => {
    const policy: MerchantPolicy = { thresholds: { review: 30, block: 75 }, rules: [], lists: {} };
    const n = 6 * job_items;
    const items: StoredItem[] = events(n, start + 4_000 * 60_000, 'f').map((e, i) => ({
      e,
      openid: 'o_test',
      id: `ra_f_${i}`,
      ref: null,
    }));
    // Two jobs carry the same assessment id: whichever commits second fails on the primary key.
    items[job_items + 3]!.id = items[2]!.id;
    const target = { batchId: 'rb_f', mchid: 'm1', billing: 'risk_batch', now: start };
    const workers = new WorkerBatchScorer({ databaseUrl: url, modelPath: default_model_path, threads: 2 });
    const countRows = async () =>
      (await handle.db.selectFrom('risk_assessments').select('id').where('batch_id', '=', 'rb_f').execute())
        .length;
    try {
      await expect(workers.scoreAndStore(policy, target, items)).rejects.toThrow(/batch worker/);
      const atRejection = await countRows();
      expect(atRejection).toBeLessThan(n);
      await new Promise((r) => setTimeout(r, 300));
      // Nothing of the batch is written after the rejection (the caller's clean-up cannot be raced).
      expect(await countRows()).toBe(atRejection);
      // The workers are still usable.
      const next = items.slice(0, 10).map((item, i) => ({ ...item, id: `ra_g_${i}` }));
      expect((await workers.scoreAndStore(policy, { ...target, batchId: 'rb_g' }, next)).stored).toBe(10);
    } finally {
      await workers.close();
    }
  });

  it('an empty batch answers at once', async () => {
    const workers = new WorkerBatchScorer({ databaseUrl: url, modelPath: default_model_path, threads: 1 });
    try {
      const policy: MerchantPolicy = { thresholds: { review: 30, block: 75 }, rules: [], lists: {} };
      expect((await workers.score(policy, [])).scores.length).toBe(0);
    } finally {
      await workers.close();
    }
  });
});

describe('batch request hash', () => {
  it('computed item by item, equals requestHash of the whole item list', async () => {
    const items: AssessItem[] = Array.from({ length: 450 }, (_, i) => ({
      type: i % 3 ? 'payment' : 'refund',
      payer: { openid: `o${i % 17}` },
      amount: { total: i + 1, ...(i % 2 ? { currency: 'CNY' } : {}) },
      device_fingerprint: `d${i}`,
      ip: '203.0.113.9',
      ...(i % 5 ? {} : { mcc: '5411', out_trade_no: `T-${i}` }),
    }));
    expect(await batchHash(items)).toBe(requestHash('RISK_BATCH', items));
    expect(await batchHash([])).toBe(requestHash('RISK_BATCH', []));
  });
});
