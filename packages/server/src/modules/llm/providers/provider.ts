/**
 * The provider port: what the router needs from an upstream model service, whatever its API.
 * Adapters: openai.adapter.ts (OpenAI, DeepSeek, Qwen/DashScope compatible mode, any
 * OpenAI-compatible base URL), anthropic.adapter.ts (Messages API), local.adapter.ts (an injected
 * ChatCompleter such as `zhifu-local`).
 */
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionRequest } from '../llm.types.ts';

export type ProviderKind = 'openai' | 'anthropic' | 'local';
export type Region = 'domestic' | 'foreign';

/** One provider as configured (ZHIFU_LLM_PROVIDERS, docs/llm-gateway.md "Providers"). */
export interface ProviderConfig {
  /** Unique name, shown in the request log and `/v1/models` (`owned_by`). */
  name: string;
  kind: ProviderKind;
  /** Base URL up to the version segment, e.g. https://api.deepseek.com/v1 (not for `local`). */
  base_url?: string;
  /** The provider's API key (prefer `api_key_env`, the name of an environment variable holding it). */
  api_key?: string;
  /** `foreign` providers only ever see redacted requests. */
  region: Region;
  /** Lower is tried first; equal priorities are ordered by the routing strategy. */
  priority: number;
  /** Model names served; a request's `model` must be one of them (or an alias key of `model_map`). */
  models: string[];
  /** Gateway model name → the provider's own model name. */
  model_map?: Record<string, string>;
  /** Price in fen per million tokens (CNY), for the request log, budgets and cost-based routing. */
  input_fen_per_mtok: number;
  output_fen_per_mtok: number;
  /** Time to the answer's first byte (default 30 s), and the longest silence inside a stream (default 30 s). */
  timeout_ms: number;
  stream_idle_timeout_ms: number;
  /** Retries on this provider before failing over (default 1), backoff base (default 100 ms, doubled, with jitter). */
  retries: number;
  retry_backoff_ms: number;
  /** Anthropic needs max_tokens; used when the request has none (default 4096). */
  default_max_tokens?: number;
}

export interface ProviderAdapter {
  readonly config: ProviderConfig;
  /** A non-streaming completion, or a ProviderError. */
  complete(request: ChatCompletionRequest, signal: AbortSignal): Promise<ChatCompletion>;
  /**
   * Streamed chunks in OpenAI's format. The iterator throws a ProviderError of kind
   * `broken_stream` when the upstream stream ends before a finish reason: an answer is only
   * complete when the provider said so.
   */
  stream(request: ChatCompletionRequest, abort: AbortController): AsyncIterable<ChatCompletionChunk>;
}

/** The upstream model name for a gateway model name. */
export function upstreamModel(config: ProviderConfig, model: string): string {
  return config.model_map?.[model] ?? model;
}

/** Provider cost in micro-fen (1e-6 fen): integer, exact, from per-million-token prices. */
export function cost_ufen(config: ProviderConfig, prompt_tokens: number, completion_tokens: number): number {
  return prompt_tokens * config.input_fen_per_mtok + completion_tokens * config.output_fen_per_mtok;
}
