/**
 * Child-process plumbing shared by the benches (payments, notify, risk): pinning (this process on CPU 0,
 * servers on CPU 1 with taskset), starting a child and waiting for its ready line, stopping it,
 * temporary directories — all children killed and directories removed on exit, errors and Ctrl-C.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export { freePort } from './ports.ts';

/** The repository root (children run there). */
export const root = fileURLToPath(new URL('..', import.meta.url));
/** Online CPUs (not availableParallelism(): that reports this process's affinity mask). */
export const cores = os.cpus().length;

const children = new Set<ChildProcess>();
const tmpDirs: string[] = [];
let pinnedSelf = false;

export function cleanUp(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  for (const dir of tmpDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}
process.on('exit', cleanUp);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    cleanUp();
    process.exit(130);
  });
}

/** Pins this process to CPU 0 (children then go to CPU 1) unless `<envVar>=0` or one core. */
export function pinSelf(envVar = 'BENCH_PIN'): boolean {
  if (process.env[envVar] === '0' || cores < 2) return false;
  try {
    execFileSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
    pinnedSelf = true;
  } catch {
    pinnedSelf = false;
  }
  return pinnedSelf;
}

export function pinned(): boolean {
  return pinnedSelf;
}

export interface Child {
  process: ChildProcess;
  pid: number;
  stdout: () => string;
}

/** Starts `node <args>` (on CPU 1 when pinned) and resolves once its stdout contains `ready`. */
export function startChild(
  name: string,
  args: string[],
  env: Record<string, string>,
  ready: string,
  options: { timeoutMs?: number; echoStderr?: boolean } = {},
): Promise<Child> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const command = pinnedSelf ? 'taskset' : process.execPath;
  const argv = pinnedSelf ? ['-c', '1', process.execPath, ...args] : args;
  const child = spawn(command, argv, {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr += chunk;
    if (options.echoStderr !== false) process.stderr.write(`[${name}] ${chunk}`);
  });
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    stdout += chunk;
  });
  return new Promise<Child>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`${name} did not print "${ready}" within ${timeoutMs / 1000} s:\n${stdout}\n${stderr}`),
      );
    }, timeoutMs);
    const check = () => {
      if (!stdout.includes(ready)) return;
      clearTimeout(timer);
      child.stdout?.off('data', check);
      resolve({ process: child, pid: child.pid!, stdout: () => stdout });
    };
    child.stdout?.on('data', check);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (code ${code}, signal ${signal}):\n${stderr}`));
    });
  });
}

/** SIGTERM, then SIGKILL after `killAfterMs`. */
export async function stopChild(child: Child, killAfterMs = 15_000): Promise<void> {
  const p = child.process;
  if (p.exitCode === null && p.signalCode === null) {
    const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
    p.kill('SIGTERM');
    const timer = setTimeout(() => p.kill('SIGKILL'), killAfterMs);
    await exited;
    clearTimeout(timer);
  }
  children.delete(p);
}

/** A temporary directory removed when the bench exits. */
export function tmpDir(prefix: string): string {
  const dir = mkdtempSync(join(os.tmpdir(), prefix));
  tmpDirs.push(dir);
  return dir;
}
