/** Shared steps of the conversation tests and bench:agent-safety: open, say, log in, sign, confirm. */
import { type MandateTerms, signMandate } from '@zhifu/sdk';
import type { TestApp } from './harness.ts';
import { signedRequest } from './requests.ts';

export async function openConversation(t: TestApp, payer = 0) {
  const res = await signedRequest(t, 'POST', '/v1/conversations', {
    appid: t.merchant.appid,
    payer_openid: t.merchant.payers[payer]!.openid,
    notify_url: 'https://merchant.example.com/notify',
  });
  if (res.statusCode !== 201) throw new Error(`open conversation: ${res.statusCode} ${res.body}`);
  return res.json() as { conversation_id: string; agent_token: string; payer_openid: string };
}

export function say(t: TestApp, conversationId: string, content: string) {
  return signedRequest(t, 'POST', `/v1/conversations/${conversationId}/messages`, { content });
}

export async function sessionOf(t: TestApp, openid: string, device = `dev-${openid}`) {
  const login = await t.app.inject({
    method: 'POST',
    url: '/sandbox/v1/login',
    payload: { appid: t.merchant.appid, openid, device_fingerprint: device },
  });
  return { sessionKey: (login.json() as { session_key: string }).session_key, device };
}

export async function confirm(
  t: TestApp,
  conversationId: string,
  terms: MandateTerms,
  o: {
    openid: string;
    sessionKey: string;
    device: string;
    change?: Partial<MandateTerms>;
    signChanged?: boolean;
  },
) {
  const shown = { ...terms, ...o.change };
  const body = signMandate({
    terms: o.signChanged === false ? terms : shown,
    openid: o.openid,
    sessionKey: o.sessionKey,
    deviceFingerprint: o.device,
    timestamp: Math.floor(t.ctx.clock.now() / 1000),
  });
  const { proposal_id: _p, ...sent } = shown;
  return signedRequest(
    t,
    'POST',
    `/v1/conversations/${conversationId}/proposals/${terms.proposal_id}/confirm`,
    {
      ...body,
      terms: sent,
    },
  );
}

/** Money movements: payment and refund journals in the ledger (AI fees are not money of the payer). */
export async function moneyJournals(t: TestApp): Promise<number> {
  const r = await t.ctx.db
    .selectFrom('journals')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('kind', 'in', ['payment', 'refund'])
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

export async function tableCount(
  t: TestApp,
  table: 'conversation_messages' | 'conversation_proposals' | 'agent_tool_calls' | 'refunds' | 'orders',
): Promise<number> {
  const r = await t.ctx.db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(r.n);
}
