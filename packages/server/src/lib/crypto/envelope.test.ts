import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { seededIds } from '../ids.ts';
import {
  deriveConversationKey,
  isSealedRecord,
  openRecord,
  openRecordText,
  parseSealed,
  rewrap,
  sealedKeyId,
  sealRecord,
} from './envelope.ts';
import { CryptoError, type CryptoErrorCode } from './errors.ts';
import { sm3 } from './sm3.ts';
import { sm4GcmDecrypt } from './sm4.ts';

const kek1 = randomBytes(16);
const kek2 = randomBytes(16);
const keyring = new Map([
  ['k2026-01', kek1],
  ['k2026-07', kek2],
]);
const context = 'chat_messages:content:msg_0001';

function expectCode(code: CryptoErrorCode, run: () => unknown): void {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(CryptoError);
    expect((error as CryptoError).code).toBe(code);
    return;
  }
  expect.fail(`expected CryptoError ${code}`);
}

describe('envelope encryption (sealRecord / openRecord)', () => {
  it('seals into zf1.<kek_id>.<wrapped_dek>.<iv>.<ciphertext‖tag> and opens it again', () => {
    const sealed = sealRecord(kek1, 'k2026-01', '我的手机号是 13800138000', context);
    expect(sealed).toMatch(/^zf1\.k2026-01\.[A-Za-z0-9_-]{59}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
    const parts = parseSealed(sealed);
    expect(parts.wrappedDek).toHaveLength(44);
    expect(parts.iv).toHaveLength(12);
    expect(parts.body).toHaveLength(Buffer.byteLength('我的手机号是 13800138000') + 16);
    expect(openRecordText(keyring, sealed, context)).toBe('我的手机号是 13800138000');
    expect(sealedKeyId(sealed)).toBe('k2026-01');
  });

  it('uses a fresh data key and IV per record: the same plaintext never seals the same way twice', () => {
    const a = parseSealed(sealRecord(kek1, 'k2026-01', 'same', context));
    const b = parseSealed(sealRecord(kek1, 'k2026-01', 'same', context));
    expect(a.wrappedDek.equals(b.wrappedDek)).toBe(false);
    expect(a.iv.equals(b.iv)).toBe(false);
    expect(a.body.equals(b.body)).toBe(false);
  });

  it('documents its layers: the DEK unwraps with the KEK, the body opens with the DEK', () => {
    const sealed = sealRecord(kek1, 'k2026-01', 'layered', context, seededIds('envelope-doc'));
    const { wrappedDek, iv, body } = parseSealed(sealed);
    const dek = sm4GcmDecrypt(
      kek1,
      wrappedDek.subarray(0, 12),
      wrappedDek.subarray(12, 28),
      wrappedDek.subarray(28),
      Buffer.from('zf1:dek:k2026-01'),
    );
    const plaintext = sm4GcmDecrypt(
      dek,
      iv,
      body.subarray(0, body.length - 16),
      body.subarray(body.length - 16),
      Buffer.from(`zf1:rec:${context}`),
    );
    expect(plaintext.toString()).toBe('layered');
    // With a seeded id generator the output is reproducible (handy for fixtures).
    expect(sealRecord(kek1, 'k2026-01', 'layered', context, seededIds('envelope-doc'))).toBe(sealed);
  });

  it('round-trips arbitrary bytes and contexts', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 2000 }),
        fc.string({ minLength: 1, maxLength: 60 }),
        (data, ctx) => {
          const sealed = sealRecord(kek2, 'k2026-07', data, ctx);
          expect(openRecord(keyring, sealed, ctx)).toEqual(Buffer.from(data));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('refuses to open under another record context (a value copied to another row)', () => {
    const sealed = sealRecord(kek1, 'k2026-01', 'secret', context);
    expectCode('authentication_failed', () => openRecord(keyring, sealed, 'chat_messages:content:msg_0002'));
    expect(() => openRecord(keyring, sealed, '')).toThrow(/record context/);
  });

  it('reports an unknown KEK id and a KEK that does not match its id', () => {
    const sealed = sealRecord(kek1, 'k2026-01', 'secret', context);
    expectCode('unknown_key_id', () => openRecord(new Map([['other', kek1]]), sealed, context));
    expectCode('authentication_failed', () => openRecord(new Map([['k2026-01', kek2]]), sealed, context));
    // Relabelling the key id is caught too: the wrap is bound to the id.
    const relabelled = sealed.replace('zf1.k2026-01.', 'zf1.k2026-07.');
    expectCode('authentication_failed', () =>
      openRecord(
        new Map([
          ['k2026-07', kek1],
          ['k2026-01', kek1],
        ]),
        relabelled,
        context,
      ),
    );
  });

  it('rejects any changed character in the wrapped key, IV or ciphertext', () => {
    const sealed = sealRecord(kek1, 'k2026-01', 'a fairly long secret message to tamper with', context);
    const start = sealed.indexOf('.', 4) + 1;
    for (let i = start; i < sealed.length; i++) {
      if (sealed[i] === '.') continue;
      const replacement = sealed[i] === 'A' ? 'B' : 'A';
      const tampered = sealed.slice(0, i) + replacement + sealed.slice(i + 1);
      try {
        openRecord(keyring, tampered, context);
        expect.fail(`tampering at ${i} went unnoticed`);
      } catch (error) {
        expect(error).toBeInstanceOf(CryptoError);
        expect(['authentication_failed', 'malformed_sealed_record']).toContain((error as CryptoError).code);
      }
    }
  });

  it('rejects malformed strings with a reason: fields, version, key id, base64url, lengths', () => {
    const sealed = sealRecord(kek1, 'k2026-01', 'x', context);
    const [, , wrapped, iv, body] = sealed.split('.') as [string, string, string, string, string];
    const cases = [
      '',
      'plaintext',
      sealed.split('.').slice(0, 4).join('.'),
      `${sealed}.extra`,
      sealed.replace(/^zf1/, 'zf2'),
      `zf1.bad id.${wrapped}.${iv}.${body}`,
      `zf1.${'k'.repeat(33)}.${wrapped}.${iv}.${body}`,
      `zf1.k2026-01.${wrapped}=.${iv}.${body}`,
      `zf1.k2026-01.${wrapped}.${iv.slice(0, -1)}+.${body}`,
      `zf1.k2026-01.${wrapped.slice(0, -4)}.${iv}.${body}`,
      `zf1.k2026-01.${wrapped}.${iv}AAAA.${body}`,
      `zf1.k2026-01.${wrapped}.${iv}.${body.slice(0, 20)}`,
    ];
    for (const text of cases) {
      expectCode('malformed_sealed_record', () => openRecord(keyring, text, context));
      expect(isSealedRecord(text)).toBe(false);
    }
    expect(isSealedRecord(sealed)).toBe(true);
  });

  it('rejects non-canonical base64url (so a sealed value has exactly one spelling)', () => {
    const sealed = sealRecord(kek1, 'k2026-01', 'x', context);
    const fields = sealed.split('.');
    // The IV is 12 bytes = 16 characters exactly; the body (1 + 16 = 17 bytes) ends in a partial
    // group whose unused low bits must be zero. Setting one of them decodes to the same bytes.
    const body = fields[4]!;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(body.at(-1)!);
    fields[4] = body.slice(0, -1) + alphabet[last | 1];
    expect(Buffer.from(fields[4], 'base64url')).toEqual(Buffer.from(body, 'base64url'));
    expectCode('malformed_sealed_record', () => openRecord(keyring, fields.join('.'), context));
  });

  it('does not serve a stale cached KEK when the caller overwrites its KEK buffer in place', () => {
    const kek = randomBytes(16);
    const first = randomBytes(16);
    kek.set(first);
    const sealed = sealRecord(kek, 'kx', 'before', context);
    const second = randomBytes(16);
    kek.set(second);
    const resealed = sealRecord(kek, 'kx', 'after', context);
    expect(openRecordText(new Map([['kx', first]]), sealed, context)).toBe('before');
    expect(openRecordText(new Map([['kx', second]]), resealed, context)).toBe('after');
    expectCode('authentication_failed', () => openRecord(new Map([['kx', kek]]), sealed, context));
  });

  it('refuses bad KEKs and key ids when sealing (programmer errors)', () => {
    expect(() => sealRecord(randomBytes(32), 'k1', 'x', context)).toThrow(/16 bytes/);
    expect(() => sealRecord(kek1, 'has.dot', 'x', context)).toThrow(/KEK id/);
    expect(() => sealRecord(kek1, '', 'x', context)).toThrow(/KEK id/);
  });
});

describe('key rotation (rewrap)', () => {
  it('re-wraps the data key under the new KEK and leaves IV and ciphertext byte-identical', () => {
    const sealed = sealRecord(kek1, 'k2026-01', 'rotate me', context);
    const rotated = rewrap(keyring, sealed, kek2, 'k2026-07');
    const before = sealed.split('.');
    const after = rotated.split('.');
    expect(after[1]).toBe('k2026-07');
    expect(after[2]).not.toBe(before[2]);
    expect(after.slice(3)).toEqual(before.slice(3));
    expect(openRecordText(new Map([['k2026-07', kek2]]), rotated, context)).toBe('rotate me');
    // The old KEK can be retired: the rotated record no longer needs it.
    expectCode('unknown_key_id', () => openRecord(new Map([['k2026-01', kek1]]), rotated, context));
  });

  it('refuses to rewrap a record whose data key does not authenticate', () => {
    const sealed = sealRecord(kek1, 'k2026-01', 'x', context);
    expectCode('authentication_failed', () =>
      rewrap(new Map([['k2026-01', kek2]]), sealed, kek2, 'k2026-07'),
    );
  });
});

describe('deriveConversationKey (HKDF-SM3)', () => {
  const secret = randomBytes(32);

  it('is deterministic per (secret, conversation) and independent across conversations', () => {
    const a = deriveConversationKey(secret, 'conv_1');
    expect(a).toHaveLength(16);
    expect(deriveConversationKey(secret, 'conv_1')).toEqual(a);
    expect(deriveConversationKey(secret, 'conv_2')).not.toEqual(a);
    expect(deriveConversationKey(randomBytes(32), 'conv_1')).not.toEqual(a);
    // Not a plain hash of the id or the secret.
    expect(sm3('conv_1').subarray(0, 16)).not.toEqual(a);
  });

  it('gives a usable SM4 key for sealing conversation content', () => {
    const key = deriveConversationKey(secret, 'conv_9');
    const sealed = sealRecord(key, 'conv', 'hello', 'conversation:conv_9:message:1');
    expect(openRecordText(new Map([['conv', key]]), sealed, 'conversation:conv_9:message:1')).toBe('hello');
  });

  it('refuses short secrets and empty ids', () => {
    expect(() => deriveConversationKey(randomBytes(15), 'c')).toThrow(/at least 16/);
    expect(() => deriveConversationKey(secret, '')).toThrow(/empty/);
  });
});
