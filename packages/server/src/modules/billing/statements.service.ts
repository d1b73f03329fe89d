/**
 * Monthly statements (docs/billing.md): what a merchant was paid, refunded and charged in a China
 * Standard Time calendar month, as JSON (amounts in fen) and as CSV (UTF-8 with BOM, CRLF, amounts
 * in yuan). Every figure is a sum of rows whose fees are ledger postings, so a statement agrees
 * with the ledger: processing fees = the month's `fee` journals, fee returns = its `fee_return`
 * journals, AI fees = its `ai_fee` journals.
 */
import type { Executor } from '../../db/database.ts';
import { rfc3339 } from '../../lib/clock.ts';
import { yuan } from '../../lib/money.ts';
import * as repo from './billing.repository.ts';
import { type UsageLine, usageOf } from './metering.service.ts';
import { chinaMonth, monthRange } from './periods.ts';
import { processing_fee_rate } from './prices.ts';

export interface Statement {
  mchid: string;
  month: string;
  currency: 'CNY';
  /** `final` once the month is over; `provisional` for the current month. */
  status: 'final' | 'provisional';
  period_start: string;
  period_end: string;
  generated_at: string;
  payments: { count: number; amount_fen: number };
  refunds: { count: number; amount_fen: number };
  processing_fees: { rate: string; rounding: string; count: number; amount_fen: number };
  fee_returns: { rule: string; count: number; amount_fen: number };
  ai_usage: { lines: UsageLine[]; amount_fen: number };
  totals: {
    /** Processing fees minus fee returns. */
    processing_fees_net_fen: number;
    ai_fees_fen: number;
    /** Everything the platform charged this month. */
    fees_total_fen: number;
    /** Payments minus refunds minus net processing fees: what the month left on the merchant's account. */
    net_settlement_fen: number;
  };
}

export async function statement(db: Executor, mchid: string, month: string, now: number): Promise<Statement> {
  const range = monthRange(month)!;
  const [captured, refunded, fees, returns, usage] = await Promise.all([
    repo.capturedInRange(db, mchid, range.start, range.end),
    repo.refundedInRange(db, mchid, range.start, range.end),
    repo.feesInRange(db, mchid, range.start, range.end),
    repo.feeReturnsInRange(db, mchid, range.start, range.end),
    usageOf(db, mchid, month),
  ]);
  const payments = { count: Number(captured.n), amount_fen: Number(captured.amount ?? 0) };
  const refunds = { count: Number(refunded.n), amount_fen: Number(refunded.amount ?? 0) };
  const feeAmount = Number(fees.fee ?? 0);
  const returned = Number(returns.returned ?? 0);
  const net = feeAmount - returned;
  return {
    mchid,
    month,
    currency: 'CNY',
    status: chinaMonth(now) === month ? 'provisional' : 'final',
    period_start: rfc3339(range.start),
    period_end: rfc3339(range.end),
    generated_at: rfc3339(now),
    payments,
    refunds,
    processing_fees: {
      rate: processing_fee_rate.label,
      rounding: 'per payment, half up to the fen',
      count: Number(fees.n),
      amount_fen: feeAmount,
    },
    fee_returns: {
      rule: 'pro rata to the refunded share, allocated by cumulative rounding',
      count: Number(returns.n),
      amount_fen: returned,
    },
    ai_usage: { lines: usage.lines, amount_fen: usage.total_fen },
    totals: {
      processing_fees_net_fen: net,
      ai_fees_fen: usage.total_fen,
      fees_total_fen: net + usage.total_fen,
      net_settlement_fen: payments.amount_fen - refunds.amount_fen - net,
    },
  };
}

/** RFC 4180 quoting: a cell with a comma, quote or line break is quoted, quotes doubled. */
function cell(value: string | number): string {
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** The statement as CSV: UTF-8 with BOM (so spreadsheets read the Chinese), CRLF, amounts in yuan. */
export function statementCsv(s: Statement): string {
  const rows: (string | number)[][] = [
    ['line', 'description', 'unit_price_yuan', 'quantity', 'amount_yuan'],
    ['statement', `Zhifu statement ${s.mchid} ${s.month} (${s.status}, ${s.currency})`, '', '', ''],
    ['payments', 'Captured payments', '', s.payments.count, yuan(s.payments.amount_fen)],
    ['refunds', 'Refunds', '', s.refunds.count, yuan(s.refunds.amount_fen)],
    [
      'processing_fees',
      `Processing fee ${s.processing_fees.rate} (${s.processing_fees.rounding})`,
      '',
      s.processing_fees.count,
      yuan(s.processing_fees.amount_fen),
    ],
    [
      'fee_returns',
      `Processing fees returned on refunds (${s.fee_returns.rule})`,
      '',
      s.fee_returns.count,
      yuan(s.fee_returns.amount_fen),
    ],
    ...s.ai_usage.lines.map((l) => [
      `ai:${l.kind}`,
      l.description,
      yuan(l.unit_price_fen),
      l.quantity,
      yuan(l.amount_fen),
    ]),
    [
      'total:processing_fees_net',
      'Processing fees net of returns',
      '',
      '',
      yuan(s.totals.processing_fees_net_fen),
    ],
    ['total:ai_fees', 'AI fees', '', '', yuan(s.totals.ai_fees_fen)],
    ['total:fees', 'All fees', '', '', yuan(s.totals.fees_total_fen)],
    [
      'total:net_settlement',
      'Payments - refunds - net processing fees',
      '',
      '',
      yuan(s.totals.net_settlement_fen),
    ],
  ];
  return `\uFEFF${rows.map((r) => `${r.map(cell).join(',')}\r\n`).join('')}`;
}
