/** Transport helpers shared by ZhifuClient and SandboxClient (internal: not exported from index.ts). */
import { ZhifuConnectionError, ZhifuError } from './errors.ts';

/** Default per-attempt deadline: a generous bound on one API round trip, so no call hangs forever. */
export const defaultTimeoutMs = 10_000;
/** Upper bound on `timeoutMs`: beyond two minutes a caller is better served by retrying. */
const timeoutMsMax = 120_000;

export interface HttpAnswer {
  status: number;
  headers: Headers;
  body: string;
}

/** One HTTP exchange with a deadline; network failures and timeouts become `ZhifuConnectionError`. */
export async function send(
  fetchFn: typeof fetch,
  url: string,
  init: RequestInit,
  timeoutMs: number,
): Promise<HttpAnswer> {
  try {
    const response = await fetchFn(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    return { status: response.status, headers: response.headers, body: await response.text() };
  } catch (cause) {
    if (cause instanceof DOMException && cause.name === 'TimeoutError') {
      throw new ZhifuConnectionError('timed_out', `no answer from ${url} within ${timeoutMs} ms`, cause);
    }
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new ZhifuConnectionError('connection_failed', `cannot reach ${url}: ${reason}`, cause);
  }
}

/** Parses a 2xx body; an empty body (204) gives `undefined`. */
export function parseBody<T>(answer: HttpAnswer): T {
  if (answer.body === '') return undefined as T;
  try {
    return JSON.parse(answer.body) as T;
  } catch (cause) {
    throw new ZhifuError({
      code: 'response_malformed',
      message: `HTTP ${answer.status} body is not JSON`,
      httpStatus: answer.status,
      requestId: requestIdOf(answer),
      cause,
    });
  }
}

export function requestIdOf(answer: HttpAnswer): string | undefined {
  return answer.headers.get('Request-ID') ?? undefined;
}

export function isSuccess(status: number): boolean {
  return status >= 200 && status < 300;
}

/** Checks an http(s) base URL and drops trailing slashes, so `${base}${path}` joins cleanly. */
export function checkBaseUrl(value: unknown, owner: string): string {
  if (typeof value !== 'string' || !/^https?:\/\/[^/]/i.test(value) || !URL.canParse(value)) {
    throw new TypeError(`${owner}: baseUrl must be an http(s) URL such as 'http://localhost:8080'`);
  }
  return value.replace(/\/+$/, '');
}

export function checkTimeoutMs(value: unknown, owner: string): number {
  if (value === undefined) return defaultTimeoutMs;
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0 || value > timeoutMsMax) {
    throw new TypeError(`${owner}: timeoutMs must be an integer from 1 to ${timeoutMsMax}`);
  }
  return value;
}

export function checkFetch(value: unknown, owner: string): typeof fetch {
  if (value === undefined) return globalThis.fetch;
  if (typeof value !== 'function') throw new TypeError(`${owner}: fetch must be a function`);
  return value as typeof fetch;
}

export function jsonHeaders(body: string): Record<string, string> {
  return body === ''
    ? { Accept: 'application/json' }
    : { Accept: 'application/json', 'Content-Type': 'application/json' };
}
