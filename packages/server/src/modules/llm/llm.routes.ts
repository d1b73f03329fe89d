/**
 * HTTP surface of the LLM gateway. Two audiences:
 * - AI applications (any OpenAI client): `POST /v1/chat/completions`, `GET /v1/models`, with a
 *   gateway API key as Bearer token; errors in OpenAI's shape `{error:{message,type,code,param}}`
 *   (the official SDKs raise them as APIError subclasses), `code` being Zhifu's wire code.
 * - the merchant (APIv3-signed, AI-eligible): keys, the request log, redaction patterns, providers.
 */
import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import type { Ctx } from '../../context.ts';
import { AssertionError } from '../../lib/assert.ts';
import { parseRfc3339 } from '../../lib/clock.ts';
import { AppError } from '../../lib/errors.ts';
import { llm_body_bytes_max, page_size_max } from '../../lib/limits.ts';
import * as billing from '../billing/index.ts';
import type { Gateway, WireRequest } from './gateway.service.ts';
import {
  createKey,
  getKey,
  type KeyLimits,
  type KeyState,
  LimitError,
  listKeys,
  revokeKey,
  updateKey,
} from './keys.service.ts';
import {
  chatSchema,
  createKeySchema,
  patternsSchema,
  requestsQuerySchema,
  updateKeySchema,
} from './llm.schemas.ts';

declare module 'fastify' {
  interface FastifyRequest {
    llmKey?: KeyState;
  }
}

function openAiType(http: number): string {
  if (http === 401) return 'authentication_error';
  if (http === 403) return 'permission_error';
  if (http === 404) return 'not_found_error';
  if (http === 429) return 'rate_limit_error';
  if (http >= 500) return 'api_error';
  return 'invalid_request_error';
}

function asAppError(error: FastifyError | AppError, request: FastifyRequest): AppError {
  if (error instanceof AppError) return error;
  if ((error as FastifyError).validation) {
    const v = (error as FastifyError).validation![0]!;
    const params = v.params as Record<string, unknown>;
    const extra = params.additionalProperty ?? params.missingProperty;
    const field = `${v.instancePath}${extra === undefined ? '' : `/${String(extra)}`}` || '/';
    return new AppError('invalid_parameter', { field, issue: `${field} ${v.message}`, location: 'body' });
  }
  if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new AppError('body_too_large');
  if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return new AppError('unsupported_content_type');
  if (error instanceof AssertionError || !error.statusCode || error.statusCode >= 500)
    request.log.error({ err: error }, 'gateway request failed');
  return new AppError('system_error');
}

/** OpenAI-compatible endpoints, in their own scope for OpenAI's error shape. */
export function gatewayRoutes(app: FastifyInstance, gateway: Gateway): void {
  void app.register(async (scope) => {
    scope.setErrorHandler((error: FastifyError | AppError, request, reply) => {
      const e = asAppError(error, request);
      if (e instanceof LimitError) reply.header('retry-after', String(e.retry_after_s));
      // The official SDKs retry 429 and 5xx by themselves; a spent budget or a refused redaction
      // will not change on a retry, so they are told not to (`x-should-retry`, honoured by openai).
      if (e.reason === 'llm_budget_exceeded' || e.reason === 'llm_redaction_failed')
        reply.header('x-should-retry', 'false');
      return reply.code(e.http).send({
        error: { message: e.message, type: openAiType(e.http), code: e.code, param: e.detail?.field ?? null },
      });
    });
    const authenticate = async (request: FastifyRequest) => {
      request.llmKey = await gateway.keys.authenticate(request.headers.authorization);
    };

    scope.post<{ Body: WireRequest }>(
      '/v1/chat/completions',
      {
        bodyLimit: llm_body_bytes_max,
        preValidation: authenticate,
        schema: {
          tags: ['llm'],
          summary:
            'OpenAI-compatible chat completion (stream or not, tools), through the gateway (Bearer gateway key)',
          body: chatSchema,
        },
      },
      async (request, reply) => {
        const call = await gateway.begin(request.llmKey!, request.body);
        if (call.request.stream !== true) return gateway.complete(call);
        await gateway.stream(call, () => {
          reply.hijack();
          const raw = reply.raw;
          raw.writeHead(200, {
            ...(reply.getHeaders() as Record<string, string>),
            'content-type': 'text/event-stream; charset=utf-8',
            'cache-control': 'no-cache',
            'x-accel-buffering': 'no',
          });
          // SSE events produced in one turn of the event loop leave in one socket write.
          let corked = false;
          return {
            write: (data) => {
              if (!corked) {
                corked = true;
                raw.cork();
                process.nextTick(() => {
                  corked = false;
                  raw.uncork();
                });
              }
              raw.write(data);
            },
            end: () => raw.end(),
            onClose: (fn) =>
              raw.on('close', () => {
                if (!raw.writableFinished) fn();
              }),
          };
        });
        return reply;
      },
    );

    scope.get(
      '/v1/models',
      {
        preValidation: authenticate,
        schema: { tags: ['llm'], summary: 'Models served by the gateway (Bearer gateway key)' },
      },
      async () => gateway.models(),
    );
  });
}

const merchant = { auth: 'merchant' } as const;
const tags = ['llm'];
const keyParam = { type: 'object', properties: { key_id: { type: 'string', maxLength: 64 } } };

/** The merchant's side: APIv3-signed, AI-eligible merchants only. */
export function llmMerchantRoutes(app: FastifyInstance, ctx: Ctx, gateway: Gateway): void {
  const mchid = (req: { merchant?: { keys: { mchid: string } } }) => req.merchant!.keys.mchid;
  const gate = billing.aiGate(ctx);

  app.post<{ Body: { name: string } & KeyLimits }>(
    '/v1/llm/keys',
    {
      config: merchant,
      preValidation: gate,
      schema: {
        tags,
        summary: 'Create a gateway API key (shown once) with optional RPM/TPM limits, monthly budget, models',
        body: createKeySchema,
      },
    },
    async (req, reply) => reply.code(201).send(await createKey(ctx, mchid(req), req.body)),
  );

  app.get(
    '/v1/llm/keys',
    {
      config: merchant,
      preValidation: gate,
      schema: { tags, summary: "The merchant's gateway API keys (no secrets)" },
    },
    (req) => listKeys(ctx, mchid(req)),
  );

  app.get<{ Params: { key_id: string } }>(
    '/v1/llm/keys/:key_id',
    {
      config: merchant,
      preValidation: gate,
      schema: { tags, summary: 'A gateway API key', params: keyParam },
    },
    (req) => getKey(ctx, mchid(req), req.params.key_id),
  );

  app.patch<{ Params: { key_id: string }; Body: { name?: string } & KeyLimits }>(
    '/v1/llm/keys/:key_id',
    {
      config: merchant,
      preValidation: gate,
      schema: {
        tags,
        summary: "Change a key's name, limits, budget or models (null removes a limit)",
        params: keyParam,
        body: updateKeySchema,
      },
    },
    (req) => updateKey(ctx, gateway.keys, mchid(req), req.params.key_id, req.body),
  );

  app.delete<{ Params: { key_id: string } }>(
    '/v1/llm/keys/:key_id',
    {
      config: merchant,
      preValidation: gate,
      schema: { tags, summary: 'Revoke a gateway API key', params: keyParam },
    },
    (req) => revokeKey(ctx, gateway.keys, mchid(req), req.params.key_id),
  );

  app.get<{ Querystring: { key_id?: string; limit?: string; before?: string } }>(
    '/v1/llm/requests',
    {
      config: merchant,
      preValidation: gate,
      schema: {
        tags,
        summary: 'The request log: tokens, cost, latency, provider, status (newest first)',
        querystring: requestsQuerySchema,
      },
    },
    (req) => {
      const limit = Math.min(Number(req.query.limit ?? 20) || 20, page_size_max);
      let before: number | undefined;
      if (req.query.before !== undefined) {
        before = parseRfc3339(req.query.before);
        if (before === undefined)
          throw new AppError('invalid_parameter', {
            field: 'before',
            value: req.query.before,
            issue: 'not RFC 3339',
            location: 'query',
          });
      }
      return gateway.requests(mchid(req), { key_id: req.query.key_id, limit, before });
    },
  );

  app.get(
    '/v1/llm/redaction-patterns',
    {
      config: merchant,
      preValidation: gate,
      schema: { tags, summary: "The merchant's own identifier patterns" },
    },
    (req) => gateway.getPatterns(mchid(req)),
  );

  app.put<{ Body: { patterns: { name: string; pattern: string }[] } }>(
    '/v1/llm/redaction-patterns',
    {
      config: merchant,
      preValidation: gate,
      schema: {
        tags,
        summary: 'Replace the identifier patterns stripped before foreign providers (JavaScript regex)',
        body: patternsSchema,
      },
    },
    (req) => gateway.setPatterns(mchid(req), req.body.patterns),
  );

  app.get(
    '/v1/llm/providers',
    {
      config: merchant,
      preValidation: gate,
      schema: { tags, summary: 'Providers: region, priority, models, prices, health' },
    },
    () => ({
      routing: gateway.strategy,
      data: gateway.router.providers.map((p, i) => {
        const c = p.config;
        const h = gateway.router.status()[i]!;
        return {
          name: c.name,
          kind: c.kind,
          region: c.region,
          priority: c.priority,
          models: c.models,
          input_fen_per_mtok: c.input_fen_per_mtok,
          output_fen_per_mtok: c.output_fen_per_mtok,
          latency_ms: h.latency_ms,
          consecutive_failures: h.failures,
          cooling_down: h.cooling_down,
        };
      }),
    }),
  );
}
