/**
 * zhifu: the command line of Zhifu. Dispatches to the commands; a UsageError exits 2, an API error
 * prints `code: message` and exits 1, any other error prints its message and exits 1.
 */
import { readFileSync } from 'node:fs';
import { ZhifuError } from '@zhifu/sdk';
import { out, UsageError } from './args.ts';
import { auditCommand, auditHelp } from './commands/audit.ts';
import { listenCommand, listenHelp } from './commands/listen.ts';
import { llmKeyCommand, llmKeyHelp } from './commands/llm.ts';
import { mcpCommand, mcpHelp } from './commands/mcp.ts';
import { merchantCommand, merchantHelp } from './commands/merchant.ts';
import { sandboxCommand, sandboxHelp } from './commands/sandbox.ts';
import { serveCommand, serveHelp } from './commands/serve.ts';
import { simulateCommand, simulateHelp } from './commands/simulate.ts';

export const mainHelp = `zhifu: self-hostable, WeChat Pay APIv3-compatible payment server (sandbox)

Usage: zhifu <command> [options]

Commands:
  serve                              Start the server (like 'npm start')
  merchant create [--name] [--json]  Create a merchant and print its credentials
  sandbox pay <prepay_id|code_url>   Pay an order as a sandbox payer
  sandbox payers --appid <appid>     List sandbox payers and their openids
  sandbox instruments <openid>       List a payer's balance and cards
  listen [--auto-decide|--forward]   Print merchant events live; answer realtime decisions
  simulate --out <file.jsonl>        Write a seeded, labelled traffic data set (JSON Lines)
  simulate --drive                   Replay simulated traffic against a server as risk assessments
  audit verify                       Verify the SM3 hash chain of the audit log
  mcp [--base-url] [--token]         Conversation tools over MCP stdio (bridge to <url>/mcp)
  llm-key create|list|revoke         Manage LLM gateway API keys (docs/llm-gateway.md)

Options:
  -h, --help       Show help (also: zhifu <command> --help, zhifu help <command>)
  -v, --version    Print the version

Exit codes: 0 success, 1 error, 2 bad command line.
`;

const commands: Record<string, { run: (argv: string[]) => Promise<number>; help: string }> = {
  serve: { run: serveCommand, help: serveHelp },
  merchant: { run: merchantCommand, help: merchantHelp },
  sandbox: { run: sandboxCommand, help: sandboxHelp },
  listen: { run: listenCommand, help: listenHelp },
  simulate: { run: simulateCommand, help: simulateHelp },
  audit: { run: auditCommand, help: auditHelp },
  mcp: { run: mcpCommand, help: mcpHelp },
  'llm-key': { run: llmKeyCommand, help: llmKeyHelp },
};

export function version(): string {
  const pkg: unknown = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  return typeof pkg === 'object' && pkg !== null && 'version' in pkg ? String(pkg.version) : 'unknown';
}

export async function run(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined) {
    process.stderr.write(mainHelp);
    return 2;
  }
  if (first === '--help' || first === '-h') {
    out(mainHelp);
    return 0;
  }
  if (first === '--version' || first === '-v') {
    out(version());
    return 0;
  }
  if (first === 'help') {
    // `zhifu help sandbox pay` = `zhifu sandbox pay --help`
    if (rest.length === 0) {
      out(mainHelp);
      return 0;
    }
    return run([...rest, '--help']);
  }
  const command = commands[first];
  if (command === undefined) {
    throw new UsageError(
      first.startsWith('-') ? `unknown option "${first}"` : `unknown command "${first}"`,
      'zhifu --help',
    );
  }
  return command.run(rest);
}

/** Writes the error to stderr and gives the exit code. */
export function report(error: unknown): number {
  if (error instanceof UsageError) {
    process.stderr.write(`zhifu: ${error.message}\nRun '${error.helpCommand}' for usage.\n`);
    return 2;
  }
  if (error instanceof ZhifuError) {
    const code = error.code === '' ? `HTTP ${error.httpStatus ?? '?'}` : error.code;
    const field = typeof error.detail?.field === 'string' ? ` (field: ${error.detail.field})` : '';
    process.stderr.write(`${code}: ${error.message}${field}\n`);
    return 1;
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`zhifu: ${message}\n`);
  if (process.env.ZHIFU_DEBUG && error instanceof Error && error.stack) {
    process.stderr.write(`${error.stack}\n`);
  }
  return 1;
}

try {
  process.exitCode = await run(process.argv.slice(2));
} catch (error) {
  process.exitCode = report(error);
}
