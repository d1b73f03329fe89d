/**
 * `zhifu merchant create`: a new merchant with fresh credentials, written straight to the configured
 * database (no running server needed). Config comes from the same environment as the server.
 */
import { join } from 'node:path';
import { helpOption, noExtra, nonEmpty, out, parse, UsageError } from '../args.ts';

export const merchantHelp = `Usage: zhifu merchant <command>

Commands:
  create    Create a merchant with fresh keys and certificates

Run 'zhifu merchant create --help' for details.
`;

export const merchantCreateHelp = `Usage: zhifu merchant create [--name <name>] [--json]

Creates a merchant (mchid, appid, HMAC and APIv3 keys, merchant and platform certificates, a
platform public key, and the sandbox payers' openids under the new appid) directly in the
configured database. No running server is needed.

Options:
  --name <name>   Merchant name (default "Zhifu Merchant")
  --json          Print the credentials as one JSON object on stdout and nothing else
                  (e.g. zhifu merchant create --json > creds.json)
  -h, --help      Show this help

Without --json a summary is printed and the credentials are saved to
<ZHIFU_DATA_DIR>/merchant-<mchid>.json (mode 0600). The merchant private key is not kept
anywhere else: keep that file or the --json output.

Environment (as for the server):
  ZHIFU_DATABASE_URL   sqlite:<path> or postgres://… (default sqlite:<ZHIFU_DATA_DIR>/zhifu.db)
  ZHIFU_DATA_DIR       Data directory (default ./data)
  ZHIFU_PUBLIC_URL     Base URL written into the credentials (default http://127.0.0.1:<PORT>)
  PORT, ZHIFU_HOST     Used for the default ZHIFU_PUBLIC_URL
`;

export async function merchantCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    if (sub === undefined) {
      process.stderr.write(merchantHelp);
      return 2;
    }
    out(merchantHelp);
    return 0;
  }
  if (sub === 'create') return merchantCreate(rest);
  throw new UsageError(`unknown merchant command "${sub}"`, 'zhifu merchant --help');
}

async function merchantCreate(argv: string[]): Promise<number> {
  const command = 'zhifu merchant create';
  const { values, positionals } = parse(command, {
    args: argv,
    allowPositionals: true,
    options: { ...helpOption, name: { type: 'string' }, json: { type: 'boolean' } },
  });
  if (values.help) {
    out(merchantCreateHelp);
    return 0;
  }
  noExtra(positionals, 0, command);
  const name = nonEmpty(values.name, '--name', command) ?? 'Zhifu Merchant';

  // Loaded only here: the server's ops entry point pulls in the database drivers.
  const { loadConfig, openContext, createMerchantCredentials, writeCredentials } = await import(
    '@zhifu/server/ops'
  );
  const config = loadConfig();
  const { ctx, handle } = await openContext(config);
  let credentials: Awaited<ReturnType<typeof createMerchantCredentials>>;
  try {
    credentials = await createMerchantCredentials(ctx, name);
  } finally {
    await handle.close();
  }

  if (values.json) {
    out(JSON.stringify(credentials, null, 2));
    return 0;
  }

  let saved: string;
  const file = join(config.dataDir, `merchant-${credentials.mchid}.json`);
  try {
    writeCredentials(file, credentials);
    saved = `  Credentials    ${file}  (keys, certificates, merchant private key)`;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    saved = `  Credentials    NOT saved (${reason}); the merchant private key is lost.`;
  }
  const lines = [
    `Created merchant "${name}"`,
    `  mchid          ${credentials.mchid}`,
    `  appid          ${credentials.appid}`,
    `  Base URL       ${credentials.base_url}`,
    `  Merchant cert  serial ${credentials.merchant_serial_no}`,
    `  Platform cert  serial ${credentials.platform_serial_no}`,
    `  Public key id  ${credentials.platform_public_key_id}`,
    `  Sandbox payers ${credentials.payers.map((p) => `${p.name} (${p.openid})`).join('\n                 ')}`,
    saved,
    '',
    "To get a merchant's credentials as JSON instead: zhifu merchant create --json > creds.json",
  ];
  out(lines.join('\n'));
  return 0;
}
