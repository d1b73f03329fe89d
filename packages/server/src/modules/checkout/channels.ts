/**
 * Bank channels: their measured health and, in the sandbox, their simulated behaviour.
 *
 * Health is measured from Zhifu's own sandbox authorisations: per bank channel (`bank_type`) and
 * per instrument, a sliding window of the last `channel_window_size` outcomes no older than
 * `channel_window_ms` (Hyperswitch's success-rate "bucket", ml.md §B.2). The windows live in
 * memory per database and are rebuilt from `checkout_authorizations` on first use, so a restart
 * keeps them. Success rates are smoothed towards a prior so that two failures out of two samples
 * do not mark a channel dead.
 *
 * Sandbox channels have a base latency and failure rate and a schedule of overrides (an outage from
 * 10:00 to 10:15, a latency spike…), set through PUT /sandbox/v1/channels/{bank_type}; the sandbox
 * pay path draws each authorisation's outcome and latency from the setting in force.
 */
import {
  channel_degraded_latency_ms,
  channel_degraded_success_rate,
  channel_min_samples,
  channel_window_ms,
  channel_window_size,
} from '../../lib/limits.ts';

export interface ChannelStats {
  /** Outcomes in the window. */
  samples: number;
  /** Smoothed success rate (prior: `prior_success_rate` worth `prior_weight` samples). */
  success_rate: number;
  /** Median latency of the window, or the default when it is empty. */
  latency_ms_p50: number;
  degraded: boolean;
}

const prior_success_rate = 0.97;
const prior_weight = 5;
const default_latency_ms = 300;

interface Outcome {
  ok: boolean;
  latency_ms: number;
  at: number;
}

/** A bounded ring of recent outcomes. */
class Window {
  private readonly items: Outcome[] = [];
  private next = 0;

  push(o: Outcome): void {
    if (this.items.length < channel_window_size) this.items.push(o);
    else {
      this.items[this.next] = o;
      this.next = (this.next + 1) % channel_window_size;
    }
  }

  stats(now: number): ChannelStats {
    const since = now - channel_window_ms;
    let n = 0;
    let ok = 0;
    const latencies: number[] = [];
    for (const o of this.items) {
      if (o.at < since || o.at > now) continue;
      n++;
      if (o.ok) ok++;
      latencies.push(o.latency_ms);
    }
    latencies.sort((a, b) => a - b);
    const p50 = n === 0 ? default_latency_ms : latencies[Math.floor((n - 1) / 2)]!;
    const rate = (ok + prior_success_rate * prior_weight) / (n + prior_weight);
    return {
      samples: n,
      success_rate: rate,
      latency_ms_p50: p50,
      degraded:
        n >= channel_min_samples &&
        (rate < channel_degraded_success_rate || p50 > channel_degraded_latency_ms),
    };
  }
}

/** Sliding windows per bank channel and per instrument. */
export class ChannelHealth {
  private readonly banks = new Map<string, Window>();
  private readonly instruments = new Map<string, Window>();

  record(bankType: string, instrumentId: string, ok: boolean, latencyMs: number, at: number): void {
    const o = { ok, latency_ms: latencyMs, at };
    windowOf(this.banks, bankType).push(o);
    windowOf(this.instruments, instrumentId).push(o);
  }

  bank(bankType: string, now: number): ChannelStats {
    return (this.banks.get(bankType) ?? empty).stats(now);
  }

  instrument(instrumentId: string, now: number): ChannelStats {
    return (this.instruments.get(instrumentId) ?? empty).stats(now);
  }

  /**
   * An instrument's channel health: its bank channel's window, unless the instrument's own window
   * (enough samples) is worse — one card can fail on a channel that works for everybody else.
   */
  of(i: { id: string; bank_type: string }, now: number): ChannelStats {
    const bank = this.bank(i.bank_type, now);
    const own = this.instrument(i.id, now);
    return own.samples >= channel_min_samples && own.success_rate < bank.success_rate ? own : bank;
  }

  /** Bank channels with at least one outcome in memory. */
  bankTypes(): string[] {
    return [...this.banks.keys()].sort();
  }
}

const empty = new Window();

function windowOf(map: Map<string, Window>, key: string): Window {
  let w = map.get(key);
  if (!w) {
    w = new Window();
    map.set(key, w);
  }
  return w;
}

/** One override of a sandbox channel's behaviour during [from, until). */
export interface ChannelOverride {
  from: number;
  until: number;
  latency_ms?: number | undefined;
  failure_rate?: number | undefined;
}

export interface ChannelSetting {
  bank_type: string;
  latency_ms: number;
  failure_rate: number;
  schedule: ChannelOverride[];
}

/** The default of a channel nobody configured: fast and reliable. */
export const default_channel = { latency_ms: 150, failure_rate: 0 } as const;

/** Latency and failure rate of a channel at `now`: the first override in force, else the base. */
export function effectiveChannel(s: ChannelSetting | undefined, now: number) {
  if (!s) return { ...default_channel, override: null as ChannelOverride | null };
  const o = s.schedule.find((x) => x.from <= now && now < x.until) ?? null;
  return {
    latency_ms: o?.latency_ms ?? s.latency_ms,
    failure_rate: o?.failure_rate ?? s.failure_rate,
    override: o,
  };
}

/**
 * One simulated authorisation on a sandbox channel: fails with the failure rate in force, takes
 * the latency in force ±20%. `u1`, `u2` are uniform draws in [0, 1).
 */
export function simulateAuthorization(
  s: ChannelSetting | undefined,
  now: number,
  u1: number,
  u2: number,
): { ok: boolean; latency_ms: number } {
  const e = effectiveChannel(s, now);
  return { ok: u1 >= e.failure_rate, latency_ms: Math.round(e.latency_ms * (0.8 + 0.4 * u2)) };
}
