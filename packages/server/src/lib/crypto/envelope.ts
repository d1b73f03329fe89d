/**
 * Envelope encryption for data at rest (conversation content, personal information): every record
 * gets a fresh random 16-byte data key (DEK); the record is sealed with SM4-GCM under the DEK, and
 * the DEK is wrapped (SM4-GCM again) under a key-encryption key (KEK) that comes from configuration
 * or a KMS and never touches the database. Rotating the KEK re-wraps the 44-byte wrapped DEKs and
 * leaves the record ciphertexts alone (`rewrap`).
 *
 * Sealed format (one ASCII string, safe in a TEXT column, a URL or a JSON string):
 *
 *     zf1.<kek_id>.<wrapped_dek>.<iv>.<ciphertext‖tag>
 *
 * - `zf1`: format version, so a later `zf2` (another cipher, a KMS key reference) can coexist.
 * - `kek_id`: which KEK wrapped the DEK, 1–32 of [A-Za-z0-9_-] (e.g. `2026-01`, `kms-main-3`).
 * - `wrapped_dek`: base64url(iv_w ‖ SM4-GCM(KEK, iv_w, DEK, aad_w) ‖ tag_w), 12 + 16 + 16 = 44 bytes,
 *   with aad_w = "zf1:dek:" ‖ kek_id, so a wrapped DEK cannot be moved to another key id.
 * - `iv`: base64url of the 12-byte record IV.
 * - `ciphertext‖tag`: base64url of SM4-GCM(DEK, iv, plaintext, aad_r) with its 16-byte tag, where
 *   aad_r = "zf1:rec:" ‖ the caller's record context (e.g. "chat_messages:content:msg_123").
 *
 * The record context is not stored: the reader must supply the same one, so a sealed value copied
 * into another row or column fails to open. base64url is unpadded and must be canonical (re-encoding
 * gives the same text), so a sealed value has exactly one spelling.
 *
 * Randomness comes from the `Ids` port (lib/ids.ts): real runs use `randomBytes`; tests may pass a
 * seeded generator to get byte-identical output. Random 96-bit IVs under one KEK stay within NIST's
 * bound (2^32 invocations per key, SP 800-38D §8.3) for 4 billion wraps: rotate KEKs long before.
 */
import { assert } from '../assert.ts';
import { cryptoIds, type Ids } from '../ids.ts';
import { CryptoError } from './errors.ts';
import { hkdfSm3 } from './sm3.ts';
import { gcm_iv_bytes, gcm_tag_bytes, Sm4Gcm, sm4_key_bytes } from './sm4.ts';

export const sealed_record_version = 'zf1';
/** iv_w (12) ‖ wrapped DEK (16) ‖ tag_w (16). */
export const wrapped_dek_bytes = gcm_iv_bytes + sm4_key_bytes + gcm_tag_bytes;
const kek_id_pattern = /^[A-Za-z0-9_-]{1,32}$/;
const base64url_pattern = /^[A-Za-z0-9_-]*$/;

/** KEKs by id. Keep retired KEKs here until every record has been re-wrapped off them. */
export type Keyring = ReadonlyMap<string, Uint8Array>;

/** The parts of a sealed record, decoded. */
export interface SealedParts {
  kekId: string;
  wrappedDek: Buffer;
  iv: Buffer;
  /** Ciphertext followed by the 16-byte tag. */
  body: Buffer;
}

function utf8(data: Uint8Array | string): Uint8Array {
  return typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
}

function wrapAad(kekId: string): Buffer {
  return Buffer.from(`${sealed_record_version}:dek:${kekId}`, 'utf8');
}

function recordAad(context: Uint8Array | string): Buffer {
  const bytes = utf8(context);
  assert(bytes.length > 0, 'sealRecord/openRecord need a record context (e.g. table:column:id) as AAD');
  return Buffer.concat([Buffer.from(`${sealed_record_version}:rec:`, 'utf8'), bytes]);
}

function checkKek(kek: Uint8Array, kekId: string): void {
  assert(kek.length === sm4_key_bytes, `a KEK must be ${sm4_key_bytes} bytes (SM4), got ${kek.length}`);
  assert(kek_id_pattern.test(kekId), `KEK id must be 1–32 of [A-Za-z0-9_-], got ${JSON.stringify(kekId)}`);
}

/**
 * KEKs are few and used for every record, so their SM4-GCM state (hash key and GHASH table) is kept
 * per KEK buffer. The cache is keyed by the buffer object and checked against a copy of its bytes on
 * every use, so a caller that overwrites or zeroes its KEK buffer never gets a stale key.
 */
const kek_cache = new WeakMap<Uint8Array, { bytes: Buffer; gcm: Sm4Gcm }>();

function kekGcm(kek: Uint8Array): Sm4Gcm {
  const cached = kek_cache.get(kek);
  if (cached?.bytes.equals(kek)) return cached.gcm;
  const entry = { bytes: Buffer.from(kek), gcm: new Sm4Gcm(kek) };
  kek_cache.set(kek, entry);
  return entry.gcm;
}

function wrapDek(kek: Uint8Array, kekId: string, dek: Uint8Array, iv: Uint8Array): Buffer {
  const { ciphertext, tag } = kekGcm(kek).encrypt(iv, dek, wrapAad(kekId));
  return Buffer.concat([iv, ciphertext, tag]);
}

function unwrapDek(keyring: Keyring, parts: SealedParts): Buffer {
  const kek = keyring.get(parts.kekId);
  if (kek === undefined) {
    throw new CryptoError(
      'unknown_key_id',
      `sealed record: key-encryption key "${parts.kekId}" is not in the keyring`,
    );
  }
  const w = parts.wrappedDek;
  try {
    return kekGcm(kek).decrypt(
      w.subarray(0, gcm_iv_bytes),
      w.subarray(gcm_iv_bytes, gcm_iv_bytes + sm4_key_bytes),
      w.subarray(gcm_iv_bytes + sm4_key_bytes),
      wrapAad(parts.kekId),
    );
  } catch (error) {
    if (error instanceof CryptoError) {
      throw new CryptoError(
        'authentication_failed',
        `sealed record: the data key does not authenticate under key-encryption key "${parts.kekId}"`,
      );
    }
    throw error;
  }
}

function format(parts: SealedParts): string {
  return [
    sealed_record_version,
    parts.kekId,
    parts.wrappedDek.toString('base64url'),
    parts.iv.toString('base64url'),
    parts.body.toString('base64url'),
  ].join('.');
}

function malformed(why: string): CryptoError {
  return new CryptoError('malformed_sealed_record', `sealed record: ${why}`);
}

function decodeBase64url(text: string, what: string): Buffer {
  if (!base64url_pattern.test(text)) throw malformed(`${what} is not base64url`);
  const bytes = Buffer.from(text, 'base64url');
  if (bytes.toString('base64url') !== text) throw malformed(`${what} is not canonical base64url`);
  return bytes;
}

/** Splits and decodes a sealed record without decrypting it; throws `malformed_sealed_record`. */
export function parseSealed(sealed: string): SealedParts {
  const fields = sealed.split('.');
  if (fields.length !== 5) throw malformed(`expected 5 dot-separated fields, got ${fields.length}`);
  const [version, kekId, wrapped, iv, body] = fields as [string, string, string, string, string];
  if (version !== sealed_record_version) {
    throw malformed(`unsupported version ${JSON.stringify(version.slice(0, 8))} (this build reads zf1)`);
  }
  if (!kek_id_pattern.test(kekId)) throw malformed('key id is not 1–32 of [A-Za-z0-9_-]');
  const parts: SealedParts = {
    kekId,
    wrappedDek: decodeBase64url(wrapped, 'wrapped data key'),
    iv: decodeBase64url(iv, 'iv'),
    body: decodeBase64url(body, 'ciphertext'),
  };
  if (parts.wrappedDek.length !== wrapped_dek_bytes)
    throw malformed(`wrapped data key is not ${wrapped_dek_bytes} bytes`);
  if (parts.iv.length !== gcm_iv_bytes) throw malformed(`iv is not ${gcm_iv_bytes} bytes`);
  if (parts.body.length < gcm_tag_bytes) throw malformed('ciphertext is shorter than the tag');
  return parts;
}

/** True if `value` has the shape of a sealed record (it may still fail to open). */
export function isSealedRecord(value: string): boolean {
  try {
    parseSealed(value);
    return true;
  } catch {
    return false;
  }
}

/** The KEK id a sealed record is wrapped under, e.g. to find records a rotation still has to re-wrap. */
export function sealedKeyId(sealed: string): string {
  return parseSealed(sealed).kekId;
}

/**
 * Seals `plaintext` (a string is taken as UTF-8) for storage. `context` is the record's identity
 * (table, column, row id) and must be given again to open it.
 *
 * @example
 * const sealed = sealRecord(kek, '2026-01', 'hello', 'chat_messages:content:msg_123');
 * openRecord(new Map([['2026-01', kek]]), sealed, 'chat_messages:content:msg_123').toString(); // 'hello'
 */
export function sealRecord(
  kek: Uint8Array,
  kekId: string,
  plaintext: Uint8Array | string,
  context: Uint8Array | string,
  ids: Ids = cryptoIds,
): string {
  checkKek(kek, kekId);
  // One draw for the data key, the record IV and the wrapping IV (one syscall instead of three).
  const random = ids.bytes(sm4_key_bytes + 2 * gcm_iv_bytes);
  const dek = random.subarray(0, sm4_key_bytes);
  const iv = Buffer.from(random.subarray(sm4_key_bytes, sm4_key_bytes + gcm_iv_bytes));
  const wrapIv = random.subarray(sm4_key_bytes + gcm_iv_bytes);
  try {
    const { ciphertext, tag } = new Sm4Gcm(dek).encrypt(iv, utf8(plaintext), recordAad(context));
    const wrappedDek = wrapDek(kek, kekId, dek, wrapIv);
    return format({ kekId, wrappedDek, iv, body: Buffer.concat([ciphertext, tag]) });
  } finally {
    random.fill(0);
  }
}

/**
 * Opens a sealed record. Throws `CryptoError`: `malformed_sealed_record`, `unknown_key_id`, or
 * `authentication_failed` (wrong KEK or context, or any changed byte).
 */
export function openRecord(keyring: Keyring, sealed: string, context: Uint8Array | string): Buffer {
  const parts = parseSealed(sealed);
  const dek = unwrapDek(keyring, parts);
  try {
    const split = parts.body.length - gcm_tag_bytes;
    return new Sm4Gcm(dek).decrypt(
      parts.iv,
      parts.body.subarray(0, split),
      parts.body.subarray(split),
      recordAad(context),
    );
  } finally {
    dek.fill(0);
  }
}

/** `openRecord` decoded as UTF-8. */
export function openRecordText(keyring: Keyring, sealed: string, context: Uint8Array | string): string {
  return openRecord(keyring, sealed, context).toString('utf8');
}

/**
 * Key rotation: unwraps the record's DEK with the KEK named in it (from `keyring`) and wraps it under
 * `newKek` / `newKekId`. The iv and ciphertext fields are returned unchanged, byte for byte, and the
 * record context is not needed, so a rotation job can run over a table without knowing its rows.
 */
export function rewrap(
  keyring: Keyring,
  sealed: string,
  newKek: Uint8Array,
  newKekId: string,
  ids: Ids = cryptoIds,
): string {
  checkKek(newKek, newKekId);
  const parts = parseSealed(sealed);
  const dek = unwrapDek(keyring, parts);
  try {
    return format({
      ...parts,
      kekId: newKekId,
      wrappedDek: wrapDek(newKek, newKekId, dek, ids.bytes(gcm_iv_bytes)),
    });
  } finally {
    dek.fill(0);
  }
}

/** Secrets shorter than this are refused by `deriveConversationKey`. */
export const conversation_secret_bytes_min = 16;
const conversation_salt = 'zhifu/conversation-key/v1';

/**
 * A per-conversation SM4 key for end-to-end use: HKDF-SM3 (RFC 5869) with the holder's `secret` as
 * input keying material, a fixed versioned salt, and the conversation id as `info`. The same secret
 * and id always give the same 16-byte key; different ids give independent keys, so one conversation's
 * key reveals nothing about another's or about the secret. The secret stays with its holder (client
 * device or KMS); the server stores only what was sealed under the derived key.
 */
export function deriveConversationKey(secret: Uint8Array, conversationId: string): Buffer {
  assert(
    secret.length >= conversation_secret_bytes_min,
    `conversation secret must be at least ${conversation_secret_bytes_min} bytes, got ${secret.length}`,
  );
  assert(conversationId.length > 0, 'conversation id must not be empty');
  return hkdfSm3(secret, conversation_salt, conversationId, sm4_key_bytes);
}
