/**
 * A batch-scoring worker thread (see risk.batch.ts): opens its own database connection and model,
 * then answers { id, policy, items } messages with evaluations.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openDatabase } from '../../db/database.ts';
import { type BatchItem, type PortablePolicy, scoreSlice } from './risk.batch.ts';
import { ruleSchemaWithFeatures } from './risk.service.ts';
import { loadRiskModel } from './risk-model.ts';
import { compileRule } from './rules/index.ts';

const { databaseUrl, modelPath } = workerData as { databaseUrl: string; modelPath: string };
const handle = await openDatabase({ url: databaseUrl, pgPoolSize: 2, migrate: false });
const model = loadRiskModel(modelPath);

parentPort!.on('message', async (m: { id: number; policy: PortablePolicy; items: BatchItem[] }) => {
  try {
    const schema = ruleSchemaWithFeatures();
    const policy = {
      thresholds: m.policy.thresholds,
      rules: m.policy.rules.map((r) => compileRule(r, schema)),
      lists: Object.fromEntries(Object.entries(m.policy.lists).map(([k, v]) => [k, new Set(v)])),
    };
    const results = await scoreSlice(handle.db, model, policy, m.items);
    parentPort!.postMessage({ id: m.id, results });
  } catch (error) {
    parentPort!.postMessage({ id: m.id, error: (error as Error).message });
  }
});
