/**
 * `zhifu listen`: the merchant's event WebSocket (docs/notifications.md) on the command line,
 * through the SDK's NotificationClient: prints each event as it arrives, optionally answers
 * realtime decisions (with the Fraud Shield's suggestion, or whatever a local URL answers) and
 * forwards events to a local URL. Ctrl-C closes the connection cleanly.
 */
import { resolve } from 'node:path';
import type { DecisionAnswer, DecisionInfo, DecisionRequiredEvent, ZhifuEvent } from '@zhifu/sdk';
import { decisionAnswers, NotificationClient } from '@zhifu/sdk';
import { helpOption, noExtra, nonEmpty, out, parse, UsageError } from '../args.ts';
import { baseUrlOf, demoCredentialsFile, readCredentials } from '../credentials.ts';
import { yuan } from './sandbox.ts';

const command = 'zhifu listen';
const help = `${command} --help`;
/** The SDK's budget for an answer; the server's deadline is 500 ms after the event. */
const decisionTimeoutMs = 400;
/** A forwarded non-decision event waits at most this long for the local URL. */
const forwardTimeoutMs = 5_000;

export const listenHelp = `Usage: zhifu listen [options]

Connects to the merchant's event WebSocket (/v1/notifications/ws, handshake signed with the
merchant's HMAC key) and prints every event live, one line each: seq, type, out_trade_no,
amount, risk score and suggested action, decision state. Reconnects by itself and resumes
where it left off. Ctrl-C closes cleanly.

Realtime decisions (PUT /v1/notifications/settings {"decision_mode":"realtime"}) are answered
only with --auto-decide or --forward; otherwise another client (or the 500 ms deadline) decides.

Options:
  --credentials <file>  Merchant credentials JSON (mchid, hmac_key, optional base_url), as
                        written by 'zhifu merchant create --json'. Default:
                        <ZHIFU_DATA_DIR or ./data>/demo-credentials.json (written by zhifu serve)
  --base-url <url>      Server base URL. Default: $ZHIFU_BASE_URL, else base_url in the
                        credentials, else http://127.0.0.1:<PORT or 8080>
  --after-seq <n>       Resume after this sequence number (default: after the last one
                        acknowledged; 0 replays every stored event)
  --auto-decide         Answer payment.decision_required with the event's
                        risk.suggested_action (approve, review or block)
  --forward <url>       POST each event's JSON to this URL (e.g. your local webhook). For
                        payment.decision_required its answer's body {"decision": "approve" |
                        "review" | "block"} is the decision; no valid answer within ${decisionTimeoutMs} ms
                        gives the suggested action with --auto-decide, else "review"
  --json                Print each event as one line of JSON (status lines go to stderr)
  -h, --help            Show this help

Examples:
  zhifu listen --auto-decide
  zhifu listen --credentials merchant.json --forward http://127.0.0.1:3000/zhifu-events --json
`;

export async function listenCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(command, {
    args: argv,
    allowPositionals: true,
    options: {
      ...helpOption,
      credentials: { type: 'string' },
      'base-url': { type: 'string' },
      'after-seq': { type: 'string' },
      'auto-decide': { type: 'boolean' },
      forward: { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  if (values.help) {
    out(listenHelp);
    return 0;
  }
  noExtra(positionals, 0, command);
  const afterSeqFlag = nonEmpty(values['after-seq'], '--after-seq', command);
  let afterSeq: number | undefined;
  if (afterSeqFlag !== undefined) {
    afterSeq = /^\d{1,15}$/.test(afterSeqFlag) ? Number(afterSeqFlag) : Number.NaN;
    if (!Number.isSafeInteger(afterSeq)) {
      throw new UsageError(`--after-seq must be an integer ≥ 0, got "${afterSeqFlag}"`, help);
    }
  }
  const forward = nonEmpty(values.forward, '--forward', command);
  if (forward !== undefined && !/^https?:\/\/[^/]/i.test(forward)) {
    throw new UsageError(`--forward must be an http(s) URL, got "${forward}"`, help);
  }
  const baseUrlFlag = nonEmpty(values['base-url'], '--base-url', command);
  const credentialsFlag = nonEmpty(values.credentials, '--credentials', command);
  const autoDecide = values['auto-decide'] === true;
  const json = values.json === true;

  const credentials = readCredentials(
    credentialsFlag === undefined ? demoCredentialsFile() : resolve(credentialsFlag),
  );
  const baseUrl = baseUrlFlag ?? baseUrlOf(process.env, credentials.base_url);

  const status = (line: string) => process.stderr.write(`${line}\n`);
  const decisionLine = (i: DecisionInfo) =>
    i.answer === null
      ? `  ↳ ${i.event.id}: deadline already passed, not answered`
      : `  ↳ answered ${i.answer} for ${i.event.data.out_trade_no} (${describeSource(i.source, forward !== undefined)}, ${Math.round(i.elapsedMs)} ms)`;

  let client: NotificationClient;
  try {
    client = new NotificationClient({
      baseUrl,
      mchid: credentials.mchid,
      auth: { scheme: 'hmac', hmacKey: credentials.hmac_key },
      ...(afterSeq === undefined ? {} : { afterSeq }),
      decisionTimeoutMs,
      // No valid answer in time (a slow --forward target): the suggestion with --auto-decide.
      defaultDecision: (e: DecisionRequiredEvent) => fallbackOf(e, autoDecide),
      onEvent: async (e) => {
        out(json ? JSON.stringify(e) : describeEvent(e));
        if (forward !== undefined && e.type !== 'payment.decision_required') {
          const problem = await post(forward, e, forwardTimeoutMs).then(
            (r) => (r.ok ? undefined : `HTTP ${r.status}`),
            (error: unknown) => (error instanceof Error ? error.message : String(error)),
          );
          if (problem) status(`zhifu: forwarding seq ${e.seq} to ${forward} failed: ${problem}`);
        }
      },
      ...(autoDecide || forward !== undefined
        ? { onDecision: (e: DecisionRequiredEvent) => decide(e, forward, autoDecide) }
        : {}),
    });
  } catch (error) {
    if (error instanceof TypeError) throw new UsageError(error.message, help);
    throw error;
  }

  client.on('decision', (i) => (json ? status(decisionLine(i)) : out(decisionLine(i))));
  client.on('decision_result', (r) => {
    if (!r.applied) status(`  ↳ ${r.event_id}: not applied: ${r.code ?? ''} ${r.message ?? ''}`.trimEnd());
  });
  client.on('connected', (c) =>
    status(
      `Listening to ${baseUrl} as merchant ${credentials.mchid}: events after seq ${c.resumeAfterSeq}` +
        `${c.reconnects > 0 ? ` (reconnected)` : ''}${autoDecide ? ', auto-deciding' : ''}` +
        `${forward ? `, forwarding to ${forward}` : ''}. Ctrl-C to stop.`,
    ),
  );
  client.on('disconnected', (d) =>
    status(
      `Disconnected (${d.code}${d.reason ? ` ${d.reason}` : ''})` +
        `${d.reconnectInMs === undefined ? '' : `; reconnecting in ${d.reconnectInMs} ms`}`,
    ),
  );
  client.on('error', (error) => status(`zhifu: ${error.message}`));

  const finished = new Promise<Error | undefined>((r) => client.once('closed', r));
  const stop = () => void client.close();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await client.connectOnce();
    const error = await finished;
    if (error) throw error;
    status(`Closed after seq ${client.lastSeq}.`);
    return 0;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    // A keep-alive socket of --forward must not hold the process open after a clean close.
    setTimeout(() => process.exit(), 1_000).unref();
  }
}

function fallbackOf(e: DecisionRequiredEvent, autoDecide: boolean): DecisionAnswer {
  return autoDecide ? e.data.risk.suggested_action : 'review';
}

/** The answer to a decision_required: the forward target's, else the suggestion (--auto-decide). */
async function decide(
  e: DecisionRequiredEvent,
  forward: string | undefined,
  autoDecide: boolean,
): Promise<DecisionAnswer> {
  const fallback = fallbackOf(e, autoDecide);
  if (forward === undefined) return fallback;
  try {
    const r = await post(forward, e, decisionTimeoutMs);
    const body: unknown = await r.json();
    const answer =
      typeof body === 'object' && body !== null && 'decision' in body
        ? (body.decision as DecisionAnswer)
        : undefined;
    return answer !== undefined && decisionAnswers.includes(answer) ? answer : fallback;
  } catch {
    return fallback;
  }
}

function post(url: string, e: ZhifuEvent, timeoutMs: number): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'User-Agent': 'zhifu-listen' },
    body: JSON.stringify(e),
    signal: AbortSignal.timeout(timeoutMs),
  });
}

function describeSource(source: DecisionInfo['source'], forwarding: boolean): string {
  switch (source) {
    case 'handler':
      return forwarding ? 'forward / auto-decide' : 'auto-decide';
    case 'timeout':
      return `no answer in ${decisionTimeoutMs} ms: default`;
    default:
      return source.replace('_', ' ');
  }
}

/** One line: seq, type, out_trade_no, amount in yuan, risk score/action, decision state. */
export function describeEvent(e: ZhifuEvent): string {
  const head = `#${String(e.seq).padEnd(5)} ${e.type.padEnd(26)}`;
  switch (e.type) {
    case 'refund.succeeded':
    case 'refund.abnormal':
    case 'refund.closed':
      return `${head} ${e.data.out_trade_no}  refund ${yuan(e.data.amount.refund)} ${e.data.amount.currency}  ${e.data.out_refund_no}  ${e.data.status}`;
    case 'risk.batch_completed':
      return `${head} batch ${e.data.batch_id}  ${e.data.items} items  ${e.data.status}  ${e.data.blocked} blocked  ${e.data.review} review`;
    case 'risk.batch_failed':
      return `${head} batch ${e.data.batch_id}  ${e.data.items} items  ${e.data.status}`;
    case 'merchant.frozen':
      return `${head} until ${e.data.frozen_until}  ${e.data.reason}${e.data.category ? ` ${e.data.category}` : ''}`;
    default: {
      const d = e.data;
      const parts = [`${d.out_trade_no}`, `${yuan(d.amount.total)} ${d.amount.currency}`];
      if (d.risk) parts.push(`risk ${d.risk.score} ${d.risk.suggested_action}`);
      parts.push(d.decision ? `decision ${d.decision.state}` : `trade ${d.trade_state}`);
      return `${head} ${parts.join('  ')}`;
    }
  }
}
