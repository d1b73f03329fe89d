/**
 * Storage of conversations, their sealed messages, proposals (mandates) and the tool-call audit.
 * Orders and refunds are only READ here (the payer's own, for the lookup tools and the refund
 * policy); every write to them goes through the payments and refunds services.
 */
import type { Executor } from '../../db/database.ts';
import type {
  AgentToolCallsTable,
  ConversationMessagesTable,
  ConversationProposalsTable,
  ConversationsTable,
} from '../../db/schema.ts';

export type ConversationRow = ConversationsTable;
export type MessageRow = ConversationMessagesTable;
export type ProposalRow = ConversationProposalsTable;

export function insertConversation(db: Executor, row: ConversationRow) {
  return db.insertInto('conversations').values(row).execute();
}

export async function findConversation(db: Executor, id: string): Promise<ConversationRow | undefined> {
  const row = await db.selectFrom('conversations').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? { ...row, tokens_used: Number(row.tokens_used) } : undefined;
}

export function findConversationByTokenHash(db: Executor, hash: string) {
  return db.selectFrom('conversations').selectAll().where('agent_token_hash', '=', hash).executeTakeFirst();
}

/** Claims `n` tool calls of the conversation's budget atomically; false when the cap is reached. */
export async function claimToolCalls(db: Executor, id: string, n: number, cap: number, now: number) {
  const r = await db
    .updateTable('conversations')
    .set((eb) => ({ tool_calls_used: eb('tool_calls_used', '+', n), updated_at: now }))
    .where('id', '=', id)
    .where('tool_calls_used', '<=', cap - n)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

export async function addTokens(db: Executor, id: string, tokens: number, now: number): Promise<void> {
  await db
    .updateTable('conversations')
    .set((eb) => ({ tokens_used: eb('tokens_used', '+', tokens), updated_at: now }))
    .where('id', '=', id)
    .execute();
}

export async function insertMessages(db: Executor, rows: MessageRow[]): Promise<void> {
  if (rows.length === 0) return;
  await db.insertInto('conversation_messages').values(rows).execute();
  const last = rows[rows.length - 1]!;
  await db
    .updateTable('conversations')
    .set((eb) => ({ message_count: eb('message_count', '+', rows.length), updated_at: last.created_at }))
    .where('id', '=', last.conversation_id)
    .execute();
}

export function messagesOf(db: Executor, conversationId: string, limit: number) {
  return db
    .selectFrom('conversation_messages')
    .selectAll()
    .where('conversation_id', '=', conversationId)
    .orderBy('seq', 'desc')
    .limit(limit)
    .execute()
    .then((rows) => rows.reverse());
}

export async function lastSeq(db: Executor, conversationId: string): Promise<number> {
  const r = await db
    .selectFrom('conversation_messages')
    .select((eb) => eb.fn.max('seq').as('seq'))
    .where('conversation_id', '=', conversationId)
    .executeTakeFirst();
  return r?.seq == null ? 0 : Number(r.seq);
}

export function insertProposal(db: Executor, row: ProposalRow) {
  return db.insertInto('conversation_proposals').values(row).execute();
}

function numeric(p: ProposalRow): ProposalRow {
  return {
    ...p,
    amount: Number(p.amount),
    expires_at: Number(p.expires_at),
    created_at: Number(p.created_at),
    updated_at: Number(p.updated_at),
    confirmed_at: p.confirmed_at === null ? null : Number(p.confirmed_at),
    executed_at: p.executed_at === null ? null : Number(p.executed_at),
  };
}

export async function findProposal(db: Executor, id: string): Promise<ProposalRow | undefined> {
  const p = await db.selectFrom('conversation_proposals').selectAll().where('id', '=', id).executeTakeFirst();
  return p ? numeric(p) : undefined;
}

export async function proposalsOf(db: Executor, conversationId: string): Promise<ProposalRow[]> {
  const rows = await db
    .selectFrom('conversation_proposals')
    .selectAll()
    .where('conversation_id', '=', conversationId)
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(100)
    .execute();
  return rows.map(numeric);
}

/** Moves a proposal from one state to another; false when it was not in `from` (someone was first). */
export async function transition(
  db: Executor,
  id: string,
  from: string,
  set: Partial<ProposalRow> & { state: string; updated_at: number },
  opts: { notExpiredAt?: number } = {},
): Promise<boolean> {
  let q = db.updateTable('conversation_proposals').set(set).where('id', '=', id).where('state', '=', from);
  if (opts.notExpiredAt !== undefined) q = q.where('expires_at', '>', opts.notExpiredAt);
  const r = await q.executeTakeFirst();
  return Number(r.numUpdatedRows) === 1;
}

/**
 * Refund amounts the agent approved on its own today (counts against its daily cap): confirmed or
 * executed ones, and proposed ones that can still be confirmed (an expired proposal frees its share).
 */
export async function agentRefundsOfDay(
  db: Executor,
  mchid: string,
  agent: string,
  day: string,
  now: number,
) {
  const r = await db
    .selectFrom('conversation_proposals')
    .select((eb) => eb.fn.sum<number>('amount').as('total'))
    .where('mchid', '=', mchid)
    .where('agent', '=', agent)
    .where('day', '=', day)
    .where('kind', '=', 'refund')
    .where('policy_outcome', '=', 'auto')
    .where((eb) =>
      eb.or([
        eb('state', 'in', ['confirmed', 'executed']),
        eb.and([eb('state', '=', 'proposed'), eb('expires_at', '>', now)]),
      ]),
    )
    .executeTakeFirst();
  return Number(r?.total ?? 0);
}

export function insertToolCall(db: Executor, row: AgentToolCallsTable) {
  return db.insertInto('agent_tool_calls').values(row).execute();
}

/** The payer's orders at the merchant, newest first (read-only; see the module comment). */
export function ordersOfPayer(
  db: Executor,
  mchid: string,
  openid: string,
  limit: number,
  outTradeNo?: string,
) {
  let q = db
    .selectFrom('orders')
    .selectAll()
    .where('mchid', '=', mchid)
    .where((eb) => eb.or([eb('payer_openid', '=', openid), eb('paid_openid', '=', openid)]));
  if (outTradeNo !== undefined) q = q.where('out_trade_no', '=', outTradeNo);
  return q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
}

/** The payer's latest paid order at the merchant. */
export function lastPaidOrder(db: Executor, mchid: string, openid: string) {
  return db
    .selectFrom('orders')
    .selectAll()
    .where('mchid', '=', mchid)
    .where('paid_openid', '=', openid)
    .where('trade_state', 'in', ['SUCCESS', 'REFUND'])
    .orderBy('success_time', 'desc')
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
}

export function refundsOfPayer(
  db: Executor,
  mchid: string,
  openid: string,
  limit: number,
  outTradeNo?: string,
) {
  let q = db
    .selectFrom('refunds')
    .innerJoin('orders', 'orders.id', 'refunds.order_id')
    .select([
      'refunds.out_refund_no',
      'refunds.out_trade_no',
      'refunds.amount_refund',
      'refunds.status',
      'refunds.success_time',
      'refunds.create_time',
      'refunds.user_received_account',
      'refunds.reason',
    ])
    .where('refunds.mchid', '=', mchid)
    .where('orders.paid_openid', '=', openid);
  if (outTradeNo !== undefined) q = q.where('refunds.out_trade_no', '=', outTradeNo);
  return q.orderBy('refunds.create_time', 'desc').limit(limit).execute();
}
