/**
 * National cryptography (ShangMi) for Zhifu: SM4 modes and SM4-GCM/CCM (sm4.ts), SM3, HMAC-SM3 and
 * HKDF-SM3 (sm3.ts), envelope encryption for data at rest (envelope.ts) and keyed pseudonyms for PIPL
 * (pseudonym.ts). See docs/crypto.md.
 */
export * from './envelope.ts';
export * from './errors.ts';
export * from './pseudonym.ts';
export * from './sm3.ts';
export * from './sm4.ts';
