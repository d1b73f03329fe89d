import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  datasetStats,
  defaultParams,
  MCCS,
  mergeParams,
  PATTERNS,
  type PatternName,
  Rng,
  readDataset,
  type SimEvent,
  shiftedPreset,
  simulate,
  simulateAll,
  trainingPreset,
  writeDataset,
} from '../src/index.ts';

const MINUTE = 60_000;
const DAY = 86_400_000;

const small = mergeParams(defaultParams, { payers: 800, days: 10, merchants: 200 });
const jsonl = (events: readonly SimEvent[]): string => events.map((e) => `${JSON.stringify(e)}\n`).join('');
const sha256 = (s: string | Buffer): string => createHash('sha256').update(s).digest('hex');
const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};
const groupBy = <K>(events: readonly SimEvent[], key: (e: SimEvent) => K): Map<K, SimEvent[]> => {
  const m = new Map<K, SimEvent[]>();
  for (const e of events) {
    const k = key(e);
    const list = m.get(k);
    if (list) list.push(e);
    else m.set(k, [e]);
  }
  return m;
};

let fullCache: { events: SimEvent[]; ms: number } | undefined;
/** One default run (30 days × 5,000 payers), shared by the tests below. */
function full(): { events: SimEvent[]; ms: number } {
  if (!fullCache) {
    const t0 = performance.now();
    const events = simulateAll(defaultParams);
    fullCache = { events, ms: performance.now() - t0 };
  }
  return fullCache;
}
const ofPattern = (p: PatternName): SimEvent[] => full().events.filter((e) => e.pattern === p);

describe('Rng', () => {
  it('is deterministic per seed and differs across seeds', () => {
    const a = new Rng(7);
    const b = new Rng(7);
    const c = new Rng(8);
    const sa = Array.from({ length: 50 }, () => a.nextU32());
    const sb = Array.from({ length: 50 }, () => b.nextU32());
    const sc = Array.from({ length: 50 }, () => c.nextU32());
    expect(sa).toEqual(sb);
    expect(sa).not.toEqual(sc);
  });

  it('fork() gives an independent stream without consuming the parent', () => {
    const a = new Rng(1);
    const b = new Rng(1);
    const f1 = a.fork('x');
    expect(a.nextU32()).toBe(b.nextU32());
    expect(f1.nextU32()).toBe(new Rng(1).fork('x').nextU32());
    expect(new Rng(1).fork('x').nextU32()).not.toBe(new Rng(1).fork('y').nextU32());
  });

  it('has sane distributions', () => {
    const r = new Rng(123);
    const n = 40_000;
    let sum = 0;
    let sq = 0;
    let minInt = Number.POSITIVE_INFINITY;
    let maxInt = Number.NEGATIVE_INFINITY;
    let pois = 0;
    let poisBig = 0;
    const counts = [0, 0, 0];
    for (let i = 0; i < n; i++) {
      const f = r.float();
      expect(f >= 0 && f < 1).toBe(true);
      const z = r.normal();
      sum += z;
      sq += z * z;
      const k = r.int(3, 6);
      minInt = Math.min(minInt, k);
      maxInt = Math.max(maxInt, k);
      pois += r.poisson(3);
      poisBig += r.poisson(50);
      counts[r.weightedIndex([1, 2, 7])]! += 1;
    }
    expect(Math.abs(sum / n)).toBeLessThan(0.03);
    expect(Math.abs(sq / n - 1)).toBeLessThan(0.05);
    expect([minInt, maxInt]).toEqual([3, 6]);
    expect(pois / n).toBeCloseTo(3, 1);
    expect(Math.abs(poisBig / n - 50)).toBeLessThan(0.5);
    expect(counts[2]! / n).toBeCloseTo(0.7, 1);
    expect(r.lognormalMedian(100, 0)).toBe(100);
    expect(() => r.pick([])).toThrow();
  });

  it('Math.random is not used anywhere in the package source', () => {
    const dir = join(import.meta.dirname, '..', 'src');
    for (const f of readdirSync(dir)) {
      expect(readFileSync(join(dir, f), 'utf8'), f).not.toMatch(/Math\.random\s*\(/);
    }
  });
});

describe('determinism', () => {
  it('same seed and params → byte-identical JSON Lines', () => {
    expect(sha256(jsonl(simulateAll(small)))).toBe(sha256(jsonl(simulateAll(small))));
  });

  it('a different seed → different data', () => {
    const other = mergeParams(small, { seed: small.seed + 1 });
    expect(sha256(jsonl(simulateAll(other)))).not.toBe(sha256(jsonl(simulateAll(small))));
  });

  it('legitimate traffic does not depend on the fraud knobs', () => {
    const legit = (evs: SimEvent[]): string =>
      jsonl(evs.filter((e) => e.label === 'legit' && e.type === 'payment').map((e) => ({ ...e, id: '' })));
    const changed = mergeParams(small, { patterns: { card_testing: { rate: 0.01, burstSize: [3, 5] } } });
    expect(sha256(legit(simulateAll(changed)))).toBe(sha256(legit(simulateAll(small))));
  });

  it('simulate() streams the same events as simulateAll()', () => {
    const streamed: SimEvent[] = [];
    for (const e of simulate(small)) streamed.push(e);
    expect(streamed).toEqual(simulateAll(small));
  });

  it('rejects invalid params', () => {
    expect(() => simulateAll(mergeParams(small, { days: 0 }))).toThrow(RangeError);
    expect(() => simulateAll(mergeParams(small, { payers: 1.5 }))).toThrow(RangeError);
  });
});

describe('event stream (default params)', () => {
  it('generates 30 days × 5,000 payers quickly, in the expected volume', () => {
    const { events, ms } = full();
    expect(events.length).toBeGreaterThan(100_000);
    expect(events.length).toBeLessThan(300_000);
    expect(ms).toBeLessThan(15_000);
  });

  it('is time-ordered with unique, increasing ids inside the window', () => {
    const { events } = full();
    const end = defaultParams.startMs + defaultParams.days * DAY;
    const bad: string[] = [];
    let prev: SimEvent | undefined;
    for (const e of events) {
      if (e.ts < defaultParams.startMs || e.ts >= end) bad.push(`${e.id}: outside the window`);
      if (prev && (e.ts < prev.ts || e.id <= prev.id)) bad.push(`${e.id}: out of order after ${prev.id}`);
      prev = e;
    }
    expect(bad.slice(0, 5)).toEqual([]);
  });

  it('every event is well-formed', () => {
    const ipv4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
    const mccs = new Set<string>(MCCS);
    const bad: string[] = [];
    const check = (e: SimEvent, ok: boolean, what: string): void => {
      if (!ok) bad.push(`${e.id}: ${what}`);
    };
    for (const e of full().events) {
      check(e, Number.isInteger(e.amount_fen) && e.amount_fen > 0, 'amount');
      check(e, e.currency === 'CNY', 'currency');
      check(e, mccs.has(e.mcc), 'mcc');
      const m = ipv4.exec(e.ip);
      check(e, m?.slice(1).every((o) => Number(o) <= 255) === true, 'ip');
      check(e, e.ip_country === 'CN' ? /^\d{6}$/.test(e.ip_region) : e.ip_region === '', 'ip_region');
      check(e, /^[A-Z]{2}$/.test(e.ip_country), 'ip_country');
      check(e, e.payer_created_ts <= e.ts, 'payer created after the event');
      check(e, e.instrument_created_ts <= e.ts, 'instrument bound after the event');
      check(e, e.payer_created_ts <= e.instrument_created_ts, 'instrument bound before the account existed');
      check(e, Number.isInteger(e.ts) && Number.isInteger(e.payer_created_ts), 'integer times');
      check(e, Number.isInteger(e.instrument_created_ts), 'integer instrument time');
      check(e, (e.label === 'fraud') === (e.pattern !== null), 'label / pattern');
      check(e, (e.type === 'refund') === (e.refund_of !== null), 'refund_of');
    }
    expect(bad.slice(0, 5)).toEqual([]);
  });

  it('refunds reference an earlier successful payment of the same payer and merchant, amount ≤ payment', () => {
    const { events } = full();
    const byId = new Map(events.map((e) => [e.id, e]));
    const refunded = new Map<string, number>();
    let refunds = 0;
    for (const r of events) {
      if (r.type !== 'refund') continue;
      refunds++;
      const p = byId.get(r.refund_of as string);
      expect(p).toBeDefined();
      expect(p!.type).toBe('payment');
      expect(p!.outcome).toBe('success');
      expect(p!.ts).toBeLessThan(r.ts);
      expect(p!.payer_id).toBe(r.payer_id);
      expect(p!.merchant_id).toBe(r.merchant_id);
      expect(p!.instrument_id).toBe(r.instrument_id);
      const total = (refunded.get(p!.id) ?? 0) + r.amount_fen;
      expect(total).toBeLessThanOrEqual(p!.amount_fen);
      refunded.set(p!.id, total);
    }
    const legitPayments = events.filter((e) => e.type === 'payment' && e.outcome === 'success').length;
    const legitRefunds = events.filter((e) => e.type === 'refund' && e.label === 'legit').length;
    expect(refunds).toBeGreaterThan(0);
    expect(legitRefunds / legitPayments).toBeGreaterThan(0.01);
    expect(legitRefunds / legitPayments).toBeLessThan(0.05);
  });

  it('fraud is 1–3 % of events and every pattern is present', () => {
    const stats = datasetStats(full().events);
    expect(stats.fraudShare).toBeGreaterThan(0.008);
    expect(stats.fraudShare).toBeLessThan(0.03);
    for (const p of PATTERNS) expect(stats.byPattern[p], p).toBeGreaterThan(20);
  });
});

describe('fraud pattern signatures (default params)', () => {
  it('card testing: tiny amounts, clustered in time, fresh instruments, many declines', () => {
    const ct = ofPattern('card_testing');
    expect(ct.filter((e) => e.amount_fen <= 200).length / ct.length).toBeGreaterThan(0.9);
    const gaps: number[] = [];
    for (const evs of groupBy(ct, (e) => e.device_id).values()) {
      for (let i = 1; i < evs.length; i++) gaps.push(evs[i]!.ts - evs[i - 1]!.ts);
    }
    expect(median(gaps)).toBeLessThan(5 * MINUTE);
    expect(ct.filter((e) => e.outcome === 'declined').length / ct.length).toBeGreaterThan(0.3);
    expect(median(ct.map((e) => e.ts - e.instrument_created_ts))).toBeLessThan(DAY);
    const perInstrument = groupBy(ct, (e) => e.instrument_id);
    expect(ct.length / perInstrument.size).toBeLessThan(5);
  });

  it('device farm: many payer accounts per device, far more than on legitimate devices', () => {
    const { events } = full();
    const payersOf = (evs: SimEvent[]): Map<string, Set<string>> => {
      const m = new Map<string, Set<string>>();
      for (const e of evs) {
        const s = m.get(e.device_id) ?? new Set<string>();
        s.add(e.payer_id);
        m.set(e.device_id, s);
      }
      return m;
    };
    const farm = [...payersOf(ofPattern('device_farm')).values()].map((s) => s.size);
    const legit = [...payersOf(events.filter((e) => e.label === 'legit')).values()].map((s) => s.size);
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(farm)).toBeGreaterThanOrEqual(5);
    expect(mean(farm)).toBeGreaterThan(3 * mean(legit));
    expect(median(legit)).toBe(1);
  });

  it('account takeover: a device the payer never used before, new network, unusual amounts', () => {
    const { events } = full();
    const seenDevices = new Map<string, Set<string>>();
    const homeRegions = new Map<string, Map<string, number>>();
    const amounts = new Map<string, number[]>();
    let newDevice = 0;
    let newNetwork = 0;
    const ratios: number[] = [];
    for (const e of events) {
      if (e.pattern === 'account_takeover') {
        if (!seenDevices.get(e.payer_id)?.has(e.device_id)) newDevice++;
        const regions = homeRegions.get(e.payer_id);
        const home = regions ? [...regions.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] : undefined;
        if (e.ip_country !== 'CN' || e.ip_region !== home) newNetwork++;
        const hist = amounts.get(e.payer_id);
        if (hist && hist.length >= 3) ratios.push(e.amount_fen / median(hist));
      } else if (e.label === 'legit' && e.type === 'payment') {
        const d = seenDevices.get(e.payer_id) ?? new Set<string>();
        d.add(e.device_id);
        seenDevices.set(e.payer_id, d);
        const r = homeRegions.get(e.payer_id) ?? new Map<string, number>();
        r.set(e.ip_region, (r.get(e.ip_region) ?? 0) + 1);
        homeRegions.set(e.payer_id, r);
        const a = amounts.get(e.payer_id) ?? [];
        a.push(e.amount_fen);
        amounts.set(e.payer_id, a);
      }
    }
    const ato = ofPattern('account_takeover');
    expect(newDevice / ato.length).toBeGreaterThan(0.7);
    expect(newNetwork / ato.length).toBeGreaterThan(0.5);
    expect(median(ratios)).toBeGreaterThan(3);
    // Takeovers hit existing legitimate payers.
    const legitPayers = new Set(events.filter((e) => e.label === 'legit').map((e) => e.payer_id));
    expect(ato.every((e) => legitPayers.has(e.payer_id))).toBe(true);
  });

  it('refund abuse: fast, frequent refunds at the same merchants', () => {
    const { events } = full();
    const ra = ofPattern('refund_abuse');
    expect(ra.every((e) => e.type === 'refund')).toBe(true);
    const byId = new Map(events.map((e) => [e.id, e]));
    expect(median(ra.map((r) => r.ts - byId.get(r.refund_of as string)!.ts))).toBeLessThan(DAY);
    const abusers = new Set(ra.map((e) => e.payer_id));
    const ratio = (payers: Set<string> | null): number => {
      const evs = events.filter((e) => (payers ? payers.has(e.payer_id) : e.label === 'legit'));
      return evs.filter((e) => e.type === 'refund').length / evs.filter((e) => e.type === 'payment').length;
    };
    expect(ratio(abusers)).toBeGreaterThan(0.15);
    expect(ratio(null)).toBeLessThan(0.05);
    const merchantsPerAbuser = [...groupBy(ra, (e) => e.payer_id).values()].map(
      (evs) => new Set(evs.map((e) => e.merchant_id)).size,
    );
    expect(Math.max(...merchantsPerAbuser)).toBeLessThanOrEqual(2);
  });

  it('promotion abuse: young accounts redeeming the same promotion from few devices', () => {
    const pa = ofPattern('promotion_abuse').filter((e) => e.promotion_id !== null);
    const accounts = new Set(pa.map((e) => e.payer_id));
    const promos = new Set(pa.map((e) => e.promotion_id));
    const devices = new Set(pa.map((e) => e.device_id));
    expect(accounts.size / promos.size).toBeGreaterThan(8);
    expect(accounts.size / devices.size).toBeGreaterThan(3);
    expect(median(pa.map((e) => e.ts - e.payer_created_ts))).toBeLessThan(14 * DAY);
    expect(ofPattern('promotion_abuse').filter((e) => e.promotion_id).length).toBeGreaterThan(
      0.6 * ofPattern('promotion_abuse').length,
    );
  });

  it('mule: new accounts, high values, quasi-cash, many merchants', () => {
    const mu = ofPattern('mule');
    expect(median(mu.map((e) => e.amount_fen))).toBeGreaterThan(50_000);
    expect(mu.filter((e) => e.mcc === '6051').length / mu.length).toBeGreaterThan(0.3);
    const perMule = [...groupBy(mu, (e) => e.payer_id).values()];
    const firstAge = perMule.map((evs) => evs[0]!.ts - evs[0]!.payer_created_ts);
    expect(median(firstAge)).toBeLessThan(31 * DAY);
    const merchants = perMule.map((evs) => new Set(evs.map((e) => e.merchant_id)).size);
    expect(median(merchants)).toBeGreaterThanOrEqual(3);
  });
});

describe('hardness: legitimate look-alikes exist for every single signal', () => {
  it('no single signal is a clean fraud detector', () => {
    const { events } = full();
    const legitShare = (pred: (e: SimEvent) => boolean): number => {
      const hit = events.filter(pred);
      return hit.filter((e) => e.label === 'legit').length / hit.length;
    };
    expect(legitShare((e) => e.amount_fen <= 200)).toBeGreaterThan(0.4);
    expect(legitShare((e) => e.ip_country !== 'CN')).toBeGreaterThan(0.4);
    expect(legitShare((e) => e.ts - e.payer_created_ts < 7 * DAY)).toBeGreaterThan(0.4);
    expect(legitShare((e) => e.ts - e.instrument_created_ts < 3_600_000)).toBeGreaterThan(0.3);
    expect(legitShare((e) => e.promotion_id !== null)).toBeGreaterThan(0.4);
    expect(legitShare((e) => e.mcc === '6051' && e.amount_fen >= 100_000)).toBeGreaterThan(0.3);
    // Legitimate devices shared by ≥ 5 payers (public terminals, street promoters) exist.
    const legit = events.filter((e) => e.label === 'legit');
    const shared = [...groupBy(legit, (e) => e.device_id).values()].filter(
      (evs) => new Set(evs.map((e) => e.payer_id)).size >= 5,
    );
    expect(shared.length).toBeGreaterThan(5);
  });

  it('not every fraud event carries every signal', () => {
    const ct = ofPattern('card_testing');
    expect(ct.filter((e) => e.outcome === 'success').length).toBeGreaterThan(0.2 * ct.length);
    const ato = ofPattern('account_takeover');
    expect(ato.filter((e) => e.ip_country === 'CN').length).toBeGreaterThan(0.2 * ato.length);
    const mu = ofPattern('mule');
    expect(mu.filter((e) => e.amount_fen < 20_000).length).toBeGreaterThan(0.05 * mu.length);
  });
});

describe('presets', () => {
  it('the shifted preset changes the seed, the period and every pattern', () => {
    expect(shiftedPreset.seed).not.toBe(trainingPreset.seed);
    expect(shiftedPreset.startMs).toBeGreaterThanOrEqual(trainingPreset.startMs + trainingPreset.days * DAY);
    for (const p of PATTERNS) {
      expect(JSON.stringify(shiftedPreset.patterns[p]), p).not.toBe(
        JSON.stringify(trainingPreset.patterns[p]),
      );
    }
    const t = trainingPreset.patterns;
    const s = shiftedPreset.patterns;
    expect(s.card_testing.burstSize[1]).toBeLessThan(t.card_testing.burstSize[0] + 10);
    expect(s.card_testing.burstSpanMinutes).toBeGreaterThan(t.card_testing.burstSpanMinutes);
    expect(s.account_takeover.amountMultiplier[1]).toBeLessThan(t.account_takeover.amountMultiplier[1]);
    expect(s.device_farm.accountsPerDevice[1]).toBeLessThan(t.device_farm.accountsPerDevice[1]);
    expect(s.refund_abuse.refundShare).toBeLessThan(t.refund_abuse.refundShare);
    expect(s.refund_abuse.refundDelayMedianHours).toBeGreaterThan(t.refund_abuse.refundDelayMedianHours);
    // The presets are independent copies.
    expect(trainingPreset.patterns).not.toBe(defaultParams.patterns);
  });

  it('shifted traffic really is different: slower card testing, smaller takeover jumps', () => {
    const size = { payers: 2_500, days: 20 };
    const train = simulateAll(mergeParams(trainingPreset, size));
    const shifted = simulateAll(mergeParams(shiftedPreset, size));
    for (const p of PATTERNS)
      expect(
        shifted.some((e) => e.pattern === p),
        p,
      ).toBe(true);
    const gap = (evs: SimEvent[]): number => {
      const gaps: number[] = [];
      for (const list of groupBy(
        evs.filter((e) => e.pattern === 'card_testing'),
        (e) => e.payer_id,
      ).values()) {
        for (let i = 1; i < list.length; i++) gaps.push(list[i]!.ts - list[i - 1]!.ts);
      }
      return median(gaps);
    };
    expect(gap(shifted)).toBeGreaterThan(3 * gap(train));
    const atoAmount = (evs: SimEvent[]): number =>
      median(evs.filter((e) => e.pattern === 'account_takeover').map((e) => e.amount_fen));
    expect(atoAmount(shifted)).toBeLessThan(atoAmount(train));
  });
});

describe('data sets', () => {
  it('writeDataset / readDataset round-trip, byte-identical across runs', () => {
    const dir = mkdtempSync(join(tmpdir(), 'zhifu-sim-'));
    try {
      const a = join(dir, 'nested', 'a.jsonl');
      const b = join(dir, 'b.jsonl');
      const summary = writeDataset(small, a);
      writeDataset(small, b);
      const expected = simulateAll(small);
      expect(summary.events).toBe(expected.length);
      expect(summary.fraud).toBe(expected.filter((e) => e.label === 'fraud').length);
      expect(Object.keys(summary.byPattern).sort()).toEqual([...PATTERNS].sort());
      expect(Object.values(summary.byPattern).reduce((x, y) => x + y, 0)).toBe(summary.fraud);
      const bytes = readFileSync(a);
      expect(sha256(bytes)).toBe(sha256(readFileSync(b)));
      expect(sha256(bytes)).toBe(sha256(jsonl(expected)));
      expect(readDataset(a)).toEqual(expected);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
