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

const reply_items = 200;
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
    // Results go back in parts: one 7 MiB message took ~40 ms to deserialise on the main thread,
    // which is the event-loop stall the batch is supposed to avoid.
    for (let i = 0; i < m.items.length; i += reply_items) {
      const part = await scoreSlice(handle.db, model, policy, m.items.slice(i, i + reply_items));
      parentPort!.postMessage({ id: m.id, part, done: i + reply_items >= m.items.length });
    }
    if (m.items.length === 0) parentPort!.postMessage({ id: m.id, part: [], done: true });
  } catch (error) {
    parentPort!.postMessage({ id: m.id, error: (error as Error).message });
  }
});
