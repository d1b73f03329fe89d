/**
 * buildApp(deps): the pure factory of the platform (STYLE.md rule 10). It registers transports
 * and routes and never listens; main.ts listens, tests use inject() or listen on port 0.
 */
import swagger from '@fastify/swagger';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Ctx } from './context.ts';
import { body_bytes_max } from './lib/limits.ts';
import { MemoryNonceStore, type NonceStore } from './modules/idempotency/index.ts';
import { MerchantKeyCache } from './modules/merchants/index.ts';
import { merchantRoutes } from './modules/merchants/merchants.routes.ts';
import { paymentRoutes } from './modules/payments/payments.routes.ts';
import { refundRoutes } from './modules/refunds/refunds.routes.ts';
import { InProcessBatchScorer, loadRiskModel, type RiskDeps } from './modules/risk/index.ts';
import { riskRoutes } from './modules/risk/risk.routes.ts';
import { walletRoutes } from './modules/wallet/wallet.routes.ts';
import { installHttp, requestId } from './transport/http/http.ts';

export interface AppDeps {
  ctx: Ctx;
  /** Serve the sandbox wallet, login and cashier (default true). */
  sandbox?: boolean;
  nonces?: NonceStore;
  /** The Fraud Shield: model and batch scorer (default: the shipped model, in-process batches). */
  risk?: RiskDeps;
  logLevel?: string;
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { ctx } = deps;
  const app = Fastify({
    logger: { level: deps.logLevel ?? 'silent' },
    bodyLimit: body_bytes_max,
    genReqId: () => requestId(ctx.ids),
    ajv: {
      customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false },
    },
  });
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Zhifu (智付) API',
        version: '0.1.0',
        description:
          'WeChat Pay APIv3-compatible payment API with a sandbox wallet. Merchant endpoints are signed ' +
          '(WECHATPAY2-SHA256-RSA2048 or ZHIFU-HMAC-SHA256, see docs/authentication.md); errors are {code,message,detail}.',
      },
      tags: [
        { name: 'payments', description: 'APIv3 orders: create, query, close' },
        { name: 'refunds', description: 'APIv3 domestic refunds' },
        { name: 'certificates', description: 'APIv3 platform certificates' },
        { name: 'risk', description: 'AI Fraud Shield: assessments, batches, labels, rules' },
        { name: 'sandbox', description: 'Simulated payers, login and payment confirmation' },
      ],
    },
  });
  const nonces = deps.nonces ?? new MemoryNonceStore();
  const model = deps.risk?.model ?? loadRiskModel();
  const risk: RiskDeps = deps.risk ?? { model, batch: new InProcessBatchScorer(ctx.db, model) };
  app.addHook('onClose', () => risk.batch.close());
  installHttp(app, { ctx, merchantKeys: new MerchantKeyCache(ctx), nonces });
  paymentRoutes(app, ctx, nonces, risk, deps.sandbox ?? true);
  refundRoutes(app, ctx, risk);
  riskRoutes(app, ctx, risk);
  merchantRoutes(app, ctx);
  if (deps.sandbox ?? true) walletRoutes(app, ctx);
  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  return app;
}
