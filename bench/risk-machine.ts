/**
 * Shared by the Fraud Shield benchmarks: the machine line (date, Node, CPU, load average) and small
 * number formatting helpers.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';

export function loadAverage(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ');
  }
}

export function machineLines(): string[] {
  const cpus = os.cpus();
  return [
    `date:    ${new Date().toISOString()}`,
    `node:    ${process.version} (${process.platform}/${process.arch})`,
    `cpu:     ${cpus[0]?.model.trim() ?? 'unknown'} × ${cpus.length}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM`,
    `loadavg: ${loadAverage()} (1/5/15 min, at start)`,
  ];
}

export const metStatus = (ok: boolean): string => (ok ? 'MET' : 'NOT MET');

export function fixed(x: number, digits = 4): string {
  return Number.isFinite(x) ? x.toFixed(digits) : 'n/a';
}

/** Nearest-rank percentile of an ascending array. */
export function percentileOf(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** Pads the columns of a small table (first column left-aligned, the rest right-aligned). */
export function table(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows.map((row) =>
    row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  '),
  );
}
