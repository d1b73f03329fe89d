/**
 * Mandates (reference reliability.md §6.2; AP2 "verifiable intent", ACP allowances): what the payer
 * signs to let one proposal move money. The signed text binds the proposal id (single use), the
 * kind, amount, currency, payee (mchid), order (out_trade_no) and expiry; it is carried as the
 * `target` of the sandbox payer proof (identity.proofMessage), so the signature is an HMAC-SHA256
 * under the payer's session key over
 *
 *     ZHIFU-PAYER-CONFIRM\n<target>\n<openid>\n<instrument_id>\n<device_fingerprint>\n<timestamp>\n<nonce>\n
 *
 * with target = `mandate:v1|<proposal_id>|<kind>|<amount>|<currency>|<mchid>|<out_trade_no>|<expires_at>`.
 * The merchant, the agent and the model never hold the session key, so none of them can confirm.
 * The SDK builds the same string (packages/sdk/src/conversations.ts).
 */
export interface MandateTerms {
  proposal_id: string;
  kind: 'payment' | 'refund';
  amount: number;
  currency: string;
  mchid: string;
  out_trade_no: string;
  /** RFC 3339, as shown to the payer. */
  expires_at: string;
}

export function mandateTarget(t: MandateTerms): string {
  return `mandate:v1|${t.proposal_id}|${t.kind}|${t.amount}|${t.currency}|${t.mchid}|${t.out_trade_no}|${t.expires_at}`;
}

/** The fields of `a` that differ from `b` (what changed between proposal and confirmation). */
export function changedTerms(a: MandateTerms, b: Omit<MandateTerms, 'proposal_id'>): string[] {
  const keys = ['kind', 'amount', 'currency', 'mchid', 'out_trade_no', 'expires_at'] as const;
  return keys.filter((k) => a[k] !== b[k]);
}
