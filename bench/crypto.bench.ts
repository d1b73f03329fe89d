/**
 * `npm run bench:crypto`: throughput of Zhifu's SM4-GCM (native SM4 keystream + JS GHASH) next to
 * Node's native AES-256-GCM in the same run, with native SM4-CTR as the ceiling our GCM can reach
 * (same keystream, no GHASH), native SM4-CBC (the figure in machine-limits.md), GHASH alone, SM3,
 * HMAC-SM3, and the envelope (`sealRecord` / `openRecord`: two GCMs, a fresh data key, base64url).
 * Messages of 1 KB and 64 KB; every case runs BENCH_RUNS windows of BENCH_WINDOW_MS, round-robin so
 * that machine noise spreads over all cases, and the median is reported (min–max beside it).
 * MB/s counts 10^6 bytes of message per second.
 *
 * Environment: BENCH_WINDOW_MS (1000), BENCH_RUNS (3), SM_CRYPTO_V2 (optional: path to
 * sm-crypto-v2's dist/index.mjs, adds the pure-JS SM4-GCM for comparison; not a Zhifu dependency).
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  getCiphers,
  randomBytes,
} from 'node:crypto';
import os from 'node:os';
import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import { openRecord, sealRecord } from '../packages/server/src/lib/crypto/envelope.ts';
import { Sm4Gcm, sm4GcmDecrypt, sm4GcmEncrypt } from '../packages/server/src/lib/crypto/sm4.ts';

const window_ms = Number(process.env.BENCH_WINDOW_MS ?? 1000);
const runs = Number(process.env.BENCH_RUNS ?? 3);
const sizes = [1024, 64 * 1024];

interface Case {
  name: string;
  op: () => unknown;
}

interface SmCryptoV2 {
  sm4: {
    encrypt(
      input: Uint8Array,
      key: Uint8Array,
      options: { mode: 'gcm'; iv: Uint8Array; output: 'array'; outputTag: true },
    ): { output: Uint8Array; tag?: Uint8Array };
  };
}

async function loadSmCryptoV2(): Promise<SmCryptoV2 | undefined> {
  const path = process.env.SM_CRYPTO_V2;
  if (path === undefined) return undefined;
  return (await import(isAbsolute(path) ? pathToFileURL(path).href : path)) as SmCryptoV2;
}

function casesFor(size: number, smCrypto: SmCryptoV2 | undefined): Case[] {
  const message = randomBytes(size);
  const aesKey = randomBytes(32);
  const sm4Key = randomBytes(16);
  const iv = randomBytes(12);
  const iv16 = randomBytes(16);
  const kek = randomBytes(16);
  const keyring = new Map([['bench', kek]]);
  const context = 'chat_messages:content:msg_bench';

  // Precomputed inputs for the decrypt cases.
  const aes = createCipheriv('aes-256-gcm', aesKey, iv);
  const aesCiphertext = Buffer.concat([aes.update(message), aes.final()]);
  const aesTag = aes.getAuthTag();
  const sealed = sm4GcmEncrypt(sm4Key, iv, message);
  const reused = new Sm4Gcm(sm4Key);
  const record = sealRecord(kek, 'bench', message, context);

  const cases: Case[] = [
    {
      name: 'AES-256-GCM encrypt (native)',
      op: () => {
        const c = createCipheriv('aes-256-gcm', aesKey, iv);
        c.update(message);
        c.final();
        return c.getAuthTag();
      },
    },
    {
      name: 'AES-256-GCM decrypt (native)',
      op: () => {
        const d = createDecipheriv('aes-256-gcm', aesKey, iv);
        d.setAuthTag(aesTag);
        d.update(aesCiphertext);
        return d.final();
      },
    },
    { name: 'SM4-GCM encrypt (ours, key per call)', op: () => sm4GcmEncrypt(sm4Key, iv, message) },
    { name: 'SM4-GCM encrypt (ours, Sm4Gcm reused)', op: () => reused.encrypt(iv, message) },
    {
      name: 'SM4-GCM decrypt (ours, key per call)',
      op: () => sm4GcmDecrypt(sm4Key, iv, sealed.ciphertext, sealed.tag),
    },
    {
      name: 'SM4-CTR (native, ceiling for our GCM)',
      op: () => {
        const c = createCipheriv('sm4-ctr', sm4Key, iv16);
        c.update(message);
        return c.final();
      },
    },
    {
      name: 'SM4-CBC encrypt (native)',
      op: () => {
        const c = createCipheriv('sm4-cbc', sm4Key, iv16);
        c.update(message);
        return c.final();
      },
    },
    { name: 'SM3 (native)', op: () => createHash('sm3').update(message).digest() },
    { name: 'HMAC-SM3 (native)', op: () => createHmac('sm3', sm4Key).update(message).digest() },
    { name: 'envelope sealRecord (2× SM4-GCM)', op: () => sealRecord(kek, 'bench', message, context) },
    { name: 'envelope openRecord (2× SM4-GCM)', op: () => openRecord(keyring, record, context) },
  ];
  if (smCrypto !== undefined) {
    cases.push({
      name: 'SM4-GCM encrypt (sm-crypto-v2, pure JS)',
      op: () => smCrypto.sm4.encrypt(message, sm4Key, { mode: 'gcm', iv, output: 'array', outputTag: true }),
    });
  }
  return cases;
}

function measure(op: () => unknown, ms: number): number {
  let count = 0;
  const started = performance.now();
  let now = started;
  while (now - started < ms) {
    for (let i = 0; i < 8; i++) op();
    count += 8;
    now = performance.now();
  }
  return (count * 1000) / (now - started);
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
};

const fmt = (value: number): string =>
  value >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(value >= 10 ? 1 : 2);

async function main(): Promise<void> {
  const smCrypto = await loadSmCryptoV2();
  const cpus = os.cpus();
  console.log('# Zhifu crypto benchmark');
  console.log('');
  console.log(`- date: ${new Date().toISOString()}`);
  console.log(`- node: ${process.version}, OpenSSL ${process.versions.openssl}, V8 ${process.versions.v8}`);
  console.log(`- cpu: ${cpus[0]?.model ?? 'unknown'} × ${cpus.length} (${os.arch()}, ${os.platform()})`);
  console.log(`- native sm4-gcm in this OpenSSL: ${getCiphers().includes('sm4-gcm') ? 'yes' : 'no'}`);
  console.log(`- method: median of ${runs} × ${window_ms} ms windows per case, round-robin; single thread`);
  console.log('');

  for (const size of sizes) {
    const cases = casesFor(size, smCrypto);
    for (const c of cases) measure(c.op, Math.min(200, window_ms)); // warm-up (JIT, allocations)
    const samples = new Map<string, number[]>(cases.map((c) => [c.name, []]));
    for (let run = 0; run < runs; run++) {
      for (const c of cases) samples.get(c.name)!.push(measure(c.op, window_ms));
    }
    const aesEncrypt = median(samples.get(cases[0]!.name)!);
    const ctr = median(samples.get('SM4-CTR (native, ceiling for our GCM)')!);
    console.log(`## ${size / 1024} KB messages`);
    console.log('');
    console.log('| operation | ops/s | MB/s | min–max ops/s | vs AES-256-GCM enc | vs SM4-CTR |');
    console.log('|---|---:|---:|---:|---:|---:|');
    for (const c of cases) {
      const values = samples.get(c.name)!;
      const ops = median(values);
      const mb = (ops * size) / 1e6;
      const spread = `${fmt(Math.min(...values))}–${fmt(Math.max(...values))}`;
      console.log(
        `| ${c.name} | ${fmt(ops)} | ${fmt(mb)} | ${spread} | ${(ops / aesEncrypt).toFixed(2)}× | ${(ops / ctr).toFixed(2)}× |`,
      );
    }
    console.log('');
  }
  console.log(
    'Reference (shared/reference/machine-limits.md, 1 KB): AES-256-GCM 80k/129k ops/s enc/dec, SM4-CBC 57k/s, ' +
      'SM3 158k/s, pure-JS SM4 10–12k/s.',
  );
}

await main();
