/**
 * Kind `local`: an in-process ChatCompleter (llm.types.ts) as a provider, e.g. the built-in
 * offline model `zhifu-local` (AppDeps.llm.local). Its answers are whole completions; a streaming
 * request gets them as a role delta, the text, the tool calls and a final chunk with the finish
 * reason and usage, so streaming clients see the same wire format as from any provider.
 */
import type {
  ChatCompleter,
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
} from '../llm.types.ts';
import { ProviderError } from './http.ts';
import { type ProviderAdapter, type ProviderConfig, upstreamModel } from './provider.ts';

export class LocalAdapter implements ProviderAdapter {
  constructor(
    readonly config: ProviderConfig,
    private readonly completer: ChatCompleter,
  ) {}

  async complete(request: ChatCompletionRequest, signal: AbortSignal): Promise<ChatCompletion> {
    let answer: ChatCompletion;
    try {
      answer = await this.completer.complete(
        { ...request, model: upstreamModel(this.config, request.model), stream: false },
        { signal, caller: 'llm-gateway' },
      );
    } catch (error) {
      throw new ProviderError(
        `local model failed: ${(error as Error).message}`,
        signal.aborted ? 'timeout' : 'bad_response',
      );
    }
    if (!answer?.choices?.[0]?.message || !answer.choices[0].finish_reason)
      throw new ProviderError('local model answered without a message or finish_reason', 'bad_response');
    return { ...answer, model: request.model };
  }

  async *stream(request: ChatCompletionRequest, abort: AbortController): AsyncGenerator<ChatCompletionChunk> {
    const answer = await this.complete(request, abort.signal);
    const choice = answer.choices[0]!;
    const base = {
      id: answer.id,
      object: 'chat.completion.chunk' as const,
      created: answer.created,
      model: request.model,
    };
    yield {
      ...base,
      choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }],
    };
    if (choice.message.content)
      yield {
        ...base,
        choices: [{ index: 0, delta: { content: choice.message.content }, finish_reason: null }],
      };
    const calls = choice.message.tool_calls ?? [];
    if (calls.length > 0)
      yield {
        ...base,
        choices: [
          {
            index: 0,
            delta: {
              tool_calls: calls.map((c, index) => ({
                index,
                id: c.id,
                type: 'function' as const,
                function: c.function,
              })),
            },
            finish_reason: null,
          },
        ],
      };
    yield {
      ...base,
      choices: [{ index: 0, delta: {}, finish_reason: choice.finish_reason }],
      usage: answer.usage,
    };
  }
}
