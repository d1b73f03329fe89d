/**
 * `npm run bench:notify` set-up: N merchants created with the ops functions straight into a SQLite
 * file while no server runs (each merchant generates three RSA-2048 key pairs on libuv's thread
 * pool, ~0.3 s of CPU each). The file is then copied for every server the bench starts.
 */
import { performance } from 'node:perf_hooks';
import {
  createMerchantCredentials,
  loadConfig,
  type MerchantCredentials,
  openContext,
} from '../packages/server/src/ops.ts';

export interface MerchantSetup {
  merchants: MerchantCredentials[];
  seconds: number;
}

/** Creates `count` merchants in `<dataDir>/zhifu.db` (closed again afterwards, WAL checkpointed). */
export async function createBenchMerchants(
  dataDir: string,
  count: number,
  parallel = 8,
  progress: (done: number) => void = () => {},
): Promise<MerchantSetup> {
  const t0 = performance.now();
  const { ctx, handle } = await openContext(
    loadConfig({ ZHIFU_DATA_DIR: dataDir, ZHIFU_SQLITE_SYNCHRONOUS: 'NORMAL' }),
  );
  const merchants: MerchantCredentials[] = [];
  try {
    // The first one alone: it also creates the sandbox payers and the OpenID secret.
    merchants.push(await createMerchantCredentials(ctx, 'Notify bench store 0'));
    let next = 1;
    const worker = async (): Promise<void> => {
      while (next < count) {
        const i = next++;
        merchants.push(await createMerchantCredentials(ctx, `Notify bench store ${i}`));
        if (merchants.length % 10 === 0) progress(merchants.length);
      }
    };
    await Promise.all(Array.from({ length: Math.min(parallel, Math.max(0, count - 1)) }, () => worker()));
  } finally {
    await handle.close();
  }
  return { merchants, seconds: (performance.now() - t0) / 1000 };
}
