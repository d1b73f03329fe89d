/**
 * Static "world" tables: provinces, foreign countries, IP pools, MCC profiles and the circadian
 * curve. They do not depend on the simulation seed, so every data set shares the same geography.
 */
import { Rng } from './random.ts';
import type { Mcc } from './types.ts';

export interface Region {
  /** GB/T 2260 province code. */
  code: string;
  name: string;
  /** Relative share of payers (and offline merchants) living there. */
  weight: number;
  /** '/16' prefixes ('a.b') of the simulated residential address pool. */
  prefixes: string[];
}

export interface Country {
  /** ISO 3166-1 alpha-2. */
  code: string;
  /** Relative weight as a legitimate travel destination. */
  travel: number;
  /** Relative weight as a VPN exit used by legitimate payers. */
  vpn: number;
  /** Relative weight as the apparent origin of fraudulent traffic. */
  fraud: number;
  prefixes: string[];
}

export interface MccProfile {
  mcc: Mcc;
  label: string;
  /** Median ticket size in fen. */
  medianFen: number;
  /** Log-normal sigma of the ticket size. */
  sigma: number;
  /** Share of these merchants that are online only (no province). */
  onlineShare: number;
  /** Multiplier on the payer's legitimate refund rate. */
  refundMultiplier: number;
}

const PROVINCES: ReadonlyArray<readonly [string, string, number]> = [
  ['440000', 'Guangdong', 14],
  ['370000', 'Shandong', 8],
  ['410000', 'Henan', 7.5],
  ['320000', 'Jiangsu', 9],
  ['510000', 'Sichuan', 7],
  ['130000', 'Hebei', 5.5],
  ['430000', 'Hunan', 5],
  ['330000', 'Zhejiang', 8.5],
  ['340000', 'Anhui', 4.5],
  ['420000', 'Hubei', 5],
  ['450000', 'Guangxi', 3.5],
  ['530000', 'Yunnan', 3],
  ['360000', 'Jiangxi', 3],
  ['210000', 'Liaoning', 3.2],
  ['350000', 'Fujian', 4.2],
  ['610000', 'Shaanxi', 3],
  ['520000', 'Guizhou', 2.5],
  ['140000', 'Shanxi', 2.3],
  ['500000', 'Chongqing', 2.8],
  ['230000', 'Heilongjiang', 2],
  ['220000', 'Jilin', 1.5],
  ['310000', 'Shanghai', 5.5],
  ['110000', 'Beijing', 5],
  ['120000', 'Tianjin', 1.6],
  ['620000', 'Gansu', 1.4],
  ['150000', 'Inner Mongolia', 1.4],
  ['650000', 'Xinjiang', 1.4],
  ['460000', 'Hainan', 1],
];

/** [code, travel, vpn, fraud] */
const FOREIGN: ReadonlyArray<readonly [string, number, number, number]> = [
  ['HK', 14, 30, 10],
  ['MO', 6, 0, 2],
  ['JP', 18, 18, 4],
  ['KR', 12, 5, 3],
  ['TH', 15, 0, 5],
  ['SG', 8, 18, 6],
  ['MY', 6, 0, 8],
  ['VN', 6, 0, 8],
  ['US', 6, 24, 12],
  ['GB', 3, 3, 2],
  ['FR', 3, 0, 1],
  ['AU', 3, 2, 1],
  ['KH', 1, 0, 14],
  ['MM', 0.3, 0, 10],
  ['PH', 1, 0, 12],
  ['RU', 0.5, 0, 6],
];

const CN_FIRST_OCTETS = [
  36, 39, 42, 49, 58, 59, 60, 61, 101, 106, 110, 111, 112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122,
  123, 124, 125, 180, 182, 183, 202, 210, 211, 218, 219, 220, 221, 222, 223,
];
const FOREIGN_FIRST_OCTETS = [
  5, 8, 13, 23, 27, 31, 37, 45, 46, 52, 63, 64, 66, 72, 77, 81, 82, 85, 91, 103, 104, 126, 133, 139, 141, 150,
  153, 157, 165, 175, 185, 203,
];

function buildPools(): { regions: Region[]; countries: Country[] } {
  // A constant seed: the geography is the same for every simulation seed.
  const rng = new Rng(0x7a686966);
  const used = new Set<string>();
  const prefix = (octets: readonly number[]): string => {
    for (;;) {
      const p = `${rng.pick(octets)}.${rng.int(0, 255)}`;
      if (!used.has(p)) {
        used.add(p);
        return p;
      }
    }
  };
  const regions = PROVINCES.map(([code, name, weight]) => ({
    code,
    name,
    weight,
    prefixes: [prefix(CN_FIRST_OCTETS), prefix(CN_FIRST_OCTETS), prefix(CN_FIRST_OCTETS)],
  }));
  const countries = FOREIGN.map(([code, travel, vpn, fraud]) => ({
    code,
    travel,
    vpn,
    fraud,
    prefixes: [prefix(FOREIGN_FIRST_OCTETS), prefix(FOREIGN_FIRST_OCTETS)],
  }));
  return { regions, countries };
}

const pools = buildPools();
export const REGIONS: readonly Region[] = pools.regions;
export const COUNTRIES: readonly Country[] = pools.countries;

export const MCC_PROFILES: Readonly<Record<Mcc, MccProfile>> = {
  '5411': {
    mcc: '5411',
    label: 'grocery',
    medianFen: 4_500,
    sigma: 0.8,
    onlineShare: 0.15,
    refundMultiplier: 0.5,
  },
  '5812': {
    mcc: '5812',
    label: 'restaurants',
    medianFen: 5_500,
    sigma: 0.7,
    onlineShare: 0.1,
    refundMultiplier: 0.4,
  },
  '5732': {
    mcc: '5732',
    label: 'electronics',
    medianFen: 90_000,
    sigma: 1.0,
    onlineShare: 0.6,
    refundMultiplier: 2,
  },
  '5999': {
    mcc: '5999',
    label: 'misc retail',
    medianFen: 6_000,
    sigma: 1.0,
    onlineShare: 0.5,
    refundMultiplier: 1,
  },
  '7995': {
    mcc: '7995',
    label: 'betting / lottery (high risk)',
    medianFen: 10_000,
    sigma: 1.0,
    onlineShare: 1,
    refundMultiplier: 0.2,
  },
  '4121': {
    mcc: '4121',
    label: 'taxi / ride-hailing',
    medianFen: 2_800,
    sigma: 0.6,
    onlineShare: 0.5,
    refundMultiplier: 0.5,
  },
  '5311': {
    mcc: '5311',
    label: 'department store',
    medianFen: 22_000,
    sigma: 0.9,
    onlineShare: 0.25,
    refundMultiplier: 1.5,
  },
  '5691': {
    mcc: '5691',
    label: 'clothing',
    medianFen: 20_000,
    sigma: 0.7,
    onlineShare: 0.5,
    refundMultiplier: 3,
  },
  '6051': {
    mcc: '6051',
    label: 'quasi-cash / top-up',
    medianFen: 10_000,
    sigma: 1.0,
    onlineShare: 1,
    refundMultiplier: 0.2,
  },
  '5816': {
    mcc: '5816',
    label: 'digital goods / games',
    medianFen: 3_000,
    sigma: 1.1,
    onlineShare: 1,
    refundMultiplier: 0.7,
  },
};

/** Relative activity by local hour (UTC+8), 0..23: meal peaks, quiet nights. */
export const HOUR_WEIGHTS: readonly number[] = [
  0.6, 0.3, 0.15, 0.1, 0.1, 0.2, 0.8, 2.5, 3.5, 2.5, 2.5, 4, 5, 3.5, 2.5, 2.5, 2.8, 3.5, 5, 5, 4.5, 4, 3, 1.6,
];

/** A random address in a '/16' pool: 'a.b.c.d'. */
export function ipIn(prefix: string, rng: Rng): string {
  return `${prefix}.${rng.int(0, 255)}.${rng.int(1, 254)}`;
}

/** A random '/24' ('a.b.c') inside one of the pools. */
export function subnetIn(prefixes: readonly string[], rng: Rng): string {
  return `${rng.pick(prefixes)}.${rng.int(0, 255)}`;
}

/** A random address in a '/24' subnet ('a.b.c'). */
export function ipInSubnet(subnet: string, rng: Rng): string {
  return `${subnet}.${rng.int(1, 254)}`;
}
