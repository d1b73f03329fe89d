/**
 * A batch-scoring worker thread (see risk.batch.ts): opens its own database connection and model,
 * warms both up, then answers job messages ({ job, batch, policy?, items }) with packed
 * evaluations. The score and action arrays are transferred, not copied.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openDatabase } from '../../db/database.ts';
import { SqlFeatureStore } from './feature-store.sql.ts';
import { feature_count, type RiskEvent } from './features.ts';
import { type JobMessage, type JobReply, type PortablePolicy, pack, scoreSlice } from './risk.batch.ts';
import { type MerchantPolicy, ruleSchemaWithFeatures } from './risk.service.ts';
import { loadRiskModel } from './risk-model.ts';
import { compileRule } from './rules/index.ts';

const { databaseUrl, modelPath } = workerData as { databaseUrl: string; modelPath: string };
const handle = await openDatabase({ url: databaseUrl, pgPoolSize: 2, migrate: false });
const model = loadRiskModel(modelPath);

// Warm-up at start (the server starts its workers at boot): the first batch then runs on
// optimised code and prepared statements. Reads only.
const probe: RiskEvent = {
  id: 'warm-up',
  ts: Date.now(),
  type: 'payment',
  payer_id: '~warm-up',
  merchant_id: '~warm-up',
  mcc: '5411',
  amount_fen: 100,
  device_id: '~warm-up',
  ip: '0.0.0.0',
  ip_country: 'CN',
  ip_region: '000000',
  instrument_id: '~warm-up',
  instrument_created_ts: 0,
  payer_created_ts: 0,
  promotion_id: null,
};
const store = new SqlFeatureStore(handle.db);
for (let i = 0; i < 50; i++) await store.snapshot(probe);
const zero = new Float64Array(feature_count);
for (let i = 0; i < 500; i++) {
  zero[0] = i;
  model.score(zero);
}

const policies = new Map<number, MerchantPolicy>();
function compilePolicy(p: PortablePolicy): MerchantPolicy {
  const schema = ruleSchemaWithFeatures();
  return {
    thresholds: p.thresholds,
    rules: p.rules.map((r) => compileRule(r, schema)),
    lists: Object.fromEntries(Object.entries(p.lists).map(([k, v]) => [k, new Set(v)])),
  };
}

parentPort!.on('message', async (m: JobMessage | { drop: number }) => {
  if ('drop' in m) {
    policies.delete(m.drop);
    return;
  }
  try {
    if (m.policy) policies.set(m.batch, compilePolicy(m.policy));
    const policy = policies.get(m.batch);
    if (!policy) throw new Error(`no policy for batch ${m.batch}`);
    const packed = pack(await scoreSlice(handle.db, model, policy, m.items));
    const reply: JobReply = { job: m.job, ...packed };
    parentPort!.postMessage(reply, [
      packed.scores.buffer as ArrayBuffer,
      packed.actions.buffer as ArrayBuffer,
    ]);
  } catch (error) {
    const reply: JobReply = { job: m.job, error: (error as Error).message };
    parentPort!.postMessage(reply);
  }
});
