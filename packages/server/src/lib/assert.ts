/**
 * Programmer-error assertions (STYLE.md rule 2). An assertion failure is a bug in Zhifu, never a
 * user's mistake: it throws and is deliberately never caught by domain code.
 */
export class AssertionError extends Error {
  override name = 'AssertionError';
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}

export function assertNever(value: never, what: string): never {
  throw new AssertionError(`unhandled ${what}: ${String(value)}`);
}
