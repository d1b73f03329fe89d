/**
 * The HTTP transport's shared behaviour: raw-body JSON parsing (signatures are verified over the
 * bytes received, reference §1.2), merchant authentication for routes marked `auth: 'merchant'`,
 * signing of every 2xx merchant response including 204, `Request-ID` on every response, the error
 * mapping (one catalog, lib/errors.ts) and APIv3's empty 404 / 405 for unknown routes and methods.
 */
import { isUtf8 } from 'node:buffer';
import { timingSafeEqual } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import FindMyWay, { type HTTPVersion } from 'find-my-way';
import type { Ctx } from '../../context.ts';
import { AssertionError } from '../../lib/assert.ts';
import { AppError, type ErrorDetail, type ErrorReason } from '../../lib/errors.ts';
import { hex } from '../../lib/ids.ts';
import * as audit from '../../modules/audit/index.ts';
import type { NonceStore } from '../../modules/idempotency/index.ts';
import type { MerchantKeyCache } from '../../modules/merchants/index.ts';
import { type RateClass, RateLimitedError, type RateLimiter } from './rate-limits.ts';
import { type AuthenticatedMerchant, authenticate, responseSignatureHeaders } from './signatures.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * `merchant`: signed with a merchant credential; responses are signed too.
     * `operator`: the operator's bearer token (ZHIFU_OPERATOR_TOKEN); no merchant credential works.
     */
    auth?: 'merchant' | 'operator';
    /** Do not sign the 2xx response: file downloads such as `/v3/billdownload/file` (reference §3.5). */
    unsignedResponse?: boolean;
    /** A merchant route with its own rate limit, on top of the merchant's overall one (rate-limits.ts). */
    rateLimit?: RateClass;
  }
  interface FastifyRequest {
    merchant?: AuthenticatedMerchant;
    rawBody?: Buffer;
  }
}

export interface HttpDeps {
  ctx: Ctx;
  merchantKeys: MerchantKeyCache;
  nonces: NonceStore;
  /** The operator API's bearer token; the operator API is closed when it is not configured. */
  operatorToken?: string | undefined;
  /** Share of API calls recorded in the audit log (0–1). */
  auditSampleRate?: number;
  /** Per-merchant request rate limits (ZHIFU_RATE_LIMITS); none when absent. */
  rateLimiter?: RateLimiter | undefined;
}

const empty = Buffer.alloc(0);
const methods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

export function installHttp(app: FastifyInstance, deps: HttpDeps): void {
  const { ctx } = deps;
  // A second router with every route's pattern, to tell "wrong method" (405) from "no route" (404).
  const known = FindMyWay<HTTPVersion.V1>();
  app.addHook('onRoute', (route) => {
    for (const m of [route.method].flat()) {
      if (m === 'HEAD' || known.find(m as 'GET', route.url)) continue;
      known.on(m as 'GET', route.url, () => {});
    }
  });

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.addHook('onRequest', async (request, reply) => {
    reply.header('Request-ID', request.id);
    // A NUL in a path or query value: refused before any route reads it (PostgreSQL cannot store it).
    const nul = request.url.indexOf('%00');
    if (nul >= 0) {
      const query = request.url.indexOf('?');
      throw new AppError(
        'invalid_parameter',
        { location: query >= 0 && nul > query ? 'query' : 'path', issue: 'a U+0000 (NUL) character' },
        'The URL may not contain %00 (NUL): remove it.',
      );
    }
  });

  app.addHook('preValidation', async (request) => {
    const raw = Buffer.isBuffer(request.body) ? request.body : empty;
    request.rawBody = raw;
    if (request.routeOptions.config.auth === 'operator') {
      const given = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1] ?? '';
      const expected = deps.operatorToken ?? '';
      const a = Buffer.from(given);
      const b = Buffer.from(expected);
      if (expected === '' || a.length !== b.length || !timingSafeEqual(a, b))
        throw new AppError('operator_unauthenticated');
    }
    if (request.routeOptions.config.auth === 'merchant') {
      request.merchant = await authenticate(
        { method: request.method, url: request.url, authorization: request.headers.authorization, body: raw },
        ctx.clock.now(),
        deps.merchantKeys,
        deps.nonces,
      );
      // Counted once verified (a forged or replayed request spends no one's allowance), refused
      // before the handler (a limited request writes nothing).
      await deps.rateLimiter?.admit(
        request.merchant.keys.mchid,
        request.routeOptions.config.rateLimit,
        ctx.clock.now(),
      );
    }
    if (raw.length > 0) {
      // JSON is UTF-8 (RFC 8259): invalid bytes would be stored as U+FFFD, not as what was signed.
      if (!isUtf8(raw)) throw new AppError('malformed_json', { location: 'body', issue: 'not valid UTF-8' });
      const text = raw.toString('utf8');
      try {
        request.body = JSON.parse(text);
      } catch (error) {
        throw new AppError('malformed_json', { location: 'body', issue: (error as Error).message });
      }
      const apiv3 = request.url.startsWith('/v3/');
      const problem = literalProblem(text, request.body, apiv3) ?? textProblem(text, request.body, apiv3);
      if (problem) {
        const [reason, issue, message] = bodyProblems[problem];
        throw new AppError(reason, { location: 'body', issue }, message);
      }
    } else if (request.method !== 'GET' && request.method !== 'DELETE') {
      request.body = undefined;
    }
  });

  // Closing (SIGTERM): answers to the requests still in flight close their connections, or an idle
  // keep-alive socket would hold the process open for Fastify's 72 s keep-alive timeout.
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });

  app.addHook('onSend', async (request, reply, payload) => {
    if (closing) reply.header('Connection', 'close');
    const who = request.merchant;
    if (!who || reply.statusCode < 200 || reply.statusCode >= 300) return payload;
    if (request.routeOptions.config.unsignedResponse) return payload;
    const body = payload === undefined || payload === null ? '' : String(payload);
    const serial = request.headers['wechatpay-serial'];
    reply.headers(
      await responseSignatureHeaders(
        who,
        typeof serial === 'string' ? serial : undefined,
        body,
        ctx.clock.now(),
        ctx.ids,
      ),
    );
    return payload;
  });

  // A random sample of API calls goes to the tamper-evident audit log: who, route pattern, status —
  // never bodies or raw URLs (they can carry OpenIDs).
  app.addHook('onResponse', async (request, reply) => {
    if (!audit.sampled(ctx, deps.auditSampleRate ?? 0)) return;
    const route = request.routeOptions.url ?? 'unmatched';
    await ctx.db.transaction().execute((trx) =>
      audit.record(ctx, trx, {
        actor: request.merchant
          ? `merchant:${request.merchant.keys.mchid}`
          : request.routeOptions.config.auth === 'operator'
            ? 'operator'
            : 'anonymous',
        action: 'api_call',
        target: `${request.method} ${route}`,
        detail: { status: reply.statusCode, request_id: request.id },
      }),
    );
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!;
    const elsewhere = methods.some((m) => m !== request.method && known.find(m, path));
    reply.code(elsewhere ? 405 : 404).send();
  });

  app.setErrorHandler((error: FastifyError, request, reply) => sendError(error, request, reply));
}

function sendError(error: FastifyError | AppError, request: FastifyRequest, reply: FastifyReply) {
  if (error instanceof AppError) {
    if (error instanceof RateLimitedError) reply.header('Retry-After', String(error.retry_after_s));
    // APIv3 answers MCH_NOT_EXISTS with 404 on refund endpoints and 400 elsewhere (reference §4).
    const refundPath = error.reason === 'merchant_unknown' && request.url.startsWith('/v3/refund/');
    return reply.code(refundPath ? 404 : error.http).send(error.toBody());
  }
  if (error.validation) {
    const v = error.validation[0]!;
    const params = v.params as Record<string, unknown>;
    const extra = params.additionalProperty ?? params.missingProperty;
    const field = `${v.instancePath}${extra === undefined ? '' : `/${String(extra)}`}`;
    const location =
      error.validationContext === 'querystring'
        ? 'query'
        : error.validationContext === 'params'
          ? 'path'
          : 'body';
    const what =
      params.additionalProperty !== undefined
        ? 'is not a known field'
        : params.missingProperty !== undefined
          ? 'is required'
          : v.message;
    const detail: ErrorDetail = { field: field || '/', issue: `${field || 'body'} ${what}`, location };
    const instance = lookup(request, error.validationContext, v.instancePath);
    if (instance !== undefined && params.missingProperty === undefined) detail.value = instance;
    return reply
      .code(400)
      .send(new AppError('invalid_parameter', detail, `${field || 'body'} ${what}.`).toBody());
  }
  if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
    return reply.code(413).send(new AppError('body_too_large').toBody());
  if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return reply.code(400).send(new AppError('unsupported_content_type').toBody());
  }
  if (error instanceof AssertionError || !error.statusCode || error.statusCode >= 500) {
    request.log.error({ err: error }, 'request failed');
    return reply.code(500).send(new AppError('system_error').toBody());
  }
  return reply.code(400).send(new AppError('invalid_parameter', { issue: error.message }).toBody());
}

/** What a parsed body may still hold that the API refuses: [error, detail.issue, message]. */
const bodyProblems = {
  duplicate: [
    'malformed_json',
    'a member name repeated in one object',
    'The body names a member twice in one object: send each member once.',
  ],
  fraction: [
    'invalid_parameter',
    'a number with a fraction or an exponent',
    'APIv3 numbers are integers written in digits: send 100, not 100.0 or 1e2.',
  ],
  nul: ['invalid_parameter', 'a U+0000 (NUL) character', 'Text may not contain U+0000 (NUL): remove it.'],
  astral: [
    'invalid_parameter',
    'a character outside U+0000–U+FFFF (4-byte UTF-8, e.g. an emoji)',
    'APIv3 accepts UTF-8 characters of 1 to 3 bytes only: remove emoji and other 4-byte characters.',
  ],
} as const satisfies Record<string, readonly [ErrorReason, string, string]>;

/**
 * What JSON.parse lets through silently: a member named twice in one object (the last one wins, so
 * a reader that keeps the first sees another request than the one signed) and, on `/v3`, a number
 * with a fraction or exponent (`100.0`, `1e2` parse to the integer 100; APIv3 numbers are integers).
 * One pass over the text outside strings: each `:` is a member, to compare with the members parsed.
 */
function literalProblem(text: string, body: unknown, apiv3: boolean): 'duplicate' | 'fraction' | undefined {
  let members = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // A string: skip to its closing quote, over escapes.
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c) i++;
    } else if (c === 0x3a) {
      members++;
    } else if (apiv3 && (c === 0x2e || ((c === 0x65 || c === 0x45) && isDigit(text.charCodeAt(i - 1))))) {
      return 'fraction';
    }
  }
  return members > 0 && walk(body) < members ? 'duplicate' : undefined;
}

const isDigit = (c: number) => c >= 0x30 && c <= 0x39;

/**
 * Characters a body's strings may not hold, found in its keys and values: U+0000 on every route (a
 * PostgreSQL text column refuses it, so SQLite must not store it either), and on `/v3` a surrogate
 * (a 4-byte character, or a lone `\uD83D` escape: APIv3 takes UTF-8 of 1–3 bytes only). The text is
 * scanned first, so the common body costs one regular-expression test; the walk over the parsed
 * body is iterative, as a body may nest thousands of levels deep.
 */
function textProblem(text: string, body: unknown, apiv3: boolean): 'nul' | 'astral' | undefined {
  const suspect = apiv3 ? /\\u0000|[\uD800-\uDFFF]|\\u[dD][89a-fA-F]/ : /\\u0000/;
  if (!suspect.test(text)) return undefined;
  let nul = false;
  let astral = false;
  walk(body, (value) => {
    if (value.includes('\u0000')) nul = true;
    else if (apiv3 && /[\uD800-\uDFFF]/.test(value)) astral = true;
  });
  return nul ? 'nul' : astral ? 'astral' : undefined;
}

/**
 * Visits every string of a parsed body, member names included, and counts its objects' members.
 * Iterative, one element at a time: a body may nest thousands of levels deep, or hold arrays too
 * long to spread into one call's arguments.
 */
function walk(body: unknown, onString?: (text: string) => void): number {
  let members = 0;
  const stack: unknown[] = [body];
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value === 'string') onString?.(value);
    else if (Array.isArray(value)) for (const v of value) stack.push(v);
    else if (value !== null && typeof value === 'object') {
      for (const [key, v] of Object.entries(value)) {
        members++;
        onString?.(key);
        stack.push(v);
      }
    }
  }
  return members;
}

/**
 * Errors Fastify raises before routing (a URL that is not valid percent-encoding): answered like any
 * other bad request, with `Request-ID` and an APIv3 error body. For `frameworkErrors` in buildApp.
 */
export function frameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  reply.header('Request-ID', request.id);
  reply
    .code(400)
    .send(new AppError('invalid_parameter', { location: 'path', issue: error.message }).toBody());
}

/**
 * Requests the HTTP parser refuses before Fastify sees them (headers too large, not HTTP, too slow):
 * Fastify's default answer, with `Request-ID` and an APIv3 error body. For `clientErrorHandler`.
 */
export function clientErrorHandler(ids: Ctx['ids']) {
  return (error: Error & { code?: string }, socket: Socket): void => {
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const refused = new AppError(
      error.code === 'HPE_HEADER_OVERFLOW'
        ? 'http_headers_too_large'
        : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? 'http_request_timeout'
          : 'http_malformed',
    );
    const body = JSON.stringify(refused.toBody());
    if (socket.writable) {
      socket.write(
        `HTTP/1.1 ${refused.http} ${STATUS_CODES[refused.http]}\r\nRequest-ID: ${requestId(ids)}\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
          `Connection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy(error);
  };
}

/**
 * The origin form (path and query) of a request target. An absolute-form target
 * (`http://host/v3/x?y`, RFC 9112 §3.2.2) loses its scheme and authority, byte for byte otherwise:
 * that is what clients sign (reference §1.2). Other targets are returned unchanged. For `rewriteUrl`
 * in buildApp, so routing, authentication and the 404/405 answers all see the same target.
 */
export function originForm(url: string): string {
  if (url.startsWith('/')) return url;
  const authority = /^https?:\/\/[^/?#]*/i.exec(url);
  if (!authority) return url;
  const rest = url.slice(authority[0].length);
  return rest.startsWith('/') ? rest : `/${rest}`;
}

function lookup(request: FastifyRequest, context: string | undefined, pointer: string): unknown {
  let node: unknown =
    context === 'querystring' ? request.query : context === 'params' ? request.params : request.body;
  for (const part of pointer.split('/').slice(1)) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return typeof node === 'object' ? undefined : node;
}

export function requestId(ids: Ctx['ids']): string {
  return `${hex(ids, 40).toUpperCase()}-0`;
}
