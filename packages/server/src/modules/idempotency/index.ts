export {
  claimIdempotencyKey,
  findIdempotencyKey,
  idempotencyKeyReused,
  parseIdempotencyKey,
} from './idempotency.repository.ts';
export { canonicalJson, requestHash } from './idempotency.service.ts';
export {
  type Claim,
  MemoryNonceStore,
  type NonceStore,
  RedisNonceStore,
  windowEndMs,
  withinWindow,
} from './nonce-store.ts';
