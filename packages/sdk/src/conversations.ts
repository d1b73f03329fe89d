/**
 * Conversational payments (docs/conversations.md): typed calls, mandate signing and end-to-end
 * encryption of messages. Node built-ins only (node:crypto: HMAC-SHA256, HKDF-SM3, SM4-CTR).
 */
import { createCipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ZhifuClient } from './client.ts';
import { payerProof } from './sandbox.ts';

export type ConversationToolName =
  | 'create_payment_proposal'
  | 'lookup_orders'
  | 'request_refund'
  | 'lookup_refunds'
  | 'cancel_proposal';

/** What the payer signs: the proposal's exact terms. */
export interface MandateTerms {
  proposal_id: string;
  kind: 'payment' | 'refund';
  amount: number;
  currency: string;
  mchid: string;
  out_trade_no: string;
  expires_at: string;
}

export interface ConversationProposal {
  proposal_id: string;
  conversation_id: string;
  kind: 'payment' | 'refund';
  status:
    | 'awaiting_payer_confirmation'
    | 'awaiting_merchant_approval'
    | 'confirmed'
    | 'executed'
    | 'failed'
    | 'cancelled'
    | 'declined'
    | 'expired';
  amount: number;
  currency: string;
  payee: { mchid: string; name: string };
  out_trade_no: string;
  expires_at: string;
  terms: MandateTerms;
  policy: {
    outcome: string;
    checks: { name: string; result: 'pass' | 'escalate' | 'refuse'; detail: string }[];
  };
  transaction_id?: string;
  refund_id?: string;
  error_code?: string;
}

export interface ConversationMessage {
  message_id: string;
  seq: number;
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string | null;
  tool_calls?: { id: string; type: 'function'; function: { name: string; arguments: string } }[];
  tool_call_id?: string;
  sealed_content?: string;
  e2e: boolean;
  created_at: string;
}

export interface Conversation {
  conversation_id: string;
  mchid: string;
  appid: string;
  payer_openid: string;
  tokens_used: number;
  tool_calls_used: number;
  message_count: number;
  limits: { tokens_max: number; tool_calls_max: number; message_chars_max: number };
  created_at: string;
}

export interface ConversationTurn {
  conversation_id: string;
  messages: ConversationMessage[];
  proposals: ConversationProposal[];
  usage: { tokens: number; tool_calls: number };
}

export interface MandateConfirmation {
  openid: string;
  device_fingerprint: string;
  instrument_id?: string;
  timestamp: string;
  nonce: string;
  signature: string;
  terms: Omit<MandateTerms, 'proposal_id'>;
}

/** The text a mandate signature covers (as the `target` of the payer proof). */
export function mandateTarget(t: MandateTerms): string {
  return `mandate:v1|${t.proposal_id}|${t.kind}|${t.amount}|${t.currency}|${t.mchid}|${t.out_trade_no}|${t.expires_at}`;
}

export interface SignMandateInput {
  /** The proposal as shown to the payer (its `terms` are what gets signed). */
  terms: MandateTerms;
  openid: string;
  /** The payer's session key (from the WeChat-style login), kept on the payer's device. */
  sessionKey: string;
  deviceFingerprint: string;
  instrumentId?: string;
  /** Unix seconds (default: now). */
  timestamp?: number;
  nonce?: string;
}

/**
 * Signs a mandate on the payer's side; send the result to
 * `POST /v1/conversations/{id}/proposals/{proposal_id}/confirm` (ConversationsClient.confirm).
 *
 * @example
 * const body = signMandate({ terms: proposal.terms, openid, sessionKey, deviceFingerprint: 'dev-1' });
 */
export function signMandate(input: SignMandateInput): MandateConfirmation {
  const timestamp = String(input.timestamp ?? Math.floor(Date.now() / 1000));
  const nonce = input.nonce ?? randomBytes(16).toString('hex');
  const signature = payerProof({
    target: mandateTarget(input.terms),
    openid: input.openid,
    ...(input.instrumentId !== undefined ? { instrumentId: input.instrumentId } : {}),
    deviceFingerprint: input.deviceFingerprint,
    timestamp,
    nonce,
    sessionKey: input.sessionKey,
  });
  const { proposal_id: _id, ...terms } = input.terms;
  return {
    openid: input.openid,
    device_fingerprint: input.deviceFingerprint,
    ...(input.instrumentId !== undefined ? { instrument_id: input.instrumentId } : {}),
    timestamp,
    nonce,
    signature,
    terms,
  };
}

// End-to-end encryption ---------------------------------------------------------------------------

const e2e_prefix = 'e2e1';
const conversation_salt = 'zhifu/conversation-key/v1';

/**
 * The per-conversation key: HKDF-SM3(secret, salt "zhifu/conversation-key/v1", info = conversation
 * id), 16 bytes — the same derivation as the server's `deriveConversationKey`. The secret (≥ 16
 * bytes) stays with the two ends of the chat; the platform never sees it.
 *
 * @example
 * const key = conversationKey(sharedSecret, conversation.conversation_id);
 */
export function conversationKey(secret: Uint8Array, conversationId: string): Buffer {
  if (secret.length < 16) throw new RangeError('conversationKey: the secret must be at least 16 bytes');
  return Buffer.from(hkdfSync('sm3', secret, conversation_salt, conversationId, 16));
}

function macKey(key: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sm3', key, 'zhifu/e2e/mac/v1', '', 32));
}

function ctrIv(nonce: Buffer): Buffer {
  return Buffer.concat([nonce, Buffer.alloc(4)]);
}

/**
 * Seals a message end to end: SM4-CTR under the conversation key with a random 96-bit nonce, then
 * HMAC-SM3 over (prefix, conversation id, nonce, ciphertext) — encrypt-then-MAC, because Node has
 * no SM4-GCM. Post it as `sealed_content`; the platform stores it and never shows it to the agent.
 *
 * @example
 * await conversations.postSealed(id, sealConversationMessage(key, id, '我的地址是…'));
 */
export function sealConversationMessage(key: Uint8Array, conversationId: string, text: string): string {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('sm4-ctr', key, ctrIv(nonce));
  const ct = Buffer.concat([cipher.update(text, 'utf8'), cipher.final()]);
  const mac = createHmac('sm3', macKey(key))
    .update(`${e2e_prefix}\n${conversationId}\n`)
    .update(nonce)
    .update(ct)
    .digest();
  return `${e2e_prefix}.${nonce.toString('base64url')}.${Buffer.concat([ct, mac]).toString('base64url')}`;
}

/** Opens a sealed message; throws if it was changed, moved to another conversation or sealed under another key. */
export function openConversationMessage(key: Uint8Array, conversationId: string, sealed: string): string {
  const [prefix, n, body] = sealed.split('.');
  if (prefix !== e2e_prefix || n === undefined || body === undefined)
    throw new TypeError('not an e2e1 sealed message');
  const nonce = Buffer.from(n, 'base64url');
  const all = Buffer.from(body, 'base64url');
  if (nonce.length !== 12 || all.length < 32) throw new TypeError('not an e2e1 sealed message');
  const ct = all.subarray(0, all.length - 32);
  const mac = all.subarray(all.length - 32);
  const expected = createHmac('sm3', macKey(key))
    .update(`${e2e_prefix}\n${conversationId}\n`)
    .update(nonce)
    .update(ct)
    .digest();
  if (!timingSafeEqual(mac, expected)) throw new Error('sealed message does not authenticate');
  const decipher = createCipheriv('sm4-ctr', key, ctrIv(nonce));
  return Buffer.concat([decipher.update(ct), decipher.final()]).toString('utf8');
}

// Typed calls -------------------------------------------------------------------------------------

/**
 * The Conversational Payment API over a signed ZhifuClient.
 *
 * @example
 * const conversations = new ConversationsClient(client);
 * const { conversation_id } = await conversations.create({ appid, payer_openid, notify_url });
 * const turn = await conversations.post(conversation_id, '帮我付三十块五');
 */
export class ConversationsClient {
  readonly #client: ZhifuClient;
  constructor(client: ZhifuClient) {
    this.#client = client;
  }

  /** Opens a conversation; `agent_token` (returned once) authorises MCP clients on it. */
  create(input: {
    appid: string;
    payer_openid: string;
    notify_url: string;
  }): Promise<Conversation & { agent_token: string }> {
    return this.#client.request('POST', '/v1/conversations', input);
  }

  get(
    id: string,
  ): Promise<Conversation & { messages: ConversationMessage[]; proposals: ConversationProposal[] }> {
    return this.#client.request('GET', `/v1/conversations/${encodeURIComponent(id)}`);
  }

  /** Posts the payer's message and returns the agent's turn. */
  post(id: string, content: string): Promise<ConversationTurn> {
    return this.#client.request('POST', `/v1/conversations/${encodeURIComponent(id)}/messages`, { content });
  }

  /** Posts an end-to-end sealed message (sealConversationMessage); no agent turn runs. */
  postSealed(id: string, sealed: string): Promise<ConversationTurn> {
    return this.#client.request('POST', `/v1/conversations/${encodeURIComponent(id)}/messages`, {
      sealed_content: sealed,
    });
  }

  proposal(id: string, proposalId: string): Promise<ConversationProposal> {
    return this.#client.request(
      'GET',
      `/v1/conversations/${encodeURIComponent(id)}/proposals/${encodeURIComponent(proposalId)}`,
    );
  }

  /** Relays the payer's signed mandate (signMandate): the one call that moves money. */
  confirm(id: string, proposalId: string, confirmation: MandateConfirmation): Promise<ConversationProposal> {
    return this.#client.request(
      'POST',
      `/v1/conversations/${encodeURIComponent(id)}/proposals/${encodeURIComponent(proposalId)}/confirm`,
      confirmation,
    );
  }

  /** Merchant decision on a refund the policy escalated. */
  decide(id: string, proposalId: string, decision: 'approve' | 'decline'): Promise<ConversationProposal> {
    return this.#client.request(
      'POST',
      `/v1/conversations/${encodeURIComponent(id)}/proposals/${encodeURIComponent(proposalId)}/${decision}`,
    );
  }
}

export interface ConversationToolDefinition {
  type: 'function';
  function: { name: ConversationToolName; description: string; parameters: Record<string, unknown> };
}

/**
 * The agent's tools as OpenAI-style function definitions, from the public
 * `GET /v1/conversations/tools` (no credentials needed).
 *
 * @example
 * const tools = await conversationTools('http://127.0.0.1:8080');
 */
export async function conversationTools(
  baseUrl: string,
  f: typeof fetch = fetch,
): Promise<ConversationToolDefinition[]> {
  const answer = await f(`${baseUrl.replace(/\/$/, '')}/v1/conversations/tools`);
  if (!answer.ok) throw new Error(`GET /v1/conversations/tools answered ${answer.status}`);
  return ((await answer.json()) as { data: ConversationToolDefinition[] }).data;
}
