/**
 * buildApp(deps): the pure factory of the platform (STYLE.md rule 10). It registers transports
 * and routes and never listens; main.ts listens, tests use inject() or listen on port 0.
 */
import { isIP } from 'node:net';
import swagger from '@fastify/swagger';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Ctx } from './context.ts';
import { AppError } from './lib/errors.ts';
import { body_bytes_max, llm_cooldown_failures, llm_cooldown_ms } from './lib/limits.ts';
import type { Shared } from './lib/redis.ts';
import { billingRoutes } from './modules/billing/billing.routes.ts';
import { checkoutRoutes } from './modules/checkout/checkout.routes.ts';
import { type CheckoutOptions, default_checkout_options } from './modules/checkout/index.ts';
import { complianceRoutes } from './modules/compliance/compliance.routes.ts';
import { type ConversationDeps, conversationRoutes, mcpRoutes } from './modules/conversations/index.ts';
import { MemoryNonceStore, type NonceStore, RedisNonceStore } from './modules/idempotency/index.ts';
import { purgeExpiredSessions } from './modules/identity/index.ts';
import {
  type ChatCompleter,
  Gateway,
  type ProviderConfig,
  type RoutingStrategy,
  zhifuLocalConfig,
} from './modules/llm/index.ts';
import { gatewayRoutes, llmMerchantRoutes } from './modules/llm/llm.routes.ts';
import { zhifu_local_model, zhifuLocal } from './modules/llm/local/index.ts';
import { MerchantKeyCache } from './modules/merchants/index.ts';
import { merchantRoutes } from './modules/merchants/merchants.routes.ts';
import { CallbackDispatcher, Fanout, Hub } from './modules/notifications/index.ts';
import { notificationRoutes } from './modules/notifications/notifications.routes.ts';
import {
  applyDeadline,
  type DecisionDeps,
  DecisionTimers,
  decide,
  type PaymentDeps,
  sweepDecisions,
} from './modules/payments/index.ts';
import { paymentRoutes } from './modules/payments/payments.routes.ts';
import { sweepAbnormalRefunds } from './modules/refunds/index.ts';
import { refundRoutes } from './modules/refunds/refunds.routes.ts';
import {
  InProcessBatchScorer,
  loadRiskModel,
  pruneWindowCounts,
  type RiskDeps,
  sweepBatches,
} from './modules/risk/index.ts';
import { riskRoutes } from './modules/risk/risk.routes.ts';
import { walletRoutes } from './modules/wallet/wallet.routes.ts';
import {
  clientErrorHandler,
  frameworkError,
  installHttp,
  originForm,
  requestId,
} from './transport/http/http.ts';
import { default_rate_limits, type RateLimits, rateLimiter } from './transport/http/rate-limits.ts';

export interface AppDeps {
  ctx: Ctx;
  /** Serve the sandbox wallet, login and cashier (default true). */
  sandbox?: boolean;
  nonces?: NonceStore;
  /**
   * Redis shared by the nodes (ZHIFU_REDIS_URL): nonces, rate limits, WebSocket fan-out and LLM
   * limits live there instead of in this process. The caller connects and closes it.
   */
  shared?: Shared;
  /**
   * Per-merchant request rate limits (ZHIFU_RATE_LIMITS; default: WeChat Pay's documented ones,
   * 1,000 signed requests/s, refund create 150/s, fund-flow bill 3/s). Counted in Redis with
   * `shared`, else in this process. The test harness passes `rate_limits_off` unless a test asks.
   */
  rateLimits?: RateLimits;
  /** The Fraud Shield: model and batch scorer (default: the shipped model, in-process batches). */
  risk?: RiskDeps;
  logLevel?: string;
  /** Where log lines go (default stdout); tests capture them to prove what never appears. */
  logStream?: { write(line: string): void };
  /** Smart Checkout's policy settings (default: 5% exploration). */
  checkout?: Partial<CheckoutOptions>;
  /** Share of API calls sampled into the audit log (default 0.01). */
  auditSampleRate?: number;
  /** Bearer token of the operator API (closed when absent). */
  operatorToken?: string | undefined;
  /** Proxies whose X-Forwarded-For gives the client's address (Fastify's trustProxy; default none). */
  trustProxy?: boolean | number | string[];
  /** Base of the bills' `download_url` (ZHIFU_BILL_DOWNLOAD_URL; default: the public URL). */
  billDownloadUrl?: string | undefined;
  /** Let APIv3 callbacks reach loopback addresses (operator's sandbox setting; default false). */
  callbacksAllowLoopback?: boolean;
  /**
   * Run the background loops (decision sweeper, callback dispatcher, WebSocket poller; default
   * true). Tests with a fake clock turn them off and call `app.zhifu.tick()` themselves.
   */
  background?: boolean;
  /**
   * Override of the conversation agent's model port (tests, benchmarks). Default: the LLM gateway
   * (routing, failover, redaction for foreign providers) with the model `zhifu-local`.
   */
  agent?: { completer: ChatCompleter; model: string };
  /** The model the agent asks the gateway for (ZHIFU_AGENT_MODEL; default `zhifu-local`). */
  agentModel?: string;
  /** The LLM gateway (docs/llm-gateway.md); with nothing configured it serves `zhifu-local`. */
  llm?: LlmDeps;
}

export interface LlmDeps {
  /** Providers (ZHIFU_LLM_PROVIDERS, validated by parseProviders). */
  providers?: ProviderConfig[];
  /**
   * The in-process model behind `local` providers (default: the built-in `zhifu-local`). When no
   * `local` provider is configured, a `zhifu-local` provider (domestic, priority 1000, free) is added.
   */
  local?: ChatCompleter;
  /** Ordering within one priority (ZHIFU_LLM_ROUTING, default latency). */
  strategy?: RoutingStrategy;
  cooldown_failures?: number;
  cooldown_ms?: number;
}

/** Handles on the background machinery, for main.ts, tests and benchmarks. */
export interface ZhifuRuntime {
  hub: Hub;
  callbacks: CallbackDispatcher;
  timers: DecisionTimers;
  /** The LLM gateway: router, keys, request log (tests flush its log). */
  llm: Gateway;
  /** One pass of every background loop: deadlines and review windows, then callbacks. */
  tick(): Promise<void>;
}

declare module 'fastify' {
  interface FastifyInstance {
    zhifu: ZhifuRuntime;
  }
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { ctx } = deps;
  const app = Fastify({
    // A hop count trusts that many proxies, nearest first (what Fastify does with a number).
    trustProxy:
      typeof deps.trustProxy === 'number'
        ? (
            (hops: number) => (_: string, hop: number) =>
              hop < hops
          )(deps.trustProxy)
        : (deps.trustProxy ?? false),
    // Logs carry the route pattern, never the raw URL: paths and queries can hold OpenIDs (PIPL).
    logger: {
      level: deps.logLevel ?? 'silent',
      ...(deps.logStream ? { stream: deps.logStream } : {}),
      serializers: {
        req: (req: { method: string; id: string; routeOptions?: { url?: string } }) => ({
          id: req.id,
          method: req.method,
          route: req.routeOptions?.url ?? 'unmatched',
        }),
      },
    },
    bodyLimit: body_bytes_max,
    // APIv3 methods are GET/POST/PUT/PATCH/DELETE (reference §1.2): a HEAD on a GET route would run
    // the GET handler and sign a body it never sends. HEAD is APIv3's empty 405, except /healthz and
    // /cashier (pages, not API routes).
    exposeHeadRoutes: false,
    // An absolute-form target (`GET http://host/v3/… HTTP/1.1`) is routed and verified as its path
    // and query, the canonical URL clients sign (RFC 9112 §3.2.2, reference §1.2).
    rewriteUrl: (req) => originForm(req.url ?? '/'),
    genReqId: () => requestId(ctx.ids),
    frameworkErrors: frameworkError,
    clientErrorHandler: clientErrorHandler(ctx.ids),
    ajv: {
      customOptions: {
        removeAdditional: false,
        coerceTypes: false,
        useDefaults: false,
        allErrors: false,
        // An IPv4 or IPv6 address in its usual text form (payer_client_ip, a payment's ip).
        formats: { ip: (text: string) => isIP(text) !== 0 },
      },
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
        { name: 'checkout', description: 'Smart Checkout: instrument rankings, promotions' },
        { name: 'risk', description: 'AI Fraud Shield: assessments, batches, labels, rules' },
        { name: 'notifications', description: 'Events over WebSocket, decision mode, APIv3 callbacks' },
        { name: 'decisions', description: 'Answering decisions and resolving manual reviews' },
        { name: 'compliance', description: 'Freezes, consents (PIPL)' },
        { name: 'operator', description: 'Operator API (bearer token): freezes, audit, cross-border log' },
        { name: 'sandbox', description: 'Simulated payers, login and payment confirmation' },
        {
          name: 'conversations',
          description: 'Conversational payments: threads, agent turns, mandates, MCP',
        },
        { name: 'llm', description: 'LLM gateway: OpenAI-compatible chat, keys, request log, redaction' },
      ],
    },
  });
  await app.register(websocket, {
    options: { maxPayload: 64 * 1024 },
    // A shutdown tells WebSocket clients to reconnect with backoff (1001, docs/notifications.md);
    // the plugin's default closes them without a code, before the hub's onClose could.
    preClose(done) {
      for (const client of this.websocketServer.clients) client.close(1001, 'server shutting down');
      this.websocketServer.close(() => done());
    },
  });
  const { shared } = deps;
  // ioredis reports a lost connection, and each reconnection attempt of each connection, as an
  // 'error' event: one warning per 10 s (real time: it paces a log), with how many it stands for.
  let warnedAt = Number.NEGATIVE_INFINITY;
  let unlogged = 0;
  const sharedError = (error: unknown) => {
    const now = performance.now();
    if (now - warnedAt < 10_000) {
      unlogged++;
      return;
    }
    app.log.warn({ err: error, errors_since_last_warning: unlogged }, 'Redis (ZHIFU_REDIS_URL)');
    warnedAt = now;
    unlogged = 0;
  };
  shared?.redis.on('error', sharedError);
  const nonces = deps.nonces ?? (shared ? new RedisNonceStore(shared) : new MemoryNonceStore());
  const model = deps.risk?.model ?? loadRiskModel();
  const risk: RiskDeps = deps.risk ?? { model, batch: new InProcessBatchScorer(ctx.db, model) };
  const merchantKeys = new MerchantKeyCache(ctx);
  const timers = new DecisionTimers();
  let hub: Hub | undefined;
  const decisionDeps: DecisionDeps = { publish: (mchid, events) => hub?.publish(mchid, events), timers };
  risk.publish = (mchid, events) => hub?.publish(mchid, events);
  hub = new Hub(
    ctx,
    merchantKeys,
    async (mchid, eventId, answer) => {
      try {
        return await decide(ctx, decisionDeps, mchid, eventId, answer);
      } catch (error) {
        if (error instanceof AppError) return { applied: false, code: error.code, message: error.message };
        throw error;
      }
    },
    shared && new Fanout(shared, sharedError),
  );
  timers.onDeadline = (orderId) =>
    void applyDeadline(ctx, decisionDeps, orderId).catch((e) => app.log.error(e));
  const callbacks = new CallbackDispatcher(ctx, merchantKeys, {
    allowLoopback: deps.callbacksAllowLoopback ?? false,
  });
  const paymentDeps: PaymentDeps = { risk, decisions: decisionDeps };
  const providers = [...(deps.llm?.providers ?? [])];
  if (!providers.some((p) => p.kind === 'local')) providers.push(zhifuLocalConfig());
  const llm = new Gateway(ctx, {
    providers,
    local: deps.llm?.local ?? zhifuLocal,
    strategy: deps.llm?.strategy ?? 'latency',
    cooldown_failures: deps.llm?.cooldown_failures ?? llm_cooldown_failures,
    cooldown_ms: deps.llm?.cooldown_ms ?? llm_cooldown_ms,
    onError: (e) => app.log.error(e),
    shared,
  });
  const tick = async () => {
    await sweepDecisions(ctx, decisionDeps);
    await sweepAbnormalRefunds(ctx, decisionDeps);
    await callbacks.tick();
    await llm.log.flush();
  };
  app.decorate('zhifu', { hub, callbacks, timers, llm, tick });
  let sweeper: NodeJS.Timeout | undefined;
  let pruner: NodeJS.Timeout | undefined;
  if (deps.background ?? true) {
    sweeper = setInterval(() => void sweepDecisions(ctx, decisionDeps).catch((e) => app.log.error(e)), 100);
    sweeper.unref();
    pruner = setInterval(() => {
      void pruneWindowCounts(ctx.db, ctx.clock.now()).catch((e) => app.log.error(e));
      void sweepBatches(ctx, risk).catch((e) => app.log.error(e));
      void purgeExpiredSessions(ctx).catch((e) => app.log.error(e));
      void sweepAbnormalRefunds(ctx, decisionDeps).catch((e) => app.log.error(e));
    }, 60_000);
    pruner.unref();
    callbacks.start();
    await hub.start();
  }
  app.addHook('onClose', async () => {
    if (sweeper) clearInterval(sweeper);
    if (pruner) clearInterval(pruner);
    await callbacks.stop();
    hub?.stop();
    timers.clear();
    await risk.batch.close();
    await llm.close();
    shared?.redis.off('error', sharedError);
  });
  installHttp(app, {
    ctx,
    merchantKeys,
    nonces,
    operatorToken: deps.operatorToken,
    auditSampleRate: deps.auditSampleRate ?? 0.01,
    rateLimiter: rateLimiter(deps.rateLimits ?? default_rate_limits, shared),
  });
  paymentRoutes(app, ctx, nonces, paymentDeps, deps.sandbox ?? true);
  refundRoutes(app, ctx, paymentDeps);
  riskRoutes(app, ctx, risk);
  checkoutRoutes(app, ctx, { ...default_checkout_options, ...deps.checkout }, deps.sandbox ?? true);
  billingRoutes(app, ctx, deps.billDownloadUrl);
  notificationRoutes(app, ctx, hub);
  complianceRoutes(app, ctx);
  merchantRoutes(app, ctx);
  gatewayRoutes(app, llm);
  llmMerchantRoutes(app, ctx, llm);
  if (deps.sandbox ?? true) walletRoutes(app, ctx);
  const conversationDeps: ConversationDeps = {
    completer: deps.agent ? () => deps.agent!.completer : (mchid) => llm.completer(mchid),
    model: deps.agent?.model ?? deps.agentModel ?? zhifu_local_model,
    payments: paymentDeps,
    nonces,
  };
  conversationRoutes(app, ctx, conversationDeps);
  mcpRoutes(app, ctx, conversationDeps);
  // HEAD too, for monitors that probe with it: the same answer without its body.
  app.route({
    method: ['GET', 'HEAD'],
    url: '/healthz',
    schema: { hide: true },
    handler: async () => ({ status: 'ok' }),
  });
  return app;
}
