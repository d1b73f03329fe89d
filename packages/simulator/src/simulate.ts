/**
 * The simulation engine: builds merchants, promotions and payers from the seed, plants the fraud
 * patterns, and streams all events in time order.
 *
 * Streaming: legitimate payers are planned one day at a time into a min-heap; an event is yielded
 * once its day has been planned by everyone, so only about a day of traffic (plus pending refunds
 * and the pre-planned fraud, a few thousand events) is held in memory.
 */
import type { Range, SimParams } from './params.ts';
import { Rng, WeightedTable, zipfWeights } from './random.ts';
import { type InstrumentKind, MCCS, type Mcc, type PatternName, type SimEvent } from './types.ts';
import {
  COUNTRIES,
  type Country,
  HOUR_WEIGHTS,
  ipIn,
  ipInSubnet,
  MCC_PROFILES,
  type MccProfile,
  REGIONS,
  type Region,
  subnetIn,
} from './world.ts';

export const MINUTE = 60_000;
export const HOUR = 3_600_000;
export const DAY = 86_400_000;
/** China Standard Time offset (circadian hours are local). */
const CST = 8 * HOUR;

const BIG_MCCS: readonly Mcc[] = ['5732', '5311', '5691'];
const MICRO_MCCS: readonly Mcc[] = ['5999', '5816', '4121'];
const RISKY_MCCS: readonly Mcc[] = ['5732', '6051', '5816', '7995'];
const TESTING_MCCS: readonly Mcc[] = ['5816', '5999', '5411', '5812'];
const FARM_MCCS: readonly Mcc[] = ['5816', '5999', '5411', '4121'];
const ABUSE_MCCS: readonly Mcc[] = ['5691', '5732', '5311', '5999'];
const MULE_SPREAD_MCCS: readonly Mcc[] = ['5732', '5999', '5311', '7995', '5816', '5691'];
const MAX_AMOUNT_FEN = 5_000_000;
/** Typical in-app purchase price points, fen. */
const IN_APP_PRICES: readonly number[] = [
  100, 100, 600, 600, 600, 1_200, 1_800, 3_000, 6_800, 12_800, 32_800, 64_800,
];

interface Merchant {
  id: string;
  mcc: Mcc;
  profile: MccProfile;
  /** null: online merchant, reachable from everywhere. */
  region: Region | null;
  popularity: number;
  promos: Promo[];
}

interface Promo {
  id: string;
  merchant: Merchant;
  start: number;
  end: number;
  minSpendFen: number;
  /** The street promoter signing up new users for this promotion: one phone, one /24. */
  promoter: { deviceId: string; subnet: string; region: Region };
}

interface Instrument {
  id: string;
  kind: InstrumentKind;
  createdTs: number;
}

interface Place {
  ip: string;
  country: string;
  region: string;
}

interface Account {
  id: string;
  createdTs: number;
}

interface Draft {
  seq: number;
  id: string;
  ts: number;
  type: 'payment' | 'refund';
  payer: Account;
  merchant: Merchant;
  amount: number;
  deviceId: string;
  place: Place;
  inst: Instrument;
  promoId: string | null;
  ref: Draft | null;
  outcome: 'success' | 'declined';
  pattern: PatternName | null;
}

interface PaymentSpec {
  ts: number;
  payer: Account;
  merchant: Merchant;
  amount: number;
  deviceId: string;
  place: Place;
  inst: Instrument;
  promoId?: string | null;
  outcome?: 'success' | 'declined';
  pattern: PatternName | null;
}

const lo = (r: Range): number => r[0];
const hi = (r: Range): number => Math.max(r[0], r[1]);
const intIn = (rng: Rng, r: Range): number => rng.int(Math.round(lo(r)), Math.round(hi(r)));
const realIn = (rng: Rng, r: Range): number => rng.uniform(lo(r), hi(r));
const logIn = (rng: Rng, r: Range): number =>
  lo(r) > 0 ? rng.logUniform(lo(r), hi(r) + 1e-9) : realIn(rng, r);
const fen = (x: number): number => Math.min(MAX_AMOUNT_FEN, Math.max(1, Math.round(x)));
/** Round to whole yuan (100 fen) or tens of yuan, as people often pay round sums. */
const roundish = (rng: Rng, amount: number, p: number): number => {
  if (!rng.chance(p)) return fen(amount);
  const unit = amount >= 50_000 ? 1_000 : 100;
  return fen(Math.max(unit, Math.round(amount / unit) * unit));
};

class DraftHeap {
  private readonly a: Draft[] = [];

  get size(): number {
    return this.a.length;
  }

  peek(): Draft | undefined {
    return this.a[0];
  }

  private static less(x: Draft, y: Draft): boolean {
    return x.ts < y.ts || (x.ts === y.ts && x.seq < y.seq);
  }

  push(d: Draft): void {
    const a = this.a;
    a.push(d);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = a[p] as Draft;
      if (!DraftHeap.less(d, parent)) break;
      a[i] = parent;
      i = p;
    }
    a[i] = d;
  }

  pop(): Draft | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (top === undefined || last === undefined || a.length === 0) return top;
    let i = 0;
    const n = a.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && DraftHeap.less(a[r] as Draft, a[l] as Draft)) c = r;
      if (!DraftHeap.less(a[c] as Draft, last)) break;
      a[i] = a[c] as Draft;
      i = c;
    }
    a[i] = last;
    return top;
  }
}

/** Number of actors for a pattern rate: round(rate × payers), at least 1 when rate > 0. */
export function actorCount(rate: number, payers: number): number {
  return rate > 0 ? Math.max(1, Math.round(rate * payers)) : 0;
}

class Sim {
  readonly p: SimParams;
  readonly rng: Rng;
  readonly tag: string;
  readonly start: number;
  readonly end: number;
  readonly heap = new DraftHeap();
  private seq = 0;
  private readonly ids = new Set<string>();
  readonly merchants: Merchant[] = [];
  readonly promos: Promo[] = [];
  readonly payers: Payer[] = [];
  readonly regionTable: WeightedTable<Region>;
  readonly travelCountries: WeightedTable<Country>;
  readonly vpnCountries: WeightedTable<Country>;
  readonly fraudCountries: WeightedTable<Country>;
  private readonly tables = new Map<string, WeightedTable<Merchant>>();

  constructor(params: SimParams) {
    validate(params);
    this.p = params;
    this.rng = new Rng(params.seed);
    this.tag = (params.seed >>> 0).toString(36);
    this.start = params.startMs;
    this.end = params.startMs + params.days * DAY;
    this.regionTable = new WeightedTable(
      REGIONS,
      REGIONS.map((r) => r.weight),
    );
    this.travelCountries = new WeightedTable(
      COUNTRIES,
      COUNTRIES.map((c) => c.travel),
    );
    this.vpnCountries = new WeightedTable(
      COUNTRIES,
      COUNTRIES.map((c) => c.vpn),
    );
    this.fraudCountries = new WeightedTable(
      COUNTRIES,
      COUNTRIES.map((c) => c.fraud),
    );
  }

  dayStart(d: number): number {
    return this.start + d * DAY;
  }

  isWeekend(ts: number): boolean {
    const wd = new Date(ts + CST).getUTCDay();
    return wd === 0 || wd === 6;
  }

  newId(prefix: string, rng: Rng): string {
    for (;;) {
      const id = `${prefix}_${rng.hex(12)}`;
      if (!this.ids.has(id)) {
        this.ids.add(id);
        return id;
      }
    }
  }

  /** Merchants of the given MCCs that are online or located in `region` (null: online only). */
  table(region: Region | null, mccs: readonly Mcc[]): WeightedTable<Merchant> {
    const key = `${region?.code ?? '-'}|${mccs.join(',')}`;
    let t = this.tables.get(key);
    if (t) return t;
    let ms = this.merchants.filter((m) => mccs.includes(m.mcc) && (m.region === null || m.region === region));
    if (ms.length === 0) ms = this.merchants.filter((m) => mccs.includes(m.mcc));
    if (ms.length === 0) ms = this.merchants;
    t = new WeightedTable(
      ms,
      ms.map((m) => m.popularity),
    );
    this.tables.set(key, t);
    return t;
  }

  localTable(region: Region | null): WeightedTable<Merchant> {
    return this.table(region, MCCS);
  }

  activePromo(m: Merchant, ts: number): Promo | null {
    for (const pr of m.promos) if (ts >= pr.start && ts < pr.end) return pr;
    return null;
  }

  activePromos(ts: number): Promo[] {
    return this.promos.filter((pr) => ts >= pr.start && ts < pr.end);
  }

  domestic(region: Region, rng: Rng): Place {
    return { ip: ipIn(rng.pick(region.prefixes), rng), country: 'CN', region: region.code };
  }

  foreign(country: Country, rng: Rng): Place {
    return { ip: ipIn(rng.pick(country.prefixes), rng), country: country.code, region: '' };
  }

  otherRegion(not: Region, rng: Rng): Region {
    for (let i = 0; i < 20; i++) {
      const r = this.regionTable.sample(rng);
      if (r !== not) return r;
    }
    return REGIONS.find((r) => r !== not) ?? not;
  }

  payment(s: PaymentSpec): Draft {
    const d: Draft = {
      seq: this.seq++,
      id: '',
      ts: Math.floor(s.ts),
      type: 'payment',
      payer: s.payer,
      merchant: s.merchant,
      amount: fen(s.amount),
      deviceId: s.deviceId,
      place: s.place,
      inst: s.inst,
      promoId: s.promoId ?? null,
      ref: null,
      outcome: s.outcome ?? 'success',
      pattern: s.pattern,
    };
    this.heap.push(d);
    return d;
  }

  refund(
    of: Draft,
    ts: number,
    amount: number,
    deviceId: string,
    place: Place,
    pattern: PatternName | null,
  ): Draft {
    if (of.outcome !== 'success') throw new Error('refund of a declined payment');
    const d: Draft = {
      seq: this.seq++,
      id: '',
      ts: Math.max(of.ts + 1, Math.floor(ts)),
      type: 'refund',
      payer: of.payer,
      merchant: of.merchant,
      amount: Math.min(of.amount, fen(amount)),
      deviceId,
      place,
      inst: of.inst,
      promoId: of.promoId,
      ref: of,
      outcome: 'success',
      pattern,
    };
    this.heap.push(d);
    return d;
  }
}

function validate(p: SimParams): void {
  const bad = (msg: string): never => {
    throw new RangeError(`invalid SimParams: ${msg}`);
  };
  if (!Number.isInteger(p.seed)) bad('seed must be an integer');
  if (!Number.isInteger(p.days) || p.days < 1) bad('days must be a positive integer');
  if (!Number.isFinite(p.startMs)) bad('startMs must be a finite number');
  if (!Number.isInteger(p.payers) || p.payers < 1) bad('payers must be a positive integer');
  if (!Number.isInteger(p.merchants) || p.merchants < 1) bad('merchants must be a positive integer');
}

// ---------------------------------------------------------------------------------------------
// Merchants and promotions
// ---------------------------------------------------------------------------------------------

function buildMerchants(sim: Sim): void {
  const rng = sim.rng.fork('merchants');
  const m = sim.p.market;
  const mccWeights = MCCS.map((c) => Math.max(0, m.mccWeights[c] ?? 0));
  const popularity = rng.shuffle(zipfWeights(sim.p.merchants, m.zipfExponent));
  for (let i = 0; i < sim.p.merchants; i++) {
    const mcc = rng.weightedPick(MCCS, mccWeights);
    const profile = MCC_PROFILES[mcc];
    const online = rng.chance(profile.onlineShare);
    sim.merchants.push({
      id: `m_${sim.tag}_${String(i).padStart(5, '0')}`,
      mcc,
      profile,
      region: online ? null : sim.regionTable.sample(rng),
      popularity: popularity[i] ?? 1,
      promos: [],
    });
  }
  let n = 0;
  const addPromo = (merchant: Merchant, start: number, days: number): void => {
    const minSpend = Math.max(
      1_000,
      Math.round((merchant.profile.medianFen * rng.uniform(0.8, 1.6)) / 500) * 500,
    );
    const region = merchant.region ?? sim.regionTable.sample(rng);
    const promo: Promo = {
      id: `promo_${sim.tag}_${String(n++).padStart(4, '0')}`,
      merchant,
      start: Math.floor(start),
      end: Math.floor(start + days * DAY),
      minSpendFen: minSpend,
      promoter: { deviceId: sim.newId('d', rng), subnet: subnetIn(region.prefixes, rng), region },
    };
    merchant.promos.push(promo);
    sim.promos.push(promo);
  };
  for (const merchant of sim.merchants) {
    if (!rng.chance(m.promoMerchantShare)) continue;
    const k = intIn(rng, m.promosPerMerchant);
    for (let j = 0; j < k; j++) {
      addPromo(merchant, rng.uniform(sim.start - 3 * DAY, sim.end - DAY), intIn(rng, m.promoDays));
    }
  }
  if (sim.promos.length === 0) {
    // Promotion abuse needs at least one promotion: give the most popular merchant one.
    const top = sim.merchants.reduce((a, b) => (b.popularity > a.popularity ? b : a));
    addPromo(top, sim.start + Math.floor((sim.end - sim.start) / 4), Math.max(1, Math.ceil(sim.p.days / 2)));
  }
  for (const merchant of sim.merchants) merchant.promos.sort((a, b) => a.start - b.start);
}

// ---------------------------------------------------------------------------------------------
// Legitimate payers
// ---------------------------------------------------------------------------------------------

interface Trip {
  start: number;
  end: number;
  region: Region | null;
  country: Country | null;
}

type PayKind = 'normal' | 'big' | 'bind' | 'first';

class Payer implements Account {
  readonly id: string;
  readonly createdTs: number;
  home: Region;
  homeIp: string;
  readonly shift: number;
  readonly sigma: number;
  readonly rate: number;
  readonly hours: WeightedTable<number>;
  readonly primary: string;
  second: string | null;
  /** A public terminal this payer sometimes uses. */
  kiosk: string | null = null;
  readonly gamer: boolean;
  readonly newPhone: { ts: number; id: string } | null;
  readonly instruments: Instrument[] = [];
  readonly instrumentWeights: number[] = [];
  readonly bound: Instrument | null;
  readonly favourites: Merchant[];
  readonly trip: Trip | null;
  readonly vpn: Country | null;
  readonly bigDays: Set<number>;
  readonly refundRate: number;
  private readonly rng: Rng;

  /** Set for payers signed up by a street promoter: their first payment redeems this promotion. */
  readonly recruitedBy: Promo | null;

  constructor(sim: Sim, index: number, recruit: { promo: Promo; createdTs: number } | null = null) {
    const rng = sim.rng.fork('payers').fork(index);
    this.rng = rng;
    const L = sim.p.legit;
    const isNew = recruit !== null || rng.chance(L.newPayerShare);
    this.id = sim.newId('u', rng);
    this.recruitedBy = recruit?.promo ?? null;
    this.createdTs = recruit
      ? recruit.createdTs
      : isNew
        ? Math.floor(sim.start + rng.float() * (sim.end - sim.start - HOUR))
        : Math.floor(sim.start - Math.max(DAY, rng.lognormalMedian(L.accountAgeDaysMedian, 0.9) * DAY));
    this.home = recruit ? recruit.promo.promoter.region : sim.regionTable.sample(rng);
    this.homeIp = ipIn(rng.pick(this.home.prefixes), rng);
    const highSpender = rng.chance(L.highSpenderShare);
    this.shift = rng.normal(0, L.amountShiftSigma) + (highSpender ? L.highSpenderShift : 0);
    this.sigma = realIn(rng, L.amountSigma);
    // Street recruits are mostly one-off users.
    this.rate =
      Math.min(12, rng.lognormalMedian(L.paymentsPerDayMedian, L.paymentsPerDaySigma)) * (recruit ? 0.3 : 1);
    const offset = rng.chance(L.nightOwlShare) ? rng.int(3, 5) : rng.pick([-1, 0, 0, 0, 1, 2]);
    const hw: number[] = [];
    for (let h = 0; h < 24; h++)
      hw.push((HOUR_WEIGHTS[(h - offset + 24) % 24] ?? 1) * rng.lognormal(0, 0.35));
    this.hours = new WeightedTable(
      hw.map((_, h) => h),
      hw,
    );
    this.primary = sim.newId('d', rng);
    this.second = rng.chance(L.secondDeviceShare) ? sim.newId('d', rng) : null;
    const activeFrom = Math.max(sim.start, this.createdTs);
    const scale = sim.p.days / 30;
    this.newPhone =
      rng.chance(Math.min(1, L.newPhoneShare * scale)) && sim.end - activeFrom > DAY
        ? { ts: Math.floor(rng.uniform(activeFrom + DAY / 2, sim.end)), id: sim.newId('d', rng) }
        : null;
    const kinds: InstrumentKind[] = ['balance', 'debit_card', 'credit_card', 'credit_line'];
    const kindWeights = [0.35, 0.3, 0.15, 0.2];
    const nInst = intIn(rng, L.instruments);
    for (let i = 0; i < nInst; i++) {
      const createdTs =
        i === 0
          ? this.createdTs
          : isNew
            ? Math.floor(this.createdTs + rng.float() * (sim.end - this.createdTs))
            : Math.floor(this.createdTs + rng.float() * (sim.start - this.createdTs));
      this.instruments.push({
        id: sim.newId('i', rng),
        kind: rng.weightedPick(kinds, kindWeights),
        createdTs,
      });
      this.instrumentWeights.push(rng.lognormal(0, 1));
    }
    if (rng.chance(Math.min(1, L.newInstrumentShare * scale)) && sim.end - activeFrom > 2 * HOUR) {
      const b: Instrument = {
        id: sim.newId('i', rng),
        kind: rng.chance(0.6) ? 'debit_card' : 'credit_card',
        createdTs: Math.floor(rng.uniform(activeFrom + HOUR, sim.end - HOUR)),
      };
      this.bound = b;
      this.instruments.push(b);
      this.instrumentWeights.push(3);
    } else {
      this.bound = null;
    }
    const local = sim.localTable(this.home);
    this.favourites = [];
    const nFav = intIn(rng, L.favouriteMerchants);
    for (let i = 0; i < nFav * 3 && this.favourites.length < nFav; i++) {
      const m = local.sample(rng);
      if (!this.favourites.includes(m)) this.favourites.push(m);
    }
    if (highSpender && rng.chance(0.6)) this.favourites.push(sim.table(null, ['6051']).sample(rng));
    if (rng.chance(Math.min(1, L.travelShare * scale))) {
      const start = Math.floor(sim.dayStart(rng.int(0, sim.p.days - 1)) + rng.int(6, 20) * HOUR);
      const foreign = rng.chance(L.foreignTripShare);
      this.trip = {
        start,
        end: start + intIn(rng, L.tripDays) * DAY,
        region: foreign ? null : sim.otherRegion(this.home, rng),
        country: foreign ? sim.travelCountries.sample(rng) : null,
      };
    } else {
      this.trip = null;
    }
    this.vpn = rng.chance(L.vpnShare) ? sim.vpnCountries.sample(rng) : null;
    this.gamer = rng.chance(L.gamerShare);
    this.bigDays = new Set();
    const nBig = rng.poisson(L.bigPurchasesPer30Days * scale);
    for (let i = 0; i < nBig; i++) this.bigDays.add(rng.int(0, sim.p.days - 1));
    this.refundRate = rng.chance(L.serialReturnerShare)
      ? L.serialReturnerRefundRate
      : L.refundRate * rng.lognormal(0, 0.5);
  }

  /** The payer's usual ticket in fen. */
  get typicalFen(): number {
    return 5_000 * Math.exp(this.shift);
  }

  onTrip(ts: number): Trip | null {
    const t = this.trip;
    return t && ts >= t.start && ts < t.end ? t : null;
  }

  sampleTs(dayStart: number, rng: Rng): number {
    return dayStart + this.hours.sample(rng) * HOUR + Math.floor(rng.float() * HOUR);
  }

  deviceAt(ts: number, rng: Rng, secondDeviceUseProb: number, publicDeviceUseProb = 0): string {
    if (this.kiosk && rng.chance(publicDeviceUseProb)) return this.kiosk;
    if (this.second && rng.chance(secondDeviceUseProb)) return this.second;
    return this.newPhone && ts >= this.newPhone.ts ? this.newPhone.id : this.primary;
  }

  placeAt(ts: number, rng: Rng, sim: Sim): Place {
    const trip = this.onTrip(ts);
    if (trip?.country) return sim.foreign(trip.country, rng);
    if (this.vpn && rng.chance(sim.p.legit.vpnUseProb)) return sim.foreign(this.vpn, rng);
    if (trip?.region) return sim.domestic(trip.region, rng);
    if (rng.chance(0.5)) return { ip: this.homeIp, country: 'CN', region: this.home.code };
    return sim.domestic(this.home, rng);
  }

  instrumentAt(ts: number, rng: Rng, prefer?: readonly InstrumentKind[]): Instrument {
    let total = 0;
    for (let i = 0; i < this.instruments.length; i++) {
      const inst = this.instruments[i] as Instrument;
      if (inst.createdTs > ts) continue;
      const w = this.instrumentWeights[i] ?? 1;
      total += prefer ? w * (prefer.includes(inst.kind) ? 10 : 1) : w;
    }
    let r = rng.float() * total;
    let last = this.instruments[0] as Instrument;
    for (let i = 0; i < this.instruments.length; i++) {
      const inst = this.instruments[i] as Instrument;
      if (inst.createdTs > ts) continue;
      const w = this.instrumentWeights[i] ?? 1;
      r -= prefer ? w * (prefer.includes(inst.kind) ? 10 : 1) : w;
      last = inst;
      if (r < 0) return inst;
    }
    return last;
  }

  /** Plan day `d` of this payer's legitimate traffic. */
  plan(sim: Sim, d: number): void {
    const ds = sim.dayStart(d);
    const de = ds + DAY;
    if (this.createdTs >= de) return;
    const rng = this.rng;
    const L = sim.p.legit;
    let factor = sim.isWeekend(ds + 12 * HOUR) ? L.weekendFactor : 1;
    if (this.onTrip(ds + 12 * HOUR)) factor *= 1.2;
    const times: number[] = [];
    const kinds: PayKind[] = [];
    const n = rng.poisson(this.rate * factor);
    for (let i = 0; i < n; i++) {
      let ts = this.sampleTs(ds, rng);
      if (ts < this.createdTs) ts = this.createdTs + Math.floor(rng.float() * (de - this.createdTs));
      times.push(ts);
      kinds.push('normal');
    }
    if (this.bigDays.has(d)) {
      times.push(Math.max(this.createdTs + MINUTE, this.sampleTs(ds, rng)));
      kinds.push('big');
    }
    if (this.createdTs >= ds) {
      // A new user's first payment, often with a new-user promotion (street recruits: on the spot).
      times.push(
        this.createdTs +
          Math.floor(
            this.recruitedBy
              ? rng.uniform(1, 10) * MINUTE
              : Math.min(DAY / 2, rng.lognormalMedian(30 * MINUTE, 1)),
          ),
      );
      kinds.push('first');
    }
    const b = this.bound;
    if (b && b.createdTs >= ds && b.createdTs < de) {
      times.push(b.createdTs + Math.floor(rng.uniform(1, 30) * MINUTE));
      kinds.push('bind');
    }
    for (let i = 0; i < times.length; i++) this.pay(sim, times[i] as number, kinds[i] as PayKind);
  }

  private pay(sim: Sim, ts: number, kind: PayKind, chain = 0, game: Merchant | null = null): void {
    const rng = this.rng;
    const L = sim.p.legit;
    let place = this.placeAt(ts, rng, sim);
    const trip = this.onTrip(ts);
    const region = trip ? trip.region : this.home;
    let merchant: Merchant;
    let amount: number;
    const pushedBy = kind === 'first' ? this.recruitedBy : null;
    const recruited = pushedBy
      ? [pushedBy]
      : kind === 'first' && rng.chance(L.newUserPromoShare)
        ? sim.activePromos(ts)
        : [];
    let promoId: string | null = null;
    if (recruited.length > 0) {
      const promo = rng.pick(recruited);
      merchant = promo.merchant;
      amount = promo.minSpendFen + rng.int(0, 800);
      promoId = promo.id;
    } else if (game) {
      merchant = game;
      amount = rng.pick(IN_APP_PRICES);
    } else if (this.gamer && kind === 'normal' && rng.chance(0.25)) {
      merchant = sim.table(null, ['5816']).sample(rng);
      amount = rng.pick(IN_APP_PRICES);
    } else if (kind === 'big' || (trip && rng.chance(0.05))) {
      merchant = sim.table(region, BIG_MCCS).sample(rng);
      amount = Math.max(merchant.profile.medianFen, this.typicalFen * logIn(rng, L.bigPurchaseMultiplier));
    } else if (rng.chance(L.microPaymentShare)) {
      merchant = sim.table(region, MICRO_MCCS).sample(rng);
      amount = rng.chance(0.3) ? rng.pick([1, 10, 50, 100, 100, 150, 200]) : rng.int(1, 200);
    } else {
      merchant =
        !trip && kind !== 'first' && this.favourites.length > 0 && rng.chance(L.favouriteProb)
          ? rng.pick(this.favourites)
          : sim.localTable(region).sample(rng);
      amount = rng.lognormalMedian(merchant.profile.medianFen * Math.exp(this.shift), this.sigma);
    }
    amount = roundish(rng, amount, 0.35);
    const promo = promoId === null ? sim.activePromo(merchant, ts) : null;
    if (promo) {
      const useProb = Math.min(0.95, sim.p.market.promoUseProb * (kind === 'first' ? 1.4 : 1));
      if (amount >= promo.minSpendFen) {
        if (rng.chance(useProb)) promoId = promo.id;
      } else if (amount >= 0.7 * promo.minSpendFen && rng.chance(sim.p.market.promoTopUpProb)) {
        amount = promo.minSpendFen + rng.int(0, 500);
        promoId = promo.id;
      }
    }
    const inst = kind === 'bind' && this.bound ? this.bound : this.instrumentAt(ts, rng);
    let device = this.deviceAt(ts, rng, L.secondDeviceUseProb, L.publicDeviceUseProb);
    if (pushedBy) {
      const pr = pushedBy.promoter;
      device = pr.deviceId;
      place = { ip: ipInSubnet(pr.subnet, rng), country: 'CN', region: pr.region.code };
    }
    const declineP = (p: Instrument, a: number): number =>
      Math.min(0.4, L.declineProb * (p.kind === 'balance' ? 2 : 1) * (a > 5 * this.typicalFen ? 3 : 1));
    const first = sim.payment({
      ts,
      payer: this,
      merchant,
      amount,
      deviceId: device,
      place,
      inst,
      promoId,
      outcome: rng.chance(declineP(inst, amount)) ? 'declined' : 'success',
      pattern: null,
    });
    let settled: Draft | null = first.outcome === 'success' ? first : null;
    if (!settled && rng.chance(L.retryProb)) {
      const others = this.instruments.filter((x) => x !== inst && x.createdTs <= ts);
      const retryInst = others.length > 0 ? rng.pick(others) : inst;
      const retry = sim.payment({
        ts: ts + rng.uniform(20_000, 5 * MINUTE),
        payer: this,
        merchant,
        amount: first.amount,
        deviceId: device,
        place,
        inst: retryInst,
        promoId,
        outcome: rng.chance(retryInst === inst ? 0.5 : 0.1) ? 'declined' : 'success',
        pattern: null,
      });
      if (retry.outcome === 'success') settled = retry;
    }
    if (settled && rng.chance(Math.min(0.9, this.refundRate * merchant.profile.refundMultiplier))) {
      const quick = rng.chance(L.quickRefundShare);
      const rts =
        settled.ts +
        (quick
          ? rng.uniform(2, 60) * MINUTE
          : Math.max(5 * MINUTE, rng.lognormalMedian(L.refundDelayMedianHours * HOUR, 1)));
      const amt =
        !quick && rng.chance(L.partialRefundShare)
          ? Math.max(1, Math.round(settled.amount * rng.uniform(0.1, 0.9)))
          : settled.amount;
      sim.refund(
        settled,
        rts,
        amt,
        this.deviceAt(rts, rng, L.secondDeviceUseProb),
        this.placeAt(rts, rng, sim),
        null,
      );
    }
    // Sessions: another purchase minutes later (in-app purchase sprees for gamers at 5816 merchants).
    if (kind !== 'normal' || chain >= 8) return;
    const inGame = this.gamer && merchant.mcc === '5816';
    if (rng.chance(inGame ? L.gamerContinueProb : L.sessionContinueProb)) {
      const next = ts + Math.max(20_000, rng.lognormalMedian((inGame ? 4 : 12) * MINUTE, 0.8));
      this.pay(sim, next, 'normal', chain + 1, inGame ? merchant : null);
    }
  }
}

function buildPayers(sim: Sim): void {
  // Street promotion campaigns: recruits are signed up in sessions of a few hours inside the promotion.
  const L = sim.p.legit;
  const grng = sim.rng.fork('ground_push');
  const recruits: { promo: Promo; createdTs: number }[] = [];
  const budget = Math.floor(sim.p.payers / 2);
  for (const promo of sim.promos) {
    const from = Math.max(promo.start, sim.start);
    const to = Math.min(promo.end, sim.end) - 2 * HOUR;
    if (to - from < DAY || !grng.chance(L.groundPushPromoShare)) continue;
    const n = Math.max(1, intIn(grng, L.groundPushRecruits));
    const sessions = grng.int(1, 3);
    for (let s = 0; s < sessions; s++) {
      const day = Math.floor((from - sim.start) / DAY) + grng.int(0, Math.floor((to - from) / DAY) - 1);
      let t = Math.max(from, sim.dayStart(day) + grng.int(10, 17) * HOUR + Math.floor(grng.float() * HOUR));
      for (let k = 0; k < Math.ceil(n / sessions) && recruits.length < budget; k++) {
        t += grng.lognormalMedian(6, 0.6) * MINUTE;
        if (t < to) recruits.push({ promo, createdTs: Math.floor(t) });
      }
    }
  }
  const regular = sim.p.payers - recruits.length;
  for (let i = 0; i < regular; i++) sim.payers.push(new Payer(sim, i));
  recruits.forEach((r, k) => {
    sim.payers.push(new Payer(sim, regular + k, r));
  });
  // Households: some payers also use a relative's phone or tablet, from the same home network.
  const rng = sim.rng.fork('households');
  const n = sim.payers.length;
  if (n < 2) return;
  // Public terminals shared by many payers of one province (legitimate "many OpenIDs on one device").
  const kiosks = L.publicDeviceRate > 0 ? Math.round(L.publicDeviceRate * n) : 0;
  for (let k = 0; k < kiosks; k++) {
    const owner = sim.payers[rng.int(0, n - 1)] as Payer;
    const neighbours = sim.payers.filter((p) => p.home === owner.home && p.kiosk === null);
    const id = sim.newId('d', rng);
    for (const p of rng.sample(neighbours, intIn(rng, L.publicDeviceUsers))) p.kiosk = id;
  }
  for (const a of sim.payers) {
    if (!rng.chance(sim.p.legit.householdShare)) continue;
    const members = rng.int(1, 3);
    for (let k = 0; k < members; k++) {
      const b = sim.payers[rng.int(0, n - 1)] as Payer;
      if (b === a) continue;
      b.home = a.home;
      b.homeIp = a.homeIp;
      b.second = a.primary;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Fraud patterns
// ---------------------------------------------------------------------------------------------

/** A fraudster-controlled account; created `age` before its first event. */
class FraudAccount implements Account {
  readonly id: string;
  createdTs = Number.NaN;
  firstTs = Number.POSITIVE_INFINITY;
  /** Instruments bound between account creation and first use. */
  readonly signup: Instrument[] = [];

  constructor(sim: Sim, rng: Rng) {
    this.id = sim.newId('u', rng);
  }

  /** Earliest binding time of a non-signup instrument this account used. */
  private boundTs = Number.POSITIVE_INFINITY;

  use(ts: number, inst?: Instrument): void {
    if (ts < this.firstTs) this.firstTs = Math.floor(ts);
    if (inst && !this.signup.includes(inst) && inst.createdTs < this.boundTs) this.boundTs = inst.createdTs;
  }

  /** Fix the creation time once all events are known (before first use and before any card it used was bound). */
  settle(ageMs: number, rng: Rng): void {
    if (!Number.isFinite(this.firstTs)) {
      this.createdTs = 0;
      return;
    }
    this.createdTs = Math.floor(
      Math.min(this.firstTs - Math.max(MINUTE, ageMs), this.boundTs - rng.uniform(1, 60) * MINUTE),
    );
    for (const inst of this.signup) {
      inst.createdTs = Math.floor(this.createdTs + rng.float() * 0.5 * (this.firstTs - this.createdTs));
    }
  }
}

function plantAccountTakeover(sim: Sim, victims: Payer[]): void {
  const P = sim.p.patterns.account_takeover;
  const rng = sim.rng.fork('account_takeover');
  const risky = sim.table(null, RISKY_MCCS);
  const online = sim.localTable(null);
  for (const v of victims) {
    const day = rng.int(Math.min(2, sim.p.days - 1), sim.p.days - 1);
    const hour = rng.chance(P.oddHoursProb) ? rng.int(0, 5) : rng.int(8, 23);
    const t0 = sim.dayStart(day) + hour * HOUR + Math.floor(rng.float() * HOUR);
    const newDevice = rng.chance(P.newDeviceProb);
    const device = newDevice ? sim.newId('d', rng) : v.deviceAt(t0, rng, 0);
    const foreign = rng.chance(P.foreignIpProb) ? sim.fraudCountries.sample(rng) : null;
    const region = rng.chance(P.homeRegionProb) ? v.home : sim.otherRegion(v.home, rng);
    const placeFor = (): Place =>
      !newDevice ? v.placeAt(t0, rng, sim) : foreign ? sim.foreign(foreign, rng) : sim.domestic(region, rng);
    let place = placeFor();
    const inst: Instrument = rng.chance(P.newInstrumentProb)
      ? {
          id: sim.newId('i', rng),
          kind: rng.chance(0.7) ? 'credit_card' : 'debit_card',
          createdTs: t0 - rng.int(1, 20) * MINUTE,
        }
      : v.instrumentAt(t0, rng, ['credit_line', 'credit_card', 'balance']);
    const n = intIn(rng, P.paymentsPerTakeover);
    const offsets = [0];
    for (let i = 1; i < n; i++) offsets.push(rng.float() * P.spreadMinutes * MINUTE);
    offsets.sort((a, b) => a - b);
    for (const off of offsets) {
      if (rng.chance(0.3)) place = placeFor();
      const merchant = rng.chance(P.riskyMerchantProb) ? risky.sample(rng) : online.sample(rng);
      const amount = v.typicalFen * logIn(rng, P.amountMultiplier) * rng.lognormal(0, 0.15);
      sim.payment({
        ts: t0 + off,
        payer: v,
        merchant,
        amount: roundish(rng, Math.max(100, amount), 0.5),
        deviceId: device,
        place,
        inst,
        outcome: rng.chance(P.declineProb) ? 'declined' : 'success',
        pattern: 'account_takeover',
      });
    }
  }
}

function plantCardTesting(sim: Sim): void {
  const P = sim.p.patterns.card_testing;
  const rng = sim.rng.fork('card_testing');
  const targets = sim.table(null, TESTING_MCCS);
  const risky = sim.table(null, RISKY_MCCS);
  const campaigns = actorCount(P.rate, sim.p.payers);
  for (let c = 0; c < campaigns; c++) {
    const accounts: FraudAccount[] = [];
    const aged: boolean[] = [];
    const nAcc = Math.max(1, intIn(rng, P.accountsPerCampaign));
    for (let i = 0; i < nAcc; i++) {
      accounts.push(new FraudAccount(sim, rng));
      aged.push(rng.chance(P.agedAccountProb));
    }
    const starts: number[] = [];
    const nb = Math.max(1, intIn(rng, P.bursts));
    for (let b = 0; b < nb; b++) {
      const hour = rng.chance(P.nightProb) ? rng.int(0, 5) : rng.int(0, 23);
      starts.push(sim.dayStart(rng.int(0, sim.p.days - 1)) + hour * HOUR + Math.floor(rng.float() * HOUR));
    }
    starts.sort((a, b) => a - b);
    let device = sim.newId('d', rng);
    for (let b = 0; b < starts.length; b++) {
      const t0 = starts[b] as number;
      if (b > 0 && rng.chance(P.deviceRotationProb)) device = sim.newId('d', rng);
      const ai = rng.int(0, accounts.length - 1);
      const acct = accounts[ai] as FraudAccount;
      const foreign = rng.chance(P.foreignIpProb) ? sim.fraudCountries.sample(rng) : null;
      const region = sim.regionTable.sample(rng);
      const subnet = subnetIn(foreign ? foreign.prefixes : region.prefixes, rng);
      const placeFor = (): Place => ({
        ip: ipInSubnet(subnet, rng),
        country: foreign ? foreign.code : 'CN',
        region: foreign ? '' : region.code,
      });
      const size = Math.max(1, intIn(rng, P.burstSize));
      const span = P.burstSpanMinutes * rng.lognormal(0, 0.8) * MINUTE;
      const perCard = Math.max(1, intIn(rng, P.attemptsPerCard));
      const cards: Instrument[] = [];
      for (let k = 0; k < Math.ceil(size / perCard); k++) {
        cards.push({
          id: sim.newId('i', rng),
          kind: rng.chance(0.7) ? 'credit_card' : 'debit_card',
          createdTs: Math.floor(t0 - logIn(rng, P.cardLeadMinutes) * MINUTE),
        });
      }
      const nm = Math.max(1, intIn(rng, P.merchantsPerBurst));
      const merchants: Merchant[] = [];
      for (let k = 0; k < nm * 4 && merchants.length < nm; k++) {
        const m = targets.sample(rng);
        if (!merchants.includes(m)) merchants.push(m);
      }
      const offsets = [0];
      for (let k = 1; k < size; k++) offsets.push(rng.float() * span);
      offsets.sort((a, b) => a - b);
      const passed: Instrument[] = [];
      let last = t0;
      for (let k = 0; k < size; k++) {
        const ts = t0 + (offsets[k] as number);
        const card = cards[Math.min(cards.length - 1, Math.floor(k / perCard))] as Instrument;
        const raw = rng.chance(0.35)
          ? rng.pick([1, 1, 10, 50, 100, 100, 200])
          : rng.int(lo(P.amountFen), hi(P.amountFen));
        const outcome = rng.chance(P.declineProb) ? 'declined' : 'success';
        if (outcome === 'success') passed.push(card);
        const who = rng.chance(P.accountRotationProb) ? rng.pick(accounts) : acct;
        who.use(ts, card);
        sim.payment({
          ts,
          payer: who,
          merchant: rng.pick(merchants),
          amount: Math.min(hi(P.amountFen), Math.max(lo(P.amountFen), raw)),
          deviceId: device,
          place: placeFor(),
          inst: card,
          outcome,
          pattern: 'card_testing',
        });
        last = ts;
      }
      if (passed.length > 0 && rng.chance(P.cashoutProb)) {
        const ts = last + rng.uniform(5, 120) * MINUTE;
        const card = rng.pick(passed);
        acct.use(ts, card);
        sim.payment({
          ts,
          payer: acct,
          merchant: risky.sample(rng),
          amount: roundish(rng, rng.lognormalMedian(P.cashoutAmountMedianFen, 0.6), 0.5),
          deviceId: device,
          place: placeFor(),
          inst: card,
          outcome: rng.chance(0.3) ? 'declined' : 'success',
          pattern: 'card_testing',
        });
      }
    }
    accounts.forEach((a, i) => {
      a.settle(aged[i] ? rng.uniform(30, 365) * DAY : rng.uniform(2, 72) * HOUR, rng);
    });
  }
}

function plantDeviceFarms(sim: Sim): void {
  const P = sim.p.patterns.device_farm;
  const rng = sim.rng.fork('device_farm');
  const targets = sim.table(null, FARM_MCCS);
  const farms = actorCount(P.rate, sim.p.payers);
  for (let f = 0; f < farms; f++) {
    const region = sim.regionTable.sample(rng);
    const subnet = subnetIn(region.prefixes, rng);
    const nd = Math.max(1, intIn(rng, P.devicesPerFarm));
    for (let dv = 0; dv < nd; dv++) {
      const device = sim.newId('d', rng);
      const accounts: FraudAccount[] = [];
      const na = Math.max(1, intIn(rng, P.accountsPerDevice));
      for (let i = 0; i < na; i++) {
        const a = new FraudAccount(sim, rng);
        a.signup.push({
          id: sim.newId('i', rng),
          kind: rng.chance(0.6) ? 'balance' : 'debit_card',
          createdTs: 0,
        });
        accounts.push(a);
      }
      const ns = Math.max(1, intIn(rng, P.sessions));
      const switchMinutes = P.switchMinutes * rng.lognormal(0, 0.8);
      for (let s = 0; s < ns; s++) {
        const hour = rng.chance(P.nightProb) ? rng.int(0, 5) : rng.int(9, 23);
        let t = sim.dayStart(rng.int(0, sim.p.days - 1)) + hour * HOUR + Math.floor(rng.float() * HOUR);
        const k = Math.max(
          1,
          Math.min(na, Math.round(na * P.accountsPerSessionShare * rng.uniform(0.7, 1.3))),
        );
        const active = rng.sample(accounts, k);
        for (let i = 0; i < active.length; i++) {
          const acct = active[i] as FraudAccount;
          if (i > 0) t += rng.lognormalMedian(switchMinutes, 0.5) * MINUTE;
          const np = Math.max(1, intIn(rng, P.paymentsPerAccount));
          for (let j = 0; j < np; j++) {
            if (j > 0) t += rng.uniform(0.5, 3) * MINUTE;
            let merchant: Merchant;
            let amount: number;
            let promoId: string | null = null;
            const promos = rng.chance(P.promoUseProb) ? sim.activePromos(t) : [];
            if (promos.length > 0) {
              const promo = rng.pick(promos);
              merchant = promo.merchant;
              amount = promo.minSpendFen + rng.int(0, 300);
              promoId = promo.id;
            } else {
              merchant = targets.sample(rng);
              amount = rng.lognormalMedian(P.amountMedianFen, P.amountSigma);
            }
            const place: Place = rng.chance(P.residentialProxyProb)
              ? sim.domestic(sim.regionTable.sample(rng), rng)
              : { ip: ipInSubnet(subnet, rng), country: 'CN', region: region.code };
            acct.use(t);
            sim.payment({
              ts: t,
              payer: acct,
              merchant,
              amount: roundish(rng, amount, 0.3),
              deviceId: device,
              place,
              inst: acct.signup[0] as Instrument,
              promoId,
              outcome: rng.chance(0.05) ? 'declined' : 'success',
              pattern: 'device_farm',
            });
          }
        }
      }
      for (const a of accounts) {
        a.settle(
          rng.chance(P.agedAccountProb) ? rng.uniform(30, 720) * DAY : realIn(rng, P.accountAgeHours) * HOUR,
          rng,
        );
      }
    }
  }
}

/** Legitimate look-alike of card testing: merchant staff testing their checkout with tiny payments. */
function plantStaffTests(sim: Sim): void {
  const L = sim.p.legit;
  const rng = sim.rng.fork('staff_tests');
  const established = sim.payers.filter((p) => p.createdTs < sim.start);
  const testers = rng.sample(
    established,
    L.staffTesterRate > 0 ? Math.round(L.staffTesterRate * sim.p.payers) : 0,
  );
  for (const payer of testers) {
    const merchant = rng.pick(sim.merchants);
    const bursts = rng.poisson((L.staffTestBurstsPer30Days * sim.p.days) / 30);
    for (let b = 0; b < bursts; b++) {
      let ts =
        sim.dayStart(rng.int(0, sim.p.days - 1)) + rng.int(9, 20) * HOUR + Math.floor(rng.float() * HOUR);
      const size = Math.max(1, intIn(rng, L.staffTestBurstSize));
      const device = payer.deviceAt(ts, rng, 0);
      const place = payer.placeAt(ts, rng, sim);
      for (let k = 0; k < size; k++) {
        ts += rng.uniform(0.3, 4) * MINUTE;
        const pay = sim.payment({
          ts,
          payer,
          merchant,
          amount: rng.chance(0.5) ? rng.pick([1, 1, 1, 10, 100]) : rng.int(1, 100),
          deviceId: device,
          place,
          inst: payer.instrumentAt(ts, rng),
          outcome: rng.chance(0.1) ? 'declined' : 'success',
          pattern: null,
        });
        if (pay.outcome === 'success' && rng.chance(0.7)) {
          sim.refund(pay, ts + rng.uniform(1, 20) * MINUTE, pay.amount, device, place, null);
        }
      }
    }
  }
}

function plantRefundAbuse(sim: Sim, abusers: Payer[]): void {
  const P = sim.p.patterns.refund_abuse;
  const L = sim.p.legit;
  const rng = sim.rng.fork('refund_abuse');
  for (const payer of abusers) {
    const table = sim.table(payer.home, ABUSE_MCCS);
    const targets: Merchant[] = [];
    const nt = Math.max(1, intIn(rng, P.targetMerchants));
    for (let i = 0; i < nt * 4 && targets.length < nt; i++) {
      const m = table.sample(rng);
      if (!targets.includes(m)) targets.push(m);
    }
    for (let d = 0; d < sim.p.days; d++) {
      const n = rng.poisson(P.paymentsPerWeek / 7);
      for (let i = 0; i < n; i++) {
        const ts = payer.sampleTs(sim.dayStart(d), rng);
        if (ts <= payer.createdTs) continue;
        const merchant = rng.pick(targets);
        const amount =
          rng.lognormalMedian(merchant.profile.medianFen * Math.exp(payer.shift), 0.4) *
          logIn(rng, P.amountMultiplier);
        const refund = rng.chance(P.refundShare);
        const pay = sim.payment({
          ts,
          payer,
          merchant,
          amount: roundish(rng, amount, 0.3),
          deviceId: payer.deviceAt(ts, rng, L.secondDeviceUseProb),
          place: payer.placeAt(ts, rng, sim),
          inst: payer.instrumentAt(ts, rng),
          outcome: rng.chance(L.declineProb) ? 'declined' : 'success',
          pattern: refund && P.labelPayments ? 'refund_abuse' : null,
        });
        if (!refund || pay.outcome !== 'success') {
          if (refund && P.labelPayments) pay.pattern = null;
          continue;
        }
        const rts =
          ts + Math.max(2 * MINUTE, rng.lognormalMedian(P.refundDelayMedianHours * HOUR, P.refundDelaySigma));
        const amt = rng.chance(P.fullRefundProb)
          ? pay.amount
          : Math.round(pay.amount * rng.uniform(0.5, 0.95));
        sim.refund(
          pay,
          rts,
          amt,
          payer.deviceAt(rts, rng, L.secondDeviceUseProb),
          payer.placeAt(rts, rng, sim),
          'refund_abuse',
        );
      }
    }
  }
}

function plantPromotionAbuse(sim: Sim): void {
  const P = sim.p.patterns.promotion_abuse;
  const rng = sim.rng.fork('promotion_abuse');
  const rings = actorCount(P.rate, sim.p.payers);
  const window = Math.max(HOUR, P.windowHours * HOUR);
  const candidates = sim.promos.filter(
    (pr) => Math.min(pr.end, sim.end) - Math.max(pr.start, sim.start) > HOUR,
  );
  if (candidates.length === 0) return;
  const weights = candidates.map((pr) => Math.min(pr.end, sim.end) - Math.max(pr.start, sim.start));
  for (let r = 0; r < rings; r++) {
    const promo = rng.weightedPick(candidates, weights);
    const from = Math.max(promo.start, sim.start);
    const to = Math.min(promo.end, sim.end);
    const w = Math.min(window, to - from);
    const wStart = from + rng.float() * (to - from - w);
    const region = sim.regionTable.sample(rng);
    const subnet = subnetIn(region.prefixes, rng);
    const placeFor = (): Place =>
      rng.chance(P.sharedSubnetProb)
        ? { ip: ipInSubnet(subnet, rng), country: 'CN', region: region.code }
        : sim.domestic(sim.regionTable.sample(rng), rng);
    const devices: string[] = [];
    const nd = Math.max(1, intIn(rng, P.devicesPerRing));
    for (let i = 0; i < nd; i++) devices.push(sim.newId('d', rng));
    const na = Math.max(1, intIn(rng, P.accountsPerRing));
    for (let k = 0; k < na; k++) {
      const acct = new FraudAccount(sim, rng);
      acct.signup.push({
        id: sim.newId('i', rng),
        kind: rng.chance(0.5) ? 'balance' : 'debit_card',
        createdTs: 0,
      });
      const inst = acct.signup[0] as Instrument;
      const device = devices[k % devices.length] as string;
      let last = wStart;
      const nr = Math.max(1, intIn(rng, P.redemptionsPerAccount));
      for (let j = 0; j < nr; j++) {
        const ts = wStart + rng.float() * w;
        last = Math.max(last, ts);
        acct.use(ts);
        sim.payment({
          ts,
          payer: acct,
          merchant: promo.merchant,
          amount: promo.minSpendFen + rng.int(0, Math.max(0, Math.round(P.thresholdSlackFen))),
          deviceId: device,
          place: placeFor(),
          inst,
          promoId: promo.id,
          outcome: rng.chance(0.04) ? 'declined' : 'success',
          pattern: 'promotion_abuse',
        });
      }
      if (rng.chance(P.decoyPaymentProb)) {
        const local = sim.localTable(region);
        const nDecoy = rng.int(1, 2);
        for (let j = 0; j < nDecoy; j++) {
          const ts = last + rng.uniform(1, 72) * HOUR;
          const merchant = local.sample(rng);
          acct.use(ts);
          sim.payment({
            ts,
            payer: acct,
            merchant,
            amount: roundish(rng, rng.lognormalMedian(merchant.profile.medianFen, 0.6), 0.35),
            deviceId: device,
            place: placeFor(),
            inst,
            pattern: 'promotion_abuse',
          });
        }
      }
      acct.settle(
        rng.chance(P.agedAccountProb) ? rng.uniform(30, 720) * DAY : realIn(rng, P.accountAgeHours) * HOUR,
        rng,
      );
    }
  }
}

function plantMules(sim: Sim): void {
  const P = sim.p.patterns.mule;
  const rng = sim.rng.fork('mule');
  const quasiCash = sim.table(null, ['6051']);
  const spread = sim.table(null, MULE_SPREAD_MCCS);
  let remaining = actorCount(P.rate, sim.p.payers);
  while (remaining > 0) {
    const ringSize = Math.min(remaining, Math.max(1, intIn(rng, P.ringSize)));
    remaining -= ringSize;
    const device = sim.newId('d', rng);
    const region = sim.regionTable.sample(rng);
    for (let m = 0; m < ringSize; m++) {
      const acct = new FraudAccount(sim, rng);
      const ni = Math.max(1, intIn(rng, P.instruments));
      for (let i = 0; i < ni; i++) {
        acct.signup.push({
          id: sim.newId('i', rng),
          kind: rng.chance(0.85) ? 'debit_card' : 'credit_line',
          createdTs: 0,
        });
      }
      const startDay = rng.int(0, sim.p.days - 1);
      const active = Math.max(1, intIn(rng, P.activeDays));
      for (let d = startDay; d < Math.min(sim.p.days, startDay + active); d++) {
        const np = Math.max(1, intIn(rng, P.paymentsPerDay));
        for (let i = 0; i < np; i++) {
          const camouflage = rng.chance(P.camouflageShare);
          const hour = camouflage
            ? rng.int(8, 22)
            : rng.chance(P.oddHoursProb)
              ? rng.int(0, 5)
              : rng.int(7, 23);
          const ts = sim.dayStart(d) + hour * HOUR + Math.floor(rng.float() * HOUR);
          acct.use(ts);
          const merchant = camouflage
            ? sim.localTable(region).sample(rng)
            : rng.chance(P.quasiCashShare)
              ? quasiCash.sample(rng)
              : spread.sample(rng);
          const amount = camouflage
            ? rng.lognormalMedian(merchant.profile.medianFen, 0.7)
            : rng.lognormalMedian(P.amountMedianFen, P.amountSigma);
          sim.payment({
            ts,
            payer: acct,
            merchant,
            amount: roundish(rng, amount, camouflage ? 0.35 : 0.6),
            deviceId: device,
            place: sim.domestic(region, rng),
            inst: rng.pick(acct.signup),
            outcome: rng.chance(P.declineProb) ? 'declined' : 'success',
            pattern: 'mule',
          });
        }
      }
      acct.settle(realIn(rng, P.accountAgeDays) * DAY, rng);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Driver
// ---------------------------------------------------------------------------------------------

function finalize(d: Draft): SimEvent {
  if (d.ref && d.ref.id === '') throw new Error('internal: refund emitted before its payment');
  return {
    id: d.id,
    ts: d.ts,
    type: d.type,
    payer_id: d.payer.id,
    merchant_id: d.merchant.id,
    mcc: d.merchant.mcc,
    amount_fen: d.amount,
    currency: 'CNY',
    device_id: d.deviceId,
    ip: d.place.ip,
    ip_country: d.place.country,
    ip_region: d.place.region,
    instrument_id: d.inst.id,
    instrument_kind: d.inst.kind,
    instrument_created_ts: d.inst.createdTs,
    payer_created_ts: d.payer.createdTs,
    promotion_id: d.promoId,
    refund_of: d.ref ? d.ref.id : null,
    outcome: d.outcome,
    label: d.pattern ? 'fraud' : 'legit',
    pattern: d.pattern,
  };
}

/**
 * Stream the labelled events of one simulation, in time order (ties broken deterministically).
 * Same params (including seed) → the same events.
 */
export function* simulate(params: SimParams): Generator<SimEvent> {
  const sim = new Sim(params);
  buildMerchants(sim);
  buildPayers(sim);
  const pick = sim.rng.fork('victims');
  const established = sim.payers.filter((p) => p.createdTs < sim.start);
  const victims = pick.sample(
    established,
    Math.min(established.length, actorCount(params.patterns.account_takeover.rate, params.payers)),
  );
  const victimSet = new Set(victims);
  const others = established.filter((p) => !victimSet.has(p));
  const abusers = pick.sample(
    others,
    Math.min(others.length, actorCount(params.patterns.refund_abuse.rate, params.payers)),
  );
  plantStaffTests(sim);
  plantAccountTakeover(sim, victims);
  plantCardTesting(sim);
  plantDeviceFarms(sim);
  plantRefundAbuse(sim, abusers);
  plantPromotionAbuse(sim);
  plantMules(sim);

  let n = 0;
  let lastTs = Number.NEGATIVE_INFINITY;
  for (let d = 0; d < params.days; d++) {
    for (const payer of sim.payers) payer.plan(sim, d);
    const dayEnd = sim.dayStart(d + 1);
    for (let next = sim.heap.peek(); next !== undefined && next.ts < dayEnd; next = sim.heap.peek()) {
      const draft = sim.heap.pop() as Draft;
      if (draft.ts < lastTs) throw new Error('internal: events out of order');
      lastTs = draft.ts;
      draft.id = `ev_${sim.tag}_${String(n++).padStart(7, '0')}`;
      yield finalize(draft);
    }
  }
}

/** All events of one simulation as an array (see {@link simulate}). */
export function simulateAll(params: SimParams): SimEvent[] {
  return Array.from(simulate(params));
}
