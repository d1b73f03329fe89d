/**
 * Processing fees as ledger postings (docs/billing.md). At capture, in the capture's transaction and
 * after the payment reached the merchant's account: merchant → the platform's fee account for that
 * merchant, 0.6% rounded half up (lib/money.ts `processingFee`). At refund, in the refund's
 * transaction and before the refund journal: that fee account → merchant, the pro-rata share
 * (`refundFeeReturn`), so refunds of the whole payment return exactly the whole fee.
 *
 * The platform's fee revenue is kept per merchant (`acc_fees_<mchid>`, floor 0) rather than in one
 * platform account: no single row is updated by every payment of every merchant, and the floor
 * proves per merchant that the platform never returns more fees than it took.
 */
import type { Executor } from '../../db/database.ts';
import { assert } from '../../lib/assert.ts';
import { processingFee, refundFeeReturn } from '../../lib/money.ts';
import * as ledger from '../ledger/index.ts';
import * as repo from './billing.repository.ts';

/** The platform's revenue account for one merchant's fees (processing and AI). */
export function feesAccountId(mchid: string): string {
  return `acc_fees_${mchid}`;
}

/** What a merchant owes for AI calls (negative balance = owed; no floor). */
export function feesDueAccountId(mchid: string): string {
  return `acc_due_${mchid}`;
}

export async function ensureFeesAccount(trx: Executor, mchid: string, now: number): Promise<string> {
  const id = feesAccountId(mchid);
  await ledger.ensureAccount(trx, { id, kind: 'platform_fees', ownerId: 'platform', floor: 0, now });
  return id;
}

export async function ensureFeesDueAccount(trx: Executor, mchid: string, now: number): Promise<string> {
  const id = feesDueAccountId(mchid);
  await ledger.ensureAccount(trx, { id, kind: 'fees_due', ownerId: mchid, floor: null, now });
  return id;
}

export interface CaptureFeeInput {
  orderId: string;
  mchid: string;
  /** The merchant's ledger account, which has just received `amountFen`. */
  merchantAccountId: string;
  amountFen: number;
  now: number;
}

/**
 * Charges the processing fee of a payment captured in `trx` (call it right after the journal that
 * credited the merchant). Returns the fee in fen; a fee that rounds to 0 posts nothing.
 */
export async function chargeProcessingFee(trx: Executor, c: CaptureFeeInput): Promise<number> {
  const fee = processingFee(c.amountFen);
  await repo.insertProcessingFee(trx, {
    order_id: c.orderId,
    mchid: c.mchid,
    paid_fen: c.amountFen,
    fee_fen: fee,
    refunded_fen: 0,
    returned_fen: 0,
    captured_at: c.now,
    updated_at: c.now,
  });
  if (fee > 0) {
    const fees = await ensureFeesAccount(trx, c.mchid, c.now);
    await ledger.post(trx, {
      id: `jnl_fee_${c.orderId}`,
      kind: 'fee',
      refId: c.orderId,
      postings: [
        { accountId: c.merchantAccountId, amount: -fee },
        { accountId: fees, amount: fee },
      ],
      now: c.now,
      // The merchant was credited the whole amount in this transaction and the fee is below it.
      onInsufficient: 'system_error',
    });
  }
  return fee;
}

export interface RefundFeeInput {
  orderId: string;
  refundId: string;
  mchid: string;
  merchantAccountId: string;
  refundFen: number;
  now: number;
}

/**
 * Returns the pro-rata processing fee of a refund made in `trx`. Call it after the order's refund
 * reservation (which serialises refunds of one order) and before the refund journal, so the
 * returned fee is on the merchant's balance when the refund draws on it. Payments captured before
 * billing existed have no fee row and return nothing.
 */
export async function returnProcessingFee(trx: Executor, r: RefundFeeInput): Promise<number> {
  const row = await repo.findProcessingFee(trx, r.orderId);
  if (!row) return 0;
  // Captures lock the merchant's account before its fee account (the fee is debited from the
  // merchant); a return credits the merchant from the fee account, so it takes the merchant's lock
  // first too (ledger.lockInOrder), or a capture and a refund could deadlock on PostgreSQL.
  await ledger.lockInOrder(trx, [r.merchantAccountId]);
  const paid = Number(row.paid_fen);
  const refundedBefore = Number(row.refunded_fen);
  const returned = refundFeeReturn(Number(row.fee_fen), paid, refundedBefore, r.refundFen);
  const moved = await repo.advanceFeeRow(trx, r.orderId, refundedBefore, r.refundFen, returned, r.now);
  assert(moved, `fee row of ${r.orderId} changed under a refund reservation`);
  await repo.insertFeeReturn(trx, {
    refund_id: r.refundId,
    order_id: r.orderId,
    mchid: r.mchid,
    refund_fen: r.refundFen,
    returned_fen: returned,
    created_at: r.now,
  });
  if (returned > 0) {
    await ledger.post(trx, {
      id: `jnl_feeret_${r.refundId}`,
      kind: 'fee_return',
      refId: r.refundId,
      postings: [
        { accountId: feesAccountId(r.mchid), amount: -returned },
        { accountId: r.merchantAccountId, amount: returned },
      ],
      now: r.now,
      // Returns never exceed the fee taken for this order, which sits in the fee account.
      onInsufficient: 'system_error',
    });
  }
  return returned;
}
