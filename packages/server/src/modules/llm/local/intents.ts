/**
 * Intent and slot reading of one payer utterance, Chinese or English, for the `zhifu-local` model.
 * A fixed, ordered set of keyword rules (first match wins) so the answer is a pure function of the
 * text and every decision can be traced to a line below; accuracy is measured on the labelled
 * corpus in ./corpus/intents.jsonl (test/zhifu-local.test.ts, bench:agent-safety).
 */
import { normalize, parseAmount } from './amounts.ts';

export type Intent =
  | 'pay'
  | 'refund'
  | 'order_lookup'
  | 'refund_lookup'
  | 'cancel'
  | 'confirm'
  | 'smalltalk'
  | 'unknown';

export const intents: readonly Intent[] = [
  'pay',
  'refund',
  'order_lookup',
  'refund_lookup',
  'cancel',
  'confirm',
  'smalltalk',
  'unknown',
];

export interface Reading {
  intent: Intent;
  /** Amount in fen, when the utterance names one. */
  amount_fen?: number;
  /** `last` for "my last order" / 上一单, or an explicit out_trade_no. */
  order?: string;
  lang: 'zh' | 'en';
}

const refund_words =
  /退款|退钱|退货|全部退|全退|都退|\bgive (?:me|it) .{0,15}\bback\b|\breturn .{0,20}\bto me\b|退费|退回|退给|退我|退了?\s*[\d一二两三四五六七八九十百千]|退一部分|部分退|退了吧|给我退|退还|退.{0,6}块|退.{0,6}元|\brefund|money back|\bget (?:my |the )?(?:[\w¥.]+ )?(?:yuan |rmb |kuai )?(?:money )?back\b|reimburse|give me back|pay me back|return (?:the )?money/i;
const lookup_words =
  /查|是什么|好了吗|完成了吗|处理了吗|\bdone\b|\bcomplete(?:d)?\b|\bprocessed\b|看看|看一下|状态|进度|到账|到了吗|到哪|记录|列表|列出|有哪些|多少笔|明细|\bwhere\b|\bstatus\b|\bcheck\b|\btrack|\bshow\b|\blist\b|\bhistory\b|did .* (?:arrive|come|go through)|has .* (?:arrived|come|gone through)|\bwhen will\b|\bany\b.*\brefunds?\b|\bmy refunds\b|\bsee\b|\bwhat\b/i;
const order_words =
  /订单|上一单|最近一单|最近一笔|这一单|那一单|买过|买了什么|购买记录|消费记录|账单|\borders?\b|\bpurchases?\b|\bbought\b|\btransactions?\b/i;
const my_orders =
  /我的订单|买了哪些|买过哪些|买了些什么|最近的订单|我买过|买了什么|购买记录|消费记录|\bmy (?:recent |last |latest )?(?:orders|purchases|transactions)\b|what did i (?:buy|order)/i;
const cancel_words =
  /取消|不要了|不买了|不想买|不想要|不想付|不付了|算了|撤销|撤回|别付|先不|\bcancel|never ?mind|forget it|\bdon'?t (?:want|pay|charge)|\bstop (?:the|this) payment|\bcall it off|\babort\b/i;
const confirm_words =
  /^(?:(?:好的?|好吧|行|可以|没问题|确认|确定|同意|是的?|对|嗯|付吧|就这样)[，,。!！.~\s]*)+$|(?:确认|确定)(?:支付|付款|一下)?$|我确认|确认无误|\bconfirm|^(?:yes|yep|yeah|ok|okay|sure|go ahead|do it|sounds good|approved?)\b/i;
const pay_words =
  /付款|支付|付钱|买单|结账|转账|打钱|扫码|我要付|帮我付|付给|付一下|付\s*[\d一二两三四五六七八九十百千¥￥]|交.{0,4}费|充值|下单|购买|我要买|买一|买个|买杯|\bpay|\bcheckout|\btake .{1,20} from me\b|\bdeduct\b|\bcheck out|\bcharge\b|\bbuy\b|\bpurchase\b|\bsend .* (?:yuan|rmb|kuai)|\btop ?up\b|\bsettle\b/i;
const smalltalk_words =
  /^(?:你好|您好|嗨|哈喽|早上好|晚上好|下午好|早安|晚安|在吗|在不在|谢谢|多谢|感谢|辛苦了|再见|拜拜|你是谁|你叫什么|今天天气)|天气|^(?:hi|hello|hey|good (?:morning|evening|afternoon|night)|thanks|thank you|bye|goodbye|who are you|how are you|what'?s up)\b|\bweather\b/i;
const last_order =
  /上一单|上一笔|上个订单|上一个订单|最近一单|最近一笔|最近的订单|刚才那单|刚才的订单|刚买的|上次的?订单|最后一单|\blast order\b|\blatest order\b|\bprevious order\b|\bmost recent order\b|\bmy last (?:purchase|payment)\b|\bthat order\b/i;
const explicit_order = /(?:订单号?|order\s*(?:no\.?|number|#|id)?)\s*[:#]?\s*([A-Za-z0-9_|*@-]{6,32})/i;

export function languageOf(text: string): 'zh' | 'en' {
  return /[\u4e00-\u9fff]/.test(text) ? 'zh' : 'en';
}

function orderOf(t: string): string | undefined {
  const m = explicit_order.exec(t);
  if (m && /\d/.test(m[1]!)) return m[1]!;
  return last_order.test(t) ? 'last' : undefined;
}

/** Reads one utterance. */
export function read(text: string): Reading {
  const t = normalize(text).trim();
  const lang = languageOf(t);
  const amount = parseAmount(t);
  const order = orderOf(t);
  const slots = {
    ...(amount !== undefined ? { amount_fen: amount } : {}),
    ...(order ? { order } : {}),
    lang,
  };
  const isRefund = refund_words.test(t);
  if (isRefund && lookup_words.test(t) && amount === undefined) return { intent: 'refund_lookup', ...slots };
  if (cancel_words.test(t) && !(isRefund && amount !== undefined)) return { intent: 'cancel', ...slots };
  if (isRefund) return { intent: 'refund', ...slots, order: order ?? 'last' };
  if (my_orders.test(t) || (order_words.test(t) && lookup_words.test(t) && !pay_words.test(t)))
    return { intent: 'order_lookup', ...slots };
  if (confirm_words.test(t) && amount === undefined) return { intent: 'confirm', ...slots };
  if (pay_words.test(t)) return { intent: 'pay', ...slots };
  if (smalltalk_words.test(t)) return { intent: 'smalltalk', ...slots };
  if (amount !== undefined && t.length <= 24) return { intent: 'pay', ...slots };
  return { intent: 'unknown', ...slots };
}
