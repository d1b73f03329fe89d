export { canonicalJson, requestHash } from './idempotency.service.ts';
export { MemoryNonceStore, type NonceStore } from './nonce-store.ts';
