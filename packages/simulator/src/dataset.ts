import { closeSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { SimParams } from './params.ts';
import { simulate } from './simulate.ts';
import { PATTERNS, type SimEvent } from './types.ts';

export interface DatasetSummary {
  /** Events written. */
  events: number;
  /** Events labelled 'fraud'. */
  fraud: number;
  /** Fraud events per pattern (every pattern is present, possibly 0). */
  byPattern: Record<string, number>;
}

function emptyByPattern(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of PATTERNS) out[p] = 0;
  return out;
}

/**
 * Simulate and write JSON Lines (one event per line, fixed key order, '\n' after every line).
 * Parent directories are created. Same params → byte-identical file.
 */
export function writeDataset(params: SimParams, path: string): DatasetSummary {
  mkdirSync(dirname(path), { recursive: true });
  const fd = openSync(path, 'w');
  const summary: DatasetSummary = { events: 0, fraud: 0, byPattern: emptyByPattern() };
  let buf = '';
  try {
    for (const ev of simulate(params)) {
      buf += `${JSON.stringify(ev)}\n`;
      summary.events++;
      if (ev.label === 'fraud') {
        summary.fraud++;
        if (ev.pattern) summary.byPattern[ev.pattern] = (summary.byPattern[ev.pattern] ?? 0) + 1;
      }
      if (buf.length > 1 << 20) {
        writeSync(fd, buf);
        buf = '';
      }
    }
    if (buf.length > 0) writeSync(fd, buf);
  } finally {
    closeSync(fd);
  }
  return summary;
}

/** Read a JSON Lines data set written by {@link writeDataset}. Blank lines are ignored. */
export function readDataset(path: string): SimEvent[] {
  const out: SimEvent[] = [];
  const text = readFileSync(path, 'utf8');
  let start = 0;
  let line = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    line++;
    const s = text.slice(start, end).trim();
    start = end + 1;
    if (s.length === 0) continue;
    try {
      out.push(JSON.parse(s) as SimEvent);
    } catch (err) {
      throw new Error(`${path}:${line}: invalid JSON (${(err as Error).message})`);
    }
  }
  return out;
}

export interface DatasetStats extends DatasetSummary {
  payments: number;
  refunds: number;
  declined: number;
  /** fraud / events. */
  fraudShare: number;
  /** Distinct payer ids. */
  payers: number;
  /** Distinct device ids. */
  devices: number;
}

/** Summary statistics of a set of events. */
export function datasetStats(events: Iterable<SimEvent>): DatasetStats {
  const s: DatasetStats = {
    events: 0,
    fraud: 0,
    byPattern: emptyByPattern(),
    payments: 0,
    refunds: 0,
    declined: 0,
    fraudShare: 0,
    payers: 0,
    devices: 0,
  };
  const payers = new Set<string>();
  const devices = new Set<string>();
  for (const ev of events) {
    s.events++;
    if (ev.type === 'payment') s.payments++;
    else s.refunds++;
    if (ev.outcome === 'declined') s.declined++;
    if (ev.label === 'fraud') {
      s.fraud++;
      if (ev.pattern) s.byPattern[ev.pattern] = (s.byPattern[ev.pattern] ?? 0) + 1;
    }
    payers.add(ev.payer_id);
    devices.add(ev.device_id);
  }
  s.fraudShare = s.events > 0 ? s.fraud / s.events : 0;
  s.payers = payers.size;
  s.devices = devices.size;
  return s;
}
