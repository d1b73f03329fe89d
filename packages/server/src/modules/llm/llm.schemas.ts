/**
 * Request schemas of the gateway. The chat schema is OpenAI's, checked loosely where clients send
 * fields Zhifu does not use (they are dropped by `normalize` in gateway.service.ts, never forwarded
 * unscanned), and strictly where a wrong value would change what a provider receives.
 */
import {
  llm_messages_max,
  llm_redaction_pattern_chars_max,
  llm_redaction_patterns_max,
  llm_tools_max,
} from '../../lib/limits.ts';

const textPart = {
  type: 'object',
  required: ['type', 'text'],
  properties: { type: { const: 'text' }, text: { type: 'string' } },
};

const toolCall = {
  type: 'object',
  required: ['id', 'function'],
  properties: {
    id: { type: 'string', maxLength: 256 },
    type: { const: 'function' },
    function: {
      type: 'object',
      required: ['name', 'arguments'],
      properties: { name: { type: 'string', maxLength: 128 }, arguments: { type: 'string' } },
    },
  },
};

const message = {
  type: 'object',
  required: ['role'],
  properties: {
    role: { enum: ['system', 'developer', 'user', 'assistant', 'tool'] },
    content: {
      anyOf: [{ type: 'string' }, { type: 'null' }, { type: 'array', maxItems: 256, items: textPart }],
    },
    name: { type: 'string', maxLength: 128 },
    tool_calls: { type: 'array', maxItems: 128, items: toolCall },
    tool_call_id: { type: 'string', maxLength: 256 },
  },
};

const tool = {
  type: 'object',
  required: ['type', 'function'],
  properties: {
    type: { const: 'function' },
    function: {
      type: 'object',
      required: ['name'],
      properties: {
        name: { type: 'string', pattern: '^[a-zA-Z0-9_-]{1,64}$' },
        description: { type: 'string', maxLength: 8192 },
        parameters: { type: 'object' },
      },
    },
  },
};

export const chatSchema = {
  type: 'object',
  required: ['model', 'messages'],
  properties: {
    model: { type: 'string', minLength: 1, maxLength: 128 },
    messages: { type: 'array', minItems: 1, maxItems: llm_messages_max, items: message },
    tools: { type: 'array', maxItems: llm_tools_max, items: tool },
    tool_choice: {
      anyOf: [
        { enum: ['none', 'auto', 'required'] },
        {
          type: 'object',
          required: ['type', 'function'],
          properties: {
            type: { const: 'function' },
            function: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } },
          },
        },
      ],
    },
    stream: { type: 'boolean' },
    stream_options: { type: 'object', properties: { include_usage: { type: 'boolean' } } },
    temperature: { type: 'number', minimum: 0, maximum: 2 },
    top_p: { type: 'number', minimum: 0, maximum: 1 },
    max_tokens: { type: 'integer', minimum: 1, maximum: 1_000_000 },
    max_completion_tokens: { type: 'integer', minimum: 1, maximum: 1_000_000 },
    n: { const: 1 },
    stop: { anyOf: [{ type: 'string' }, { type: 'array', maxItems: 4, items: { type: 'string' } }] },
    user: { type: 'string', maxLength: 256 },
    presence_penalty: { type: 'number', minimum: -2, maximum: 2 },
    frequency_penalty: { type: 'number', minimum: -2, maximum: 2 },
    seed: { type: 'integer' },
    parallel_tool_calls: { type: 'boolean' },
    response_format: { type: 'object' },
  },
};

const limitFields = {
  rpm: { type: ['integer', 'null'], minimum: 1, maximum: 1_000_000 },
  tpm: { type: ['integer', 'null'], minimum: 1, maximum: 1_000_000_000 },
  budget_fen_monthly: { type: ['integer', 'null'], minimum: 0, maximum: 1_000_000_000_00 },
  models: {
    type: ['array', 'null'],
    minItems: 1,
    maxItems: 100,
    items: { type: 'string', minLength: 1, maxLength: 128 },
  },
};

export const createKeySchema = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: { name: { type: 'string', minLength: 1, maxLength: 64 }, ...limitFields },
};

export const updateKeySchema = {
  type: 'object',
  additionalProperties: false,
  properties: { name: { type: 'string', minLength: 1, maxLength: 64 }, ...limitFields },
};

export const patternsSchema = {
  type: 'object',
  required: ['patterns'],
  additionalProperties: false,
  properties: {
    patterns: {
      type: 'array',
      maxItems: llm_redaction_patterns_max,
      items: {
        type: 'object',
        required: ['name', 'pattern'],
        additionalProperties: false,
        properties: {
          name: { type: 'string', pattern: '^[a-z0-9_]{1,32}$' },
          pattern: { type: 'string', minLength: 1, maxLength: llm_redaction_pattern_chars_max },
        },
      },
    },
  },
};

export const requestsQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    key_id: { type: 'string', maxLength: 64 },
    limit: { type: 'string', pattern: '^[0-9]{1,3}$' },
    before: { type: 'string', maxLength: 40 },
  },
};
