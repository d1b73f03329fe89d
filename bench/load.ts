/**
 * The benchmark's measuring tools: a small closed-loop HTTP load generator over node:http with a
 * keep-alive Agent, a loop timer for in-process baselines, CPU sampling of this process and of a
 * child process (/proc), percentiles and number formatting.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { performance } from 'node:perf_hooks';

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A request without a response after this long fails (a stuck server must not hang the bench). */
const requestTimeoutMs = 30_000;

/** Keep-alive HTTP/1.1 client to one host; at most `maxSockets` connections. */
export class HttpClient {
  readonly #agent: http.Agent;

  constructor(
    private readonly host: string,
    private readonly port: number,
    maxSockets: number,
  ) {
    this.#agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  }

  request(
    method: string,
    path: string,
    headers: Record<string, string>,
    body?: string,
  ): Promise<HttpResponse> {
    return new Promise((resolve, reject) => {
      const allHeaders =
        body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) };
      const req = http.request(
        { host: this.host, port: this.port, method, path, agent: this.#agent, headers: allHeaders },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            text += chunk;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
          res.on('error', reject);
        },
      );
      req.setTimeout(requestTimeoutMs, () =>
        req.destroy(new Error(`no response within ${requestTimeoutMs / 1000} s: ${method} ${path}`)),
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}

export interface Timing {
  /** Warm-up before the measured windows; its operations are not counted. */
  warmupMs: number;
  windowMs: number;
  windows: number;
}

export interface LoadResult {
  concurrency: number;
  /** Operations per second in each measured window. */
  perWindow: number[];
  /** Latency of every operation completed in the measured windows, ms, sorted ascending. */
  latencies: Float64Array;
  /** Errors during the whole run, warm-up included. */
  errors: number;
  errorSamples: string[];
  /** Over the measured windows; 100% = one core busy. */
  clientCpuPct: number;
  serverCpuPct: number | undefined;
  /** CPU used by every other process on the machine over the measured windows (other users' load). */
  otherCpuPct: number;
  /** Operations completed in the whole run, warm-up included (for per-operation cost accounting). */
  allOps: number;
  aborted: boolean;
}

const maxErrors = 1000;

/**
 * Runs `concurrency` workers, each calling `operation(worker)` back to back (a closed loop), for the
 * warm-up plus `windows` windows. An operation is counted in the window in which it completes;
 * operations still running at the end are awaited but not counted. A thrown error counts as an
 * error; after 1,000 errors the run stops.
 */
export async function closedLoop(
  concurrency: number,
  timing: Timing,
  operation: (worker: number) => Promise<void>,
  serverPid?: number,
): Promise<LoadResult> {
  const start = performance.now();
  const measureStart = start + timing.warmupMs;
  const end = measureStart + timing.windowMs * timing.windows;
  const counts = new Array<number>(timing.windows).fill(0);
  const latencies: number[] = [];
  const errorSamples: string[] = [];
  let errors = 0;
  let allOps = 0;
  let stop = false;

  let cpuStart = process.cpuUsage();
  let serverStart = serverPid === undefined ? undefined : cpuTicks(serverPid);
  let systemStart = systemBusyTicks();
  let tCpuStart = performance.now();
  let clientCpuPct = 0;
  let serverCpuPct: number | undefined;
  let otherCpuPct = 0;
  const startTimer = setTimeout(() => {
    cpuStart = process.cpuUsage();
    serverStart = serverPid === undefined ? undefined : cpuTicks(serverPid);
    systemStart = systemBusyTicks();
    tCpuStart = performance.now();
  }, timing.warmupMs);
  const endTimer = setTimeout(
    () => {
      const elapsedMs = performance.now() - tCpuStart;
      const cpu = process.cpuUsage(cpuStart);
      const toPct = (ticks: number) => ((ticks / clockTicks()) * 1000 * 100) / elapsedMs;
      clientCpuPct = ((cpu.user + cpu.system) / 1000 / elapsedMs) * 100;
      if (serverPid !== undefined && serverStart !== undefined) {
        serverCpuPct = toPct(cpuTicks(serverPid) - serverStart);
      }
      otherCpuPct = Math.max(0, toPct(systemBusyTicks() - systemStart) - clientCpuPct - (serverCpuPct ?? 0));
    },
    timing.warmupMs + timing.windowMs * timing.windows,
  );

  const worker = async (index: number): Promise<void> => {
    while (!stop && performance.now() < end) {
      const t0 = performance.now();
      try {
        await operation(index);
      } catch (error) {
        errors += 1;
        if (errorSamples.length < 5) errorSamples.push((error as Error).message);
        if (errors >= maxErrors) stop = true;
        continue;
      }
      const t1 = performance.now();
      allOps += 1;
      if (t1 >= measureStart && t1 < end) {
        const w = Math.floor((t1 - measureStart) / timing.windowMs);
        counts[w] = (counts[w] ?? 0) + 1;
        latencies.push(t1 - t0);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, i) => worker(i)));
  if (stop) {
    clearTimeout(startTimer);
    clearTimeout(endTimer);
  } else {
    // The end timer fires at `end`; make sure it has run before reading its results.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, end - performance.now()) + 5));
  }
  return {
    concurrency,
    perWindow: counts.map((c) => (c * 1000) / timing.windowMs),
    latencies: Float64Array.from(latencies).sort(),
    errors,
    errorSamples,
    clientCpuPct,
    serverCpuPct,
    otherCpuPct,
    allOps,
    aborted: stop,
  };
}

export interface SyncResult {
  perWindow: number[];
  latencies: Float64Array;
  /** CPU used by this process while this ran (warm-up included); below 100% = waiting (fsync). */
  selfCpuPct: number;
  /** CPU used by every other process while this ran (warm-up included). */
  otherCpuPct: number;
}

/** Calls `fn` back to back on this thread; per-window rates and per-call latencies (ms). */
export function measureSync(timing: Timing, fn: () => void): SyncResult {
  const start = performance.now();
  const measureStart = start + timing.warmupMs;
  const end = measureStart + timing.windowMs * timing.windows;
  const counts = new Array<number>(timing.windows).fill(0);
  const latencies: number[] = [];
  const cpuStart = process.cpuUsage();
  const systemStart = systemBusyTicks();
  for (;;) {
    const t0 = performance.now();
    fn();
    const t1 = performance.now();
    if (t1 >= end) break;
    if (t1 >= measureStart) {
      const w = Math.floor((t1 - measureStart) / timing.windowMs);
      counts[w] = (counts[w] ?? 0) + 1;
      latencies.push(t1 - t0);
    }
  }
  const elapsedMs = performance.now() - start;
  const cpu = process.cpuUsage(cpuStart);
  const systemPct = (((systemBusyTicks() - systemStart) / clockTicks()) * 1000 * 100) / elapsedMs;
  const selfCpuPct = ((cpu.user + cpu.system) / 1000 / elapsedMs) * 100;
  return {
    perWindow: counts.map((c) => (c * 1000) / timing.windowMs),
    latencies: Float64Array.from(latencies).sort(),
    selfCpuPct,
    otherCpuPct: Math.max(0, systemPct - selfCpuPct),
  };
}

/** Busy (non-idle, non-iowait) clock ticks of all CPUs since boot, from /proc/stat. */
export function systemBusyTicks(): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
    return (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0);
  } catch {
    return 0;
  }
}

/** CPU used by all processes over `durationMs` (100% = one core), e.g. before a run starts. */
export async function machineLoad(durationMs: number): Promise<number> {
  const start = systemBusyTicks();
  const cpuStart = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((resolve) => setTimeout(resolve, durationMs));
  const elapsedMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpuStart);
  const all = (((systemBusyTicks() - start) / clockTicks()) * 1000 * 100) / elapsedMs;
  return Math.max(0, all - ((cpu.user + cpu.system) / 1000 / elapsedMs) * 100);
}

let ticksPerSecond: number | undefined;

export function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** utime + stime of a process (all its threads), in clock ticks; 0 when it cannot be read. */
export function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of stat(5); the slice starts at field 3.
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function int(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a';
}

export function ms(x: number): string {
  if (!Number.isFinite(x)) return 'n/a';
  return `${x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0)} ms`;
}

export function pct(x: number | undefined): string {
  return x === undefined || !Number.isFinite(x) ? 'n/a' : `${Math.round(x)}%`;
}

/** `1,234 req/s (1,260 → 1,234 → 1,200)`: the median window, then every window in order. */
export function rate(perWindow: number[], unit: string): string {
  return `${int(median(perWindow))} ${unit} (${perWindow.map(int).join(' → ')})`;
}
