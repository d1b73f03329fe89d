/**
 * The identifier-stripping proxy (DESIGN.md "LLM gateway", docs/llm-gateway.md "Redaction"): before
 * a request leaves for a provider tagged `foreign`, every identifier found by detectors.ts is replaced
 * by a placeholder `[[ZF_<KIND>_<n>]]` (the same value gets the same placeholder within a request);
 * the answer — text, streamed deltas split anywhere, tool-call arguments — gets the values back.
 *
 * Fails closed: anything it cannot scan (a non-text content part), an answer naming a placeholder
 * this request never issued, or a lookup error raises RedactionError, and the gateway refuses the
 * call (LLM_REDACTION_FAILED) instead of forwarding or returning text it could not vouch for.
 */
import type { ChatCompletionRequest, ChatMessage } from '../llm.types.ts';
import { type CustomPattern, type Detection, detect, tradeCandidates } from './detectors.ts';

const no_trades: ReadonlySet<string> = new Set();

export class RedactionError extends Error {
  override name = 'RedactionError';
}

const placeholder_re = /\[\[ZF_([A-Z]+)_(\d+)\]\]/g;
/** A tail that may still grow into a placeholder: held back until the next delta decides. */
/** Longer than any placeholder this module issues (`[[ZF_OPENID_999999]]` is 20). */
const placeholder_chars_max = 40;
const placeholder_prefix_re = /^\[(?:\[(?:Z(?:F(?:_(?:[A-Z]+(?:_(?:\d+(?:\](?:\])?)?)?)?)?)?)?)?)?$/;

export interface RedactionPolicy {
  custom: readonly CustomPattern[];
  /** Looks up which of `candidates` are out_trade_no values of the merchant (bounded by the caller). */
  knownTrades(candidates: string[]): Promise<Set<string>>;
}

/** One request's placeholders: value ↔ placeholder. */
export class Vault {
  private byValue = new Map<string, string>();
  private byPlaceholder = new Map<string, string>();
  private counter = 0;

  get size(): number {
    return this.byValue.size;
  }

  placeholderFor(d: Detection): string {
    let p = this.byValue.get(d.value);
    if (p === undefined) {
      p = `[[ZF_${d.kind}_${++this.counter}]]`;
      this.byValue.set(d.value, p);
      this.byPlaceholder.set(p, d.value);
    }
    return p;
  }

  valueOf(placeholder: string): string {
    const v = this.byPlaceholder.get(placeholder);
    if (v === undefined)
      throw new RedactionError(`the answer names ${placeholder}, which this request never issued`);
    return v;
  }

  /** Every raw value, for tests and for the last check before a request leaves. */
  values(): IterableIterator<string> {
    return this.byValue.keys();
  }

  /** `text` with every placeholder replaced; `json` escapes values for a JSON string context. */
  restore(text: string, json: boolean): string {
    if (this.counter === 0 || !text.includes('[[ZF_')) return text;
    return text.replace(placeholder_re, (p) => {
      const v = this.valueOf(p);
      return json ? JSON.stringify(v).slice(1, -1) : v;
    });
  }
}

function replaceAll(text: string, detections: Detection[], vault: Vault): string {
  if (detections.length === 0) return text;
  let out = '';
  let at = 0;
  for (const d of detections) {
    out += text.slice(at, d.start) + vault.placeholderFor(d);
    at = d.end;
  }
  return out + text.slice(at);
}

function texts(request: ChatCompletionRequest): string[] {
  const all: string[] = [];
  for (const m of request.messages) {
    if (typeof m.content === 'string') all.push(m.content);
    else if (m.content !== null && m.content !== undefined)
      throw new RedactionError(`messages[].content must be text to be scanned`);
    for (const c of m.tool_calls ?? []) all.push(c.function.arguments);
  }
  for (const t of request.tools ?? []) if (t.function.description) all.push(t.function.description);
  return all;
}

/**
 * A copy of `request` with identifiers replaced, and the vault to restore the answer. The caller's
 * request object is not modified.
 */
export async function redactRequest(
  request: ChatCompletionRequest,
  policy: RedactionPolicy,
): Promise<{ request: ChatCompletionRequest; vault: Vault }> {
  const vault = new Vault();
  const candidates = new Set<string>();
  // Only tokens no other detector claims are looked up as out_trade_no (a phone number is a PHONE):
  // most prompts then need no database query at all.
  for (const t of texts(request)) {
    let masked = t;
    for (const d of detect(t, policy.custom, no_trades).reverse())
      masked = masked.slice(0, d.start) + ' '.repeat(d.end - d.start) + masked.slice(d.end);
    tradeCandidates(masked, candidates);
  }
  let trades = new Set<string>();
  if (candidates.size > 0) {
    try {
      trades = await policy.knownTrades([...candidates]);
    } catch (error) {
      throw new RedactionError(`out_trade_no lookup failed: ${(error as Error).message}`);
    }
  }
  const strip = (text: string) => replaceAll(text, detect(text, policy.custom, trades), vault);
  const messages: ChatMessage[] = request.messages.map((m) => {
    const copy: ChatMessage = { ...m, content: typeof m.content === 'string' ? strip(m.content) : m.content };
    if (m.tool_calls)
      copy.tool_calls = m.tool_calls.map((c) => ({
        ...c,
        function: { name: c.function.name, arguments: strip(c.function.arguments) },
      }));
    return copy;
  });
  const redacted: ChatCompletionRequest = { ...request, messages };
  if (request.tools)
    redacted.tools = request.tools.map((t) =>
      t.function.description
        ? { ...t, function: { ...t.function, description: strip(t.function.description) } }
        : t,
    );
  // `user` identifies an end user to the provider: never send it abroad.
  delete redacted.user;
  // Last line of defence: no raw value may survive anywhere in what is about to leave, and no field
  // the proxy does not rewrite (message names, stop sequences, schemas…) may hold an identifier.
  const wire = JSON.stringify(redacted);
  for (const v of vault.values())
    if (wire.includes(v) || wire.includes(JSON.stringify(v).slice(1, -1)))
      throw new RedactionError('an identifier survived redaction');
  const left = detect(wire, policy.custom, trades);
  if (left.length > 0)
    throw new RedactionError(
      `a field the proxy does not rewrite holds an identifier (${[...new Set(left.map((d) => d.kind))].join(', ')})`,
    );
  return { request: redacted, vault };
}

/**
 * Restores placeholders in a stream of text deltas. A delta may end inside a placeholder
 * (`…[[ZF_PHO` + `NE_1]]…`): the possible start is held back until the next delta completes or
 * refutes it; `end()` releases what is left (an unfinished placeholder is not a secret).
 */
export class StreamRestorer {
  private held = '';
  constructor(
    private readonly vault: Vault,
    private readonly json: boolean,
  ) {}

  push(delta: string): string {
    const text = this.vault.restore(this.held + delta, this.json);
    // The earliest `[` of the tail from which the rest could still grow into a placeholder.
    for (let i = Math.max(0, text.length - placeholder_chars_max); i < text.length; i++) {
      if (text.charCodeAt(i) === 91 && placeholder_prefix_re.test(text.slice(i))) {
        this.held = text.slice(i);
        return text.slice(0, i);
      }
    }
    this.held = '';
    return text;
  }

  end(): string {
    const rest = this.held;
    this.held = '';
    return rest;
  }
}
