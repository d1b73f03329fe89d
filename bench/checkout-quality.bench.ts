/**
 * `npm run bench:checkout-quality`: does Smart Checkout's ranking complete more checkouts than the
 * orders a cashier would use without it? One run, one simulated world, four policies:
 *
 * - static:        the wallet's order (balance, debit card, credit card, credit line);
 * - last_used:     the instrument the payer paid with last time first, then the static order;
 * - most_frequent: the instrument the payer paid with most often first, then the static order;
 * - smart:         Smart Checkout as deployed — rankInstruments() with the shipped prior, LinUCB
 *                  learning online from each outcome, 5% exploration, channel health from a
 *                  sliding window of the authorisations it sees;
 * - oracle:        not a policy anyone can run — it knows the payer's wish and each channel's true
 *                  state; it shows how much any ranking could gain in this world.
 *
 * Every policy skips instruments that cannot pay (balance, credit or per-transaction limit), like
 * the sandbox cashier does, so the gap is not "Smart Checkout knows balances".
 *
 * The traffic is the Fraud Shield simulator's legitimate payments (@zhifu/simulator: payers,
 * merchants, MCCs, amounts, times over 30 days). Each simulated payer gets a wallet (2–4
 * instruments on bank channels), preferences (the kind it pays with most in the simulator's
 * traffic is its favourite), a promotion sensitivity, and balances that vary per checkout.
 * Bank channels have a base success rate and latency plus random outages (failure 60–95% for
 * 1–6 h) and latency spikes (3–8 s for 1–4 h). Besides the simulated payers' own attempts, each
 * channel carries background traffic of other merchants (one authorisation per 30 s) that the
 * health window sees, as Zhifu's would.
 *
 * The payer: wants one instrument (softmax of its preferences, plus a pull towards a promotion
 * scaled by its sensitivity); takes the default (first) instrument when it is the wanted one, or out
 * of inertia (55%); otherwise switches, and 6% of switchers abandon. A confirmation slower than 3 s
 * makes 35% abandon; a failed authorisation is retried with the next instrument by half the payers.
 * Every policy sees the same payers, transactions and random draws (common random numbers).
 *
 * Prints completion rate and revenue per policy, Smart Checkout's lift over each baseline, the
 * second half of the run (after learning), and inverse-propensity (IPS and SNIPS) estimates of
 * each baseline's first-place reward computed from Smart Checkout's logged propensities, next to
 * the first-place reward each baseline actually achieved in its own run.
 *
 * Environment: CHECKOUT_BENCH_PAYERS (default 3000), CHECKOUT_BENCH_SEED (default 7).
 */
import { defaultParams, deriveSeed, mergeParams, Rng, type SimEvent, simulateAll } from '@zhifu/simulator';
import type {
  InstrumentHistory,
  InstrumentKind,
} from '../packages/server/src/modules/checkout/bandit/features.ts';
import { prior } from '../packages/server/src/modules/checkout/bandit/features.ts';
import { LinUcb } from '../packages/server/src/modules/checkout/bandit/linucb.ts';
import { ChannelHealth } from '../packages/server/src/modules/checkout/channels.ts';
import {
  default_checkout_options,
  prior_weight,
  ucb_alpha,
} from '../packages/server/src/modules/checkout/checkout.service.ts';
import {
  bestPromotion,
  type PromotionOffer,
  type RankInstrument,
  rankInstruments,
} from '../packages/server/src/modules/checkout/ranking.ts';
import { fixed, machineLines, metStatus, table } from './risk-machine.ts';

const log = (line = '') => process.stdout.write(`${line}\n`);
const started = performance.now();
const payersN = Number(process.env.CHECKOUT_BENCH_PAYERS ?? 3000);
const seed = Number(process.env.CHECKOUT_BENCH_SEED ?? 7);
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

// ---------------------------------------------------------------------------------------------
// The world

interface Channel {
  bank: string;
  base_success: number;
  base_latency_ms: number;
  outages: { from: number; until: number; failure: number }[];
  spikes: { from: number; until: number; latency_ms: number }[];
}

const banks = [
  'OTHERS',
  'ICBC_DEBIT',
  'CCB_DEBIT',
  'ABC_DEBIT',
  'CMB_DEBIT',
  'ICBC_CREDIT',
  'CMB_CREDIT',
  'BOC_CREDIT',
];
const debitBanks = banks.filter((b) => b.endsWith('_DEBIT'));
const creditBanks = banks.filter((b) => b.endsWith('_CREDIT'));

const issuer_success: Record<InstrumentKind, number> = {
  balance: 0.998,
  debit_card: 0.99,
  credit_card: 0.98,
  credit_line: 0.99,
};

/** The behaviour knobs of one simulated world (see the header for their meaning). */
interface World {
  name: string;
  outages_per_month: number;
  spikes_per_month: number;
  inertia: number;
  switch_abandon: number;
  slow_abandon: number;
  retry: number;
}

const worlds: World[] = [
  {
    name: 'base',
    outages_per_month: 3,
    spikes_per_month: 3,
    inertia: 0.55,
    switch_abandon: 0.06,
    slow_abandon: 0.35,
    retry: 0.5,
  },
  {
    name: 'unstable channels',
    outages_per_month: 15,
    spikes_per_month: 15,
    inertia: 0.55,
    switch_abandon: 0.06,
    slow_abandon: 0.35,
    retry: 0.5,
  },
  {
    name: 'high switching friction',
    outages_per_month: 3,
    spikes_per_month: 3,
    inertia: 0.4,
    switch_abandon: 0.2,
    slow_abandon: 0.35,
    retry: 0.3,
  },
];

function buildChannels(world: World, start: number, days: number): Map<string, Channel> {
  const rng = new Rng(deriveSeed(seed, 'channels'));
  const out = new Map<string, Channel>();
  for (const bank of banks) {
    const c: Channel = {
      bank,
      base_success: rng.uniform(0.985, 0.998),
      base_latency_ms: rng.uniform(150, 600),
      outages: [],
      spikes: [],
    };
    for (let i = rng.poisson(world.outages_per_month); i > 0; i--) {
      const from = start + rng.uniform(0, days * DAY);
      c.outages.push({ from, until: from + rng.uniform(1, 6) * HOUR, failure: rng.uniform(0.6, 0.95) });
    }
    for (let i = rng.poisson(world.spikes_per_month); i > 0; i--) {
      const from = start + rng.uniform(0, days * DAY);
      c.spikes.push({ from, until: from + rng.uniform(1, 4) * HOUR, latency_ms: rng.uniform(3000, 8000) });
    }
    out.set(bank, c);
  }
  return out;
}

function channelAt(c: Channel, t: number) {
  const o = c.outages.find((x) => x.from <= t && t < x.until);
  const s = c.spikes.find((x) => x.from <= t && t < x.until);
  return { success: o ? 1 - o.failure : c.base_success, latency_ms: s ? s.latency_ms : c.base_latency_ms };
}

interface WalletInstrument extends RankInstrument {
  /** Typical funds (balance, debit) or credit limit. */
  level_fen: number;
  preference: number;
}

interface Payer {
  id: string;
  instruments: WalletInstrument[];
  sensitivity: number;
}

function buildPayer(id: string, events: SimEvent[]): Payer {
  const rng = new Rng(deriveSeed(seed, `payer:${id}`));
  const kinds = new Map<string, number>();
  for (const e of events) kinds.set(e.instrument_kind, (kinds.get(e.instrument_kind) ?? 0) + 1);
  const favourite = [...kinds.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'balance';
  const list: WalletInstrument[] = [];
  const add = (kind: InstrumentKind, bank: string, level: number, limit: number | null) => {
    list.push({
      id: `${id}:${kind}`,
      kind,
      bank_type: bank,
      display_name: kind,
      last4: null,
      available_fen: level,
      per_txn_limit_fen: limit,
      level_fen: level,
      // Dirichlet(0.6)-like preferences via Gamma ≈ exponential^1.6, the simulator's favourite ×3.
      preference: rng.exponential(1) ** 1.6 * (kind === favourite ? 3 : 1) + 0.02,
    });
  };
  add('balance', 'OTHERS', Math.round(rng.lognormalMedian(40_000, 1.2)), null);
  if (rng.chance(0.9) || favourite === 'debit_card')
    add(
      'debit_card',
      rng.pick(debitBanks),
      Math.round(rng.lognormalMedian(600_000, 1)),
      rng.chance(0.5) ? 500_000 : null,
    );
  if (rng.chance(0.55) || favourite === 'credit_card')
    add('credit_card', rng.pick(creditBanks), Math.round(rng.lognormalMedian(2_000_000, 0.6)), 1_000_000);
  if (rng.chance(0.4) || favourite === 'credit_line') add('credit_line', 'OTHERS', 200_000, null);
  return { id, instruments: list, sensitivity: rng.chance(0.3) ? rng.uniform(0.5, 1) : rng.uniform(0, 0.2) };
}

/** What each instrument can pay at this checkout (balances move between checkouts). */
function fundsAt(p: Payer, rng: Rng): RankInstrument[] {
  return p.instruments.map((i) => {
    const factor =
      i.kind === 'balance'
        ? rng.lognormal(0, 1.1)
        : i.kind === 'debit_card'
          ? rng.lognormal(0, 0.6)
          : rng.uniform(0.15, 1);
    return { ...i, available_fen: Math.max(0, Math.round(i.level_fen * factor)) };
  });
}

const payable = (i: RankInstrument, amount: number, discount: number) =>
  i.available_fen >= amount - discount && (i.per_txn_limit_fen === null || amount <= i.per_txn_limit_fen);

// ---------------------------------------------------------------------------------------------
// Policies

interface History {
  payments: number;
  promotions: number;
  last: string | undefined;
  uses: Map<string, { uses: number; failures: number; last_at: number }>;
}

type PolicyName = 'static' | 'last_used' | 'most_frequent' | 'smart' | 'oracle';
const policies: PolicyName[] = ['static', 'last_used', 'most_frequent', 'smart', 'oracle'];

function staticOrder(eligible: RankInstrument[]): RankInstrument[] {
  return eligible; // the wallet's order
}

function firstOf(eligible: RankInstrument[], id: string | undefined): RankInstrument[] {
  const i = eligible.findIndex((x) => x.id === id);
  if (i <= 0) return eligible;
  return [eligible[i]!, ...eligible.slice(0, i), ...eligible.slice(i + 1)];
}

function mostFrequent(h: History | undefined): string | undefined {
  let best: string | undefined;
  let n = 0;
  for (const [id, u] of h?.uses ?? []) if (u.uses > n) [best, n] = [id, u.uses];
  return best;
}

function baselineTop(name: PolicyName, eligible: RankInstrument[], h: History | undefined): string {
  if (name === 'last_used') return firstOf(eligible, h?.last)[0]!.id;
  if (name === 'most_frequent') return firstOf(eligible, mostFrequent(h))[0]!.id;
  return staticOrder(eligible)[0]!.id;
}

// ---------------------------------------------------------------------------------------------
// One run of one policy over the whole traffic

interface LoggedDecision {
  top: string;
  propensity: number;
  reward: number;
  /** The first place each baseline would have shown in this context. */
  baseline: Record<'static' | 'last_used' | 'most_frequent', string>;
}

interface RunResult {
  checkouts: number;
  completed: number;
  revenue_fen: number;
  discounts_fen: number;
  topReward: number;
  secondHalf: { checkouts: number; completed: number };
  abandon: { switch: number; timeout: number; failed: number };
  log: LoggedDecision[];
  modelUpdates: number;
}

const promotionsTemplate: PromotionOffer[] = [
  {
    id: 'promo_icbc',
    name: 'ICBC 满100减10',
    kind: 'amount_off',
    bank_type: 'ICBC_DEBIT',
    instrument_kind: null,
    min_amount_fen: 10_000,
    discount_fen: 1_000,
    instalments: null,
    remaining_fen: 3_000_000,
  },
  {
    id: 'promo_cmb',
    name: 'CMB credit 满300减20',
    kind: 'amount_off',
    bank_type: 'CMB_CREDIT',
    instrument_kind: null,
    min_amount_fen: 30_000,
    discount_fen: 2_000,
    instalments: null,
    remaining_fen: 2_000_000,
  },
  {
    id: 'promo_fenfu',
    name: '分付 3 期免息',
    kind: 'instalments',
    bank_type: null,
    instrument_kind: 'credit_line',
    min_amount_fen: 50_000,
    discount_fen: 0,
    instalments: 3,
    remaining_fen: 50_000_000,
  },
];

function run(
  world: World,
  name: PolicyName,
  traffic: SimEvent[],
  payers: Map<string, Payer>,
  channels: Map<string, Channel>,
  start: number,
  end: number,
): RunResult {
  const model = new LinUcb({ alpha: ucb_alpha, lambda: prior_weight, prior });
  const health = new ChannelHealth();
  const promos = promotionsTemplate.map((p) => ({ ...p }));
  const histories = new Map<string, History>();
  const r: RunResult = {
    checkouts: 0,
    completed: 0,
    revenue_fen: 0,
    discounts_fen: 0,
    topReward: 0,
    secondHalf: { checkouts: 0, completed: 0 },
    abandon: { switch: 0, timeout: 0, failed: 0 },
    log: [],
    modelUpdates: 0,
  };
  const background = new Rng(deriveSeed(seed, 'background'));
  let nextBackground = start;
  const half = start + (end - start) / 2;

  const attempt = (i: RankInstrument, t: number, rng: Rng) => {
    const c = channelAt(channels.get(i.bank_type)!, t);
    const latency = Math.round(c.latency_ms * rng.uniform(0.8, 1.2));
    const ok = rng.float() < c.success * issuer_success[i.kind];
    health.record(i.bank_type, i.id, ok, latency, t);
    return { ok, latency };
  };

  for (const e of traffic) {
    // Other merchants' traffic on every channel up to now (what the platform-wide window sees).
    for (; nextBackground <= e.ts; nextBackground += 30_000) {
      for (const bank of banks) {
        const c = channelAt(channels.get(bank)!, nextBackground);
        health.record(
          bank,
          `bg:${bank}`,
          background.float() < c.success * 0.99,
          Math.round(c.latency_ms),
          nextBackground,
        );
      }
    }
    const payer = payers.get(e.payer_id)!;
    // Separate streams per purpose (common random numbers): every policy sees the same funds, the
    // same wish and patience of the payer, and the same outcome of each instrument's authorisation.
    const rng = new Rng(deriveSeed(seed, e.id));
    const instruments = fundsAt(payer, rng.fork('funds'));
    const policyRng = rng.fork('policy');
    const payerRng = rng.fork('payer');
    const amount = e.amount_fen;
    const h = histories.get(payer.id);
    const discountOf = (i: RankInstrument) => {
      const p = bestPromotion(promos, i, amount);
      return p?.kind === 'amount_off' ? p.discount_fen : 0;
    };
    const eligible = instruments.filter((i) => payable(i, amount, discountOf(i)));
    if (eligible.length === 0) continue; // no policy can help: not counted
    r.checkouts++;
    if (e.ts >= half) r.secondHalf.checkouts++;

    // What the payer wants (independent of what is shown).
    const weights = eligible.map((i) => {
      const p = bestPromotion(promos, i, amount);
      const pull = p ? payer.sensitivity * (p.kind === 'amount_off' ? 3 : 1.5) : 0;
      return Math.log(payer.instruments.find((x) => x.id === i.id)!.preference) + pull;
    });
    const maxW = Math.max(...weights);
    const wanted = eligible[payerRng.weightedIndex(weights.map((w) => Math.exp(w - maxW)))]!;

    // The policy's display order.
    let display: RankInstrument[];
    let logged: { propensity: number; x: Float64Array } | undefined;
    if (name === 'smart') {
      const uses = new Map<string, InstrumentHistory>();
      for (const [id, u] of h?.uses ?? [])
        uses.set(id, { uses: u.uses, failures: u.failures, last_used_days_ago: (e.ts - u.last_at) / DAY });
      const ranked = rankInstruments(
        model,
        {
          amount_fen: amount,
          mcc: e.mcc,
          history: {
            payments: h?.payments ?? 0,
            promotion_redemptions: h?.promotions ?? 0,
            last_instrument_id: h?.last,
            instruments: uses,
          },
          client_latency_ms: 0,
          instruments,
          promotions: promos,
          channel: (i) => health.of(i, e.ts),
        },
        default_checkout_options.explorationShare,
        policyRng.float(),
        policyRng.float(),
      );
      display = ranked.items
        .filter((i) => i.eligible)
        .map((i) => eligible.find((x) => x.id === i.instrument_id)!);
      const c = ranked.choice!;
      logged = { propensity: c.propensity, x: ranked.arms[c.top]!.x };
    } else if (name === 'oracle') {
      // Knows the payer's wish and each channel's true state now: the wish unless its channel is
      // down or slow, else the healthiest channel.
      const health = (i: RankInstrument) => {
        const c = channelAt(channels.get(i.bank_type)!, e.ts);
        return c.success * (c.latency_ms > 3000 ? 1 - world.slow_abandon : 1);
      };
      const best = [...eligible].sort((a, b) => health(b) - health(a))[0]!;
      display = firstOf(eligible, health(wanted) >= health(best) - 0.05 ? wanted.id : best.id);
    } else {
      display = firstOf(eligible, baselineTop(name, eligible, h));
    }
    const top = display[0]!;
    // What each baseline would have shown here, fixed before the payer acts (the history moves).
    const baselines = {
      static: baselineTop('static', eligible, h),
      last_used: baselineTop('last_used', eligible, h),
      most_frequent: baselineTop('most_frequent', eligible, h),
    };

    // The payer.
    let choice: RankInstrument | undefined = top;
    const inertia = payerRng.float();
    const switchAbandon = payerRng.float();
    if (wanted.id !== top.id && inertia >= world.inertia) {
      choice = switchAbandon < world.switch_abandon ? undefined : wanted;
      if (!choice) r.abandon.switch++;
    }
    let paidWith: RankInstrument | undefined;
    let firstTried: RankInstrument | undefined;
    const tried = new Set<string>();
    for (let round = 0; choice && round < 2; round++) {
      firstTried ??= choice;
      tried.add(choice.id);
      const a = attempt(choice, e.ts, rng.fork(`attempt:${choice.id}`));
      const patience = payerRng.float();
      if (a.latency > 3000 && patience < world.slow_abandon) {
        r.abandon.timeout++;
        break;
      }
      const hh = histories.get(payer.id) ?? { payments: 0, promotions: 0, last: undefined, uses: new Map() };
      histories.set(payer.id, hh);
      const u = hh.uses.get(choice.id) ?? { uses: 0, failures: 0, last_at: e.ts };
      hh.uses.set(choice.id, u);
      if (a.ok) {
        paidWith = choice;
        u.uses++;
        u.last_at = e.ts;
        hh.payments++;
        hh.last = choice.id;
        break;
      }
      u.failures++;
      if (payerRng.float() >= world.retry) {
        r.abandon.failed++;
        break;
      }
      choice = display.find((x) => !tried.has(x.id));
      if (!choice) r.abandon.failed++;
    }
    const reward = paidWith !== undefined && firstTried?.id === top.id && paidWith.id === top.id ? 1 : 0;
    r.topReward += reward;
    if (paidWith) {
      r.completed++;
      if (e.ts >= half) r.secondHalf.completed++;
      r.revenue_fen += amount;
      const p = bestPromotion(promos, paidWith, amount);
      if (p) {
        const used = p.kind === 'amount_off' ? p.discount_fen : amount;
        p.remaining_fen -= used;
        r.discounts_fen += p.kind === 'amount_off' ? p.discount_fen : 0;
        histories.get(payer.id)!.promotions++;
      }
    }
    if (logged) {
      model.update(logged.x, reward);
      r.log.push({
        top: top.id,
        propensity: logged.propensity,
        reward,
        baseline: baselines,
      });
    }
  }
  r.modelUpdates = model.updates;
  return r;
}

// ---------------------------------------------------------------------------------------------

log('bench:checkout-quality — Smart Checkout vs static / last-used / most-frequent orders');
for (const line of machineLines()) log(line);
const params = mergeParams(defaultParams, { seed, payers: payersN });
const traffic = simulateAll(params).filter(
  (e) => e.type === 'payment' && e.label === 'legit' && e.outcome === 'success',
);
const byPayer = new Map<string, SimEvent[]>();
for (const e of traffic) {
  const list = byPayer.get(e.payer_id) ?? [];
  list.push(e);
  byPayer.set(e.payer_id, list);
}
const payers = new Map([...byPayer].map(([id, events]) => [id, buildPayer(id, events)]));
const start = params.startMs;
const end = start + params.days * DAY;
log(
  `traffic: ${traffic.length} legitimate payments of ${payers.size} simulated payers over ${params.days} days (simulator seed ${seed})`,
);
log(
  `smart: LinUCB α=${ucb_alpha}, prior weight ${prior_weight}, exploration ${default_checkout_options.explorationShare}`,
);

const rate = (r: RunResult) => r.completed / r.checkouts;
const rate2 = (r: RunResult) => r.secondHalf.completed / r.secondHalf.checkouts;
const pctSigned = (x: number) => `${x >= 0 ? '+' : ''}${fixed(x * 100, 2)}%`;
const headline: {
  world: string;
  static: number;
  last_used: number;
  most_frequent: number;
  oracle: number;
}[] = [];
let base: Map<PolicyName, RunResult> | undefined;

for (const world of worlds) {
  const channels = buildChannels(world, start, params.days);
  const outageShare =
    [...channels.values()].reduce((s, c) => s + c.outages.reduce((a, o) => a + (o.until - o.from), 0), 0) /
    (channels.size * (end - start));
  log();
  log(
    `== world "${world.name}": ${fixed(outageShare * 100, 1)}% of channel-time in outage; inertia ${world.inertia}, ` +
      `switch abandon ${world.switch_abandon}, slow abandon ${world.slow_abandon}, retry ${world.retry}`,
  );
  const results = new Map<PolicyName, RunResult>();
  for (const p of policies) results.set(p, run(world, p, traffic, payers, channels, start, end));
  base ??= results;
  const smart = results.get('smart')!;
  const rows = [
    [
      'policy',
      'checkouts',
      'completion',
      '2nd half',
      'revenue ¥',
      'first-place reward',
      'abandon: switch/slow/failed',
    ],
  ];
  for (const [name, r] of results)
    rows.push([
      name,
      String(r.checkouts),
      fixed(rate(r)),
      fixed(rate2(r)),
      (r.revenue_fen / 100).toFixed(0),
      fixed(r.topReward / r.checkouts),
      `${r.abandon.switch}/${r.abandon.timeout}/${r.abandon.failed}`,
    ]);
  for (const line of table(rows)) log(line);
  const lift = (b: PolicyName) => rate(smart) / rate(results.get(b)!) - 1;
  const revLift = (b: PolicyName) => smart.revenue_fen / results.get(b)!.revenue_fen - 1;
  for (const b of ['static', 'last_used', 'most_frequent'] as const)
    log(
      `smart vs ${b.padEnd(13)} completion ${pctSigned(lift(b))}  revenue ${pctSigned(revLift(b))}  (2nd half completion ${pctSigned(rate2(smart) / rate2(results.get(b)!) - 1)})`,
    );
  log(
    `smart: ${smart.modelUpdates} model updates; promotion discounts ¥${(smart.discounts_fen / 100).toFixed(0)} (bank-funded)`,
  );
  headline.push({
    world: world.name,
    static: lift('static'),
    last_used: lift('last_used'),
    most_frequent: lift('most_frequent'),
    oracle: rate(results.get('oracle')!) / rate(results.get('static')!) - 1,
  });

  // Off-policy estimates from Smart Checkout's logged propensities.
  log(`inverse-propensity estimates of first-place reward from smart's log (n = ${smart.log.length}):`);
  const ipsRows = [['target policy', 'IPS', 'SNIPS', 'matched', 'measured in own run']];
  for (const b of ['static', 'last_used', 'most_frequent'] as const) {
    let sum = 0;
    let weights = 0;
    let matched = 0;
    for (const d of smart.log) {
      if (d.baseline[b] !== d.top) continue;
      matched++;
      const w = 1 / d.propensity;
      sum += w * d.reward;
      weights += w;
    }
    const r = results.get(b)!;
    ipsRows.push([
      b,
      fixed(sum / smart.log.length),
      fixed(weights > 0 ? sum / weights : Number.NaN),
      String(matched),
      fixed(r.topReward / r.checkouts),
    ]);
  }
  ipsRows.push([
    'smart (on-policy)',
    fixed(smart.topReward / smart.checkouts),
    '',
    String(smart.log.length),
    fixed(smart.topReward / smart.checkouts),
  ]);
  for (const line of table(ipsRows)) log(line);
}

log();
log('completion lift of smart, per world:');
const hrows = [
  ['world', 'vs static', 'vs last_used', 'vs most_frequent', 'oracle vs static', 'share of oracle gain'],
];
for (const h of headline)
  hrows.push([
    h.world,
    pctSigned(h.static),
    pctSigned(h.last_used),
    pctSigned(h.most_frequent),
    pctSigned(h.oracle),
    `${fixed((h.static / h.oracle) * 100, 0)}%`,
  ]);
for (const line of table(hrows)) log(line);
const b0 = headline[0]!;
const staticRate = rate(base!.get('static')!);
log(
  `ceiling: in the base world static completes ${fixed(staticRate)}, so no policy can beat it by more than ${pctSigned(1 / staticRate - 1)}`,
);
log(
  `aim (base world): completion ≥ +7.4% over static: ${metStatus(b0.static >= 0.074)} (${pctSigned(b0.static)})`,
);
log(
  `aim (base world): completion above last-used:      ${metStatus(b0.last_used > 0)} (${pctSigned(b0.last_used)})`,
);
log(`elapsed: ${((performance.now() - started) / 1000).toFixed(1)} s`);
