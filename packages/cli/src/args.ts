/**
 * Argument parsing on node:util parseArgs, and the CLI's error types: a UsageError exits 2, any
 * other error exits 1.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';

/** Bad command line: unknown command or option, missing or extra argument. Exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
  /** The help text of the command the user got wrong, to point them at. */
  readonly helpCommand: string;

  constructor(message: string, helpCommand = 'zhifu --help') {
    super(message);
    this.helpCommand = helpCommand;
  }
}

/** Options every command accepts. */
export const helpOption = { help: { type: 'boolean', short: 'h' } } as const;

/** parseArgs in strict mode whose errors become UsageErrors naming `command`. */
export function parse<T extends ParseArgsConfig>(
  command: string,
  config: T,
): ReturnType<typeof parseArgs<T & { strict: true }>> {
  try {
    return parseArgs({ ...config, strict: true });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new UsageError(message.replace(/\. To specify a positional argument.*$/s, ''), `${command} --help`);
  }
}

/** The positional at `index`, or a UsageError naming it. */
export function required(positionals: string[], index: number, name: string, command: string): string {
  const value = positionals[index];
  if (value === undefined || value === '') throw new UsageError(`missing <${name}>`, `${command} --help`);
  return value;
}

/** Rejects positionals beyond the first `count`. */
export function noExtra(positionals: string[], count: number, command: string): void {
  const extra = positionals[count];
  if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`, `${command} --help`);
}

/** A non-empty option value, or a UsageError. */
export function nonEmpty(value: string | undefined, flag: string, command: string): string | undefined {
  if (value === '') throw new UsageError(`${flag} must not be empty`, `${command} --help`);
  return value;
}

export function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}
