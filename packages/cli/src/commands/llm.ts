/**
 * `zhifu llm-key`: the LLM gateway's API keys (docs/llm-gateway.md) from the command line, through
 * the signed merchant API (`/v1/llm/keys`) with the SDK's ZhifuClient.
 */
import { resolve } from 'node:path';
import { ZhifuClient } from '@zhifu/sdk';
import { helpOption, noExtra, nonEmpty, out, parse, UsageError } from '../args.ts';
import { baseUrlOf, demoCredentialsFile, readCredentials } from '../credentials.ts';

const command = 'zhifu llm-key';
const help = `${command} --help`;

export const llmKeyHelp = `Usage: zhifu llm-key <create|list|revoke> [options]

Manages the merchant's LLM gateway API keys (Bearer keys for /v1/chat/completions and /v1/models,
docs/llm-gateway.md). 'create' prints the key once: Zhifu stores only its hash.

  zhifu llm-key create --name <name> [--rpm <n>] [--tpm <n>] [--budget-fen <n>] [--models a,b]
  zhifu llm-key list
  zhifu llm-key revoke <key_id>

Options:
  --name <name>         A name for the key (create; required)
  --rpm <n>             Requests per minute (create)
  --tpm <n>             Tokens per minute (create)
  --budget-fen <n>      Monthly budget of provider cost, in fen (create)
  --models <a,b>        Models the key may use (create; default: all)
  --credentials <file>  Merchant credentials JSON (default <ZHIFU_DATA_DIR or ./data>/demo-credentials.json)
  --base-url <url>      Server base URL (default $ZHIFU_BASE_URL, else the credentials' base_url)
  --json                Print the server's JSON answer
  -h, --help            Show this help

Example:
  zhifu llm-key create --name web-shop --rpm 600 --budget-fen 50000
`;

function count(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,12}$/.test(value))
    throw new UsageError(`${flag} must be a non-negative integer, got "${value}"`, help);
  return Number(value);
}

interface KeyView {
  key_id: string;
  name: string;
  key_prefix: string;
  rpm: number | null;
  tpm: number | null;
  budget_fen_monthly: number | null;
  revoked_at: string | null;
  api_key?: string;
}

const line = (k: KeyView) =>
  `${k.key_id}  ${k.name}  ${k.key_prefix}…  rpm ${k.rpm ?? '-'}  tpm ${k.tpm ?? '-'}  budget ${k.budget_fen_monthly ?? '-'} fen${k.revoked_at ? `  revoked ${k.revoked_at}` : ''}`;

export async function llmKeyCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(command, {
    args: argv,
    allowPositionals: true,
    options: {
      ...helpOption,
      name: { type: 'string' },
      rpm: { type: 'string' },
      tpm: { type: 'string' },
      'budget-fen': { type: 'string' },
      models: { type: 'string' },
      credentials: { type: 'string' },
      'base-url': { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  if (values.help) {
    out(llmKeyHelp);
    return 0;
  }
  const [action, ...rest] = positionals;
  if (action !== 'create' && action !== 'list' && action !== 'revoke')
    throw new UsageError(
      action === undefined ? 'give create, list or revoke' : `unknown action "${action}"`,
      help,
    );
  noExtra(rest, action === 'revoke' ? 1 : 0, `${command} ${action}`);
  const credentialsFlag = nonEmpty(values.credentials, '--credentials', command);
  const credentials = readCredentials(
    credentialsFlag === undefined ? demoCredentialsFile() : resolve(credentialsFlag),
  );
  const baseUrl =
    nonEmpty(values['base-url'], '--base-url', command) ?? baseUrlOf(process.env, credentials.base_url);
  const client = new ZhifuClient({
    baseUrl,
    mchid: credentials.mchid,
    auth: { scheme: 'hmac', hmacKey: credentials.hmac_key },
    maxRetries: 0,
  });
  const print = (answer: unknown, text: string) => out(values.json ? JSON.stringify(answer) : text);
  if (action === 'create') {
    const name = nonEmpty(values.name, '--name', command);
    if (name === undefined) throw new UsageError('--name is required', help);
    const body: Record<string, unknown> = { name };
    const rpm = count(values.rpm, '--rpm');
    const tpm = count(values.tpm, '--tpm');
    const budget = count(values['budget-fen'], '--budget-fen');
    if (rpm !== undefined) body.rpm = rpm;
    if (tpm !== undefined) body.tpm = tpm;
    if (budget !== undefined) body.budget_fen_monthly = budget;
    if (values.models !== undefined) body.models = values.models.split(',').filter((m) => m !== '');
    const key = await client.request<KeyView>('POST', '/v1/llm/keys', body);
    print(
      key,
      `${line(key)}\n\nAPI key (shown once): ${key.api_key}\nUse it as: Authorization: Bearer ${key.api_key}`,
    );
  } else if (action === 'list') {
    const list = await client.request<{ data: KeyView[] }>('GET', '/v1/llm/keys');
    print(list, list.data.length === 0 ? 'no keys' : list.data.map(line).join('\n'));
  } else {
    const key = await client.request<KeyView>('DELETE', `/v1/llm/keys/${encodeURIComponent(rest[0]!)}`);
    print(key, line(key));
  }
  return 0;
}
