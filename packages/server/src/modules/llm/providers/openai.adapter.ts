/**
 * OpenAI-compatible providers: OpenAI, DeepSeek, Qwen (DashScope compatible mode), Moonshot, a local
 * vLLM/Ollama/llama.cpp server — anything answering POST {base_url}/chat/completions. The request
 * passes through with the upstream model name; streams always ask for usage so cost is exact.
 */
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionRequest } from '../llm.types.ts';
import { expectOk, ProviderError, postJson, readText, sseEvents } from './http.ts';
import { type ProviderAdapter, type ProviderConfig, upstreamModel } from './provider.ts';

const answer_bytes_max = 8 * 1024 * 1024;

export class OpenAiAdapter implements ProviderAdapter {
  private readonly url: URL;
  private readonly headers: Record<string, string>;

  constructor(readonly config: ProviderConfig) {
    this.url = new URL(`${(config.base_url ?? '').replace(/\/+$/, '')}/chat/completions`);
    this.headers = config.api_key ? { authorization: `Bearer ${config.api_key}` } : {};
  }

  private body(request: ChatCompletionRequest, stream: boolean): string {
    const upstream: ChatCompletionRequest = { ...request, model: upstreamModel(this.config, request.model) };
    if (stream) {
      upstream.stream = true;
      upstream.stream_options = { include_usage: true };
    } else {
      delete upstream.stream;
      delete upstream.stream_options;
    }
    return JSON.stringify(upstream);
  }

  async complete(request: ChatCompletionRequest, signal: AbortSignal): Promise<ChatCompletion> {
    const res = await postJson(this.url, this.headers, this.body(request, false), signal);
    await expectOk(res, signal);
    const text = await readText(res, answer_bytes_max, signal);
    let parsed: ChatCompletion;
    try {
      parsed = JSON.parse(text) as ChatCompletion;
    } catch {
      throw new ProviderError('answer is not JSON', 'bad_response');
    }
    if (!Array.isArray(parsed.choices) || parsed.choices.length === 0 || !parsed.choices[0]?.message)
      throw new ProviderError('answer has no choices', 'bad_response');
    if (!parsed.choices[0].finish_reason)
      throw new ProviderError('answer has no finish_reason', 'bad_response');
    return parsed;
  }

  async *stream(request: ChatCompletionRequest, abort: AbortController): AsyncGenerator<ChatCompletionChunk> {
    const res = await postJson(this.url, this.headers, this.body(request, true), abort.signal);
    await expectOk(res, abort.signal);
    let finished = false;
    let done = false;
    for await (const e of sseEvents(res, this.config.stream_idle_timeout_ms, abort)) {
      // After [DONE] the response is read to its end, not abandoned: an abandoned response
      // destroys the keep-alive socket, and the next call pays for a new connection.
      if (done) continue;
      if (e.data === '[DONE]') {
        done = true;
        continue;
      }
      let chunk: ChatCompletionChunk & { error?: { message?: string } };
      try {
        chunk = JSON.parse(e.data);
      } catch {
        throw new ProviderError('stream event is not JSON', 'broken_stream');
      }
      if (chunk.error)
        throw new ProviderError(`provider error in stream: ${chunk.error.message}`, 'broken_stream');
      if (!Array.isArray(chunk.choices))
        throw new ProviderError('stream chunk has no choices', 'broken_stream');
      if (chunk.choices.some((c) => c.finish_reason)) finished = true;
      yield chunk;
    }
    // The stream ended: complete only if the provider gave a finish reason (a missing [DONE] after
    // it is tolerated; the gateway sends its own).
    if (!finished) throw new ProviderError('stream ended before a finish_reason', 'broken_stream');
  }
}
