import type { SandboxInstrument, SandboxPayer, SandboxPayment } from '@zhifu/sdk';
import { SandboxClient } from '@zhifu/sdk';
import { helpOption, noExtra, nonEmpty, out, parse, required, UsageError } from '../args.ts';
import { defaultBaseUrl } from '../credentials.ts';

const baseUrlHelp = `  --base-url <url>  Server base URL. Default: $ZHIFU_BASE_URL, else base_url in
                    <ZHIFU_DATA_DIR or ./data>/demo-credentials.json, else
                    http://127.0.0.1:<PORT or 8080>`;

export const sandboxHelp = `Usage: zhifu sandbox <command>

Act as a simulated payer of the sandbox wallet (needs a running server: zhifu serve).

Commands:
  pay <prepay_id|code_url>   Pay an order as a sandbox payer
  payers --appid <appid>     List the sandbox payers and their openids under an appid
  instruments <openid>       List a payer's balance, cards and credit line

Run 'zhifu sandbox <command> --help' for details.
`;

export const sandboxPayHelp = `Usage: zhifu sandbox pay <prepay_id|code_url> --payer <openid> [options]

Pays an order as a sandbox payer: looks the order up, logs the payer in on a device and confirms
the payment with a proof signed by the session key.

Arguments:
  <prepay_id|code_url>  A JSAPI/App prepay_id, or a Native code_url (weixin://…)

Options:
  --payer <openid>        The paying payer's openid under the order's appid (required)
  --instrument <id>       Instrument to pay with (see 'zhifu sandbox instruments');
                          default: the server's choice
  --device <fingerprint>  Device fingerprint to log in with (default sdk-device-<openid>)
${baseUrlHelp}
  --json                  Print the payment as JSON
  -h, --help              Show this help
`;

export const sandboxPayersHelp = `Usage: zhifu sandbox payers --appid <appid> [options]

Lists the sandbox payers with their openids under an appid (openids are per appid).

Options:
  --appid <appid>   The merchant's appid (required)
${baseUrlHelp}
  --json            Print the list as JSON
  -h, --help        Show this help
`;

export const sandboxInstrumentsHelp = `Usage: zhifu sandbox instruments <openid> [options]

Lists a sandbox payer's instruments (wallet balance, cards, credit line) and what each can pay.

Options:
${baseUrlHelp}
  --json            Print the list as JSON
  -h, --help        Show this help
`;

const commonOptions = {
  ...helpOption,
  'base-url': { type: 'string' },
  json: { type: 'boolean' },
} as const;

export async function sandboxCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined) {
    process.stderr.write(sandboxHelp);
    return 2;
  }
  switch (sub) {
    case '--help':
    case '-h':
    case 'help':
      out(sandboxHelp);
      return 0;
    case 'pay':
      return pay(rest);
    case 'payers':
      return payers(rest);
    case 'instruments':
      return instruments(rest);
    default:
      throw new UsageError(`unknown sandbox command "${sub}"`, 'zhifu sandbox --help');
  }
}

async function pay(argv: string[]): Promise<number> {
  const command = 'zhifu sandbox pay';
  const { values, positionals } = parse(command, {
    args: argv,
    allowPositionals: true,
    options: {
      ...commonOptions,
      payer: { type: 'string' },
      instrument: { type: 'string' },
      device: { type: 'string' },
    },
  });
  if (values.help) {
    out(sandboxPayHelp);
    return 0;
  }
  const target = required(positionals, 0, 'prepay_id|code_url', command);
  noExtra(positionals, 1, command);
  const openid = nonEmpty(values.payer, '--payer', command);
  if (openid === undefined) throw new UsageError('missing --payer <openid>', `${command} --help`);
  const payment = await client(values['base-url'], command).payAs({
    target,
    openid,
    instrumentId: nonEmpty(values.instrument, '--instrument', command),
    deviceFingerprint: nonEmpty(values.device, '--device', command),
  });
  out(values.json ? JSON.stringify(payment, null, 2) : describePayment(payment));
  return 0;
}

async function payers(argv: string[]): Promise<number> {
  const command = 'zhifu sandbox payers';
  const { values, positionals } = parse(command, {
    args: argv,
    allowPositionals: true,
    options: { ...commonOptions, appid: { type: 'string' } },
  });
  if (values.help) {
    out(sandboxPayersHelp);
    return 0;
  }
  noExtra(positionals, 0, command);
  const appid = nonEmpty(values.appid, '--appid', command);
  if (appid === undefined) throw new UsageError('missing --appid <appid>', `${command} --help`);
  const answer = await client(values['base-url'], command).listPayers(appid);
  out(values.json ? JSON.stringify(answer, null, 2) : describePayers(answer.data, appid));
  return 0;
}

async function instruments(argv: string[]): Promise<number> {
  const command = 'zhifu sandbox instruments';
  const { values, positionals } = parse(command, {
    args: argv,
    allowPositionals: true,
    options: commonOptions,
  });
  if (values.help) {
    out(sandboxInstrumentsHelp);
    return 0;
  }
  const openid = required(positionals, 0, 'openid', command);
  noExtra(positionals, 1, command);
  const answer = await client(values['base-url'], command).instruments(openid);
  out(values.json ? JSON.stringify(answer, null, 2) : describeInstruments(answer.data));
  return 0;
}

function client(baseUrlFlag: string | undefined, command: string): SandboxClient {
  const baseUrl = nonEmpty(baseUrlFlag, '--base-url', command) ?? defaultBaseUrl(process.env);
  try {
    return new SandboxClient({ baseUrl });
  } catch (error) {
    throw new UsageError(
      `invalid base URL "${baseUrl}": ${error instanceof Error ? error.message : String(error)}`,
      `${command} --help`,
    );
  }
}

/** Integer fen as yuan with two decimals, without floating point. */
export function yuan(fen: number): string {
  const sign = fen < 0 ? '-' : '';
  const abs = Math.abs(fen);
  return `${sign}${Math.trunc(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}

function describePayment(p: SandboxPayment): string {
  const currency = p.amount.currency;
  const paid =
    p.amount.payer_total === p.amount.total ? '' : ` (payer paid ${yuan(p.amount.payer_total)} ${currency})`;
  // Only a captured payment is paid: a held one waits for the merchant's decision or its review.
  const headline = p.trade_state === 'SUCCESS' ? 'Paid' : `Not captured (${p.trade_state}):`;
  return [
    `${headline} ${p.out_trade_no}`,
    `  transaction_id  ${p.transaction_id}`,
    `  trade_state     ${p.trade_state}`,
    `  amount          ${yuan(p.amount.total)} ${currency}${paid}`,
    `  instrument      ${p.instrument_id} (${p.bank_type})`,
    ...(p.success_time === undefined ? [] : [`  success_time    ${p.success_time}`]),
  ].join('\n');
}

function describePayers(list: SandboxPayer[], appid: string): string {
  if (list.length === 0) return `No sandbox payers under appid ${appid}.`;
  return table(
    ['OPENID', 'NAME', 'FIXTURE'],
    list.map((p) => [p.openid, p.name, p.fixture ?? '']),
  );
}

function describeInstruments(list: SandboxInstrument[]): string {
  if (list.length === 0) return 'No instruments.';
  return table(
    ['ID', 'KIND', 'BANK_TYPE', 'NAME', 'LAST4', 'AVAILABLE', 'PER_TXN_LIMIT'],
    list.map((i) => [
      i.id,
      i.kind,
      i.bank_type,
      i.display_name,
      i.last4 ?? '',
      yuan(i.available_fen),
      i.per_txn_limit_fen === null ? '' : yuan(i.per_txn_limit_fen),
    ]),
  );
}

/** Left-aligned columns; width counts CJK characters as two. */
function table(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...all.map((r) => displayWidth(r[c] ?? ''))));
  return all
    .map((r) =>
      r
        .map((cell, c) =>
          c === r.length - 1 ? cell : cell + ' '.repeat((widths[c] ?? 0) - displayWidth(cell)),
        )
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function displayWidth(text: string): number {
  let width = 0;
  for (const ch of text)
    width +=
      /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]/u.test(
        ch,
      )
        ? 2
        : 1;
  return width;
}
