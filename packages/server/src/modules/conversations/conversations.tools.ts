/**
 * The agent's tools, defined once as OpenAI-style function definitions (JSON Schema parameters).
 * The same definitions are given to the model, published at GET /v1/conversations/tools and listed
 * by the MCP server, and every call's arguments are validated against them (OWASP LLM05: a tool
 * call is untrusted input). This list is the allow-list: a call to any other name is refused and
 * recorded, never executed.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { agent_lookup_rows_max, agent_payment_fen_max } from '../../lib/limits.ts';
import type { ToolDefinition } from '../llm/llm.types.ts';

export const tool_names = [
  'create_payment_proposal',
  'lookup_orders',
  'request_refund',
  'lookup_refunds',
  'cancel_proposal',
] as const;
export type ToolName = (typeof tool_names)[number];

const outTradeNo = {
  type: 'string',
  minLength: 6,
  maxLength: 32,
  pattern: '^[0-9A-Za-z_\\-|*@]+$',
  description: "The merchant's order number (out_trade_no).",
} as const;

export const tool_definitions: readonly (ToolDefinition & { function: { name: ToolName } })[] = [
  {
    type: 'function',
    function: {
      name: 'create_payment_proposal',
      description:
        'Propose a payment from the payer to this merchant. Creates an unpaid order and a mandate that the payer must confirm in the chat with their own device; nothing is charged until then.',
      parameters: {
        type: 'object',
        additionalProperties: false,
        required: ['amount', 'currency', 'description'],
        properties: {
          amount: {
            type: 'integer',
            minimum: 1,
            maximum: agent_payment_fen_max,
            description: 'Amount in fen (1 CNY = 100 fen).',
          },
          currency: { type: 'string', enum: ['CNY'] },
          description: { type: 'string', minLength: 1, maxLength: 127, description: 'What is paid for.' },
        },
      },
    },
  },
  {
    type: 'function',
    function: {
      name: 'lookup_orders',
      description: "List the payer's orders at this merchant, newest first (or one order by out_trade_no).",
      parameters: {
        type: 'object',
        additionalProperties: false,
        properties: {
          out_trade_no: outTradeNo,
          limit: { type: 'integer', minimum: 1, maximum: agent_lookup_rows_max },
        },
      },
    },
  },
  {
    type: 'function',
    function: {
      name: 'request_refund',
      description:
        "Request a full or partial refund of one of the payer's paid orders (default: the latest). The refund policy decides: propose it for the payer to confirm, escalate it to the merchant, or refuse it. Money always returns to the original payment method.",
      parameters: {
        type: 'object',
        additionalProperties: false,
        properties: {
          out_trade_no: outTradeNo,
          amount: {
            type: 'integer',
            minimum: 1,
            maximum: 2_147_483_647,
            description: 'Amount to refund in fen; omit to refund everything still refundable.',
          },
          reason: { type: 'string', maxLength: 80 },
        },
      },
    },
  },
  {
    type: 'function',
    function: {
      name: 'lookup_refunds',
      description: "List refunds of the payer's orders at this merchant (or of one order).",
      parameters: {
        type: 'object',
        additionalProperties: false,
        properties: { out_trade_no: outTradeNo },
      },
    },
  },
  {
    type: 'function',
    function: {
      name: 'cancel_proposal',
      description: 'Cancel a proposal that the payer has not confirmed yet (default: the latest open one).',
      parameters: {
        type: 'object',
        additionalProperties: false,
        properties: { proposal_id: { type: 'string', minLength: 1, maxLength: 40 } },
      },
    },
  },
];

export function isToolName(name: string): name is ToolName {
  return (tool_names as readonly string[]).includes(name);
}

const ajv = new Ajv({ allErrors: false, strict: true, coerceTypes: false, useDefaults: false });
const validators = new Map<ToolName, ValidateFunction>(
  tool_definitions.map((t) => [t.function.name, ajv.compile(t.function.parameters ?? {})]),
);

/** Parses and validates a call's arguments; returns the problem in words, or the arguments. */
export function checkArguments(
  name: ToolName,
  raw: string | Record<string, unknown>,
): { ok: true; args: Record<string, unknown> } | { ok: false; problem: string } {
  let args: unknown;
  if (typeof raw === 'string') {
    try {
      args = raw.trim() === '' ? {} : JSON.parse(raw);
    } catch {
      return { ok: false, problem: 'arguments are not valid JSON' };
    }
  } else args = raw;
  const validate = validators.get(name)!;
  if (!validate(args)) {
    const e = validate.errors?.[0];
    return { ok: false, problem: `${e?.instancePath || '/'} ${e?.message ?? 'is invalid'}` };
  }
  return { ok: true, args: args as Record<string, unknown> };
}
