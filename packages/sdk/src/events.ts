/**
 * Zhifu's own events (docs/notifications.md): what the WebSocket at `/v1/notifications/ws` and
 * `GET /v1/notifications/events` deliver, the frames of the WebSocket protocol, and the check of
 * an event frame's HMAC signature. Field names are exactly the server's.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { ZhifuSignatureError } from './errors.ts';
import type { Refund, TradeState } from './types.ts';

/** Every event type, in the order docs/notifications.md lists them. */
export const eventTypes = [
  'payment.decision_required',
  'payment.succeeded',
  'payment.manual_review',
  'payment.blocked',
  'payment.released',
  'refund.succeeded',
  'refund.abnormal',
  'refund.closed',
  'risk.batch_completed',
  'risk.batch_failed',
  'merchant.frozen',
] as const;

export type EventType = (typeof eventTypes)[number];

/** A merchant's answer to `payment.decision_required`; also the Fraud Shield's `suggested_action`. */
export type DecisionAnswer = 'approve' | 'review' | 'block';

export const decisionAnswers: readonly DecisionAnswer[] = ['approve', 'review', 'block'];

/** Where a held payment's decision stands. */
export type DecisionState = 'pending' | 'approved' | 'blocked' | 'manual_review' | 'released';

/**
 * Who moved the decision to its state: the merchant's answer, the 500 ms deadline, a manual-review
 * resolution (`POST /v1/payments/{out_trade_no}/review`), the review window's expiry, or the Fraud
 * Shield (auto mode sends a `review` suggestion straight to manual review).
 */
export type DecidedBy = 'merchant' | 'deadline' | 'review' | 'expiry' | 'fraud_shield';

export interface PaymentDecision {
  state: DecisionState;
  /** The id of the `payment.decision_required` (or auto-mode `payment.manual_review`) event that opened it. */
  event_id: string;
  /** RFC 3339 with milliseconds: when an unanswered realtime decision goes to manual review. */
  deadline_at: string;
  /** While in manual review: when the funds are released unless resolved. */
  review_until?: string;
  decided_by?: DecidedBy;
}

export interface RiskReason {
  feature: string;
  value: number;
  contribution: number;
}

export type RiskLevel = 'low' | 'elevated' | 'high';

/** The Fraud Shield's assessment of the payment. */
export interface RiskSummary {
  assessment_id: string;
  /** 0–1000. */
  score: number;
  level: RiskLevel;
  suggested_action: DecisionAnswer;
  /** The largest contributions to the score, at most five. */
  reasons: RiskReason[];
}

/** `data` of every `payment.*` event. The payer is a pseudonym (`psn_…`), never the OpenID. */
export interface PaymentEventData {
  out_trade_no: string;
  transaction_id: string;
  appid: string;
  trade_state: TradeState;
  /** Integer fen. */
  amount: { total: number; currency: string };
  payer_ref: string;
  instrument: { bank_type: string };
  /** The Fraud Shield's assessment (every payment event the server emits today carries it). */
  risk?: RiskSummary;
  /** Present for payments that were held for a decision (realtime mode, or a review suggestion). */
  decision?: PaymentDecision;
  /** Same as `decision.deadline_at`; present with `decision`. */
  deadline_at?: string;
}

/** `payment.decision_required` always carries the decision, the risk and the deadline. */
export type DecisionRequiredData = PaymentEventData & {
  risk: RiskSummary;
  decision: PaymentDecision & { state: 'pending' };
  deadline_at: string;
};

/** `risk.batch_completed`: a batch of `POST /v1/risk/assessments/batch` finished; its results are ready. */
export interface RiskBatchCompletedData {
  batch_id: string;
  items: number;
  status: 'completed';
  /** Items whose action is `block`, and `review`. */
  blocked: number;
  review: number;
}

/**
 * `risk.batch_failed`: a batch failed (scoring or storing failed, or its server stopped and the
 * minute sweep failed it 10 minutes after acceptance). It shows no results and bills nothing.
 */
export interface RiskBatchFailedData {
  batch_id: string;
  items: number;
  status: 'failed';
}

/**
 * `merchant.frozen`: until `frozen_until`, creating orders and confirming payments answer
 * ACCOUNT_FROZEN and held payments are not captured (refunds go on).
 */
export interface MerchantFrozenData {
  freeze_id: string;
  /** RFC 3339. */
  frozen_until: string;
  reason: 'restricted_category' | 'mislabelled_transaction' | 'operator' | (string & {});
  /** The restricted category that was hit (e.g. gambling), or null. */
  category: string | null;
}

interface EventEnvelope<T extends EventType, D> {
  /** `evt_…`; the id a decision answers. */
  id: string;
  /** Per-merchant sequence number: 1, 2, 3, … without gaps. */
  seq: number;
  type: T;
  mchid: string;
  /** RFC 3339. */
  created_at: string;
  data: D;
}

export type DecisionRequiredEvent = EventEnvelope<'payment.decision_required', DecisionRequiredData>;
export type PaymentSucceededEvent = EventEnvelope<'payment.succeeded', PaymentEventData>;
export type PaymentManualReviewEvent = EventEnvelope<'payment.manual_review', PaymentEventData>;
export type PaymentBlockedEvent = EventEnvelope<'payment.blocked', PaymentEventData>;
export type PaymentReleasedEvent = EventEnvelope<'payment.released', PaymentEventData>;
export type RefundSucceededEvent = EventEnvelope<'refund.succeeded', Refund>;
/** A refund that could not reach the payer (their instrument was closed): `status` ABNORMAL. */
export type RefundAbnormalEvent = EventEnvelope<'refund.abnormal', Refund>;
/** An abnormal refund closed: the money is back with the merchant; `status` CLOSED. */
export type RefundClosedEvent = EventEnvelope<'refund.closed', Refund>;
export type RiskBatchCompletedEvent = EventEnvelope<'risk.batch_completed', RiskBatchCompletedData>;
export type RiskBatchFailedEvent = EventEnvelope<'risk.batch_failed', RiskBatchFailedData>;
export type MerchantFrozenEvent = EventEnvelope<'merchant.frozen', MerchantFrozenData>;

/**
 * One event, discriminated by `type`.
 *
 * @example
 * if (e.type === 'payment.succeeded') console.log(e.data.out_trade_no, e.data.amount.total);
 */
export type ZhifuEvent =
  | DecisionRequiredEvent
  | PaymentSucceededEvent
  | PaymentManualReviewEvent
  | PaymentBlockedEvent
  | PaymentReleasedEvent
  | RefundSucceededEvent
  | RefundAbnormalEvent
  | RefundClosedEvent
  | RiskBatchCompletedEvent
  | RiskBatchFailedEvent
  | MerchantFrozenEvent;

export type EventOfType<T extends EventType> = Extract<ZhifuEvent, { type: T }>;

/** True for the five `payment.*` events (whose `data` is `PaymentEventData`). */
export function isPaymentEvent(
  e: ZhifuEvent,
): e is
  | DecisionRequiredEvent
  | PaymentSucceededEvent
  | PaymentManualReviewEvent
  | PaymentBlockedEvent
  | PaymentReleasedEvent {
  return e.type.startsWith('payment.');
}

// ------------------------------------------------------------------------------------------------
// Frames of the WebSocket protocol
// ------------------------------------------------------------------------------------------------

/** First frame on every connection. */
export interface HelloFrame {
  type: 'hello';
  mchid: string;
  /** Events after this sequence number follow (the `after_seq` asked for, else the last acknowledged). */
  resume_after_seq: number;
  server_time: string;
}

/** One event: `data` is the event's JSON text, `signature` its base64 HMAC-SHA256 under `hmac_key`. */
export interface EventFrame {
  type: 'event';
  seq: number;
  data: string;
  signature: string;
}

/** The server's answer to a `decision` frame. */
export interface DecisionResultFrame {
  type: 'decision_result';
  event_id: string;
  applied: boolean;
  /** The decision's new state when applied. */
  state?: DecisionState;
  /** Why not, when not applied: DECISION_DEADLINE_PASSED, DECISION_ALREADY_MADE, PARAM_ERROR, … */
  code?: string;
  message?: string;
}

export interface ErrorFrame {
  type: 'error';
  code: string;
  message: string;
}

export type ServerFrame = HelloFrame | EventFrame | DecisionResultFrame | ErrorFrame;

/** Acknowledges every event up to `seq`: a client reconnecting without `after_seq` resumes after it. */
export interface AckFrame {
  type: 'ack';
  seq: number;
}

export interface DecisionFrame {
  type: 'decision';
  event_id: string;
  decision: DecisionAnswer;
}

export type ClientFrame = AckFrame | DecisionFrame;

/** WebSocket close codes the server uses besides the standard ones. */
export const notificationCloseCodes = {
  /** The client fell too far behind (over 1 MiB unsent): reconnect with `after_seq`. */
  resync: 4008,
  /** More than 16 connections for this merchant. */
  tooManyConnections: 4009,
} as const;

/**
 * Checks an event frame's signature — base64 HMAC-SHA256 of the `data` text, keyed with the UTF-8
 * bytes of the merchant's `hmac_key`, compared in constant time — and returns the parsed event.
 * Throws `ZhifuSignatureError` if the frame is malformed, the signature does not match, or the
 * event's `seq` differs from the frame's. Accepts the frame's JSON text or the parsed object.
 *
 * @example
 * ws.on('message', (text) => {
 *   const frame = JSON.parse(text);
 *   if (frame.type === 'event') handle(verifyEventFrame(frame, c.hmac_key));
 * });
 */
export function verifyEventFrame(frame: EventFrame | string, hmacKey: string): ZhifuEvent {
  if (typeof hmacKey !== 'string' || hmacKey === '')
    throw new TypeError('hmacKey must be a non-empty string');
  let f: unknown = frame;
  if (typeof frame === 'string') {
    try {
      f = JSON.parse(frame);
    } catch {
      throw new ZhifuSignatureError('event frame rejected: not JSON');
    }
  }
  if (!isRecord(f) || f.type !== 'event')
    throw new ZhifuSignatureError('event frame rejected: not an event frame');
  const { seq, data, signature } = f;
  if (!Number.isSafeInteger(seq) || typeof data !== 'string' || typeof signature !== 'string') {
    throw new ZhifuSignatureError('event frame rejected: seq, data and signature are required');
  }
  const expected = createHmac('sha256', Buffer.from(hmacKey, 'utf8')).update(data, 'utf8').digest();
  const given = Buffer.from(signature, 'base64');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new ZhifuSignatureError(`event frame rejected: HMAC of seq ${String(seq)} does not match`);
  }
  let event: unknown;
  try {
    event = JSON.parse(data);
  } catch {
    throw new ZhifuSignatureError('event frame rejected: data is not JSON');
  }
  if (
    !isRecord(event) ||
    typeof event.id !== 'string' ||
    typeof event.type !== 'string' ||
    !isRecord(event.data)
  ) {
    throw new ZhifuSignatureError('event frame rejected: data is not an event');
  }
  if (event.seq !== seq) {
    throw new ZhifuSignatureError(
      `event frame rejected: frame seq ${String(seq)} ≠ event seq ${String(event.seq)}`,
    );
  }
  return event as unknown as ZhifuEvent;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
