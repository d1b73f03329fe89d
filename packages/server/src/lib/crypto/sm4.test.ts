/**
 * SM4 known answers (GB/T 32907-2016 Appendix A; RFC 8998 Appendix A.1 SM4-GCM and A.2 SM4-CCM),
 * GCM checked three more ways (a bit-by-bit GHASH written from SP 800-38D Algorithm 1, OpenSSL's own
 * AES-GCM driven through our GHASH; `sm-crypto-v2` in cross-check.test.ts when installed), tamper
 * tests, and random round trips.
 */
import { createCipheriv, getCiphers, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CryptoError } from './errors.ts';
import {
  ghash,
  missingNativeSm4Modes,
  Sm4Gcm,
  sm4CbcDecrypt,
  sm4CbcEncrypt,
  sm4CcmDecrypt,
  sm4CcmEncrypt,
  sm4Ctr,
  sm4EcbDecrypt,
  sm4EcbEncrypt,
  sm4GcmDecrypt,
  sm4GcmEncrypt,
} from './sm4.ts';

const hex = (text: string): Buffer => Buffer.from(text, 'hex');

// GB/T 32907-2016 Appendix A (also in the 2012 GM/T 0002 text).
const gbt_key = hex('0123456789abcdeffedcba9876543210');
const gbt_once = '681edf34d206965e86b3e94f536e4246';
const gbt_million = '595298c7c6fd271f0402f804c33d3f66';

// RFC 8998 Appendix A.1 (SM4-GCM) and A.2 (SM4-CCM): same key, IV, AAD and plaintext.
const rfc = {
  key: hex('0123456789ABCDEFFEDCBA9876543210'),
  iv: hex('00001234567800000000ABCD'),
  aad: hex('FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2'),
  plaintext: hex(
    'AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD' +
      'EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA',
  ),
  gcmCiphertext:
    '17f399f08c67d5ee19d0dc9969c4bb7d5fd46fd3756489069157b282bb200735' +
    'd82710ca5c22f0ccfa7cbf93d496ac15a56834cbcf98c397b4024a2691233b8d',
  gcmTag: '83de3541e4c2b58177e065a9bf7b62ec',
  ccmCiphertext:
    '48af93501fa62adbcd414cce6034d895dda1bf8f132f042098661572e7483094' +
    'fd12e518ce062c98acee28d95df4416bed31a2f04476c18bb40c84a74b97dc5b',
  ccmTag: '16842d4fa186f56ab33256971fa110f4',
};

function expectAuthFailure(run: () => unknown): void {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(CryptoError);
    expect((error as CryptoError).code).toBe('authentication_failed');
    return;
  }
  expect.fail('expected an authentication failure');
}

// --- An independent, deliberately slow GCM: SP 800-38D Algorithm 1 on BigInts, SM4 one block at a time.

const R = 0xe1n << 120n;

function gfMul(x: bigint, y: bigint): bigint {
  let z = 0n;
  let v = y;
  for (let i = 127; i >= 0; i--) {
    if ((x >> BigInt(i)) & 1n) z ^= v;
    v = v & 1n ? (v >> 1n) ^ R : v >> 1n;
  }
  return z;
}

const toBig = (block: Uint8Array): bigint => BigInt(`0x${Buffer.from(block).toString('hex') || '0'}`);
const fromBig = (value: bigint): Buffer => Buffer.from(value.toString(16).padStart(32, '0'), 'hex');

function referenceGhash(h: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Buffer {
  const hk = toBig(h);
  let y = 0n;
  const absorb = (data: Uint8Array) => {
    for (let p = 0; p < data.length; p += 16) {
      const block = Buffer.alloc(16);
      block.set(data.subarray(p, p + 16));
      y = gfMul(y ^ toBig(block), hk);
    }
  };
  absorb(aad);
  absorb(ciphertext);
  const lengths = Buffer.alloc(16);
  lengths.writeBigUInt64BE(BigInt(aad.length) * 8n, 0);
  lengths.writeBigUInt64BE(BigInt(ciphertext.length) * 8n, 8);
  absorb(lengths);
  return fromBig(y);
}

function referenceSm4Gcm(key: Buffer, iv: Buffer, plaintext: Buffer, aad: Buffer) {
  const block = (input: Buffer) => sm4EcbEncrypt(key, input, 'none');
  const h = block(Buffer.alloc(16));
  const counter = Buffer.alloc(16);
  iv.copy(counter);
  counter.writeUInt32BE(1, 12);
  const mask = block(counter);
  const ciphertext = Buffer.alloc(plaintext.length);
  for (let p = 0; p < plaintext.length; p += 16) {
    counter.writeUInt32BE((counter.readUInt32BE(12) + 1) >>> 0, 12); // inc32
    const stream = block(counter);
    for (let i = p; i < Math.min(p + 16, plaintext.length); i++)
      ciphertext[i] = plaintext[i]! ^ stream[i - p]!;
  }
  const s = referenceGhash(h, aad, ciphertext);
  const tag = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) tag[i] = s[i]! ^ mask[i]!;
  return { ciphertext, tag };
}

describe('SM4 block cipher (GB/T 32907)', () => {
  it('has ECB, CBC and CTR in Node’s OpenSSL and names what is missing otherwise', () => {
    expect(missingNativeSm4Modes()).toEqual([]);
    expect(missingNativeSm4Modes(['aes-128-gcm', 'sm4-cbc'])).toEqual(['sm4-ecb', 'sm4-ctr']);
  });

  it('encrypts the standard’s single block: key = plaintext = 0123…3210', () => {
    expect(sm4EcbEncrypt(gbt_key, gbt_key, 'none').toString('hex')).toBe(gbt_once);
    expect(sm4EcbDecrypt(gbt_key, hex(gbt_once), 'none')).toEqual(gbt_key);
  });

  it('reaches the standard’s value after 1,000,000 encryptions of the block under the same key', () => {
    // One cipher object, the block fed back 10^6 times: ~1 s here (a fresh object per block: ~5 s).
    const cipher = createCipheriv('sm4-ecb', gbt_key, null).setAutoPadding(false);
    let block: Buffer = gbt_key;
    const started = performance.now();
    for (let i = 0; i < 1_000_000; i++) block = cipher.update(block);
    const seconds = (performance.now() - started) / 1000;
    expect(block.toString('hex')).toBe(gbt_million);
    expect(seconds).toBeLessThan(20);
  });

  it('chains CBC exactly as C_i = E(P_i ⊕ C_{i−1}) and pads with PKCS#7', () => {
    const iv = randomBytes(16);
    const plaintext = randomBytes(48);
    const expected: Buffer[] = [];
    let previous: Buffer = iv;
    for (let p = 0; p < 48; p += 16) {
      const x = Buffer.alloc(16);
      for (let i = 0; i < 16; i++) x[i] = plaintext[p + i]! ^ previous[i]!;
      previous = sm4EcbEncrypt(gbt_key, x, 'none');
      expected.push(previous);
    }
    expect(sm4CbcEncrypt(gbt_key, iv, plaintext, 'none')).toEqual(Buffer.concat(expected));
    const padded = sm4CbcEncrypt(gbt_key, iv, plaintext);
    expect(padded.length).toBe(64);
    expect(sm4CbcDecrypt(gbt_key, iv, padded)).toEqual(plaintext);
    expect(sm4CbcDecrypt(gbt_key, iv, padded, 'none').subarray(48)).toEqual(Buffer.alloc(16, 16));
  });

  it('runs CTR as E(counter), E(counter + 1), … XOR the data, for any length', () => {
    const iv = hex('000102030405060708090a0b0c0d0eff'); // the +1 carries into byte 14
    const data = randomBytes(37);
    const stream = Buffer.concat([
      sm4EcbEncrypt(gbt_key, iv, 'none'),
      sm4EcbEncrypt(gbt_key, hex('000102030405060708090a0b0c0d0f00'), 'none'),
      sm4EcbEncrypt(gbt_key, hex('000102030405060708090a0b0c0d0f01'), 'none'),
    ]);
    const expected = Buffer.alloc(37);
    for (let i = 0; i < 37; i++) expected[i] = data[i]! ^ stream[i]!;
    expect(sm4Ctr(gbt_key, iv, data)).toEqual(expected);
    expect(sm4Ctr(gbt_key, iv, expected)).toEqual(data);
  });

  it('refuses wrong key and IV lengths and unpadded partial blocks as programmer errors', () => {
    expect(() => sm4EcbEncrypt(randomBytes(15), gbt_key)).toThrow(/16 bytes/);
    expect(() => sm4CbcEncrypt(gbt_key, randomBytes(12), gbt_key)).toThrow(/IV must be 16/);
    expect(() => sm4EcbEncrypt(gbt_key, randomBytes(17), 'none')).toThrow(/multiple of 16/);
    expect(() => sm4GcmEncrypt(gbt_key, randomBytes(16), gbt_key)).toThrow(/12 bytes/);
  });
});

describe('SM4-GCM (RFC 8998, SP 800-38D)', () => {
  it('reproduces RFC 8998 Appendix A.1', () => {
    const { ciphertext, tag } = sm4GcmEncrypt(rfc.key, rfc.iv, rfc.plaintext, rfc.aad);
    expect(ciphertext.toString('hex')).toBe(rfc.gcmCiphertext);
    expect(tag.toString('hex')).toBe(rfc.gcmTag);
    expect(sm4GcmDecrypt(rfc.key, rfc.iv, hex(rfc.gcmCiphertext), hex(rfc.gcmTag), rfc.aad)).toEqual(
      rfc.plaintext,
    );
  });

  it('rejects a flipped bit anywhere in the ciphertext or the tag', () => {
    const { ciphertext, tag } = sm4GcmEncrypt(rfc.key, rfc.iv, rfc.plaintext, rfc.aad);
    for (let bit = 0; bit < ciphertext.length * 8; bit += 7) {
      const bad = Buffer.from(ciphertext);
      bad[bit >> 3] = bad[bit >> 3]! ^ (1 << (bit & 7));
      expectAuthFailure(() => sm4GcmDecrypt(rfc.key, rfc.iv, bad, tag, rfc.aad));
    }
    for (let bit = 0; bit < 128; bit++) {
      const bad = Buffer.from(tag);
      bad[bit >> 3] = bad[bit >> 3]! ^ (1 << (bit & 7));
      expectAuthFailure(() => sm4GcmDecrypt(rfc.key, rfc.iv, ciphertext, bad, rfc.aad));
    }
  });

  it('rejects wrong AAD, missing AAD, wrong key, wrong IV, truncated or extended tags and cut ciphertext', () => {
    const { ciphertext, tag } = sm4GcmEncrypt(rfc.key, rfc.iv, rfc.plaintext, rfc.aad);
    const otherAad = Buffer.from(rfc.aad);
    otherAad[19] = otherAad[19]! ^ 1;
    expectAuthFailure(() => sm4GcmDecrypt(rfc.key, rfc.iv, ciphertext, tag, otherAad));
    expectAuthFailure(() => sm4GcmDecrypt(rfc.key, rfc.iv, ciphertext, tag));
    expectAuthFailure(() => sm4GcmDecrypt(randomBytes(16), rfc.iv, ciphertext, tag, rfc.aad));
    expectAuthFailure(() => sm4GcmDecrypt(rfc.key, randomBytes(12), ciphertext, tag, rfc.aad));
    for (const length of [0, 4, 8, 12, 15]) {
      expectAuthFailure(() => sm4GcmDecrypt(rfc.key, rfc.iv, ciphertext, tag.subarray(0, length), rfc.aad));
    }
    expectAuthFailure(() =>
      sm4GcmDecrypt(rfc.key, rfc.iv, ciphertext, Buffer.concat([tag, hex('00')]), rfc.aad),
    );
    expectAuthFailure(() => sm4GcmDecrypt(rfc.key, rfc.iv, ciphertext.subarray(0, 48), tag, rfc.aad));
    expectAuthFailure(() =>
      sm4GcmDecrypt(rfc.key, rfc.iv, Buffer.concat([ciphertext, hex('00')]), tag, rfc.aad),
    );
  });

  it('says why it failed without echoing key, plaintext or ciphertext', () => {
    const { ciphertext, tag } = sm4GcmEncrypt(rfc.key, rfc.iv, rfc.plaintext, rfc.aad);
    try {
      sm4GcmDecrypt(rfc.key, rfc.iv, ciphertext, tag, Buffer.from('other'));
      expect.fail('should throw');
    } catch (error) {
      const text = `${(error as Error).message} ${(error as Error).stack}`;
      expect(text).toMatch(/authentication failed/);
      for (const secret of [rfc.key, rfc.plaintext, ciphertext]) {
        expect(text.toLowerCase()).not.toContain(secret.toString('hex').slice(0, 16));
      }
    }
  });

  it('handles empty plaintext, empty AAD and every length around the block size', () => {
    const key = randomBytes(16);
    const iv = randomBytes(12);
    const empty = sm4GcmEncrypt(key, iv, Buffer.alloc(0));
    expect(empty.ciphertext.length).toBe(0);
    expect(empty.tag).toEqual(referenceSm4Gcm(key, iv, Buffer.alloc(0), Buffer.alloc(0)).tag);
    expect(sm4GcmDecrypt(key, iv, Buffer.alloc(0), empty.tag)).toEqual(Buffer.alloc(0));
    expectAuthFailure(() => sm4GcmDecrypt(key, iv, Buffer.alloc(0), empty.tag, hex('00')));
    for (let length = 0; length <= 70; length++) {
      const plaintext = randomBytes(length);
      const aad = randomBytes(length % 23);
      const ours = sm4GcmEncrypt(key, iv, plaintext, aad);
      expect(ours).toEqual(referenceSm4Gcm(key, iv, plaintext, aad));
      expect(sm4GcmDecrypt(key, iv, ours.ciphertext, ours.tag, aad)).toEqual(plaintext);
    }
  });

  it('matches the bit-by-bit reference for random keys, IVs, AAD and plaintext', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ minLength: 12, maxLength: 12 }),
        fc.uint8Array({ maxLength: 300 }),
        fc.uint8Array({ maxLength: 80 }),
        (key, iv, plaintext, aad) => {
          const [k, v, p, a] = [key, iv, plaintext, aad].map((x) => Buffer.from(x)) as [
            Buffer,
            Buffer,
            Buffer,
            Buffer,
          ];
          const ours = sm4GcmEncrypt(k, v, p, a);
          expect(ours).toEqual(referenceSm4Gcm(k, v, p, a));
          expect(sm4GcmDecrypt(k, v, ours.ciphertext, ours.tag, a)).toEqual(p);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('gives the same GHASH with the small (4 KB) and the large (64 KB) tables as the reference', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ maxLength: 70 }),
        fc.uint8Array({ maxLength: 200 }),
        (h, aad, data) => {
          const expected = referenceGhash(h, aad, data);
          expect(ghash(h, aad, data, 'small')).toEqual(expected);
          expect(ghash(h, aad, data, 'large')).toEqual(expected);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('switches a key to the large table after 16 KB and stays correct across the switch', () => {
    const key = randomBytes(16);
    const gcm = new Sm4Gcm(key);
    for (const length of [1000, 9000, 20_000, 33, 70_000]) {
      const iv = randomBytes(12);
      const plaintext = randomBytes(length);
      const aad = randomBytes(length % 50);
      const sealed = gcm.encrypt(iv, plaintext, aad);
      expect(sealed).toEqual(referenceSm4Gcm(key, iv, plaintext, aad));
      expect(sm4GcmDecrypt(key, iv, sealed.ciphertext, sealed.tag, aad)).toEqual(plaintext);
    }
  });

  it('computes the GHASH that OpenSSL’s AES-128-GCM uses (same GHASH, AES as the block cipher)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ minLength: 12, maxLength: 12 }),
        fc.uint8Array({ maxLength: 2000 }),
        fc.uint8Array({ maxLength: 100 }),
        (key, iv, plaintext, aad) => {
          const aes = createCipheriv('aes-128-gcm', key, iv);
          aes.setAAD(aad);
          const ciphertext = Buffer.concat([aes.update(plaintext), aes.final()]);
          const tag = aes.getAuthTag();
          const ecb = (block: Buffer) =>
            createCipheriv('aes-128-ecb', key, null).setAutoPadding(false).update(block);
          const j0 = Buffer.alloc(16);
          j0.set(iv);
          j0[15] = 1;
          const s = ghash(ecb(Buffer.alloc(16)), aad, ciphertext);
          const mask = ecb(j0);
          for (let i = 0; i < 16; i++) s[i] = s[i]! ^ mask[i]!;
          expect(s).toEqual(tag);
        },
      ),
      { numRuns: 100 },
    );
  });

  it.runIf(getCiphers().includes('sm4-gcm'))('agrees with a native sm4-gcm where OpenSSL has one', () => {
    const key = randomBytes(16);
    const iv = randomBytes(12);
    const plaintext = randomBytes(1000);
    const aad = randomBytes(20);
    const native = createCipheriv('sm4-gcm' as 'aes-128-gcm', key, iv);
    native.setAAD(aad);
    const ciphertext = Buffer.concat([native.update(plaintext), native.final()]);
    expect(sm4GcmEncrypt(key, iv, plaintext, aad)).toEqual({ ciphertext, tag: native.getAuthTag() });
  });
});

describe('SM4-CCM (RFC 8998 A.2, SP 800-38C)', () => {
  it('reproduces RFC 8998 Appendix A.2', () => {
    const { ciphertext, tag } = sm4CcmEncrypt(rfc.key, rfc.iv, rfc.plaintext, rfc.aad);
    expect(ciphertext.toString('hex')).toBe(rfc.ccmCiphertext);
    expect(tag.toString('hex')).toBe(rfc.ccmTag);
    expect(sm4CcmDecrypt(rfc.key, rfc.iv, ciphertext, tag, rfc.aad)).toEqual(rfc.plaintext);
  });

  it('round-trips odd lengths and rejects tampering', () => {
    const key = randomBytes(16);
    const nonce = randomBytes(12);
    for (const length of [0, 1, 15, 16, 17, 100]) {
      const plaintext = randomBytes(length);
      const aad = randomBytes(length % 7);
      const { ciphertext, tag } = sm4CcmEncrypt(key, nonce, plaintext, aad);
      expect(sm4CcmDecrypt(key, nonce, ciphertext, tag, aad)).toEqual(plaintext);
      const badTag = Buffer.from(tag);
      badTag[0] = badTag[0]! ^ 0x80;
      expectAuthFailure(() => sm4CcmDecrypt(key, nonce, ciphertext, badTag, aad));
      expectAuthFailure(() => sm4CcmDecrypt(key, nonce, ciphertext, tag, Buffer.concat([aad, hex('01')])));
      expectAuthFailure(() => sm4CcmDecrypt(key, nonce, ciphertext, tag.subarray(0, 8), aad));
    }
  });
});
