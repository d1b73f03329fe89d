/**
 * `npm run bench:gateway`: the LLM gateway's added latency (issue #7 item 6; aim: p50 < 1 ms,
 * p99 < 5 ms added, redaction on). Three child processes: the fake OpenAI-compatible provider of
 * the tests, a Zhifu server (gateway-server.ts) and, when it is installed, Portkey's open-source
 * gateway (`@portkey-ai/gateway`, run with `--headless`) pointed at the same fake provider.
 *
 * One client (this process, keep-alive, one request at a time) calls, round-robin in blocks so
 * machine noise spreads over every target:
 *   direct        the fake provider itself — the baseline;
 *   zhifu         the gateway, domestic provider (auth, limits, routing, log, metering);
 *   zhifu+redact  the gateway, foreign provider: identifiers stripped and restored on every call;
 *   portkey       Portkey's gateway (custom host = the fake provider);
 * and the same for streams (time to the end of the stream). "Added" is the target's percentile
 * minus the baseline's percentile in the same run.
 *
 * Environment: BENCH_ROUNDS (10), BENCH_BLOCK (200 requests per target per round),
 * PORTKEY_GATEWAY (path to @portkey-ai/gateway's build/start-server.js; default: from node_modules).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.ts';

const rounds = Number(process.env.BENCH_ROUNDS ?? 10);
const block = Number(process.env.BENCH_BLOCK ?? 200);
const here = dirname(fileURLToPath(import.meta.url));
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

const prompt =
  'Refund order for payer 13812345678 (mail li.lei@example.cn), card 6222 0212 3456 7890 128, ID 11010519491231002X: 20 yuan.';

function child(
  args: string[],
  env: Record<string, string> = {},
): { proc: ChildProcess; line: Promise<string> } {
  const proc = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
  children.push(proc);
  const line = new Promise<string>((resolve, reject) => {
    let buffer = '';
    proc.stdout!.on('data', (d: Buffer) => {
      buffer += d.toString();
      const nl = buffer.indexOf('\n');
      if (nl >= 0) resolve(buffer.slice(0, nl));
    });
    proc.on('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}`)));
    proc.on('error', reject);
  });
  return { proc, line };
}

function post(url: string, headers: Record<string, string>, body: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          ...headers,
        },
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => {
          const text = Buffer.concat(parts).toString('utf8');
          if (res.statusCode !== 200)
            reject(new Error(`${url} answered ${res.statusCode}: ${text.slice(0, 300)}`));
          else resolve(text);
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function waitForPort(port: number, ms: number): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/' }, (res) => {
        res.resume();
        resolve(true);
      });
      req.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listens on ${port}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

interface Target {
  name: string;
  /** The process answering this target (the fake provider for direct calls, else the gateway), for CPU time per call. */
  pid?: number | undefined;
  cpu_ms: number;
  baseline: string;
  url: string;
  headers: Record<string, string>;
  body: string;
  check: (text: string) => void;
  samples: number[];
}

function chatBody(model: string, stream: boolean): string {
  return JSON.stringify({
    model,
    messages: [{ role: 'user', content: prompt }],
    ...(stream ? { stream: true } : {}),
  });
}

const answerIsPrompt = (text: string) => {
  const content = JSON.parse(text).choices[0].message.content;
  if (content !== prompt) throw new Error(`unexpected answer: ${content}`);
};
const streamIsPrompt = (text: string) => {
  let content = '';
  for (const line of text.split('\n')) {
    if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
    content += JSON.parse(line.slice(6)).choices?.[0]?.delta?.content ?? '';
  }
  if (content !== prompt || !text.includes('data: [DONE]')) throw new Error(`unexpected stream: ${content}`);
};

/** CPU time (user + system) of a process so far, in ms, from /proc (Linux; 10 ms ticks). */
function cpuMs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return 0;
  }
}

const pct = (sorted: number[], p: number) => sorted[Math.floor(p * (sorted.length - 1))]!;
const f2 = (n: number) => n.toFixed(3);

async function main() {
  const fake = child(['--import', 'tsx', join(here, 'gateway-fake-provider.ts')]);
  const upstream = await fake.line;
  const zport = await freePort();
  // BENCH_PROFILE=<dir>: a V8 CPU profile of the Zhifu server process, written when it exits.
  const profile = process.env.BENCH_PROFILE
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`]
    : [];
  const zhifu = child([
    ...profile,
    '--import',
    'tsx',
    join(here, 'gateway-server.ts'),
    upstream,
    String(zport),
  ]);
  const { url: zurl, key } = JSON.parse(await zhifu.line) as { url: string; key: string };
  const procs: ChildProcess[] = [fake.proc, zhifu.proc];

  const portkeyPath =
    process.env.PORTKEY_GATEWAY ??
    join(here, '..', 'node_modules', '@portkey-ai', 'gateway', 'build', 'start-server.js');
  let portkeyNote = '';
  let portkeyUrl: string | undefined;
  let portkeyPid: number | undefined;
  if (existsSync(portkeyPath)) {
    const pport = await freePort();
    const pk = spawn(process.execPath, [portkeyPath, `--port=${pport}`, '--headless'], { stdio: 'ignore' });
    children.push(pk);
    portkeyPid = pk.pid;
    procs.push(pk);
    await waitForPort(pport, 30_000);
    portkeyUrl = `http://127.0.0.1:${pport}/v1/chat/completions`;
  } else {
    portkeyNote = `@portkey-ai/gateway not found at ${portkeyPath}: install it (npm install --no-save @portkey-ai/gateway) or set PORTKEY_GATEWAY`;
  }

  const gw = { authorization: `Bearer ${key}` };
  const targets: Target[] = [
    {
      name: 'direct',
      pid: fake.proc.pid,
      baseline: 'direct',
      url: `${upstream}/chat/completions`,
      headers: {},
      body: chatBody('bench', false),
      check: answerIsPrompt,
      samples: [],
      cpu_ms: 0,
    },
    {
      name: 'zhifu',
      pid: zhifu.proc.pid,
      baseline: 'direct',
      url: `${zurl}/v1/chat/completions`,
      headers: gw,
      body: chatBody('bench-dom', false),
      check: answerIsPrompt,
      samples: [],
      cpu_ms: 0,
    },
    {
      name: 'zhifu+redact',
      pid: zhifu.proc.pid,
      baseline: 'direct',
      url: `${zurl}/v1/chat/completions`,
      headers: gw,
      body: chatBody('bench-far', false),
      check: answerIsPrompt,
      samples: [],
      cpu_ms: 0,
    },
    {
      name: 'direct stream',
      pid: fake.proc.pid,
      baseline: 'direct stream',
      url: `${upstream}/chat/completions`,
      headers: {},
      body: chatBody('bench', true),
      check: streamIsPrompt,
      samples: [],
      cpu_ms: 0,
    },
    {
      name: 'zhifu+redact stream',
      pid: zhifu.proc.pid,
      baseline: 'direct stream',
      url: `${zurl}/v1/chat/completions`,
      headers: gw,
      body: chatBody('bench-far', true),
      check: streamIsPrompt,
      samples: [],
      cpu_ms: 0,
    },
  ];
  if (portkeyUrl) {
    const pkHeaders = {
      authorization: 'Bearer sk-bench',
      'x-portkey-provider': 'openai',
      'x-portkey-custom-host': upstream,
    };
    targets.push(
      {
        name: 'portkey',
        pid: portkeyPid,
        baseline: 'direct',
        url: portkeyUrl,
        headers: pkHeaders,
        body: chatBody('bench', false),
        check: answerIsPrompt,
        samples: [],
        cpu_ms: 0,
      },
      {
        name: 'portkey stream',
        pid: portkeyPid,
        baseline: 'direct stream',
        url: portkeyUrl,
        headers: pkHeaders,
        body: chatBody('bench', true),
        check: streamIsPrompt,
        samples: [],
        cpu_ms: 0,
      },
    );
  }

  // Warm-up (JIT, connections, the key and eligibility caches), with a correctness check of each target.
  const failed: string[] = [];
  for (const t of [...targets]) {
    process.stderr.write(`warm-up ${t.name}\n`);
    try {
      t.check(await post(t.url, t.headers, t.body));
    } catch (error) {
      // A target that cannot answer correctly is reported, not measured.
      failed.push(`${t.name}: ${(error as Error).message.slice(0, 200)}`);
      targets.splice(targets.indexOf(t), 1);
      continue;
    }
    for (let i = 0; i < 200; i++) await post(t.url, t.headers, t.body);
  }
  for (let r = 0; r < rounds; r++) {
    process.stderr.write(`round ${r + 1}/${rounds}\n`);
    const order = r % 2 === 0 ? targets : [...targets].reverse();
    for (const t of order) {
      const cpu0 = cpuMs(t.pid);
      for (let i = 0; i < block; i++) {
        const start = process.hrtime.bigint();
        await post(t.url, t.headers, t.body);
        t.samples.push(Number(process.hrtime.bigint() - start) / 1e6);
      }
      t.cpu_ms += cpuMs(t.pid) - cpu0;
    }
  }
  for (const t of targets) t.check(await post(t.url, t.headers, t.body));

  const stats = new Map(
    targets.map((t) => {
      const s = [...t.samples].sort((a, b) => a - b);
      return [t.name, { p50: pct(s, 0.5), p99: pct(s, 0.99), mean: s.reduce((a, b) => a + b, 0) / s.length }];
    }),
  );
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  console.log(
    `\nbench:gateway — ${new Date().toISOString()} — ${os.cpus().length} × ${cpu}, Node ${process.version}`,
  );
  console.log(
    `${rounds} rounds × ${block} sequential requests per target (keep-alive, one at a time); ms per request\n`,
  );
  console.log(
    '| target | p50 | p99 | mean | added p50 | added p99 | p50 ratio | CPU per call of the answering process |',
  );
  console.log('|---|---|---|---|---|---|---|---|');
  for (const t of targets) {
    const s = stats.get(t.name)!;
    const b = stats.get(t.baseline)!;
    const base = t.name === t.baseline;
    console.log(
      `| ${t.name} | ${f2(s.p50)} | ${f2(s.p99)} | ${f2(s.mean)} | ${base ? '(baseline)' : f2(s.p50 - b.p50)} | ${base ? '' : f2(s.p99 - b.p99)} | ${base ? '' : `${(s.p50 / b.p50).toFixed(2)}×`} | ${t.pid === undefined ? '' : `${Math.round((t.cpu_ms * 1000) / t.samples.length)} µs`} |`,
    );
  }
  const z = stats.get('zhifu+redact')!;
  const d = stats.get('direct')!;
  console.log(
    `\nAim (redaction on): added p50 < 1 ms → ${f2(z.p50 - d.p50)} ms ${z.p50 - d.p50 < 1 ? 'MET' : 'NOT MET'}; added p99 < 5 ms → ${f2(z.p99 - d.p99)} ms ${z.p99 - d.p99 < 5 ? 'MET' : 'NOT MET'}`,
  );
  if (portkeyNote) console.log(`\nPortkey: ${portkeyNote}`);
  for (const f of failed) console.log(`\nNot measured (wrong answer on the warm-up call): ${f}`);
  for (const p of procs) p.kill('SIGTERM');
  agent.destroy();
  await new Promise((r) => setTimeout(r, 1000));
}

const children: ChildProcess[] = [];
main()
  .catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  });
