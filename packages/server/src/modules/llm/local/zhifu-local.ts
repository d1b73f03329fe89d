/**
 * `zhifu-local`: the built-in, offline, deterministic payment-dialogue model (DESIGN.md "LLM
 * gateway": "works with no provider at all"). It speaks the OpenAI chat-completions shapes
 * (llm.types.ts) and is a pure function of the request: the same messages and tools always give the
 * same completion, ids included (they are hashes of the request), and `created` is 0.
 *
 * What it does:
 * - Reads the last user message (intents.ts: pay, refund incl. partial, order lookup, refund
 *   lookup, cancel, confirm, smalltalk, unknown; amounts in fen; "last order" or an order number).
 * - If the matching tool is offered in `tools` (and `tool_choice` is not `none`), answers with one
 *   tool call whose arguments fit that tool; otherwise with text in the user's language.
 * - After tool results, summarises them in text and never calls another tool, so it cannot loop.
 * - Only the payer's own words drive it: system text, tool outputs and goods descriptions are
 *   quoted back as data, never read for instructions. (The agent's safety does not rest on this:
 *   mandates and policy are enforced outside any model; see modules/conversations.)
 */
import { createHash } from 'node:crypto';
import type {
  ChatCompleter,
  ChatCompletion,
  ChatCompletionRequest,
  ChatMessage,
  ToolCall,
} from '../llm.types.ts';
import { languageOf, type Reading, read } from './intents.ts';

export const zhifu_local_model = 'zhifu-local';

type Lang = 'zh' | 'en';

function yuan(fen: unknown): string {
  return typeof fen === 'number' && Number.isFinite(fen) ? `¥${(fen / 100).toFixed(2)}` : '¥?';
}

/** Tokens as this model counts them: one per CJK character, one per 4 other characters. */
export function countTokens(text: string): number {
  let cjk = 0;
  for (const ch of text) if (/[\u3000-\u9fff\uff00-\uffef]/.test(ch)) cjk++;
  return cjk + Math.ceil((text.length - cjk) / 4);
}

function textOf(m: ChatMessage): string {
  return m.content ?? '';
}

function offered(req: ChatCompletionRequest, name: string): boolean {
  if (req.tool_choice === 'none') return false;
  if (typeof req.tool_choice === 'object' && req.tool_choice.function.name !== name) return false;
  return (req.tools ?? []).some((t) => t.function.name === name);
}

const say = {
  askAmount: { zh: '请问您要支付多少钱？', en: 'How much would you like to pay?' },
  confirm: {
    zh: '请在聊天里的确认卡片上用微信确认（由您的设备签名）。我不能替您确认付款或退款。',
    en: 'Please confirm on the card in this chat (your device signs it). I cannot confirm a payment or refund for you.',
  },
  smalltalk: {
    zh: '您好！我可以帮您付款、查询订单、申请退款或查询退款进度。',
    en: 'Hello! I can help you pay, look up your orders, request a refund or check a refund.',
  },
  unknown: {
    zh: '抱歉，我没听懂。您可以说"付三十块"、"查一下我的订单"或"上一单退20元"。',
    en: 'Sorry, I did not understand. Try "pay 30 yuan", "show my orders" or "refund 20 of my last order".',
  },
  noTool: {
    zh: '这个操作现在无法在聊天里完成。',
    en: 'I cannot do that from this chat right now.',
  },
} as const;

/** The tool call for a reading, or undefined when the intent has none or its tool is not offered. */
function toolCallFor(
  req: ChatCompletionRequest,
  r: Reading,
): { name: string; args: Record<string, unknown> } | undefined {
  switch (r.intent) {
    case 'pay':
      if (r.amount_fen === undefined || !offered(req, 'create_payment_proposal')) return undefined;
      return {
        name: 'create_payment_proposal',
        args: {
          amount: r.amount_fen,
          currency: 'CNY',
          description: r.lang === 'zh' ? '聊天付款' : 'Chat payment',
        },
      };
    case 'refund':
      if (!offered(req, 'request_refund')) return undefined;
      return {
        name: 'request_refund',
        args: {
          ...(r.order && r.order !== 'last' ? { out_trade_no: r.order } : {}),
          ...(r.amount_fen !== undefined ? { amount: r.amount_fen } : {}),
          reason: r.lang === 'zh' ? '买家在聊天中申请退款' : 'Requested by the payer in chat',
        },
      };
    case 'order_lookup':
      if (!offered(req, 'lookup_orders')) return undefined;
      return { name: 'lookup_orders', args: r.order && r.order !== 'last' ? { out_trade_no: r.order } : {} };
    case 'refund_lookup':
      if (!offered(req, 'lookup_refunds')) return undefined;
      return { name: 'lookup_refunds', args: r.order && r.order !== 'last' ? { out_trade_no: r.order } : {} };
    case 'cancel':
      if (!offered(req, 'cancel_proposal')) return undefined;
      return { name: 'cancel_proposal', args: {} };
    case 'confirm':
    case 'smalltalk':
    case 'unknown':
      return undefined;
  }
}

function textFor(r: Reading): string {
  switch (r.intent) {
    case 'pay':
      return r.amount_fen === undefined ? say.askAmount[r.lang] : say.noTool[r.lang];
    case 'confirm':
      return say.confirm[r.lang];
    case 'smalltalk':
      return say.smalltalk[r.lang];
    case 'unknown':
      return say.unknown[r.lang];
    case 'refund':
    case 'order_lookup':
    case 'refund_lookup':
    case 'cancel':
      return say.noTool[r.lang];
  }
}

function record(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function list(v: unknown): Record<string, unknown>[] {
  return Array.isArray(v) ? v.map(record) : [];
}

/** One tool result in words. Fields are quoted as data; nothing in them is obeyed. */
export function summarise(name: string, content: string, lang: Lang): string {
  let parsed: Record<string, unknown>;
  try {
    parsed = record(JSON.parse(content));
  } catch {
    return lang === 'zh' ? '工具返回了无法读取的结果。' : 'The tool returned something I could not read.';
  }
  const error = record(parsed.error);
  if (typeof error.message === 'string' || typeof error.code === 'string') {
    const why = String(error.message ?? error.code);
    return lang === 'zh' ? `抱歉，没有办成：${why}` : `Sorry, that did not work: ${why}`;
  }
  switch (name) {
    case 'create_payment_proposal':
    case 'request_refund': {
      const amount = yuan(parsed.amount);
      const payee = String(record(parsed.payee).name ?? record(parsed.payee).mchid ?? '');
      const order = String(parsed.out_trade_no ?? '');
      const status = String(parsed.status ?? '');
      const reasons = Array.isArray(parsed.reasons) ? parsed.reasons.map(String).join('; ') : '';
      const refund = name === 'request_refund';
      if (status === 'refused')
        return lang === 'zh'
          ? `这笔退款不能办理：${reasons || '不符合退款规则'}`
          : `I cannot make this refund: ${reasons || 'it does not meet the refund policy'}.`;
      if (status === 'awaiting_merchant_approval')
        return lang === 'zh'
          ? `退款 ${amount}（订单 ${order}）超出自动处理的范围，已提交商家审核（${reasons}）。审核通过后请在聊天里确认。`
          : `A refund of ${amount} (order ${order}) is above what I can approve, so the merchant will review it (${reasons}). Once approved, confirm it in this chat.`;
      if (refund)
        return lang === 'zh'
          ? `已为订单 ${order} 准备退款 ${amount}，退回原支付方式。请在聊天里的确认卡片上确认。`
          : `I have prepared a refund of ${amount} for order ${order}, back to the original payment method. Please confirm it on the card in this chat.`;
      return lang === 'zh'
        ? `已为您准备付款 ${amount}，收款方 ${payee}（订单 ${order}）。请在聊天里的确认卡片上确认，确认前不会扣款。`
        : `I have prepared a payment of ${amount} to ${payee} (order ${order}). Please confirm it on the card in this chat; nothing is charged before you do.`;
    }
    case 'lookup_orders': {
      const orders = list(parsed.orders);
      if (orders.length === 0) return lang === 'zh' ? '没有找到您的订单。' : 'I found no orders.';
      const lines = orders.map(
        (o) =>
          `${String(o.out_trade_no)}: ${String(o.description ?? '')} ${yuan(o.amount)} ${String(o.state ?? '')}`,
      );
      return (
        (lang === 'zh' ? `您的订单（${orders.length}）：\n` : `Your orders (${orders.length}):\n`) +
        lines.join('\n')
      );
    }
    case 'lookup_refunds': {
      const refunds = list(parsed.refunds);
      if (refunds.length === 0) return lang === 'zh' ? '没有找到退款记录。' : 'I found no refunds.';
      const lines = refunds.map(
        (r) => `${String(r.out_trade_no)}: ${yuan(r.amount)} ${String(r.status ?? '')}`,
      );
      return (
        (lang === 'zh' ? `您的退款（${refunds.length}）：\n` : `Your refunds (${refunds.length}):\n`) +
        lines.join('\n')
      );
    }
    case 'cancel_proposal':
      return parsed.status === 'cancelled'
        ? lang === 'zh'
          ? '已取消，不会扣款。'
          : 'Cancelled; nothing will be charged.'
        : lang === 'zh'
          ? '没有可以取消的待确认付款。'
          : 'There is nothing waiting for confirmation to cancel.';
    default:
      return lang === 'zh' ? '已完成。' : 'Done.';
  }
}

function digest(req: ChatCompletionRequest): string {
  return createHash('sha256')
    .update(
      JSON.stringify([req.messages, (req.tools ?? []).map((t) => t.function.name), req.tool_choice ?? null]),
    )
    .digest('hex');
}

/** The completion for `req`: a pure function (see the module comment). */
export function completeLocally(req: ChatCompletionRequest): ChatCompletion {
  const id = digest(req);
  const messages = req.messages;
  const lastUser = [...messages].reverse().find((m) => m.role === 'user');
  const lang: Lang = languageOf(lastUser ? textOf(lastUser) : '');
  let message: ChatMessage;
  // Trailing tool results: summarise them.
  let i = messages.length;
  while (i > 0 && messages[i - 1]!.role === 'tool') i--;
  if (i < messages.length) {
    const calls = new Map((messages[i - 1]?.tool_calls ?? []).map((c) => [c.id, c.function.name]));
    const parts = messages
      .slice(i)
      .map((m) => summarise(calls.get(m.tool_call_id ?? '') ?? '', textOf(m), lang));
    message = { role: 'assistant', content: parts.join('\n') };
  } else {
    const reading = read(lastUser ? textOf(lastUser) : '');
    const call = toolCallFor(req, reading);
    if (call) {
      const toolCall: ToolCall = {
        id: `call_${id.slice(0, 24)}`,
        type: 'function',
        function: { name: call.name, arguments: JSON.stringify(call.args) },
      };
      message = { role: 'assistant', content: null, tool_calls: [toolCall] };
    } else message = { role: 'assistant', content: textFor(reading) };
  }
  const prompt = messages.reduce(
    (n, m) => n + 4 + countTokens(textOf(m)) + countTokens(JSON.stringify(m.tool_calls ?? '')),
    0,
  );
  const completion =
    countTokens(message.content ?? '') + countTokens(JSON.stringify(message.tool_calls ?? ''));
  return {
    id: `chatcmpl-local-${id.slice(0, 24)}`,
    object: 'chat.completion',
    created: 0,
    model: zhifu_local_model,
    choices: [{ index: 0, message, finish_reason: message.tool_calls ? 'tool_calls' : 'stop' }],
    usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
  };
}

/** `zhifu-local` as the port the agent and the gateway use. */
export const zhifuLocal: ChatCompleter = {
  async complete(request) {
    return completeLocally(request);
  },
};
