/**
 * APIv3 trade and fund-flow bills (reference §3.5). Step 1 (`/v3/bill/tradebill`,
 * `/v3/bill/fundflowbill`, signed) builds the day's bill, answers its SHA1 and a download_url with a
 * random token valid 5 minutes and bound to the merchant; step 2 (`/v3/billdownload/file`, signed
 * request, unsigned response) builds it again and serves the bytes. A bill covers a past China
 * Standard Time day, so both builds read the same rows and give the same bytes; the hash is over
 * the uncompressed bill even when it is served gzipped (`tar_type=GZIP`).
 *
 * Format (reference §3.5, as wechatpay-axios-plugin's `Formatter.castCsvBill` parses it): UTF-8
 * with BOM, CRLF line ends, a header line, one line per record with every cell prefixed by a
 * backtick, then the summary header and the summary line; amounts in yuan with 2 decimals, fees
 * with 5 as APIv3 prints them. Free text cannot break a line: commas become `\ ` and line breaks
 * `\n` (reference §3.5).
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type { Ctx } from '../../context.ts';
import type { Executor } from '../../db/database.ts';
import { assert } from '../../lib/assert.ts';
import { pseudonymize } from '../../lib/crypto/index.ts';
import { fail } from '../../lib/errors.ts';
import { hex } from '../../lib/ids.ts';
import { bill_history_months, bill_rows_max, bill_token_validity_ms } from '../../lib/limits.ts';
import { yuan, yuanFee } from '../../lib/money.ts';
import * as identity from '../identity/index.ts';
import * as merchants from '../merchants/index.ts';
import * as repo from './billing.repository.ts';
import { chinaDateTime, chinaDay, chinaDayMonthsBefore, dayRange } from './periods.ts';
import { processing_fee_rate } from './prices.ts';

export type TradeBillType = 'ALL' | 'SUCCESS' | 'REFUND';
/**
 * Trade bill types APIv3 also names (reference §3.5): refunds of recharge (prepaid) coupons and the
 * bills of special-rate merchants. The sandbox has neither: they are answered NO_STATEMENT_EXIST.
 */
export const absent_trade_bill_types = [
  'RECHARGE_REFUND',
  'ALL_SPECIAL',
  'SUC_SPECIAL',
  'REF_SPECIAL',
] as const;
/** `ALL`: every account; Zhifu keeps the basic account only, so it is the basic account's bill. */
export type FundAccountType = 'BASIC' | 'OPERATION' | 'FEES' | 'ALL';

export interface BillQuery {
  hash_type: 'SHA1';
  hash_value: string;
  download_url: string;
}

export interface BillFile {
  body: Buffer;
  contentType: string;
}

/** The ALL trade bill's columns (reference §3.5); SUCCESS and REFUND bills are derived from it. */
const all_columns = [
  '交易时间',
  '公众账号ID',
  '商户号',
  '特约商户号',
  '设备号',
  '微信订单号',
  '商户订单号',
  '用户标识',
  '交易类型',
  '交易状态',
  '付款银行',
  '货币种类',
  '应结订单金额',
  '代金券金额',
  '微信退款单号',
  '商户退款单号',
  '退款金额',
  '充值券退款金额',
  '退款类型',
  '退款状态',
  '商品名称',
  '商户数据包',
  '手续费',
  '费率',
  '订单金额',
  '申请退款金额',
  '费率备注',
];
const refund_columns = new Set([
  '微信退款单号',
  '商户退款单号',
  '退款金额',
  '充值券退款金额',
  '退款类型',
  '退款状态',
  '申请退款金额',
]);

const trade_columns: Record<TradeBillType, string[]> = {
  ALL: all_columns,
  // SUCCESS drops the refund columns; REFUND adds the refund request and success times before them.
  SUCCESS: all_columns.filter((c) => !refund_columns.has(c)),
  REFUND: all_columns.flatMap((c) => (c === '微信退款单号' ? ['退款申请时间', '退款成功时间', c] : [c])),
};

const trade_summary = [
  '总交易单数',
  '应结订单总金额',
  '退款总金额',
  '充值券退款总金额',
  '手续费总金额',
  '订单总金额',
  '申请退款总金额',
];

const fund_columns = [
  '记账时间',
  '微信支付业务单号',
  '资金流水单号',
  '业务名称',
  '业务类型',
  '收支类型',
  '收支金额(元)',
  '账户结余(元)',
  '资金变更提交申请人',
  '备注',
  '业务凭证号',
];

const fund_summary = ['资金流水总笔数', '收入笔数', '收入金额', '支出笔数', '支出金额'];

/** Free text in a bill cell: commas and line breaks escaped as APIv3 does (reference §3.5). */
function text(value: string | null | undefined): string {
  return (value ?? '').replaceAll(',', '\\ ').replaceAll(/\r\n|\r|\n/g, '\\n');
}

function deviceOf(extraJson: string | null): string {
  const extra = JSON.parse(extraJson ?? '{}') as { scene_info?: { device_id?: string } };
  return extra.scene_info?.device_id ?? '';
}

/** Header, backticked records, summary header, backticked summary; BOM and CRLF. */
function csv(
  columns: string[],
  records: Record<string, string>[],
  summaryColumns: string[],
  summary: string[],
) {
  const line = (cells: string[]) => `${cells.join(',')}\r\n`;
  const ticked = (cells: string[]) => line(cells.map((c) => `\`${c}`));
  let out = `\uFEFF${line(columns)}`;
  for (const r of records) out += ticked(columns.map((c) => r[c] ?? ''));
  out += line(summaryColumns);
  out += ticked(summary);
  return Buffer.from(out, 'utf8');
}

/** Validates bill_date: a real day, before today and within 3 months (China Standard Time). */
function billDay(billDate: string, now: number): { start: number; end: number } {
  const range = dayRange(billDate);
  if (!range)
    fail('invalid_parameter', {
      field: 'bill_date',
      value: billDate,
      issue: 'give a date as YYYY-MM-DD',
      location: 'query',
    });
  const today = chinaDay(now);
  const earliest = chinaDayMonthsBefore(now, bill_history_months);
  if (billDate >= today || billDate < earliest)
    fail('bill_date_out_of_range', { field: 'bill_date', value: billDate, location: 'query' });
  return range;
}

/**
 * The trade bill. Its 用户标识 column carries the payer's keyed pseudonym, not the raw OpenID:
 * bills are exports, and PIPL localisation keeps raw identifiers in the domestic store
 * (docs/compliance.md). `payerRef` maps an OpenID to that pseudonym.
 */
export async function buildTradeBill(
  db: Executor,
  mchid: string,
  billDate: string,
  type: TradeBillType,
  now: number,
  payerRef: (openid: string) => string,
): Promise<Buffer> {
  const { start, end } = billDay(billDate, now);
  const [orders, refunds] = await Promise.all([
    type === 'REFUND' ? [] : repo.capturedOrders(db, mchid, start, end, bill_rows_max + 1),
    type === 'SUCCESS' ? [] : repo.refundsWithOrders(db, mchid, start, end, bill_rows_max + 1),
  ]);
  if (orders.length + refunds.length > bill_rows_max) fail('bill_too_large');
  if (orders.length + refunds.length === 0)
    fail('bill_not_exist', { field: 'bill_date', value: billDate, location: 'query' });
  const [fees, returns] = await Promise.all([
    repo.feesOfOrders(
      db,
      orders.map((o) => o.id),
    ),
    repo.returnsOfRefunds(
      db,
      refunds.map((r) => r.refund_id),
    ),
  ]);
  const feeOf = new Map(fees.map((f) => [f.order_id, Number(f.fee_fen)]));
  const returnOf = new Map(returns.map((r) => [r.refund_id, Number(r.returned_fen)]));
  const records: { at: number; id: string; cells: Record<string, string> }[] = [];
  const totals = { settled: 0, refunded: 0, fees: 0, ordered: 0, requested: 0 };
  for (const o of orders) {
    const amount = Number(o.amount_total);
    const fee = feeOf.get(o.id) ?? 0;
    totals.settled += amount;
    totals.ordered += amount;
    totals.fees += fee;
    records.push({
      at: Number(o.success_time),
      id: o.id,
      cells: {
        交易时间: chinaDateTime(Number(o.success_time)),
        公众账号ID: o.appid,
        商户号: mchid,
        特约商户号: '0',
        设备号: text(deviceOf(o.extra_json)),
        微信订单号: o.transaction_id ?? '',
        商户订单号: o.out_trade_no,
        用户标识: o.paid_openid ? payerRef(o.paid_openid) : '',
        交易类型: o.trade_type,
        交易状态: 'SUCCESS',
        付款银行: o.bank_type ?? '',
        货币种类: o.currency,
        应结订单金额: yuan(amount),
        代金券金额: yuan(0),
        微信退款单号: '0',
        商户退款单号: '0',
        退款金额: yuan(0),
        充值券退款金额: yuan(0),
        退款类型: '',
        退款状态: '',
        商品名称: text(o.description),
        商户数据包: text(o.attach),
        手续费: yuanFee(fee),
        费率: processing_fee_rate.label,
        订单金额: yuan(amount),
        申请退款金额: yuan(0),
        费率备注: '',
      },
    });
  }
  for (const r of refunds) {
    const amount = Number(r.amount_refund);
    // A refund returns part of the payment's fee: negative on the refund's line.
    const returned = returnOf.get(r.refund_id) ?? 0;
    totals.refunded += amount;
    totals.requested += amount;
    totals.fees -= returned;
    records.push({
      at: Number(r.success_time),
      id: r.refund_id,
      cells: {
        交易时间: chinaDateTime(Number(r.success_time)),
        公众账号ID: r.appid,
        商户号: mchid,
        特约商户号: '0',
        设备号: text(deviceOf(r.extra_json)),
        微信订单号: r.transaction_id,
        商户订单号: r.out_trade_no,
        用户标识: r.paid_openid ? payerRef(r.paid_openid) : '',
        交易类型: r.trade_type,
        交易状态: 'REFUND',
        付款银行: r.bank_type ?? '',
        货币种类: 'CNY',
        应结订单金额: yuan(0),
        代金券金额: yuan(0),
        退款申请时间: chinaDateTime(Number(r.create_time)),
        退款成功时间: chinaDateTime(Number(r.success_time)),
        微信退款单号: r.refund_id,
        商户退款单号: r.out_refund_no,
        退款金额: yuan(amount),
        充值券退款金额: yuan(0),
        退款类型: r.channel,
        退款状态: r.status,
        商品名称: text(r.description),
        商户数据包: text(r.attach),
        手续费: yuanFee(-returned),
        费率: processing_fee_rate.label,
        订单金额: yuan(0),
        申请退款金额: yuan(amount),
        费率备注: '',
      },
    });
  }
  records.sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return csv(
    trade_columns[type],
    records.map((r) => r.cells),
    trade_summary,
    [
      String(records.length),
      yuan(totals.settled),
      yuan(totals.refunded),
      yuan(0),
      yuan(totals.fees),
      yuan(totals.ordered),
      yuan(totals.requested),
    ],
  );
}

const fund_names: Record<string, { name: string; type: string }> = {
  payment: { name: '交易', type: '交易' },
  refund: { name: '退款', type: '退款' },
  fee: { name: '扣除交易手续费', type: '扣除交易手续费' },
  fee_return: { name: '退还交易手续费', type: '退还交易手续费' },
  // An abnormal refund closed: its money comes back to the merchant (Zhifu's name; the APIv3 bill
  // documentation lists no type for it, and it is a refund's flow).
  refund_return: { name: '退款关闭资金退回', type: '退款' },
};

/** Posting order within one step: capture then its fee; a refund's fee return before the refund. */
const posting_order: Record<string, number> = {
  payment: 0,
  fee: 1,
  fee_return: 2,
  refund: 3,
  refund_return: 4,
};

export async function buildFundFlowBill(
  db: Executor,
  mchid: string,
  billDate: string,
  account: FundAccountType,
  now: number,
): Promise<Buffer> {
  const { start, end } = billDay(billDate, now);
  // Zhifu keeps one merchant account (the basic account); the operation and fees accounts have no flows.
  const merchant = await merchants.findMerchant(db, mchid);
  assert(merchant, 'authenticated merchant without a row');
  const postings =
    account === 'BASIC' || account === 'ALL'
      ? await repo.postingsInRange(db, merchant.account_id, start, end, bill_rows_max + 1)
      : [];
  if (postings.length > bill_rows_max) fail('bill_too_large');
  // Journals of one step share a millisecond: list them in the order they were posted.
  postings.sort(
    (a, b) =>
      Number(a.created_at) - Number(b.created_at) ||
      (posting_order[a.kind] ?? 9) - (posting_order[b.kind] ?? 9) ||
      (a.journal_id < b.journal_id ? -1 : a.journal_id > b.journal_id ? 1 : 0),
  );
  if (postings.length === 0)
    fail('bill_not_exist', { field: 'bill_date', value: billDate, location: 'query' });
  const orderIds = postings.filter((p) => p.kind === 'payment' || p.kind === 'fee').map((p) => p.ref_id);
  const refundIds = postings
    .filter((p) => p.kind === 'refund' || p.kind === 'fee_return' || p.kind === 'refund_return')
    .map((p) => p.ref_id);
  const [orders, refunds] = await Promise.all([
    repo.ordersByIds(db, orderIds),
    repo.refundsByIds(db, refundIds),
  ]);
  const orderOf = new Map(orders.map((o) => [o.id, o]));
  const refundOf = new Map(refunds.map((r) => [r.refund_id, r]));
  let balance = await repo.balanceBefore(db, merchant.account_id, start);
  const counts = { in: 0, inAmount: 0, out: 0, outAmount: 0 };
  const records = postings.map((p) => {
    const amount = Number(p.amount);
    balance += amount;
    if (amount >= 0) {
      counts.in++;
      counts.inAmount += amount;
    } else {
      counts.out++;
      counts.outAmount -= amount;
    }
    const order = orderOf.get(p.ref_id);
    const refund = refundOf.get(p.ref_id);
    const names = fund_names[p.kind] ?? { name: p.kind, type: p.kind };
    return {
      记账时间: chinaDateTime(Number(p.created_at)),
      微信支付业务单号: refund ? p.ref_id : (order?.transaction_id ?? p.ref_id),
      资金流水单号: p.journal_id,
      业务名称: names.name,
      业务类型: names.type,
      收支类型: amount >= 0 ? '收入' : '支出',
      '收支金额(元)': yuan(Math.abs(amount)),
      '账户结余(元)': yuan(balance),
      资金变更提交申请人: 'system',
      备注: '',
      业务凭证号: refund?.out_refund_no ?? order?.out_trade_no ?? '',
    };
  });
  return csv(fund_columns, records, fund_summary, [
    String(records.length),
    String(counts.in),
    yuan(counts.inAmount),
    String(counts.out),
    yuan(counts.outAmount),
  ]);
}

function sha1(body: Buffer): string {
  return createHash('sha1').update(body).digest('hex');
}

/** Step 1: build the bill (to know it exists and its hash) and issue a 5-minute download token. */
async function payerRefs(ctx: Ctx): Promise<(openid: string) => string> {
  const secret = await identity.openidSecret(ctx);
  return (openid) => pseudonymize(secret, 'openid', openid);
}

export async function requestBill(
  ctx: Ctx,
  mchid: string,
  downloadBase: string,
  q: { kind: 'trade' | 'fundflow'; bill_date: string; type: string; tar_type?: string | undefined },
): Promise<BillQuery> {
  if ((absent_trade_bill_types as readonly string[]).includes(q.type)) {
    fail(
      'bill_not_exist',
      { field: 'bill_type', value: q.type, location: 'query' },
      'The sandbox has no recharge-coupon refunds and no special-rate merchants.',
    );
  }
  const now = ctx.clock.now();
  const body =
    q.kind === 'trade'
      ? await buildTradeBill(ctx.db, mchid, q.bill_date, q.type as TradeBillType, now, await payerRefs(ctx))
      : await buildFundFlowBill(ctx.db, mchid, q.bill_date, q.type as FundAccountType, now);
  const token = hex(ctx.ids, 40);
  await repo.deleteExpiredBillTokens(ctx.db, now);
  await repo.insertBillToken(ctx.db, {
    token,
    mchid,
    kind: q.kind,
    bill_date: q.bill_date,
    bill_type: q.type,
    tar_type: q.tar_type ?? null,
    expires_at: now + bill_token_validity_ms,
  });
  return {
    hash_type: 'SHA1',
    hash_value: sha1(body),
    download_url: `${downloadBase}/v3/billdownload/file?token=${token}`,
  };
}

/** Step 2: the bill's bytes, for the merchant the token was issued to, within 5 minutes. */
export async function downloadBill(ctx: Ctx, mchid: string, token: string): Promise<BillFile> {
  const now = ctx.clock.now();
  const t = await repo.findBillToken(ctx.db, token);
  if (!t || now >= Number(t.expires_at)) fail('bill_token_invalid', { field: 'token', location: 'query' });
  if (t.mchid !== mchid) fail('bill_token_other_merchant');
  // Built for the clock at issue time, so a token fetched just after midnight serves yesterday's bill.
  const issuedAt = Number(t.expires_at) - bill_token_validity_ms;
  const body =
    t.kind === 'trade'
      ? await buildTradeBill(
          ctx.db,
          mchid,
          t.bill_date,
          t.bill_type as TradeBillType,
          issuedAt,
          await payerRefs(ctx),
        )
      : await buildFundFlowBill(ctx.db, mchid, t.bill_date, t.bill_type as FundAccountType, issuedAt);
  if (t.tar_type === 'GZIP') return { body: gzipSync(body), contentType: 'application/x-gzip' };
  return { body, contentType: 'text/plain; charset=utf-8' };
}
