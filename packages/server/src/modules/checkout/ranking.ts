/**
 * The pure core of Smart Checkout: given the transaction, the payer's history, the instruments with
 * what they can pay, the promotions in force, channel health and the model, it orders the
 * instruments. No I/O: the service, the benchmarks and the tests call the same function.
 */
import { yuan } from '../../lib/money.ts';
import type { InstrumentView } from '../wallet/index.ts';
import {
  type ArmContext,
  featurize,
  type InstrumentHistory,
  type InstrumentKind,
} from './bandit/features.ts';
import { type Choice, choose, type LinUcb } from './bandit/linucb.ts';
import type { ChannelStats } from './channels.ts';

/** What the ranking reads of an instrument: the wallet's view of it (balance or remaining limit). */
export type RankInstrument = InstrumentView;

export interface PromotionOffer {
  id: string;
  name: string;
  kind: 'amount_off' | 'instalments';
  bank_type: string | null;
  instrument_kind: string | null;
  min_amount_fen: number;
  discount_fen: number;
  instalments: number | null;
  /** Budget left, fen. */
  remaining_fen: number;
}

export interface RankInput {
  amount_fen: number;
  mcc: string;
  history: {
    payments: number;
    promotion_redemptions: number;
    last_instrument_id: string | undefined;
    instruments: ReadonlyMap<string, InstrumentHistory>;
  };
  client_latency_ms: number;
  instruments: readonly RankInstrument[];
  promotions: readonly PromotionOffer[];
  channel(inst: RankInstrument): ChannelStats;
}

export type Eligibility =
  | { code: 'insufficient_balance'; available_fen: number; needed_fen: number }
  | { code: 'over_card_limit'; per_txn_limit_fen: number }
  | { code: 'channel_degraded'; success_rate: number; latency_ms_p50: number; samples: number }
  | {
      code: 'promotion_applied';
      promotion_id: string;
      name: string;
      discount_fen: number;
      instalments: number | null;
    };

export interface RankedInstrument {
  instrument_id: string;
  kind: InstrumentKind;
  bank_type: string;
  display_name: string;
  last4: string | null;
  rank: number;
  eligible: boolean;
  /** The policy's score: upper confidence bound of completion (0 for ineligible instruments). */
  score: number;
  /** Expected probability of successful completion when shown first. */
  p_complete: number;
  /** What the payer pays with this instrument after its promotion, fen. */
  payable_fen: number;
  available_fen: number;
  eligibility: Eligibility[];
  reasons: string[];
  channel: { success_rate: number; latency_ms_p50: number; samples: number; degraded: boolean };
}

export interface Arm {
  instrument_id: string;
  x: Float64Array;
}

export interface Ranked {
  items: RankedInstrument[];
  /** The eligible instruments' feature vectors, in the order given to the policy. */
  arms: Arm[];
  choice: Choice | undefined;
}

/** The promotion a payment with `inst` would get: the largest discount, then the most instalments. */
export function bestPromotion(
  promotions: readonly PromotionOffer[],
  inst: { kind: string; bank_type: string },
  amountFen: number,
): PromotionOffer | undefined {
  let best: PromotionOffer | undefined;
  for (const p of promotions) {
    if (p.bank_type !== null && p.bank_type !== inst.bank_type) continue;
    if (p.instrument_kind !== null && p.instrument_kind !== inst.kind) continue;
    if (amountFen < p.min_amount_fen) continue;
    if (p.discount_fen >= amountFen) continue;
    // Amount-off promotions spend their discount; instalment promotions the amount financed.
    if (p.remaining_fen < (p.kind === 'amount_off' ? p.discount_fen : amountFen)) continue;
    if (
      !best ||
      p.discount_fen > best.discount_fen ||
      (p.discount_fen === best.discount_fen && (p.instalments ?? 0) > (best.instalments ?? 0))
    )
      best = p;
  }
  return best;
}

const pct = (r: number) => `${Math.round(r * 100)}%`;
const round4 = (v: number) => Math.round(v * 10_000) / 10_000;

export function rankInstruments(
  model: LinUcb,
  input: RankInput,
  explorationShare: number,
  u1: number,
  u2: number,
): Ranked {
  const arms: Arm[] = [];
  const rows: { item: RankedInstrument; arm: number }[] = [];
  for (const inst of input.instruments) {
    const promo = bestPromotion(input.promotions, inst, input.amount_fen);
    const discount = promo?.kind === 'amount_off' ? promo.discount_fen : 0;
    const payable = input.amount_fen - discount;
    const ch = input.channel(inst);
    const h = input.history.instruments.get(inst.id);
    const eligibility: Eligibility[] = [];
    const reasons: string[] = [];
    if (inst.available_fen < payable) {
      eligibility.push({
        code: 'insufficient_balance',
        available_fen: inst.available_fen,
        needed_fen: payable,
      });
      reasons.push(
        `${inst.kind === 'balance' || inst.kind === 'debit_card' ? 'balance' : 'credit'} of ¥${yuan(inst.available_fen)} is below ¥${yuan(payable)}`,
      );
    }
    // The card is charged the discounted amount: its limit applies to that (as wallet.authorize does).
    if (inst.per_txn_limit_fen !== null && payable > inst.per_txn_limit_fen) {
      eligibility.push({ code: 'over_card_limit', per_txn_limit_fen: inst.per_txn_limit_fen });
      reasons.push(`over the per-transaction limit of ¥${yuan(inst.per_txn_limit_fen)}`);
    }
    const eligible = eligibility.length === 0;
    if (ch.degraded) {
      eligibility.push({
        code: 'channel_degraded',
        success_rate: round4(ch.success_rate),
        latency_ms_p50: ch.latency_ms_p50,
        samples: ch.samples,
      });
      reasons.push(
        `${inst.bank_type} channel degraded: ${pct(ch.success_rate)} success, ${ch.latency_ms_p50} ms median over ${ch.samples} recent authorisations`,
      );
    }
    if (promo) {
      eligibility.push({
        code: 'promotion_applied',
        promotion_id: promo.id,
        name: promo.name,
        discount_fen: discount,
        instalments: promo.instalments,
      });
      reasons.push(
        promo.kind === 'amount_off'
          ? `promotion "${promo.name}": ¥${yuan(discount)} off`
          : `promotion "${promo.name}": ${promo.instalments} interest-free instalments`,
      );
    }
    if (h && input.history.payments > 0)
      reasons.push(`used for ${h.uses} of the payer's last ${input.history.payments} payments`);
    if (input.history.last_instrument_id === inst.id) reasons.push('used last time');
    if (h && h.failures > 0) reasons.push(`${h.failures} failed attempts in the payer's history`);
    if (!ch.degraded && ch.samples > 0)
      reasons.push(
        `${inst.bank_type} channel ${pct(ch.success_rate)} success, ${ch.latency_ms_p50} ms median`,
      );
    let arm = -1;
    if (eligible) {
      const ctx: ArmContext = {
        kind: inst.kind,
        amount_fen: input.amount_fen,
        mcc: input.mcc,
        history_payments: input.history.payments,
        history_promotions: input.history.promotion_redemptions,
        history: h,
        last_used: input.history.last_instrument_id === inst.id,
        available_fen: inst.available_fen,
        discount_fen: discount,
        promotion: promo !== undefined,
        channel_success_rate: ch.success_rate,
        channel_latency_ms: ch.latency_ms_p50,
        channel_degraded: ch.degraded,
        client_latency_ms: input.client_latency_ms,
      };
      arm = arms.length;
      arms.push({ instrument_id: inst.id, x: featurize(ctx) });
    }
    rows.push({
      arm,
      item: {
        instrument_id: inst.id,
        kind: inst.kind,
        bank_type: inst.bank_type,
        display_name: inst.display_name,
        last4: inst.last4,
        rank: 0,
        eligible,
        score: 0,
        p_complete: 0,
        payable_fen: payable,
        available_fen: inst.available_fen,
        eligibility,
        reasons,
        channel: {
          success_rate: round4(ch.success_rate),
          latency_ms_p50: ch.latency_ms_p50,
          samples: ch.samples,
          degraded: ch.degraded,
        },
      },
    });
  }
  let choice: Choice | undefined;
  if (arms.length > 0) {
    choice = choose(
      model,
      arms.map((a) => a.x),
      explorationShare,
      u1,
      u2,
    );
    for (const r of rows) {
      if (r.arm < 0) continue;
      r.item.score = round4(choice.ucb[r.arm]!);
      r.item.p_complete = round4(Math.min(1, Math.max(0, choice.mean[r.arm]!)));
    }
    if (choice.explored) rows[rowOfArm(rows, choice.top)]!.item.reasons.unshift('shown first to explore');
  }
  // The policy's first place, then the other eligible instruments by expected completion, then the
  // ineligible ones in the wallet's order.
  const top = choice?.top ?? -1;
  const ordered = [...rows].sort((a, b) => {
    const ka = a.arm < 0 ? 2 : a.arm === top ? 0 : 1;
    const kb = b.arm < 0 ? 2 : b.arm === top ? 0 : 1;
    if (ka !== kb) return ka - kb;
    if (ka === 1) return b.item.p_complete - a.item.p_complete;
    return 0;
  });
  ordered.forEach((r, i) => {
    r.item.rank = i + 1;
  });
  return { items: ordered.map((r) => r.item), arms, choice };
}

function rowOfArm(rows: { arm: number }[], arm: number): number {
  return rows.findIndex((r) => r.arm === arm);
}
