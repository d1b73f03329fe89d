/**
 * `zhifu serve`: runs the server exactly like `npm start`, by importing @zhifu/server's main module
 * (src/main.ts, the sibling of the package entry point), which reads the environment, listens and
 * closes on SIGINT/SIGTERM.
 */
import { helpOption, noExtra, nonEmpty, out, parse, UsageError } from '../args.ts';

export const serveHelp = `Usage: zhifu serve [--port <port>] [--host <host>]

Starts the Zhifu server in the foreground (the same as 'npm start'): opens the database, seeds
the demo merchant and sandbox payers on first start, and prints the API base URL. Stop it with
Ctrl-C.

Options:
  --port <port>   Port to listen on (sets PORT; default 8080, 0 for any free port)
  --host <host>   Interface to listen on (sets ZHIFU_HOST; default 127.0.0.1)
  -h, --help      Show this help

Environment:
  PORT, ZHIFU_HOST, ZHIFU_PUBLIC_URL, ZHIFU_DATABASE_URL, ZHIFU_DATA_DIR,
  ZHIFU_SQLITE_SYNCHRONOUS, ZHIFU_SEED_DEMO, ZHIFU_SANDBOX, ZHIFU_LOG_LEVEL
  (see docs/configuration.md)
`;

export async function serveCommand(argv: string[]): Promise<number> {
  const command = 'zhifu serve';
  const { values, positionals } = parse(command, {
    args: argv,
    allowPositionals: true,
    options: { ...helpOption, port: { type: 'string' }, host: { type: 'string' } },
  });
  if (values.help) {
    out(serveHelp);
    return 0;
  }
  noExtra(positionals, 0, command);
  const port = nonEmpty(values.port, '--port', command);
  if (port !== undefined) {
    if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) {
      throw new UsageError(`--port must be an integer from 0 to 65535, got "${port}"`, `${command} --help`);
    }
    process.env.PORT = port;
  }
  const host = nonEmpty(values.host, '--host', command);
  if (host !== undefined) process.env.ZHIFU_HOST = host;

  // The server's main module reports its own start-up errors and exits 1; once listening it keeps
  // the process alive until a signal closes it.
  await import(serverMainUrl());
  return 0;
}

/** file: URL of @zhifu/server's src/main.ts (not an export of the package, so resolved by path). */
export function serverMainUrl(): string {
  return new URL('./main.ts', import.meta.resolve('@zhifu/server')).href;
}
