/**
 * Anthropic's Messages API (POST {base_url}/v1/messages, anthropic-version 2023-06-01) behind the
 * OpenAI wire format: system messages become `system`, tool calls become `tool_use` blocks, tool
 * answers become `tool_result` blocks in a user turn, and the streamed events (message_start,
 * content_block_start/delta/stop, message_delta, message_stop) become chat.completion.chunk deltas.
 * A stream without `message_stop` is broken.
 */
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  FinishReason,
  ToolCall,
} from '../llm.types.ts';
import { expectOk, ProviderError, postJson, readText, sseEvents } from './http.ts';
import { type ProviderAdapter, type ProviderConfig, upstreamModel } from './provider.ts';

const answer_bytes_max = 8 * 1024 * 1024;
const anthropic_version = '2023-06-01';

type Block =
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id: string; name: string; input: unknown }
  | { type: 'tool_result'; tool_use_id: string; content: string };

interface AnthropicMessage {
  role: 'user' | 'assistant';
  content: Block[];
}

interface AnthropicResponse {
  id: string;
  model: string;
  content: Block[];
  stop_reason: string | null;
  usage: { input_tokens: number; output_tokens: number };
}

export function finishReason(stop: string | null | undefined): FinishReason {
  switch (stop) {
    case 'max_tokens':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default:
      return 'stop';
  }
}

function parseArguments(text: string): unknown {
  try {
    return text.trim() === '' ? {} : JSON.parse(text);
  } catch {
    // Anthropic needs an object; an unparsable argument string from a client is passed as a string field.
    return { arguments: text };
  }
}

/** The Messages API request for an OpenAI chat request. */
export function toAnthropic(request: ChatCompletionRequest, model: string, default_max_tokens: number) {
  const system: string[] = [];
  const messages: AnthropicMessage[] = [];
  const push = (role: 'user' | 'assistant', blocks: Block[]) => {
    if (blocks.length === 0) return;
    const last = messages[messages.length - 1];
    // Consecutive turns of one role are merged: the Messages API wants them alternating.
    if (last && last.role === role) last.content.push(...blocks);
    else messages.push({ role, content: blocks });
  };
  for (const m of request.messages) {
    const text = m.content ?? '';
    switch (m.role) {
      case 'system':
        system.push(text);
        break;
      case 'user':
        push('user', [{ type: 'text', text }]);
        break;
      case 'assistant': {
        const blocks: Block[] = text ? [{ type: 'text', text }] : [];
        for (const c of m.tool_calls ?? [])
          blocks.push({
            type: 'tool_use',
            id: c.id,
            name: c.function.name,
            input: parseArguments(c.function.arguments),
          });
        push('assistant', blocks);
        break;
      }
      case 'tool':
        push('user', [{ type: 'tool_result', tool_use_id: m.tool_call_id ?? '', content: text }]);
        break;
    }
  }
  const body: Record<string, unknown> = {
    model,
    messages,
    max_tokens: request.max_tokens ?? default_max_tokens,
  };
  if (system.length > 0) body.system = system.join('\n\n');
  if (request.temperature !== undefined) body.temperature = Math.min(1, request.temperature);
  if (request.top_p !== undefined) body.top_p = request.top_p;
  if (request.stop !== undefined) body.stop_sequences = [request.stop].flat();
  if (request.tools && request.tools.length > 0) {
    body.tools = request.tools.map((t) => ({
      name: t.function.name,
      ...(t.function.description ? { description: t.function.description } : {}),
      input_schema: t.function.parameters ?? { type: 'object', properties: {} },
    }));
    const choice = request.tool_choice;
    if (choice === 'required') body.tool_choice = { type: 'any' };
    else if (choice === 'none') body.tool_choice = { type: 'none' };
    else if (typeof choice === 'object') body.tool_choice = { type: 'tool', name: choice.function.name };
    else if (choice === 'auto') body.tool_choice = { type: 'auto' };
  }
  return body;
}

export class AnthropicAdapter implements ProviderAdapter {
  private readonly url: URL;
  private readonly headers: Record<string, string>;

  constructor(readonly config: ProviderConfig) {
    this.url = new URL(`${(config.base_url ?? 'https://api.anthropic.com').replace(/\/+$/, '')}/v1/messages`);
    this.headers = {
      'anthropic-version': anthropic_version,
      ...(config.api_key ? { 'x-api-key': config.api_key } : {}),
    };
  }

  private body(request: ChatCompletionRequest, stream: boolean): string {
    const body = toAnthropic(
      request,
      upstreamModel(this.config, request.model),
      this.config.default_max_tokens ?? 4096,
    );
    if (stream) body.stream = true;
    return JSON.stringify(body);
  }

  async complete(request: ChatCompletionRequest, signal: AbortSignal): Promise<ChatCompletion> {
    const res = await postJson(this.url, this.headers, this.body(request, false), signal);
    await expectOk(res, signal);
    let a: AnthropicResponse;
    try {
      a = JSON.parse(await readText(res, answer_bytes_max, signal)) as AnthropicResponse;
    } catch (error) {
      if (error instanceof ProviderError) throw error;
      throw new ProviderError('answer is not JSON', 'bad_response');
    }
    if (!Array.isArray(a.content) || !a.usage)
      throw new ProviderError('answer is not a Messages API message', 'bad_response');
    const text = a.content.flatMap((b) => (b.type === 'text' ? [b.text] : [])).join('');
    const calls: ToolCall[] = a.content.flatMap((b) =>
      b.type === 'tool_use'
        ? [
            {
              id: b.id,
              type: 'function' as const,
              function: { name: b.name, arguments: JSON.stringify(b.input ?? {}) },
            },
          ]
        : [],
    );
    return {
      id: a.id,
      object: 'chat.completion',
      created: 0,
      model: request.model,
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: text === '' && calls.length > 0 ? null : text,
            ...(calls.length ? { tool_calls: calls } : {}),
          },
          finish_reason: finishReason(a.stop_reason),
        },
      ],
      usage: {
        prompt_tokens: a.usage.input_tokens,
        completion_tokens: a.usage.output_tokens,
        total_tokens: a.usage.input_tokens + a.usage.output_tokens,
      },
    };
  }

  async *stream(request: ChatCompletionRequest, abort: AbortController): AsyncGenerator<ChatCompletionChunk> {
    const res = await postJson(this.url, this.headers, this.body(request, true), abort.signal);
    await expectOk(res, abort.signal);
    let id = '';
    let input = 0;
    let output = 0;
    let stop: string | null = null;
    // Anthropic numbers content blocks (text and tool_use together); OpenAI numbers tool calls only.
    const toolIndex = new Map<number, number>();
    const chunk = (
      delta: ChatCompletionChunk['choices'][number]['delta'],
      finish: FinishReason | null = null,
    ): ChatCompletionChunk => ({
      id,
      object: 'chat.completion.chunk',
      created: 0,
      model: request.model,
      choices: [{ index: 0, delta, finish_reason: finish }],
    });
    let stopped = false;
    for await (const e of sseEvents(res, this.config.stream_idle_timeout_ms, abort)) {
      // After message_stop the response is read to its end (keeps the keep-alive socket).
      if (stopped) continue;
      // biome-ignore lint/suspicious/noExplicitAny: provider events are read defensively, field by field.
      let data: Record<string, any>;
      try {
        data = JSON.parse(e.data);
      } catch {
        throw new ProviderError('stream event is not JSON', 'broken_stream');
      }
      switch (data.type) {
        case 'message_start':
          id = data.message?.id ?? '';
          input = data.message?.usage?.input_tokens ?? 0;
          output = data.message?.usage?.output_tokens ?? 0;
          yield chunk({ role: 'assistant', content: '' });
          break;
        case 'content_block_start': {
          const block = data.content_block;
          if (block?.type === 'tool_use') {
            const index = toolIndex.size;
            toolIndex.set(data.index, index);
            yield chunk({
              tool_calls: [
                { index, id: block.id, type: 'function', function: { name: block.name, arguments: '' } },
              ],
            });
          } else if (block?.type === 'text' && block.text) yield chunk({ content: block.text });
          break;
        }
        case 'content_block_delta': {
          const d = data.delta;
          if (d?.type === 'text_delta') yield chunk({ content: d.text });
          else if (d?.type === 'input_json_delta') {
            const index = toolIndex.get(data.index);
            if (index === undefined)
              throw new ProviderError('input_json_delta for an unknown block', 'broken_stream');
            yield chunk({ tool_calls: [{ index, function: { arguments: d.partial_json } }] });
          }
          break;
        }
        case 'message_delta':
          stop = data.delta?.stop_reason ?? stop;
          output = data.usage?.output_tokens ?? output;
          break;
        case 'message_stop': {
          const last = chunk({}, finishReason(stop));
          last.usage = { prompt_tokens: input, completion_tokens: output, total_tokens: input + output };
          stopped = true;
          yield last;
          break;
        }
        case 'error':
          throw new ProviderError(
            `provider error in stream: ${data.error?.message ?? 'unknown'}`,
            'broken_stream',
          );
        default:
          break; // ping, content_block_stop
      }
    }
    if (!stopped) throw new ProviderError('stream ended before message_stop', 'broken_stream');
  }
}
