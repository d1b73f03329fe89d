/**
 * Cross-check with an independent pure-JS implementation, `sm-crypto-v2` (MIT; its SM4-GCM uses
 * @noble/ciphers' GHASH, its HKDF @noble/hashes'). It is not a dependency of Zhifu: these tests
 * run when the package resolves from here, or when SM_CRYPTO_V2 points at its ESM entry, e.g.
 *
 *     npm install --prefix /tmp/smx sm-crypto-v2@1.15.1
 *     SM_CRYPTO_V2=/tmp/smx/node_modules/sm-crypto-v2/dist/index.mjs npx vitest run packages/server/src/lib/crypto
 *
 * and are skipped otherwise. The known-answer tests in sm4.test.ts and sm3.test.ts always run.
 */
import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hkdfSm3, hmacSm3, sm3 } from './sm3.ts';
import { sm4GcmDecrypt, sm4GcmEncrypt } from './sm4.ts';

/** The part of sm-crypto-v2's API these tests use. */
interface SmCryptoV2 {
  sm3(input: Uint8Array | string, options?: { key: Uint8Array; mode: 'hmac' }): string;
  hkdf(
    ikm: Uint8Array,
    salt: Uint8Array | undefined,
    info: Uint8Array | undefined,
    length: number,
  ): Uint8Array;
  sm4: {
    encrypt(
      input: Uint8Array,
      key: Uint8Array,
      options: { mode: 'gcm'; iv: Uint8Array; associatedData: Uint8Array; output: 'array'; outputTag: true },
    ): { output: Uint8Array; tag?: Uint8Array };
  };
}

async function load(): Promise<SmCryptoV2 | undefined> {
  const specifier = process.env.SM_CRYPTO_V2 ?? 'sm-crypto-v2';
  try {
    return (await import(isAbsolute(specifier) ? pathToFileURL(specifier).href : specifier)) as SmCryptoV2;
  } catch {
    return undefined;
  }
}

const lib = await load();
const bytes = (options: { minLength?: number; maxLength: number }) => fc.uint8Array(options);

describe.skipIf(lib === undefined)('cross-check with sm-crypto-v2', () => {
  it('agrees on SM4-GCM ciphertext and tag, and we open what it sealed', () => {
    fc.assert(
      fc.property(
        bytes({ minLength: 16, maxLength: 16 }),
        bytes({ minLength: 12, maxLength: 12 }),
        bytes({ maxLength: 600 }),
        bytes({ maxLength: 60 }),
        (key, iv, plaintext, aad) => {
          const theirs = lib!.sm4.encrypt(plaintext, key, {
            mode: 'gcm',
            iv,
            associatedData: aad,
            output: 'array',
            outputTag: true,
          });
          const ours = sm4GcmEncrypt(key, iv, plaintext, aad);
          expect(Buffer.from(theirs.output)).toEqual(ours.ciphertext);
          expect(Buffer.from(theirs.tag ?? [])).toEqual(ours.tag);
          expect(sm4GcmDecrypt(key, iv, theirs.output, theirs.tag ?? new Uint8Array(0), aad)).toEqual(
            Buffer.from(plaintext),
          );
        },
      ),
      { numRuns: 150 },
    );
  });

  it('agrees on SM3, HMAC-SM3 and HKDF-SM3', () => {
    fc.assert(
      fc.property(
        bytes({ maxLength: 200 }),
        bytes({ minLength: 1, maxLength: 100 }),
        bytes({ maxLength: 40 }),
        fc.integer({ min: 1, max: 100 }),
        (data, key, info, length) => {
          expect(lib!.sm3(data)).toBe(sm3(data).toString('hex'));
          expect(lib!.sm3(data, { key, mode: 'hmac' })).toBe(hmacSm3(key, data).toString('hex'));
          expect(Buffer.from(lib!.hkdf(key, info, data, length))).toEqual(hkdfSm3(key, info, data, length));
        },
      ),
      { numRuns: 150 },
    );
  });
});
