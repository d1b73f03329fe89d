/**
 * The LLM gateway (DESIGN.md "LLM gateway", docs/llm-gateway.md): one OpenAI-compatible call in,
 * authenticated by a gateway API key, limited, normalised, redacted for foreign providers, routed
 * with retries and failover, restored, logged and metered.
 *
 * Streams: a stream is committed to the client only after the router's warm-up, so a provider that
 * fails before answering is failed over invisibly. A stream that breaks after the client has seen
 * part of the answer is NOT spliced with another provider's answer (a second model would not
 * continue the same sentence); it ends with an explicit SSE error event
 * `data: {"error":{"code":"LLM_STREAM_INTERRUPTED",…}}` and no `[DONE]` — the official SDKs raise it
 * as an error — never as a silent, truncated 200 (peers.md §5 idea 9; Portkey #1797, Bifrost #5395).
 */
import { performance } from 'node:perf_hooks';
import type { Ctx } from '../../context.ts';
import type { LlmRequestsTable } from '../../db/schema.ts';
import { assertNever } from '../../lib/assert.ts';
import { rfc3339 } from '../../lib/clock.ts';
import { AppError, fail } from '../../lib/errors.ts';
import { hex } from '../../lib/ids.ts';
import { llm_redaction_patterns_max, llm_trade_candidates_max } from '../../lib/limits.ts';
import type { Shared } from '../../lib/redis.ts';
import * as billing from '../billing/index.ts';
import { KeyState, KeyStore, platform_agent_key } from './keys.service.ts';
import * as repo from './llm.repository.ts';
import type {
  ChatCompleter,
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  ChatMessage,
  ToolCall,
  Usage,
} from './llm.types.ts';
import { AnthropicAdapter } from './providers/anthropic.adapter.ts';
import type { RoutingStrategy } from './providers/config.ts';
import { ProviderError } from './providers/http.ts';
import { LocalAdapter } from './providers/local.adapter.ts';
import { OpenAiAdapter } from './providers/openai.adapter.ts';
import { cost_ufen, type ProviderAdapter, type ProviderConfig } from './providers/provider.ts';
import type { CustomPattern } from './redaction/detectors.ts';
import { RedactionError, redactRequest, StreamRestorer, type Vault } from './redaction/redactor.ts';
import { RequestLog } from './request-log.ts';
import { AllProvidersFailed, Router } from './router.ts';

export interface GatewayOptions {
  providers: readonly ProviderConfig[];
  /** The in-process model behind providers of kind `local` (e.g. zhifu-local). */
  local?: ChatCompleter | undefined;
  strategy: RoutingStrategy;
  cooldown_failures: number;
  cooldown_ms: number;
  onError: (error: unknown) => void;
  /** Redis shared by the nodes: keys' rate windows and monthly spend are counted there. */
  shared?: Shared | undefined;
}

/** What one call sends back through the SSE writer. */
export interface SseSink {
  write(data: string): void;
  end(): void;
  /** Registers what to do when the client goes away mid-stream. */
  onClose(fn: () => void): void;
}

const patterns_cache_ms = 10_000;
const cjk_re = /[\u3000-\u9fff\uac00-\ud7af\uf900-\ufaff]/g;

/** A rough token count where the provider gave none: CJK characters ~1 token, other text ~4 chars a token. */
export function estimateTokens(text: string): number {
  const cjk = text.match(cjk_re)?.length ?? 0;
  return cjk + Math.ceil((text.length - cjk) / 4);
}

function requestText(r: ChatCompletionRequest): string {
  let s = '';
  for (const m of r.messages) {
    s += m.content ?? '';
    for (const c of m.tool_calls ?? []) s += c.function.name + c.function.arguments;
  }
  for (const t of r.tools ?? []) s += JSON.stringify(t);
  return s;
}

/** A chat request as received (validated by chatSchema); unknown fields are dropped by normalize. */
export interface WireRequest {
  model: string;
  messages: {
    role: ChatMessage['role'] | 'developer';
    content?: string | null | { type: 'text'; text: string }[];
    name?: string;
    tool_calls?: ToolCall[];
    tool_call_id?: string;
  }[];
  max_completion_tokens?: number;
}

/**
 * The request as Zhifu forwards it: known fields only (what is not forwarded cannot leak), text
 * parts joined, `developer` as `system`, `max_completion_tokens` as `max_tokens`.
 */
export function normalize(body: WireRequest): ChatCompletionRequest {
  const messages: ChatMessage[] = body.messages.map((m) => {
    const content = Array.isArray(m.content)
      ? (m.content as { text: string }[]).map((p) => p.text).join('')
      : (m.content ?? null);
    const out: ChatMessage = { role: m.role === 'developer' ? 'system' : m.role, content };
    if (m.name !== undefined) out.name = m.name;
    if (m.tool_calls !== undefined)
      out.tool_calls = m.tool_calls.map((c) => ({
        id: c.id,
        type: 'function',
        function: { name: c.function.name, arguments: c.function.arguments },
      }));
    if (m.tool_call_id !== undefined) out.tool_call_id = m.tool_call_id;
    return out;
  });
  const r: ChatCompletionRequest = { model: body.model, messages };
  const fields = body as unknown as Record<string, unknown>;
  for (const k of [
    'tools',
    'tool_choice',
    'stream',
    'stream_options',
    'temperature',
    'top_p',
    'max_tokens',
    'stop',
    'user',
    'presence_penalty',
    'frequency_penalty',
    'seed',
    'parallel_tool_calls',
    'response_format',
  ] as const) {
    if (fields[k] !== undefined) (r as unknown as Record<string, unknown>)[k] = fields[k];
  }
  if (r.max_tokens === undefined && body.max_completion_tokens !== undefined)
    r.max_tokens = body.max_completion_tokens;
  return r;
}

/** Compiles merchant patterns; an invalid one, or one matching the empty string, is refused. */
export function compilePatterns(patterns: { name: string; pattern: string }[]): CustomPattern[] {
  return patterns.map((p, i) => {
    let regex: RegExp;
    try {
      regex = new RegExp(p.pattern, 'u');
    } catch (error) {
      fail('invalid_parameter', {
        field: `/patterns/${i}/pattern`,
        issue: (error as Error).message,
        location: 'body',
      });
    }
    if (regex.test(''))
      fail('invalid_parameter', {
        field: `/patterns/${i}/pattern`,
        issue: 'matches the empty string',
        location: 'body',
      });
    return { name: p.name, regex };
  });
}

export interface GatewayCall {
  key: KeyState;
  request: ChatCompletionRequest;
  id: string;
  started: number;
  /** performance.now() at the start: latency is measured on the monotonic clock. */
  t0: number;
  estimated: number;
}

export class Gateway {
  readonly keys: KeyStore;
  readonly router: Router;
  readonly log: RequestLog;
  private patterns = new Map<string, { at: number; custom: CustomPattern[] }>();
  private readonly onError: (error: unknown) => void;
  readonly strategy: RoutingStrategy;
  private seq = 0;

  constructor(
    private readonly ctx: Ctx,
    o: GatewayOptions,
  ) {
    this.onError = o.onError;
    this.strategy = o.strategy;
    this.keys = new KeyStore(ctx, o.shared, o.onError);
    this.log = new RequestLog(ctx, o.onError);
    const adapters: ProviderAdapter[] = o.providers.map((c) => {
      switch (c.kind) {
        case 'openai':
          return new OpenAiAdapter(c);
        case 'anthropic':
          return new AnthropicAdapter(c);
        case 'local':
          if (!o.local)
            throw new Error(`provider ${c.name} is of kind local but no local model is available`);
          return new LocalAdapter(c, o.local);
        default:
          return assertNever(c.kind, 'provider kind');
      }
    });
    this.router = new Router(adapters, {
      strategy: o.strategy,
      cooldown_failures: o.cooldown_failures,
      cooldown_ms: o.cooldown_ms,
      clock: ctx.clock,
      ids: ctx.ids,
    });
  }

  models(): { object: 'list'; data: { id: string; object: 'model'; created: number; owned_by: string }[] } {
    return { object: 'list', data: this.router.models().map((m) => ({ ...m, object: 'model', created: 0 })) };
  }

  /** Authentication, eligibility, validation of the model and the key's limits. */
  async begin(key: KeyState, body: WireRequest, gated = true): Promise<GatewayCall> {
    if (gated) await billing.requireAiEligibility(this.ctx, key.mchid);
    const request = normalize(body);
    if (!this.router.serves(request.model))
      fail('llm_model_unknown', { field: '/model', value: request.model, location: 'body' });
    const now = this.ctx.clock.now();
    const estimated = estimateTokens(requestText(request)) + (request.max_tokens ?? 0);
    await this.keys.admit(key, now, estimated, request.model);
    // Ids sort by time, then by this node's sequence: the request log lists calls in order.
    this.seq = (this.seq + 1) % 1_679_616;
    const id = `chatcmpl-${now.toString(36).padStart(9, '0')}${this.seq.toString(36).padStart(4, '0')}${hex(this.ctx.ids, 16)}`;
    return { key, request, id, started: now, t0: performance.now(), estimated };
  }

  private async customPatterns(mchid: string): Promise<CustomPattern[]> {
    const now = this.ctx.clock.now();
    const cached = this.patterns.get(mchid);
    if (cached && now - cached.at < patterns_cache_ms) return cached.custom;
    const row = await repo.getSettings(this.ctx.db, mchid);
    const custom = row ? compilePatterns(JSON.parse(row.redaction_patterns)) : [];
    this.patterns.set(mchid, { at: now, custom });
    return custom;
  }

  async setPatterns(
    mchid: string,
    patterns: { name: string; pattern: string }[],
  ): Promise<{ patterns: typeof patterns }> {
    if (patterns.length > llm_redaction_patterns_max)
      fail('invalid_parameter', { field: '/patterns', location: 'body' });
    compilePatterns(patterns);
    await repo.putPatterns(this.ctx.db, mchid, JSON.stringify(patterns), this.ctx.clock.now());
    this.patterns.delete(mchid);
    return { patterns };
  }

  async getPatterns(mchid: string): Promise<{ patterns: { name: string; pattern: string }[] }> {
    const row = await repo.getSettings(this.ctx.db, mchid);
    return { patterns: row ? JSON.parse(row.redaction_patterns) : [] };
  }

  /** The `prepare` of one call: foreign providers get the redacted request (computed once). */
  private preparer(call: GatewayCall) {
    let redacted: Promise<{ request: ChatCompletionRequest; vault: Vault }> | undefined;
    const state: { vault: Vault | undefined } = { vault: undefined };
    const prepare = async (adapter: ProviderAdapter): Promise<ChatCompletionRequest> => {
      if (adapter.config.region !== 'foreign') return call.request;
      redacted ??= (async () => {
        const custom = await this.customPatterns(call.key.mchid);
        return redactRequest(call.request, {
          custom,
          knownTrades: (candidates) =>
            repo.knownTradeNos(this.ctx.db, call.key.mchid, candidates.slice(0, llm_trade_candidates_max)),
        });
      })();
      const r = await redacted;
      state.vault = r.vault;
      return r.request;
    };
    return { prepare, state };
  }

  /**
   * Settles the call against its key's limits and spend, then logs it. Settling is awaited, so the
   * next call on any node sees this one's cost; a shared store that fails here is logged, not
   * answered: the provider has answered and the call is paid for.
   */
  private async record(
    call: GatewayCall,
    o: {
      adapter?: ProviderAdapter | undefined;
      status: 'ok' | 'error';
      error_code?: string | undefined;
      usage?: Usage | undefined;
      attempts: number;
      redacted: number;
      stream: boolean;
    },
  ): Promise<void> {
    const now = this.ctx.clock.now();
    const prompt = o.usage?.prompt_tokens ?? 0;
    const completion = o.usage?.completion_tokens ?? 0;
    const cost = o.adapter && o.usage ? cost_ufen(o.adapter.config, prompt, completion) : 0;
    try {
      await this.keys.settle(call.key, call, now, prompt + completion, cost);
    } catch (error) {
      this.onError(error);
    }
    const row: LlmRequestsTable = {
      id: call.id,
      mchid: call.key.mchid,
      key_id: call.key.id,
      model: call.request.model,
      provider: o.adapter?.config.name ?? null,
      region: o.adapter?.config.region ?? null,
      stream: o.stream ? 1 : 0,
      status: o.status,
      error_code: o.error_code ?? null,
      prompt_tokens: prompt,
      completion_tokens: completion,
      cost_ufen: cost,
      latency_ms: Math.round(performance.now() - call.t0),
      attempts: o.attempts,
      redacted: o.redacted,
      created_at: now,
    };
    this.log.add(row);
  }

  private async providerFailure(call: GatewayCall, error: unknown, stream: boolean): Promise<never> {
    if (error instanceof AllProvidersFailed) {
      await this.record(call, {
        status: 'error',
        error_code: 'LLM_PROVIDER_ERROR',
        attempts: error.attempts.length,
        redacted: 0,
        stream,
      });
      fail('llm_providers_failed', { issue: error.message.slice(0, 500) });
    }
    if (error instanceof RedactionError) {
      await this.record(call, {
        status: 'error',
        error_code: 'LLM_REDACTION_FAILED',
        attempts: 0,
        redacted: 0,
        stream,
      });
      fail('llm_redaction_failed', { issue: error.message });
    }
    throw error;
  }

  /**
   * The gateway as a ChatCompleter for the platform's own agent (conversations): the same routing,
   * failover, redaction and request log, for `mchid`, without an API key, limits or metering — the
   * agent's calls are billed as conversations, not as gateway tokens. Log rows carry the key id
   * `platform-agent`. Errors are AppErrors (LLM_PROVIDER_ERROR, LLM_REDACTION_FAILED,
   * LLM_MODEL_NOT_FOUND).
   */
  completer(mchid: string): ChatCompleter {
    const key = new KeyState({
      id: platform_agent_key,
      mchid,
      name: 'platform agent',
      key_hash: '',
      key_prefix: '',
      rpm: null,
      tpm: null,
      budget_fen_monthly: null,
      models: null,
      created_at: 0,
      revoked_at: null,
    });
    return {
      complete: async (request) => {
        const call = await this.begin(key, { ...request, stream: false } as WireRequest, false);
        return this.complete(call);
      },
    };
  }

  /** A non-streaming completion, restored. */
  async complete(call: GatewayCall): Promise<ChatCompletion> {
    const { prepare, state } = this.preparer(call);
    let routed: Awaited<ReturnType<Router['complete']>>;
    try {
      routed = await this.router.complete(call.request.model, prepare);
    } catch (error) {
      return this.providerFailure(call, error, false);
    }
    const answer = routed.result;
    const usage = answer.usage ?? {
      prompt_tokens: estimateTokens(requestText(call.request)),
      completion_tokens: estimateTokens(answer.choices.map((c) => c.message.content ?? '').join('')),
      total_tokens: 0,
    };
    usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
    const vault = state.vault;
    const base = {
      adapter: routed.adapter,
      usage,
      attempts: routed.attempts.length + 1,
      redacted: vault?.size ?? 0,
      stream: false,
    };
    const choices = answer.choices.map((c) => {
      const message: ChatMessage = { role: 'assistant', content: c.message.content ?? null };
      if (c.message.tool_calls && c.message.tool_calls.length > 0) message.tool_calls = c.message.tool_calls;
      return { index: c.index ?? 0, message, finish_reason: c.finish_reason };
    });
    if (vault && vault.size > 0) {
      try {
        for (const c of choices) {
          if (c.message.content) c.message.content = vault.restore(c.message.content, false);
          c.message.tool_calls = c.message.tool_calls?.map((t) => ({
            ...t,
            function: { name: t.function.name, arguments: vault.restore(t.function.arguments, true) },
          }));
          if (c.message.tool_calls === undefined) delete c.message.tool_calls;
        }
      } catch (error) {
        await this.record(call, { ...base, status: 'error', error_code: 'LLM_REDACTION_FAILED' });
        fail('llm_redaction_failed', { issue: (error as Error).message });
      }
    }
    await this.record(call, { ...base, status: 'ok' });
    return {
      id: call.id,
      object: 'chat.completion',
      created: Math.floor(call.started / 1000),
      model: call.request.model,
      choices,
      usage,
    };
  }

  /**
   * A streaming completion. Failures before the stream is committed throw (the route answers with
   * a JSON error and status); `sink` is opened only once a provider has answered.
   */
  async stream(call: GatewayCall, open: () => SseSink): Promise<void> {
    const { prepare, state } = this.preparer(call);
    let routed: Awaited<ReturnType<Router['openStream']>>;
    try {
      routed = await this.router.openStream(call.request.model, prepare);
    } catch (error) {
      return this.providerFailure(call, error, true);
    }
    const { head, rest, abort } = routed.result;
    const vault = state.vault && state.vault.size > 0 ? state.vault : undefined;
    const content = vault ? new StreamRestorer(vault, false) : undefined;
    const args = new Map<number, StreamRestorer>();
    const created = Math.floor(call.started / 1000);
    const wantUsage = call.request.stream_options?.include_usage === true;
    let usage: Usage | undefined;
    let finished = false;
    let closed = false;
    let text = '';
    const sink = open();
    sink.onClose(() => {
      closed = true;
      abort.abort();
    });
    const base = {
      adapter: routed.adapter,
      attempts: routed.attempts.length + 1,
      redacted: vault?.size ?? 0,
      stream: true,
    };

    const emit = (chunk: ChatCompletionChunk) => {
      if (chunk.usage) usage = chunk.usage;
      const out: ChatCompletionChunk = {
        id: call.id,
        object: 'chat.completion.chunk',
        created,
        model: call.request.model,
        choices: [],
      };
      for (const c of chunk.choices) {
        const delta = { ...c.delta };
        if (typeof delta.content === 'string') {
          text += delta.content;
          if (content) delta.content = content.push(delta.content);
        }
        if (delta.tool_calls) {
          delta.tool_calls = delta.tool_calls.map((t) => {
            if (vault && t.function?.arguments !== undefined) {
              let r = args.get(t.index);
              if (!r) {
                r = new StreamRestorer(vault, true);
                args.set(t.index, r);
              }
              text += t.function.arguments;
              return { ...t, function: { ...t.function, arguments: r.push(t.function.arguments) } };
            }
            if (t.function?.arguments) text += t.function.arguments;
            return t;
          });
        }
        if (c.finish_reason) {
          finished = true;
          // Whatever a restorer still holds belongs before the end of the answer.
          const held = content?.end() ?? '';
          if (held) delta.content = (delta.content ?? '') + held;
          const tails = [...args.entries()].flatMap(([index, r]) => {
            const tail = r.end();
            return tail ? [{ index, function: { arguments: tail } }] : [];
          });
          if (tails.length > 0) delta.tool_calls = [...(delta.tool_calls ?? []), ...tails];
        }
        out.choices.push({ index: c.index ?? 0, delta, finish_reason: c.finish_reason ?? null });
      }
      if (out.choices.length === 0 && !(wantUsage && chunk.usage)) return;
      if (wantUsage && chunk.usage) out.usage = chunk.usage;
      sink.write(`data: ${JSON.stringify(out)}\n\n`);
    };

    try {
      for (const chunk of head) emit(chunk);
      for (;;) {
        const next = await rest.next();
        if (next.done) break;
        emit(next.value);
      }
      if (!finished) throw new ProviderError('stream ended before a finish_reason', 'broken_stream');
    } catch (error) {
      const measured = usage ?? {
        prompt_tokens: estimateTokens(requestText(call.request)),
        completion_tokens: estimateTokens(text),
        total_tokens: 0,
      };
      if (closed) {
        await this.record(call, { ...base, usage: measured, status: 'error', error_code: 'CLIENT_CLOSED' });
        return;
      }
      const reason = error instanceof RedactionError ? 'llm_redaction_failed' : 'llm_stream_interrupted';
      if (!(error instanceof RedactionError) && !(error instanceof ProviderError)) this.onUnexpected(error);
      if (error instanceof ProviderError) this.router.failed(routed.adapter);
      const e = new AppError(reason, { issue: (error as Error).message });
      await this.record(call, { ...base, usage: measured, status: 'error', error_code: e.code });
      sink.write(
        `data: ${JSON.stringify({ error: { message: e.message, type: 'api_error', code: e.code, param: null } })}\n\n`,
      );
      sink.end();
      return;
    }
    const final = usage ?? {
      prompt_tokens: estimateTokens(requestText(call.request)),
      completion_tokens: estimateTokens(text),
      total_tokens: 0,
    };
    final.total_tokens = final.prompt_tokens + final.completion_tokens;
    await this.record(call, { ...base, usage: final, status: 'ok' });
    sink.write('data: [DONE]\n\n');
    sink.end();
  }

  private onUnexpected(error: unknown): void {
    // Not a provider failure: the stream still ends with an error event, and the bug is logged.
    this.onError(error);
  }

  async requests(
    mchid: string,
    q: { key_id?: string | undefined; limit: number; before?: number | undefined },
  ): Promise<{ data: Record<string, unknown>[] }> {
    await this.log.flush();
    const rows = await repo.requestsOf(this.ctx.db, mchid, q);
    return {
      data: rows.map((r) => ({
        id: r.id,
        key_id: r.key_id,
        model: r.model,
        provider: r.provider,
        region: r.region,
        stream: r.stream === 1,
        status: r.status,
        error_code: r.error_code,
        prompt_tokens: Number(r.prompt_tokens),
        completion_tokens: Number(r.completion_tokens),
        cost_fen: Number(r.cost_ufen) / 1_000_000,
        cost_ufen: Number(r.cost_ufen),
        latency_ms: Number(r.latency_ms),
        attempts: Number(r.attempts),
        redacted: Number(r.redacted),
        created_at: rfc3339(Number(r.created_at)),
      })),
    };
  }

  async close(): Promise<void> {
    this.log.stop();
    await this.log.flush();
  }
}
