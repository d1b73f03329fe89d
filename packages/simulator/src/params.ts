/**
 * Simulation parameters, the default values and the two evaluation presets.
 *
 * Conventions: amounts are in fen (1/100 CNY); `Range` is an inclusive `[min, max]` (integers where
 * counts are meant); probabilities are in [0, 1]; "per 30 days" rates scale with `days`.
 * Every fraud pattern has a `rate`: for patterns that hijack or corrupt existing payers
 * (`account_takeover`, `refund_abuse`) it is the share of payers affected; for patterns run by
 * fraudster-controlled accounts it is the number of campaigns / farms / rings / mule accounts per
 * legitimate payer (`round(rate × payers)`, at least 1 when `rate > 0`).
 */
import type { Mcc } from './types.ts';

/** Inclusive `[min, max]`. */
export type Range = [number, number];

/** Behaviour of legitimate payers (the noise the fraud has to be found in). */
export interface LegitParams {
  /** Median payments per active day of a payer; each payer's own rate is log-normal around it. */
  paymentsPerDayMedian: number;
  /** Log-normal sigma of the per-payer payment rate (heavy users vs occasional users). */
  paymentsPerDaySigma: number;
  /** Activity multiplier on Saturdays and Sundays. */
  weekendFactor: number;
  /** Sigma of the per-payer log shift of ticket sizes (cheap vs spendy payers). */
  amountShiftSigma: number;
  /** Share of payers who are high spenders (small-business owners): tickets × e^highSpenderShift, some quasi-cash. */
  highSpenderShare: number;
  /** Log shift of high spenders' tickets (2.3 ≈ ×10). */
  highSpenderShift: number;
  /** Range of the per-payer log-normal sigma of ticket sizes around the merchant's typical ticket. */
  amountSigma: Range;
  /** Share of payers whose circadian curve is shifted 3–5 hours later (night owls). */
  nightOwlShare: number;
  /** Share of payers with a second device (tablet, old phone). */
  secondDeviceShare: number;
  /** Probability that a payment of a two-device payer comes from the second device. */
  secondDeviceUseProb: number;
  /** Share of payers who get a new phone during 30 days (a new device id from then on). */
  newPhoneShare: number;
  /** Share of payers in a household: their second device is another payer's phone/tablet (same home IP). */
  householdShare: number;
  /** Public / shared terminals (internet café, hotel lobby, company phone) per payer. */
  publicDeviceRate: number;
  /** Payers (same province) using one public device. */
  publicDeviceUsers: Range;
  /** Probability that a payment of such a payer is made on the public device. */
  publicDeviceUseProb: number;
  /** Probability that a payment is followed within minutes by another one (shopping trip, food court). */
  sessionContinueProb: number;
  /** Share of payers who are mobile gamers: bursts of in-app purchases (100–64,800 fen) at one 5816 merchant. */
  gamerShare: number;
  /** Probability that a gamer's in-app purchase is followed by another within minutes. */
  gamerContinueProb: number;
  /** Number of instruments bound before the window. */
  instruments: Range;
  /** Share of payers who bind a new card during 30 days and pay with it within minutes. */
  newInstrumentShare: number;
  /** Share of payers whose account is created during the window (new legitimate users). */
  newPayerShare: number;
  /** Share of new payers recruited by a running promotion: their first payment redeems it. */
  newUserPromoShare: number;
  /**
   * Share of promotions with a street promotion team (地推): a promoter signs up new users on the
   * spot and they redeem the promotion on the promoter's phone, from the promoter's /24 — many
   * brand-new accounts on one device, legitimately. Their later payments use their own phone.
   */
  groundPushPromoShare: number;
  /** New payers signed up per street campaign (counted in `payers`). */
  groundPushRecruits: Range;
  /** Median account age in days at the window start for the other payers (log-normal, sigma 0.9). */
  accountAgeDaysMedian: number;
  /** Number of favourite merchants per payer. */
  favouriteMerchants: Range;
  /** Probability that a payment goes to a favourite merchant (else popularity-weighted). */
  favouriteProb: number;
  /** Share of payers who travel during 30 days (payments from another province or abroad). */
  travelShare: number;
  /** Share of trips that go abroad (foreign IPs, online merchants). */
  foreignTripShare: number;
  /** Trip length in days. */
  tripDays: Range;
  /** Share of payers using a VPN (foreign IP on their usual device) now and then. */
  vpnShare: number;
  /** Probability that a VPN user's payment goes out through the VPN. */
  vpnUseProb: number;
  /** Expected big purchases per payer per 30 days (electronics / department store / clothing). */
  bigPurchasesPer30Days: number;
  /** Multiplier of a big purchase over the payer's usual ticket (log-uniform). */
  bigPurchaseMultiplier: Range;
  /** Share of payments that are legitimate micro-payments of 1–200 fen (tips, rentals, in-app items). */
  microPaymentShare: number;
  /** Base probability that a payment is declined (insufficient funds, limits). */
  declineProb: number;
  /** Probability that a declined payer retries within minutes with another instrument. */
  retryProb: number;
  /** Share of successful payments refunded (scaled by the MCC's refund multiplier). */
  refundRate: number;
  /** Median delay from payment to refund, hours (log-normal, sigma 1). */
  refundDelayMedianHours: number;
  /** Share of legitimate refunds that are quick order cancellations (2–60 minutes after paying, full). */
  quickRefundShare: number;
  /** Share of legitimate refunds that are partial. */
  partialRefundShare: number;
  /** Merchant staff per payer who run test payments (1–100 fen bursts at their merchant, mostly refunded). */
  staffTesterRate: number;
  /** Test bursts per staff tester per 30 days. */
  staffTestBurstsPer30Days: number;
  /** Payments per test burst. */
  staffTestBurstSize: Range;
  /** Share of payers who are legitimate serial returners (try-on shopping). */
  serialReturnerShare: number;
  /** Refund rate of serial returners. */
  serialReturnerRefundRate: number;
}

/** Merchants and promotions. */
export interface MarketParams {
  /** Relative share of merchants per MCC. */
  mccWeights: Record<Mcc, number>;
  /** Zipf exponent of merchant popularity (1 = classic Zipf). */
  zipfExponent: number;
  /** Share of merchants running promotions in the window. */
  promoMerchantShare: number;
  /** Promotions per promoting merchant. */
  promosPerMerchant: Range;
  /** Promotion duration in days. */
  promoDays: Range;
  /** Probability that an eligible legitimate payment (at or above the threshold) redeems the promotion. */
  promoUseProb: number;
  /** Probability that a legitimate payer just below the threshold tops up the basket to reach it. */
  promoTopUpProb: number;
}

/** Account takeover: an attacker pays from a legitimate payer's account. */
export interface AccountTakeoverParams {
  /** Share of legitimate payers (existing before the window) whose account is taken over once. */
  rate: number;
  /** Number of attacker payment attempts per takeover. */
  paymentsPerTakeover: Range;
  /** The attempts are spread uniformly over this many minutes after the first. */
  spreadMinutes: number;
  /** Attempt amount = victim's usual ticket × this multiplier (log-uniform) × small noise. */
  amountMultiplier: Range;
  /**
   * Probability that the attacker's device is new to the account. Otherwise it is the victim's own
   * phone (stolen / unlocked, or a relative): known device and the victim's usual network.
   */
  newDeviceProb: number;
  /** Probability that the attacker's IP is foreign. */
  foreignIpProb: number;
  /** Probability, for domestic attacks, of a proxy in the victim's own home province (stealth). */
  homeRegionProb: number;
  /** Probability that an attempt goes to a risky MCC (5732, 6051, 5816, 7995) rather than any online merchant. */
  riskyMerchantProb: number;
  /** Probability that the attacker binds a fresh instrument (else uses the victim's credit / balance). */
  newInstrumentProb: number;
  /** Probability that the takeover happens at 00:00–05:59 local time. */
  oddHoursProb: number;
  /** Probability that an attempt is declined (limits, issuer checks). */
  declineProb: number;
}

/** Card testing: bursts of tiny payments validating freshly bound stolen cards. */
export interface CardTestingParams {
  /** Campaigns per legitimate payer. */
  rate: number;
  /** Fraudster accounts used by one campaign (each burst uses one of them). */
  accountsPerCampaign: Range;
  /** Probability that an account is aged (bought, created 1–12 months before) rather than fresh (hours–days). */
  agedAccountProb: number;
  /** Bursts per campaign, on random days. */
  bursts: Range;
  /** Attempts per burst. */
  burstSize: Range;
  /** Median burst duration, minutes (each burst: × log-normal(0, 0.8), so some bursts are slow). */
  burstSpanMinutes: number;
  /** Minutes between binding a tested card and the burst (log-uniform). */
  cardLeadMinutes: Range;
  /** Attempts per tested card; a burst binds about burstSize / attemptsPerCard fresh cards. */
  attemptsPerCard: Range;
  /** Test amounts in fen (uniform, with a preference for 1 / 10 / 50 / 100 / 200). */
  amountFen: Range;
  /** Probability that a test attempt is declined (dead card, CVV mismatch). */
  declineProb: number;
  /** Distinct merchants hit per burst (online digital goods, misc retail, food). */
  merchantsPerBurst: Range;
  /** Probability that a burst comes through a foreign IP (else a random province). */
  foreignIpProb: number;
  /** Probability that an attempt is made from another of the campaign's accounts (spreads per-account velocity). */
  accountRotationProb: number;
  /** Probability that the attacker switches to a new device id for a burst. */
  deviceRotationProb: number;
  /** Probability that a burst starts at 00:00–05:59 local time. */
  nightProb: number;
  /** Probability that a burst is followed by a larger cash-out payment with a card that passed. */
  cashoutProb: number;
  /** Median cash-out amount in fen (log-normal, sigma 0.6). */
  cashoutAmountMedianFen: number;
}

/** Device farm: many young accounts operated from one device and one IP range. */
export interface DeviceFarmParams {
  /** Farms per legitimate payer. */
  rate: number;
  /** Devices per farm. */
  devicesPerFarm: Range;
  /** Accounts operated on each device. */
  accountsPerDevice: Range;
  /** Age of an account at its first payment, hours. */
  accountAgeHours: Range;
  /** Probability that an account is aged (bought; created 1–24 months before its first farm payment). */
  agedAccountProb: number;
  /** Active sessions per device, on random days. */
  sessions: Range;
  /** Median minutes between account switches inside a session; each farm's own median is × log-normal(0, 0.8). */
  switchMinutes: number;
  /** Share of the device's accounts that pay in one session. */
  accountsPerSessionShare: number;
  /** Payments per account per session. */
  paymentsPerAccount: Range;
  /** Median amount of an ordinary farm payment in fen (log-normal). */
  amountMedianFen: number;
  /** Log-normal sigma of farm payment amounts. */
  amountSigma: number;
  /** Probability that a farm payment targets an active promotion (amount just above its threshold). */
  promoUseProb: number;
  /** Probability that a payment leaves through a residential proxy (random province) instead of the farm's /24. */
  residentialProxyProb: number;
  /** Probability that a session starts at 00:00–05:59 local time. */
  nightProb: number;
}

/** Refund abuse: payers who buy and refund a large share, quickly, at the same merchants. */
export interface RefundAbuseParams {
  /** Share of legitimate payers who also abuse refunds (their other traffic stays legitimate). */
  rate: number;
  /** Target merchants per abuser (clothing, electronics, department stores, misc retail). */
  targetMerchants: Range;
  /** Abuse purchases per week. */
  paymentsPerWeek: number;
  /** Abuse purchase amount = the merchant's typical ticket for this payer × multiplier (log-uniform). */
  amountMultiplier: Range;
  /** Share of abuse purchases that are refunded. */
  refundShare: number;
  /** Median hours from payment to refund (log-normal). */
  refundDelayMedianHours: number;
  /** Log-normal sigma of the refund delay. */
  refundDelaySigma: number;
  /** Probability that an abusive refund is full (else 50–95 %). */
  fullRefundProb: number;
  /**
   * Label semantics. false (default): only the abusive refunds are `fraud`; their payments look and
   * are labelled legitimate. true: the refunded payments are labelled `fraud` as well.
   */
  labelPayments: boolean;
}

/** Promotion abuse: rings of new accounts redeeming the same promotion from few devices. */
export interface PromotionAbuseParams {
  /** Rings per legitimate payer. */
  rate: number;
  /** Accounts per ring. */
  accountsPerRing: Range;
  /** Devices per ring (accounts are spread round-robin). */
  devicesPerRing: Range;
  /** Redemptions per account. */
  redemptionsPerAccount: Range;
  /** The ring's redemptions fall in a window of this many hours inside the promotion. */
  windowHours: number;
  /** Account age at its first redemption, hours. */
  accountAgeHours: Range;
  /** Probability that an account is aged (bought; created 1–24 months before). */
  agedAccountProb: number;
  /** Probability that a redemption comes from the ring's /24 (else a random province). */
  sharedSubnetProb: number;
  /** Redemption amount = threshold + U(0, slack) fen. */
  thresholdSlackFen: number;
  /** Probability that an account also makes 1–2 ordinary-looking payments (still labelled fraud). */
  decoyPaymentProb: number;
}

/** Mule accounts: new accounts pushing high-value payments to quasi-cash and many merchants. */
export interface MuleParams {
  /** Mule accounts per legitimate payer. */
  rate: number;
  /** Mules per ring; a ring shares one device. */
  ringSize: Range;
  /** Account age in days at the first payment. */
  accountAgeDays: Range;
  /** Active days (consecutive). */
  activeDays: Range;
  /** Payments per active day. */
  paymentsPerDay: Range;
  /** Median amount in fen (log-normal). */
  amountMedianFen: number;
  /** Log-normal sigma of amounts. */
  amountSigma: number;
  /** Share of payments to quasi-cash / top-up merchants (MCC 6051); the rest spread over many merchants. */
  quasiCashShare: number;
  /** Probability that a payment happens at 00:00–05:59 local time. */
  oddHoursProb: number;
  /** Share of a mule's payments that are ordinary local purchases (camouflage; still labelled fraud). */
  camouflageShare: number;
  /** Instruments (debit cards) bound per mule. */
  instruments: Range;
  /** Probability that a payment is declined. */
  declineProb: number;
}

export interface PatternParams {
  account_takeover: AccountTakeoverParams;
  card_testing: CardTestingParams;
  device_farm: DeviceFarmParams;
  refund_abuse: RefundAbuseParams;
  promotion_abuse: PromotionAbuseParams;
  mule: MuleParams;
}

export interface SimParams {
  /** PRNG seed; same seed + same params → byte-identical output. Also tags every id. */
  seed: number;
  /** Length of the window in days. */
  days: number;
  /** Window start, epoch ms; treated as a local (UTC+8) midnight for circadian hours. */
  startMs: number;
  /**
   * Legitimate payers, street-promotion recruits included. Fraudster-controlled accounts (card
   * testing, farms, promotion rings, mules) come on top; takeover victims and refund abusers are
   * drawn from these payers.
   */
  payers: number;
  /** Merchants. */
  merchants: number;
  legit: LegitParams;
  market: MarketParams;
  patterns: PatternParams;
}

/** 2025-03-01T00:00:00+08:00 */
const MARCH_2025 = Date.UTC(2025, 1, 28, 16, 0, 0);
/** 2025-04-01T00:00:00+08:00 */
const APRIL_2025 = Date.UTC(2025, 2, 31, 16, 0, 0);

export const defaultParams: SimParams = {
  seed: 1,
  days: 30,
  startMs: MARCH_2025,
  payers: 5_000,
  merchants: 600,
  legit: {
    paymentsPerDayMedian: 0.75,
    paymentsPerDaySigma: 0.7,
    weekendFactor: 1.15,
    amountShiftSigma: 0.45,
    highSpenderShare: 0.015,
    highSpenderShift: 2.3,
    amountSigma: [0.45, 0.9],
    nightOwlShare: 0.06,
    secondDeviceShare: 0.25,
    secondDeviceUseProb: 0.12,
    newPhoneShare: 0.04,
    householdShare: 0.04,
    publicDeviceRate: 0.002,
    publicDeviceUsers: [5, 60],
    publicDeviceUseProb: 0.15,
    sessionContinueProb: 0.1,
    gamerShare: 0.04,
    gamerContinueProb: 0.5,
    instruments: [1, 3],
    newInstrumentShare: 0.05,
    newPayerShare: 0.05,
    newUserPromoShare: 0.4,
    groundPushPromoShare: 0.2,
    groundPushRecruits: [10, 40],
    accountAgeDaysMedian: 500,
    favouriteMerchants: [3, 10],
    favouriteProb: 0.6,
    travelShare: 0.08,
    foreignTripShare: 0.25,
    tripDays: [2, 7],
    vpnShare: 0.02,
    vpnUseProb: 0.3,
    bigPurchasesPer30Days: 0.25,
    bigPurchaseMultiplier: [5, 40],
    microPaymentShare: 0.015,
    declineProb: 0.015,
    retryProb: 0.6,
    refundRate: 0.02,
    refundDelayMedianHours: 36,
    quickRefundShare: 0.3,
    partialRefundShare: 0.3,
    staffTesterRate: 0.002,
    staffTestBurstsPer30Days: 2,
    staffTestBurstSize: [3, 15],
    serialReturnerShare: 0.03,
    serialReturnerRefundRate: 0.25,
  },
  market: {
    mccWeights: {
      '5411': 0.2,
      '5812': 0.26,
      '5732': 0.05,
      '5999': 0.12,
      '7995': 0.015,
      '4121': 0.06,
      '5311': 0.05,
      '5691': 0.1,
      '6051': 0.025,
      '5816': 0.09,
    },
    zipfExponent: 1.05,
    promoMerchantShare: 0.12,
    promosPerMerchant: [1, 2],
    promoDays: [3, 14],
    promoUseProb: 0.6,
    promoTopUpProb: 0.3,
  },
  patterns: {
    account_takeover: {
      rate: 0.006,
      paymentsPerTakeover: [2, 6],
      spreadMinutes: 45,
      amountMultiplier: [4, 25],
      newDeviceProb: 0.85,
      foreignIpProb: 0.55,
      homeRegionProb: 0.15,
      riskyMerchantProb: 0.75,
      newInstrumentProb: 0.3,
      oddHoursProb: 0.45,
      declineProb: 0.15,
    },
    card_testing: {
      rate: 0.002,
      accountsPerCampaign: [1, 3],
      agedAccountProb: 0.3,
      bursts: [1, 4],
      burstSize: [8, 50],
      burstSpanMinutes: 20,
      cardLeadMinutes: [1, 1_440],
      attemptsPerCard: [1, 4],
      amountFen: [1, 200],
      declineProb: 0.55,
      merchantsPerBurst: [2, 8],
      foreignIpProb: 0.4,
      accountRotationProb: 0.2,
      deviceRotationProb: 0.3,
      nightProb: 0.5,
      cashoutProb: 0.3,
      cashoutAmountMedianFen: 60_000,
    },
    device_farm: {
      rate: 0.0012,
      devicesPerFarm: [1, 2],
      accountsPerDevice: [6, 35],
      accountAgeHours: [0.5, 24 * 21],
      agedAccountProb: 0.2,
      sessions: [2, 6],
      switchMinutes: 5,
      accountsPerSessionShare: 0.6,
      paymentsPerAccount: [1, 2],
      amountMedianFen: 1_500,
      amountSigma: 0.8,
      promoUseProb: 0.5,
      residentialProxyProb: 0.3,
      nightProb: 0.4,
    },
    refund_abuse: {
      rate: 0.004,
      targetMerchants: [1, 2],
      paymentsPerWeek: 4,
      amountMultiplier: [1.5, 4],
      refundShare: 0.75,
      refundDelayMedianHours: 4,
      refundDelaySigma: 1,
      fullRefundProb: 0.85,
      labelPayments: false,
    },
    promotion_abuse: {
      rate: 0.002,
      accountsPerRing: [10, 30],
      devicesPerRing: [1, 5],
      redemptionsPerAccount: [1, 2],
      windowHours: 12,
      accountAgeHours: [0.2, 24 * 10],
      agedAccountProb: 0.15,
      sharedSubnetProb: 0.6,
      thresholdSlackFen: 500,
      decoyPaymentProb: 0.3,
    },
    mule: {
      rate: 0.003,
      ringSize: [1, 3],
      accountAgeDays: [0, 30],
      activeDays: [3, 10],
      paymentsPerDay: [2, 7],
      amountMedianFen: 200_000,
      amountSigma: 0.8,
      quasiCashShare: 0.55,
      oddHoursProb: 0.4,
      camouflageShare: 0.15,
      instruments: [2, 5],
      declineProb: 0.08,
    },
  },
};

/** Recursive partial of a params object (ranges and records are replaced whole). */
export type ParamsPatch<T> = {
  [K in keyof T]?: T[K] extends readonly unknown[] ? T[K] : T[K] extends object ? ParamsPatch<T[K]> : T[K];
};

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function mergeInto(base: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) continue;
    const b = out[k];
    out[k] = isPlainObject(b) && isPlainObject(v) ? mergeInto(b, v) : structuredClone(v);
  }
  return out;
}

/** A deep copy of `base` with `patch` applied (objects merged, arrays and scalars replaced). */
export function mergeParams(base: SimParams, patch: ParamsPatch<SimParams> = {}): SimParams {
  return mergeInto(
    structuredClone(base) as unknown as Record<string, unknown>,
    patch as Record<string, unknown>,
  ) as unknown as SimParams;
}

/** Training distribution: the default parameters, March 2025, seed 20250301. */
export const trainingPreset: SimParams = mergeParams(defaultParams, { seed: 20250301 });

/**
 * Evaluation under drift: another seed, the following month, and every fraud pattern
 * parameterised differently (mostly stealthier) than in {@link trainingPreset}.
 */
export const shiftedPreset: SimParams = mergeParams(defaultParams, {
  seed: 20250401,
  startMs: APRIL_2025,
  patterns: {
    account_takeover: {
      rate: 0.005,
      paymentsPerTakeover: [1, 4],
      spreadMinutes: 360,
      amountMultiplier: [1.5, 6],
      newDeviceProb: 0.7,
      foreignIpProb: 0.25,
      homeRegionProb: 0.4,
      riskyMerchantProb: 0.45,
      newInstrumentProb: 0.15,
      oddHoursProb: 0.2,
      declineProb: 0.1,
    },
    card_testing: {
      rate: 0.0025,
      accountsPerCampaign: [2, 5],
      agedAccountProb: 0.6,
      bursts: [3, 8],
      burstSize: [4, 15],
      burstSpanMinutes: 240,
      cardLeadMinutes: [60, 4_320],
      attemptsPerCard: [1, 2],
      amountFen: [1, 500],
      declineProb: 0.35,
      merchantsPerBurst: [2, 5],
      foreignIpProb: 0.2,
      accountRotationProb: 0.5,
      deviceRotationProb: 0.6,
      nightProb: 0.25,
      cashoutProb: 0.4,
      cashoutAmountMedianFen: 30_000,
    },
    device_farm: {
      rate: 0.002,
      devicesPerFarm: [2, 4],
      accountsPerDevice: [4, 10],
      accountAgeHours: [24, 24 * 30],
      agedAccountProb: 0.5,
      sessions: [4, 10],
      switchMinutes: 40,
      accountsPerSessionShare: 0.5,
      amountMedianFen: 3_000,
      amountSigma: 1,
      promoUseProb: 0.3,
      residentialProxyProb: 0.6,
      nightProb: 0.2,
    },
    refund_abuse: {
      rate: 0.005,
      targetMerchants: [3, 6],
      paymentsPerWeek: 2.5,
      amountMultiplier: [1, 2],
      refundShare: 0.4,
      refundDelayMedianHours: 30,
      refundDelaySigma: 1.2,
      fullRefundProb: 0.6,
    },
    promotion_abuse: {
      rate: 0.002,
      accountsPerRing: [6, 15],
      devicesPerRing: [3, 8],
      windowHours: 72,
      accountAgeHours: [12, 24 * 20],
      agedAccountProb: 0.4,
      sharedSubnetProb: 0.3,
      thresholdSlackFen: 1_500,
      decoyPaymentProb: 0.5,
    },
    mule: {
      rate: 0.003,
      ringSize: [1, 2],
      accountAgeDays: [5, 60],
      activeDays: [5, 14],
      paymentsPerDay: [1, 4],
      amountMedianFen: 120_000,
      amountSigma: 0.9,
      quasiCashShare: 0.3,
      oddHoursProb: 0.2,
      camouflageShare: 0.35,
      declineProb: 0.05,
    },
  },
});
