// biome-ignore-all lint/suspicious/noExplicitAny: fake providers and log rows are loosely typed JSON.
/**
 * Fake LLM providers for tests and bench:gateway: real HTTP servers on loopback speaking OpenAI's
 * chat-completions API or Anthropic's Messages API (streaming and not), recording every request body
 * they receive, with switchable failure modes. The "model" echoes the last user message; when tools
 * are offered and the message starts with `call:`, it calls the first tool with {"text": <rest>}.
 * Streams are cut in 3-character pieces so placeholders arrive split across chunks.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type FakeMode = 'ok' | 'status500' | 'hang' | 'break_before' | 'break_after' | 'hang_after' | 'say';

export interface FakeProvider {
  url: string;
  server: Server;
  /** Every request body received, parsed. */
  received: Record<string, any>[];
  /** Raw bodies as received, for "no raw identifier reached it" checks. */
  raw: string[];
  mode: FakeMode;
  /** With mode `say`: the exact answer text. */
  say: string;
  hits: number;
  close(): Promise<void>;
}

const piece = 3;

function lastUser(messages: any[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m.role === 'user') {
      if (typeof m.content === 'string') return m.content;
      if (Array.isArray(m.content)) {
        const last = m.content[m.content.length - 1];
        return last?.type === 'text' ? last.text : String(last?.content ?? '');
      }
    }
    if (m.role === 'tool') return String(m.content);
  }
  return '';
}

function answerOf(
  body: Record<string, any>,
  f: FakeProvider,
): { text: string; call?: { name: string; args: string } } {
  const text = f.mode === 'say' ? f.say : lastUser(body.messages ?? []);
  const tools = body.tools as any[] | undefined;
  if (tools && tools.length > 0 && text.startsWith('call:')) {
    const name = tools[0].function?.name ?? tools[0].name;
    return { text: '', call: { name, args: JSON.stringify({ text: text.slice(5) }) } };
  }
  return { text };
}

function pieces(s: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < s.length; i += piece) out.push(s.slice(i, i + piece));
  return out;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of req) parts.push(c as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

function openaiHandler(f: FakeProvider, body: Record<string, any>, res: ServerResponse) {
  const a = answerOf(body, f);
  const usage = { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 };
  const finish = a.call ? 'tool_calls' : 'stop';
  if (!body.stream) {
    const message: Record<string, unknown> = { role: 'assistant', content: a.call ? null : a.text };
    if (a.call)
      message.tool_calls = [
        { id: 'call_1', type: 'function', function: { name: a.call.name, arguments: a.call.args } },
      ];
    res.writeHead(200, { 'content-type': 'application/json' });
    if (f.mode === 'break_after') {
      // Half an answer, then the connection drops: a truncated JSON body under a 200.
      const whole = JSON.stringify({ id: 'fake-1', choices: [{ index: 0, message, finish_reason: finish }] });
      res.write(whole.slice(0, whole.length >> 1));
      setTimeout(() => res.destroy(), 20);
      return;
    }
    res.end(
      JSON.stringify({
        id: 'fake-1',
        object: 'chat.completion',
        created: 1,
        model: body.model,
        choices: [{ index: 0, message, finish_reason: finish }],
        usage,
      }),
    );
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const send = (choices: unknown[], extra: Record<string, unknown> = {}) =>
    res.write(
      `data: ${JSON.stringify({ id: 'fake-1', object: 'chat.completion.chunk', created: 1, model: body.model, choices, ...extra })}\n\n`,
    );
  send([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]);
  if (f.mode === 'break_before') return void res.destroy();
  const chunks = a.call ? pieces(a.call.args) : pieces(a.text);
  if (a.call)
    send([
      {
        index: 0,
        delta: {
          tool_calls: [
            { index: 0, id: 'call_1', type: 'function', function: { name: a.call.name, arguments: '' } },
          ],
        },
        finish_reason: null,
      },
    ]);
  const cut = f.mode === 'break_after' || f.mode === 'hang_after';
  chunks.forEach((c, i) => {
    if (cut && i >= 2) return;
    send([
      {
        index: 0,
        delta: a.call ? { tool_calls: [{ index: 0, function: { arguments: c } }] } : { content: c },
        finish_reason: null,
      },
    ]);
  });
  if (f.mode === 'break_after') {
    // Let the two pieces reach the client, then drop the connection mid-answer.
    setTimeout(() => res.destroy(), 20);
    return;
  }
  if (f.mode === 'hang_after') return; // two pieces, then silence with the connection open
  send([{ index: 0, delta: {}, finish_reason: finish }]);
  if (body.stream_options?.include_usage) send([], { usage });
  res.end('data: [DONE]\n\n');
}

function anthropicHandler(f: FakeProvider, body: Record<string, any>, res: ServerResponse) {
  const a = answerOf(body, f);
  const usage = { input_tokens: 12, output_tokens: 6 };
  const stop = a.call ? 'tool_use' : 'end_turn';
  if (!body.stream) {
    const content: unknown[] = a.call
      ? [{ type: 'tool_use', id: 'toolu_1', name: a.call.name, input: JSON.parse(a.call.args) }]
      : [{ type: 'text', text: a.text }];
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        id: 'msg_1',
        type: 'message',
        role: 'assistant',
        model: body.model,
        content,
        stop_reason: stop,
        usage,
      }),
    );
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const ev = (type: string, data: Record<string, unknown>) =>
    res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
  ev('message_start', {
    message: {
      id: 'msg_1',
      type: 'message',
      role: 'assistant',
      content: [],
      usage: { input_tokens: 12, output_tokens: 1 },
    },
  });
  if (f.mode === 'break_before') return void res.destroy();
  ev('ping', {});
  if (a.call) {
    ev('content_block_start', {
      index: 0,
      content_block: { type: 'tool_use', id: 'toolu_1', name: a.call.name, input: {} },
    });
    for (const c of pieces(a.call.args))
      ev('content_block_delta', { index: 0, delta: { type: 'input_json_delta', partial_json: c } });
  } else {
    ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
    const ps = pieces(a.text);
    for (const [i, c] of ps.entries()) {
      if (f.mode === 'break_after' && i >= 2) {
        setTimeout(() => res.destroy(), 20);
        return;
      }
      ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: c } });
    }
  }
  ev('content_block_stop', { index: 0 });
  ev('message_delta', { delta: { stop_reason: stop }, usage: { output_tokens: 6 } });
  ev('message_stop', {});
  res.end();
}

export async function startFakeProvider(kind: 'openai' | 'anthropic' = 'openai'): Promise<FakeProvider> {
  const f: FakeProvider = {
    url: '',
    server: undefined as unknown as Server,
    received: [],
    raw: [],
    mode: 'ok',
    say: '',
    hits: 0,
    close: async () => {},
  };
  const server = createServer(async (req, res) => {
    const text = await readBody(req);
    f.hits++;
    f.raw.push(text);
    const body = JSON.parse(text);
    f.received.push(body);
    if (f.mode === 'status500') {
      res.writeHead(500, { 'content-type': 'application/json' });
      return void res.end('{"error":{"message":"upstream exploded"}}');
    }
    if (f.mode === 'hang') return; // never answers; the gateway's timeout must fire
    if (kind === 'anthropic') anthropicHandler(f, body, res);
    else openaiHandler(f, body, res);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  f.server = server;
  f.url = kind === 'anthropic' ? `http://127.0.0.1:${port}` : `http://127.0.0.1:${port}/v1`;
  f.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return f;
}
