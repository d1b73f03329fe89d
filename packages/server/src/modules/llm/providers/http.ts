/**
 * The gateway's upstream HTTP client: node:http(s) with keep-alive agents, and a server-sent-events
 * reader. Not `fetch`: Node 20's fetch (undici behind a WHATWG streams layer) adds a few hundred
 * microseconds per call, a visible share of the gateway's < 1 ms overhead target (bench:gateway).
 */
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';

const agents = {
  // noDelay: SSE deltas are small writes; Nagle's algorithm would hold them for an ACK.
  'http:': new http.Agent({ keepAlive: true, maxSockets: 256, noDelay: true } as http.AgentOptions),
  'https:': new https.Agent({ keepAlive: true, maxSockets: 256, noDelay: true } as https.AgentOptions),
};

/** Why a provider call failed; `retryable` failures may be retried and failed over. */
export class ProviderError extends Error {
  override name = 'ProviderError';
  constructor(
    message: string,
    readonly cause_kind: 'http' | 'timeout' | 'network' | 'broken_stream' | 'bad_response',
    readonly status?: number,
  ) {
    super(message);
  }
  get retryable(): boolean {
    if (this.cause_kind !== 'http') return true;
    const s = this.status ?? 0;
    return s === 408 || s === 409 || s === 429 || s >= 500;
  }
}

export function postJson(
  url: URL,
  headers: Record<string, string>,
  body: string,
  signal: AbortSignal,
): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const mod = url.protocol === 'https:' ? https : http;
    const agent = agents[url.protocol as 'http:' | 'https:'];
    if (!agent) return reject(new ProviderError(`unsupported protocol ${url.protocol}`, 'network'));
    const req = mod.request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          ...headers,
        },
        signal,
      },
      resolve,
    );
    req.on('error', (error) =>
      reject(
        signal.aborted
          ? new ProviderError('timed out', 'timeout')
          : new ProviderError(`network error: ${error.message}`, 'network'),
      ),
    );
    req.end(body);
  });
}

/** The whole body as text (bounded: provider answers above `max_bytes` are refused). */
export async function readText(
  res: IncomingMessage,
  max_bytes: number,
  signal: AbortSignal,
): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > max_bytes) throw new ProviderError(`answer larger than ${max_bytes} bytes`, 'bad_response');
      parts.push(chunk);
    }
  } catch (error) {
    if (error instanceof ProviderError) throw error;
    throw signal.aborted
      ? new ProviderError('timed out', 'timeout')
      : new ProviderError(`connection lost: ${(error as Error).message}`, 'network');
  }
  return Buffer.concat(parts).toString('utf8');
}

/** Throws a ProviderError for a non-2xx answer, with the provider's message when it gave one. */
export async function expectOk(res: IncomingMessage, signal: AbortSignal): Promise<void> {
  const status = res.statusCode ?? 0;
  if (status >= 200 && status < 300) return;
  let text = '';
  try {
    text = await readText(res, 64 * 1024, signal);
  } catch {
    // the status is what matters; a broken error body changes nothing
  }
  throw new ProviderError(`provider answered ${status}: ${text.slice(0, 300)}`, 'http', status);
}

export interface SseEvent {
  event: string | undefined;
  data: string;
}

/**
 * Server-sent events from `res` (WHATWG §9.2: lines, `event:`/`data:` fields, blank line ends an
 * event). A gap of `idle_ms` without bytes aborts the call: a hung stream is a broken stream.
 */
export async function* sseEvents(
  res: IncomingMessage,
  idle_ms: number,
  abort: AbortController,
): AsyncGenerator<SseEvent> {
  let buffer = '';
  let timer: NodeJS.Timeout | undefined;
  let idled = false;
  const arm = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      idled = true;
      abort.abort();
      res.destroy();
    }, idle_ms);
  };
  arm();
  res.setEncoding('utf8');
  try {
    for await (const chunk of res as AsyncIterable<string>) {
      arm();
      buffer += chunk;
      let cut = buffer.indexOf('\n\n');
      while (cut >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let event: string | undefined;
        let data = '';
        for (const raw of block.split('\n')) {
          const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
          if (line.startsWith('data:')) data += (data ? '\n' : '') + line.slice(line[5] === ' ' ? 6 : 5);
          else if (line.startsWith('event:')) event = line.slice(line[6] === ' ' ? 7 : 6);
        }
        if (data !== '' || event !== undefined) yield { event, data };
        cut = buffer.indexOf('\n\n');
      }
    }
  } catch (error) {
    throw idled
      ? new ProviderError(`stream idle for ${idle_ms} ms`, 'timeout')
      : abort.signal.aborted
        ? new ProviderError('timed out', 'timeout')
        : new ProviderError(`stream lost: ${(error as Error).message}`, 'broken_stream');
  } finally {
    if (timer) clearTimeout(timer);
  }
  if (idled) throw new ProviderError(`stream idle for ${idle_ms} ms`, 'timeout');
}
