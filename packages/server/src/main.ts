/**
 * The only file with side effects: read config → open the database → seed the demo → buildApp →
 * listen → print where everything is → close cleanly on SIGINT/SIGTERM.
 */
import { buildApp } from './app.ts';
import { ConfigError, loadConfig, maskPassword } from './config.ts';
import { connectRedis, type Shared } from './lib/redis.ts';
import {
  default_model_path,
  InProcessBatchScorer,
  loadRiskModel,
  WorkerBatchScorer,
} from './modules/risk/index.ts';
import { openContext, seedDemo } from './ops.ts';

/** What stops the start, said in one line that names the setting to look at. */
class StartError extends Error {}

async function main(): Promise<void> {
  const config = loadConfig();
  // A signal during start-up waits for it, then closes (it used to kill the process half-seeded).
  let stopAsked: string | undefined;
  let close = async (signal: string) => {
    stopAsked = signal;
  };
  process.on('SIGINT', () => void close('SIGINT'));
  process.on('SIGTERM', () => void close('SIGTERM'));
  const { ctx, handle } = await openContext(config).catch((error: unknown) => {
    if (error instanceof ConfigError) throw error;
    throw new StartError(
      `cannot open the database ${maskPassword(config.databaseUrl)} (ZHIFU_DATABASE_URL): ${(error as Error).message}`,
    );
  });
  let shared: Shared | undefined;
  if (config.redisUrl) {
    const redis = connectRedis(config.redisUrl);
    let cause: unknown;
    const failed = (error: unknown) => {
      cause = error;
    };
    redis.on('error', failed);
    await redis.connect().catch((error: unknown) => {
      redis.disconnect();
      throw new StartError(
        `cannot reach Redis ${maskPassword(config.redisUrl!)} (ZHIFU_REDIS_URL): ${((cause ?? error) as Error).message}`,
      );
    });
    // Connected, but a command of the handshake failed (SELECT of a database that does not exist:
    // ioredis then stays on database 0, where another deployment may live).
    if (cause) {
      redis.disconnect();
      throw new StartError(
        `cannot use Redis ${maskPassword(config.redisUrl)} (ZHIFU_REDIS_URL): ${(cause as Error).message}`,
      );
    }
    redis.off('error', failed);
    shared = { redis, prefix: config.redisPrefix };
  }
  const model = loadRiskModel();
  const batch =
    config.riskBatchThreads > 0
      ? new WorkerBatchScorer({
          databaseUrl: config.databaseUrl,
          modelPath: default_model_path,
          threads: config.riskBatchThreads,
        })
      : new InProcessBatchScorer(handle.db, model);
  const app = await buildApp({
    ctx,
    sandbox: config.sandbox,
    ...(shared ? { shared } : {}),
    risk: { model, batch },
    callbacksAllowLoopback: config.callbackAllowLoopback,
    billDownloadUrl: config.billDownloadUrl,
    trustProxy: config.trustProxy,
    operatorToken: config.operatorToken,
    auditSampleRate: config.auditSampleRate,
    rateLimits: config.rateLimits,
    llm: { providers: config.llmProviders, strategy: config.llmRouting },
    agentModel: config.agentModel,
    checkout: { explorationShare: config.checkoutExploration, rankingCommit: config.checkoutCommit },
    logLevel: config.logLevel === 'info' ? 'warn' : config.logLevel,
  });
  await app.listen({ port: config.port, host: config.host }).catch((error: unknown) => {
    throw new StartError(
      `cannot listen on ${config.host}:${config.port} (ZHIFU_HOST, PORT): ${(error as Error).message}`,
    );
  });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  // With PORT=0 the port is known only now; an explicit ZHIFU_PUBLIC_URL is kept as given.
  if (!config.publicUrlGiven) ctx.publicUrl = config.publicUrl.replace(/:\d+$/, `:${port}`);
  const base = ctx.publicUrl;
  const demo = config.seedDemo ? await seedDemo(ctx, config) : undefined;
  const lines = [
    '',
    '  智付 Zhifu is running (sandbox; not affiliated with Tencent or WeChat Pay)',
    `  API base URL      ${base}`,
    ...(config.sandbox ? [`  Cashier           ${base}/cashier`] : []),
    `  Database          ${handle.dialect === 'sqlite' ? config.databaseUrl : maskPassword(config.databaseUrl)}`,
    ...(config.redisUrl
      ? [`  Redis             ${maskPassword(config.redisUrl)} (keys ${config.redisPrefix}*)`]
      : []),
  ];
  if (demo) {
    lines.push(
      `  Demo merchant     mchid ${demo.credentials.mchid} · appid ${demo.credentials.appid}`,
      `  Credentials JSON  ${demo.file}`,
      `  Sandbox payers    ${demo.credentials.payers.map((p) => `${p.name} (${p.openid})`).join('\n                    ')}`,
    );
  }
  if (config.sandbox)
    lines.push('  Pay an order      npx zhifu sandbox pay <prepay_id|code_url> --payer <openid>');
  lines.push('  Docs              docs/README.md', '');
  process.stdout.write(`${lines.join('\n')}\n`);

  let closing = false;
  close = async (signal: string) => {
    if (closing) return;
    closing = true;
    process.stdout.write(`received ${signal}, closing\n`);
    await app.close();
    await shared?.redis.quit();
    await handle.close();
    process.exit(0);
  };
  if (stopAsked) await close(stopAsked);
}

main().catch((error: unknown) => {
  const known = error instanceof ConfigError || error instanceof StartError;
  process.stderr.write(`zhifu: ${known ? error.message : (error as Error).stack}\n`);
  process.exit(1);
});
