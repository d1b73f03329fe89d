/**
 * `zhifu simulate`: the seeded traffic simulator (@zhifu/simulator, docs/simulator.md) from the
 * command line. `--out` writes a labelled JSON Lines data set (no server needed; the same seed gives
 * a byte-identical file). `--drive` replays the simulated payments and refunds against a running
 * server as Fraud Shield assessments, through the SDK's HMAC-signed ZhifuClient, and feeds the
 * simulator's labels back so backtests have ground truth.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { resolve } from 'node:path';
import { ZhifuApiError, ZhifuClient, ZhifuConnectionError, ZhifuError } from '@zhifu/sdk';
import {
  defaultParams,
  mergeParams,
  PATTERNS,
  type SimEvent,
  type SimParams,
  shiftedPreset,
  simulate,
  trainingPreset,
  writeDataset,
} from '@zhifu/simulator';
import { helpOption, noExtra, nonEmpty, out, parse, UsageError } from '../args.ts';
import { baseUrlOf, type Credentials, demoCredentialsFile, readCredentials } from '../credentials.ts';

const command = 'zhifu simulate';
const help = `${command} --help`;

export const simulateHelp = `Usage: zhifu simulate --out <file.jsonl> [options]
       zhifu simulate --drive [options]

Runs the seeded traffic simulator (docs/simulator.md): payers with habits, merchants in ten MCCs
and six planted fraud patterns, every event labelled. The same preset, seed and sizes always give
the same events.

  --out <file>    Write the events as JSON Lines (one SimEvent per line; parent directories are
                  created) and print a summary: events, fraud, fraud by pattern, the file's SHA-256.
                  No server needed. The same options give a byte-identical file.
  --drive         Send the events, in time order, to a running server as Fraud Shield assessments
                  (POST /v1/risk/assessments, signed with the merchant's HMAC key) and print the
                  throughput, latency and a confusion table of suggested_action vs label.

Simulation options (both modes):
  --preset <name>       default | training | shifted (default: default). training is the
                        shipped model's training distribution (seed 20250301); shifted is the
                        drifted evaluation set (seed 20250401, stealthier fraud); default is
                        the training parameters with seed 1
  --seed <n>            Override the preset's seed (integer 0–4294967295)
  --days <n>            Length of the simulated window in days (1–366; presets: 30)
  --payers <n>          Legitimate payers (1–1000000; presets: 5000); fraud accounts come on top
  --merchants <n>       Simulated merchants (1–100000; presets: 600)

Driving options (--drive only):
  --credentials <file>  Merchant credentials JSON (mchid, appid, hmac_key, optional base_url),
                        e.g. from 'zhifu merchant create --json'. Default:
                        <ZHIFU_DATA_DIR or ./data>/demo-credentials.json (written by zhifu serve)
  --base-url <url>      Server base URL. Default: $ZHIFU_BASE_URL, else base_url in the
                        credentials, else http://127.0.0.1:<PORT or 8080>
  --events <n>          Stop after n events (default 2000; 0 = the whole simulated window)
  --rate <n>            At most n events per second (default: as fast as the server answers)
  --concurrency <n>     Requests in flight (1–256, default 8); one payer's events stay in order
  --label-feedback      Post the simulator's label of every event to POST /v1/risk/labels
                        (fraud → fraud, legit → legitimate) so backtests have labels (default)
  --no-label-feedback   Do not post labels

Other options:
  --json          Print the summary as one JSON object on stdout
  -h, --help      Show this help

Driving creates, idempotently, one sandbox payer per simulated payer it meets (POST
/sandbox/v1/payers with external_ref = the simulator's payer id, the account dated back to the
simulated account age) under the credentials' appid, so the server needs the sandbox (the
default). Progress goes to stderr about once a second; Ctrl-C stops early and still prints the
summary. Exit code 1 if any request failed.

Examples:
  zhifu simulate --out data/sim/training.jsonl --preset training
  zhifu simulate --out /tmp/small.jsonl --seed 7 --days 7 --payers 1000
  zhifu simulate --drive --events 5000 --rate 200
  zhifu simulate --drive --preset shifted --credentials merchant.json --no-label-feedback
`;

const presets: Record<string, SimParams> = {
  default: defaultParams,
  training: trainingPreset,
  shifted: shiftedPreset,
};

const driveOnly = [
  'credentials',
  'base-url',
  'events',
  'rate',
  'concurrency',
  'label-feedback',
  'no-label-feedback',
] as const;

export async function simulateCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(command, {
    args: argv,
    allowPositionals: true,
    options: {
      ...helpOption,
      out: { type: 'string' },
      drive: { type: 'boolean' },
      preset: { type: 'string' },
      seed: { type: 'string' },
      days: { type: 'string' },
      payers: { type: 'string' },
      merchants: { type: 'string' },
      credentials: { type: 'string' },
      'base-url': { type: 'string' },
      events: { type: 'string' },
      rate: { type: 'string' },
      concurrency: { type: 'string' },
      'label-feedback': { type: 'boolean' },
      'no-label-feedback': { type: 'boolean' },
      json: { type: 'boolean' },
    },
  });
  if (values.help) {
    out(simulateHelp);
    return 0;
  }
  noExtra(positionals, 0, command);
  const file = nonEmpty(values.out, '--out', command);
  if (file === undefined && !values.drive) throw new UsageError('give --out <file> or --drive', help);
  if (file !== undefined && values.drive)
    throw new UsageError('give either --out or --drive, not both', help);
  if (file !== undefined) {
    const extra = driveOnly.find((name) => values[name] !== undefined);
    if (extra !== undefined) throw new UsageError(`--${extra} needs --drive`, help);
  }
  if (values['label-feedback'] && values['no-label-feedback']) {
    throw new UsageError('give either --label-feedback or --no-label-feedback', help);
  }

  const presetName = nonEmpty(values.preset, '--preset', command) ?? 'default';
  const base = presets[presetName];
  if (base === undefined) {
    throw new UsageError(`--preset must be default, training or shifted, got "${presetName}"`, help);
  }
  const params = mergeParams(base, {
    seed: integer(values.seed, '--seed', 0, 4_294_967_295),
    days: integer(values.days, '--days', 1, 366),
    payers: integer(values.payers, '--payers', 1, 1_000_000),
    merchants: integer(values.merchants, '--merchants', 1, 100_000),
  });
  const run = { preset: presetName, params };

  if (file !== undefined) return writeMode(run, file, values.json === true);

  // Every option is checked before the credentials are read: a bad command line is exit 2.
  const baseUrlFlag = nonEmpty(values['base-url'], '--base-url', command);
  const credentialsFlag = nonEmpty(values.credentials, '--credentials', command);
  const drive = {
    events: integer(values.events, '--events', 0, 1_000_000_000) ?? 2000,
    rate: values.rate === undefined ? undefined : positiveNumber(values.rate, '--rate'),
    concurrency: integer(values.concurrency, '--concurrency', 1, 256) ?? 8,
    labelFeedback: !values['no-label-feedback'],
    json: values.json === true,
  };
  const credentialsFile = credentialsFlag === undefined ? demoCredentialsFile() : resolve(credentialsFlag);
  const credentials = readCredentials(credentialsFile, true);
  const baseUrl = baseUrlFlag ?? baseUrlOf(process.env, credentials.base_url);
  return driveMode(run, { ...drive, baseUrl, credentials });
}

function integer(value: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = /^\d{1,16}$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`${flag} must be an integer from ${min} to ${max}, got "${value}"`, help);
  }
  return n;
}

function positiveNumber(value: string, flag: string): number {
  const n = /^\d+(\.\d+)?$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isFinite(n) || n <= 0)
    throw new UsageError(`${flag} must be a positive number, got "${value}"`, help);
  return n;
}

interface Run {
  preset: string;
  params: SimParams;
}

const describeRun = (r: Run) =>
  `preset ${r.preset}, seed ${r.params.seed}, ${r.params.days} days, ${r.params.payers} payers, ${r.params.merchants} merchants`;

const percent = (part: number, whole: number) =>
  whole === 0 ? '–' : `${((100 * part) / whole).toFixed(1)} %`;

// ------------------------------------------------------------------------------------------------
// --out: a labelled data set
// ------------------------------------------------------------------------------------------------

function writeMode(run: Run, file: string, json: boolean): number {
  const started = performance.now();
  const summary = writeDataset(run.params, file);
  const ms = Math.round(performance.now() - started);
  const sha256 = sha256Of(file);
  if (json) {
    out(
      JSON.stringify({
        mode: 'out',
        out: file,
        preset: run.preset,
        seed: run.params.seed,
        days: run.params.days,
        payers: run.params.payers,
        merchants: run.params.merchants,
        events: summary.events,
        fraud: summary.fraud,
        by_pattern: summary.byPattern,
        sha256,
        ms,
      }),
    );
    return 0;
  }
  const width = Math.max(...PATTERNS.map((p) => p.length));
  const lines = [
    `Wrote ${summary.events} events to ${file} in ${(ms / 1000).toFixed(1)} s`,
    `  ${describeRun(run)}`,
    `  fraud    ${summary.fraud} (${percent(summary.fraud, summary.events)})`,
    ...PATTERNS.map((p) => `    ${p.padEnd(width)}  ${summary.byPattern[p] ?? 0}`),
    `  sha256   ${sha256}`,
  ];
  out(lines.join('\n'));
  return 0;
}

/** SHA-256 of a file, read in chunks (data sets can be larger than memory). */
function sha256Of(file: string): string {
  const hash = createHash('sha256');
  const chunk = Buffer.alloc(1 << 20);
  const fd = openSync(file, 'r');
  try {
    for (let n = readSync(fd, chunk); n > 0; n = readSync(fd, chunk)) hash.update(chunk.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

// ------------------------------------------------------------------------------------------------
// --drive: assessments against a running server
// ------------------------------------------------------------------------------------------------

interface DriveOptions {
  baseUrl: string;
  credentials: Credentials & { appid: string };
  /** 0: every event of the window. */
  events: number;
  rate: number | undefined;
  concurrency: number;
  labelFeedback: boolean;
  json: boolean;
}

type Action = 'block' | 'review' | 'approve';
const actions: readonly Action[] = ['block', 'review', 'approve'];

interface Assessment {
  assessment_id: string;
  suggested_action: Action;
}

interface CreatedPayer {
  openid: string;
  instruments: { id: string; kind: string }[];
}

interface Sandboxed {
  openid: string;
  instrumentId: string | undefined;
}

/** The assessment request for one simulated event (see docs/simulator.md for the mapping). */
export function assessmentOf(
  ev: SimEvent,
  payer: Sandboxed,
  originalTotal: number | undefined,
): Record<string, unknown> {
  return {
    type: ev.type,
    payer: { openid: payer.openid },
    amount: {
      total: ev.amount_fen,
      currency: 'CNY',
      ...(ev.type === 'refund' && originalTotal !== undefined ? { original_total: originalTotal } : {}),
    },
    device_fingerprint: ev.device_id,
    ip: ev.ip,
    ip_country: ev.ip_country,
    ...(ev.ip_region === '' ? {} : { ip_region: ev.ip_region }),
    ...(payer.instrumentId === undefined ? {} : { instrument_id: payer.instrumentId }),
    mcc: ev.mcc,
    out_trade_no: ev.refund_of ?? ev.id,
    ...(ev.promotion_id === null ? {} : { promotion_id: ev.promotion_id }),
  };
}

/** Nearest-rank percentile of an ascending array (0 when empty). */
function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const errorKey = (error: unknown): string =>
  error instanceof ZhifuError ? error.code || `HTTP ${error.httpStatus ?? '?'}` : 'internal';

/**
 * Errors that no later request can avoid: wrong credentials, no sandbox, a server that was never
 * reached. Other errors are counted and the run goes on.
 */
function isFatal(error: unknown, anySuccess: boolean): boolean {
  if (!(error instanceof ZhifuError)) return true;
  if (error instanceof ZhifuConnectionError) return !anySuccess;
  return ['SIGN_ERROR', 'MCH_NOT_EXISTS', 'APPID_MCHID_NOT_MATCH', 'signature_invalid'].includes(error.code);
}

const consecutive_errors_max = 50;
const progress_interval_ms = 1_000;

async function driveMode(run: Run, o: DriveOptions): Promise<number> {
  const { credentials } = o;
  let merchant: ZhifuClient;
  let sandbox: ZhifuClient;
  try {
    const auth = { scheme: 'hmac', hmacKey: credentials.hmac_key } as const;
    merchant = new ZhifuClient({ baseUrl: o.baseUrl, mchid: credentials.mchid, auth });
    // The sandbox endpoints are not merchant endpoints: their answers are not signed.
    sandbox = new ZhifuClient({ baseUrl: o.baseUrl, mchid: credentials.mchid, auth, verifyResponses: false });
  } catch (error) {
    throw new UsageError(
      `invalid base URL "${o.baseUrl}": ${error instanceof Error ? error.message : String(error)}`,
      help,
    );
  }

  const payers = new Map<string, Promise<Sandboxed>>();
  const ensurePayer = (ev: SimEvent): Promise<Sandboxed> => {
    let pending = payers.get(ev.payer_id);
    if (pending === undefined) {
      const ageDays = Math.min(36_500, Math.max(0, (ev.ts - ev.payer_created_ts) / 86_400_000));
      pending = sandbox
        .request<CreatedPayer>('POST', '/sandbox/v1/payers', {
          appid: credentials.appid,
          name: `Sim ${ev.payer_id}`.slice(0, 64),
          external_ref: ev.payer_id.slice(0, 64),
          account_age_days: Math.round(ageDays * 10_000) / 10_000,
        })
        .then((p) => ({
          openid: p.openid,
          instrumentId: p.instruments.find((i) => i.kind === 'balance')?.id,
        }))
        .catch((error: unknown) => {
          payers.delete(ev.payer_id);
          if (error instanceof ZhifuApiError && error.httpStatus === 404 && error.code === '') {
            throw new Error(
              `${o.baseUrl} has no sandbox (POST /sandbox/v1/payers answered 404); --drive needs a server with the sandbox enabled`,
            );
          }
          throw error;
        });
      payers.set(ev.payer_id, pending);
    }
    return pending;
  };

  const confusion: Record<Action, { fraud: number; legit: number }> = {
    block: { fraud: 0, legit: 0 },
    review: { fraud: 0, legit: 0 },
    approve: { fraud: 0, legit: 0 },
  };
  const latencies: number[] = [];
  const errorCounts = new Map<string, number>();
  let firstError: unknown;
  let fatal: unknown;
  let consecutiveErrors = 0;
  let succeeded = 0;
  let labels = 0;
  let sent = 0;
  let payments = 0;
  let refunds = 0;
  let fraud = 0;
  let stopped = false;

  const fail = (error: unknown): void => {
    const key = errorKey(error);
    errorCounts.set(key, (errorCounts.get(key) ?? 0) + 1);
    firstError ??= error;
    consecutiveErrors++;
    if (
      fatal === undefined &&
      (isFatal(error, succeeded > 0) || consecutiveErrors >= consecutive_errors_max)
    ) {
      fatal = error;
      stopped = true;
    }
  };

  const processEvent = async (ev: SimEvent, originalTotal: number | undefined): Promise<void> => {
    try {
      const payer = await ensurePayer(ev);
      const startedAt = performance.now();
      // Not idempotent: the SDK sends it again only after a 429 FREQUENCY_LIMITED (refused
      // unread, e.g. by the server's rate limit), never after a lost answer.
      const assessment = await merchant.request<Assessment>(
        'POST',
        '/v1/risk/assessments',
        assessmentOf(ev, payer, originalTotal),
      );
      latencies.push(performance.now() - startedAt);
      const cell = confusion[assessment.suggested_action];
      if (cell) cell[ev.label]++;
      succeeded++;
      consecutiveErrors = 0;
      if (o.labelFeedback) {
        await merchant.request('POST', '/v1/risk/labels', {
          assessment_id: assessment.assessment_id,
          label: ev.label === 'fraud' ? 'fraud' : 'legitimate',
        });
        labels++;
      }
    } catch (error) {
      fail(error);
    }
  };

  // Concurrency slots, and a chain per payer so that one payer's events reach the server in order.
  let inFlight = 0;
  const waiters: (() => void)[] = [];
  const slot = async (): Promise<void> => {
    while (inFlight >= o.concurrency) await new Promise<void>((r) => waiters.push(r));
    inFlight++;
  };
  const release = (): void => {
    inFlight--;
    waiters.shift()?.();
  };
  const tails = new Map<string, Promise<void>>();
  const running = new Set<Promise<void>>();

  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  const progress = setInterval(() => {
    const sorted = [...latencies].sort((a, b) => a - b);
    const total = o.events === 0 ? '' : `/${o.events}`;
    process.stderr.write(
      `simulate: ${sent}${total} events, ${(latencies.length / elapsed()).toFixed(0)} assessments/s, ` +
        `p50 ${percentile(sorted, 50).toFixed(1)} ms, p99 ${percentile(sorted, 99).toFixed(1)} ms, ` +
        `${payers.size} payers, ${[...errorCounts.values()].reduce((a, b) => a + b, 0)} errors\n`,
    );
  }, progress_interval_ms);
  progress.unref();
  const onSigint = () => {
    stopped = true;
    process.stderr.write('simulate: stopping (Ctrl-C again to abort)\n');
  };
  process.once('SIGINT', onSigint);

  const amounts = new Map<string, number>();
  try {
    for (const ev of simulate(run.params)) {
      if (stopped || (o.events > 0 && sent >= o.events)) break;
      if (o.rate !== undefined) {
        const due = started + (sent * 1000) / o.rate;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      await slot();
      if (stopped) {
        release();
        break;
      }
      sent++;
      if (ev.type === 'payment') {
        payments++;
        amounts.set(ev.id, ev.amount_fen);
      } else refunds++;
      if (ev.label === 'fraud') fraud++;
      const originalTotal = ev.refund_of === null ? undefined : amounts.get(ev.refund_of);
      const previous = tails.get(ev.payer_id);
      const job = (previous ?? Promise.resolve()).then(() => processEvent(ev, originalTotal));
      tails.set(ev.payer_id, job);
      running.add(job);
      void job.finally(() => {
        release();
        running.delete(job);
        if (tails.get(ev.payer_id) === job) tails.delete(ev.payer_id);
      });
    }
    await Promise.all(running);
  } finally {
    clearInterval(progress);
    process.removeListener('SIGINT', onSigint);
  }

  const seconds = elapsed();
  const sorted = latencies.sort((a, b) => a - b);
  const errors = [...errorCounts.values()].reduce((a, b) => a + b, 0);
  const summary = {
    mode: 'drive',
    base_url: o.baseUrl,
    mchid: credentials.mchid,
    appid: credentials.appid,
    preset: run.preset,
    seed: run.params.seed,
    days: run.params.days,
    payers: run.params.payers,
    merchants: run.params.merchants,
    events: sent,
    payments,
    refunds,
    fraud,
    assessments: latencies.length,
    labels,
    sandbox_payers: payers.size,
    errors,
    error_codes: Object.fromEntries(errorCounts),
    seconds: Number(seconds.toFixed(3)),
    assessments_per_s: Number((latencies.length / seconds).toFixed(1)),
    latency_ms: {
      p50: Number(percentile(sorted, 50).toFixed(2)),
      p99: Number(percentile(sorted, 99).toFixed(2)),
    },
    confusion,
  };
  if (o.json) out(JSON.stringify(summary));
  else out(describeDrive(run, o, summary, firstError));
  if (fatal !== undefined) throw fatal;
  return errors === 0 ? 0 : 1;
}

function describeDrive(
  run: Run,
  o: DriveOptions,
  s: {
    events: number;
    payments: number;
    refunds: number;
    fraud: number;
    assessments: number;
    labels: number;
    sandbox_payers: number;
    errors: number;
    error_codes: Record<string, number>;
    seconds: number;
    assessments_per_s: number;
    latency_ms: { p50: number; p99: number };
    confusion: Record<Action, { fraud: number; legit: number }>;
  },
  firstError: unknown,
): string {
  const c = s.confusion;
  const caught = c.block.fraud + c.review.fraud;
  const fraudTotal = caught + c.approve.fraud;
  const flagged = c.block.legit + c.review.legit;
  const legitTotal = flagged + c.approve.legit;
  const codes = Object.entries(s.error_codes)
    .map(([code, n]) => `${code} ×${n}`)
    .join(', ');
  const lines = [
    `Drove ${o.baseUrl} as merchant ${o.credentials.mchid} (appid ${o.credentials.appid})`,
    `  simulation       ${describeRun(run)}`,
    `  events sent      ${s.events} (${s.payments} payments, ${s.refunds} refunds; ${s.fraud} fraud)`,
    `  assessments      ${s.assessments} in ${s.seconds.toFixed(1)} s = ${s.assessments_per_s} assessments/s`,
    `  latency          p50 ${s.latency_ms.p50.toFixed(1)} ms, p99 ${s.latency_ms.p99.toFixed(1)} ms`,
    `  sandbox payers   ${s.sandbox_payers} (created or found)`,
    `  labels posted    ${o.labelFeedback ? s.labels : 'none (--no-label-feedback)'}`,
    `  errors           ${s.errors}${codes === '' ? '' : ` (${codes})`}`,
  ];
  if (firstError !== undefined) {
    const message = firstError instanceof Error ? firstError.message : String(firstError);
    lines.push(`  first error      ${errorKey(firstError)}: ${message}`);
  }
  lines.push(
    '',
    '  suggested_action     fraud     legit',
    ...actions.map(
      (a) => `  ${a.padEnd(16)} ${String(c[a].fraud).padStart(9)} ${String(c[a].legit).padStart(9)}`,
    ),
    '',
    `  fraud flagged (block or review): ${caught} of ${fraudTotal} (${percent(caught, fraudTotal)})`,
    `  legit flagged (block or review): ${flagged} of ${legitTotal} (${percent(flagged, legitTotal)})`,
  );
  return lines.join('\n');
}
