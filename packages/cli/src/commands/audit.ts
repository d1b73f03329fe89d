/**
 * `zhifu audit verify`: recomputes the SM3 hash chain of the audit log in the configured database
 * (no running server needed) and reports the first altered or missing entry.
 */
import { helpOption, noExtra, out, parse, UsageError } from '../args.ts';

export const auditHelp = `Usage: zhifu audit verify [--json]

Recomputes the tamper-evident audit log's SM3 hash chain in the configured database and reports
the first entry that was altered or removed. Exit code 0 when the chain verifies, 1 when not.

Environment (as for the server): ZHIFU_DATABASE_URL, ZHIFU_DATA_DIR.
`;

export async function auditCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined) {
    process.stderr.write(auditHelp);
    return 2;
  }
  if (sub === '--help' || sub === '-h' || sub === 'help') {
    out(auditHelp);
    return 0;
  }
  if (sub !== 'verify') throw new UsageError(`unknown audit command "${sub}"`, 'zhifu audit --help');
  const command = 'zhifu audit verify';
  const { values, positionals } = parse(command, {
    args: rest,
    allowPositionals: true,
    options: { ...helpOption, json: { type: 'boolean' } },
  });
  if (values.help) {
    out(auditHelp);
    return 0;
  }
  noExtra(positionals, 0, command);
  // Loaded only here: the server's ops entry point pulls in the database drivers.
  const { loadConfig, verifyAuditLog } = await import('@zhifu/server/ops');
  const result = await verifyAuditLog(loadConfig());
  if (values.json) out(JSON.stringify(result));
  else if (result.ok) out(`audit log verifies: ${result.entries} entries, SM3 chain intact`);
  else
    out(`audit log BROKEN at entry ${result.broken_at}: ${result.problem} (${result.entries} entries read)`);
  return result.ok ? 0 : 1;
}
