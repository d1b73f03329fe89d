/**
 * The identifier-stripping proxy's core: detectors with their checksums, reversible placeholders,
 * restoration of streams split anywhere (property test) and of tool-call arguments, failing closed.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ChatCompletionRequest } from '../llm.types.ts';
import { detect, luhnValid, residentIdValid } from './detectors.ts';
import { RedactionError, redactRequest, StreamRestorer } from './redactor.ts';

const none = { custom: [], knownTrades: async () => new Set<string>() };
const ask = (content: string): ChatCompletionRequest => ({
  model: 'm',
  messages: [{ role: 'user', content }],
});

describe('detectors', () => {
  it('checks bank-card numbers with Luhn and resident ID numbers with ISO 7064 MOD 11-2', () => {
    expect(luhnValid('4111111111111111')).toBe(true);
    expect(luhnValid('4111111111111112')).toBe(false);
    expect(residentIdValid('11010519491231002X')).toBe(true);
    expect(residentIdValid('110105194912310021')).toBe(false);
    expect(residentIdValid('11010519491331002X')).toBe(false);
  });

  it('finds each kind of identifier, in Chinese text without word boundaries', () => {
    const text =
      '用户oAbCdEfGhIjKlMnOpQrStUvWxYz1付款4200002026010112345678901234，卡号6222 0212 3456 7890 128，身份证11010519491231002X，手机+86 13912345678，邮箱a.b@qq.com';
    const kinds = detect(text, [], new Set()).map((d) => [d.kind, d.value]);
    expect(kinds).toEqual([
      ['OPENID', 'oAbCdEfGhIjKlMnOpQrStUvWxYz1'],
      ['TXN', '4200002026010112345678901234'],
      ['CARD', '6222 0212 3456 7890 128'],
      ['CNID', '11010519491231002X'],
      ['PHONE', '+86 13912345678'],
      ['EMAIL', 'a.b@qq.com'],
    ]);
    expect(luhnValid('6222021234567890128')).toBe(true);
  });

  it('leaves numbers alone that fail their checksum or shape', () => {
    expect(
      detect('order total 4111111111111112 fen, id 110105194912310021, tel 12345678901', [], new Set()),
    ).toEqual([]);
  });
});

describe('redaction', () => {
  it('replaces identifiers with placeholders, one per value, and drops `user`', async () => {
    const r = await redactRequest(
      { ...ask('call 13800138000 or 13800138000, mail x@y.cn'), user: 'oAbCdEfGhIjKlMnOpQrStUvWxYz1' },
      none,
    );
    expect(r.request.messages[0]!.content).toBe('call [[ZF_PHONE_1]] or [[ZF_PHONE_1]], mail [[ZF_EMAIL_2]]');
    expect(r.request.user).toBeUndefined();
    expect(r.vault.restore(r.request.messages[0]!.content!, false)).toBe(
      'call 13800138000 or 13800138000, mail x@y.cn',
    );
  });

  it('looks up only unclaimed tokens as out_trade_no, and strips the merchant ones', async () => {
    const asked: string[][] = [];
    const r = await redactRequest(ask('order T2026ABC9 and word abc123 and phone 13800138000'), {
      custom: [],
      knownTrades: async (c) => {
        asked.push(c);
        return new Set(c.filter((x) => x === 'T2026ABC9'));
      },
    });
    expect(asked).toEqual([['T2026ABC9', 'abc123']]);
    expect(r.request.messages[0]!.content).toBe(
      'order [[ZF_TRADE_1]] and word abc123 and phone [[ZF_PHONE_2]]',
    );
  });

  it('fails closed: non-text content, a failed lookup, an unknown placeholder', async () => {
    const parts = {
      model: 'm',
      messages: [{ role: 'user', content: [{ type: 'image_url' }] }],
    } as unknown as ChatCompletionRequest;
    await expect(redactRequest(parts, none)).rejects.toThrow(RedactionError);
    await expect(
      redactRequest(ask('order T2026ABC9'), {
        custom: [],
        knownTrades: async () => {
          throw new Error('database down');
        },
      }),
    ).rejects.toThrow(RedactionError);
    const r = await redactRequest(ask('13800138000'), none);
    expect(() => r.vault.restore('[[ZF_PHONE_2]]', false)).toThrow(RedactionError);
    // Fields the proxy does not rewrite are checked too: an identifier there refuses the call.
    const named: ChatCompletionRequest = {
      model: 'm',
      messages: [{ role: 'user', name: 'oAbCdEfGhIjKlMnOpQrStUvWxYz1', content: 'hi' }],
    };
    await expect(redactRequest(named, none)).rejects.toThrow(/does not rewrite.*OPENID/);
    await expect(redactRequest({ ...ask('hi'), stop: ['13800138000'] }, none)).rejects.toThrow(
      RedactionError,
    );
  });

  it('restores tool-call arguments as JSON-escaped strings', async () => {
    const custom = [{ name: 'acct', regex: /ACC"\d{3}/u }];
    const r = await redactRequest(ask('account ACC"123'), { ...none, custom });
    const args = JSON.stringify({ account: r.request.messages[0]!.content!.slice(8) });
    expect(JSON.parse(r.vault.restore(args, true))).toEqual({ account: 'ACC"123' });
  });

  it('restores a stream split at any points (property)', async () => {
    const values = [
      '13800138000',
      'li@example.cn',
      '4111 1111 1111 1111',
      '11010519491231002X',
      'oAbCdEfGhIjKlMnOpQrStUvWxYz1',
    ];
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(fc.constantFrom(...values), fc.constantFrom(' ', '，', 'text ', '[', '[[', ']] ', '付款')),
          { maxLength: 20 },
        ),
        fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 30 }),
        async (parts, cuts) => {
          // Identifiers stand apart (two phone numbers written together are one 22-digit number).
          const original = parts.map((p) => (values.includes(p) ? ` ${p} ` : p)).join('');
          const r = await redactRequest(ask(original), none);
          const redacted = r.request.messages[0]!.content!;
          for (const v of values) if (parts.includes(v)) expect(redacted).not.toContain(v);
          const restorer = new StreamRestorer(r.vault, false);
          let out = '';
          let at = 0;
          for (let i = 0; at < redacted.length; i++) {
            const n = cuts[i % cuts.length]!;
            out += restorer.push(redacted.slice(at, at + n));
            at += n;
          }
          out += restorer.end();
          expect(out).toBe(original);
        },
      ),
      { numRuns: 300 },
    );
  });
});
