/**
 * Redis, when configured (ZHIFU_REDIS_URL): what several nodes must share fast (DESIGN.md §2) —
 * request nonces, merchants' request rate limits, the WebSocket fan-out channel, the LLM
 * gateway's per-minute counters and monthly spend. The client is ioredis: maintained, with pub/sub, Lua scripts and reconnection. Every key
 * and channel this project writes starts with `prefix`, so deployments (and parallel test files)
 * can share a Redis.
 */
import { Redis } from 'ioredis';

export interface Shared {
  redis: Redis;
  /** Prefix of every key and channel (ZHIFU_REDIS_PREFIX, default `zhifu:`). */
  prefix: string;
}

/**
 * A client that fails a command rather than holding it while Redis is away: a request then gets a
 * clear 500 SYSTEM_ERROR (`shared_store_unavailable`) instead of hanging until a proxy gives up.
 */
export function connectRedis(url: string): Redis {
  return new Redis(url, {
    lazyConnect: true,
    connectTimeout: 5_000,
    commandTimeout: 2_000,
    maxRetriesPerRequest: 1,
  });
}
