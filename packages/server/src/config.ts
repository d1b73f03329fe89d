/**
 * One validated, frozen configuration (DESIGN.md §2). Read once in main.ts from the environment;
 * everything else receives it. A bad value stops start-up with a message naming the variable.
 * docs/configuration.md documents each variable; keep the two in step.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import {
  type ProviderConfig,
  ProvidersConfigError,
  parseProviders,
  type RoutingStrategy,
  routing_strategies,
} from './modules/llm/index.ts';
import { zhifu_local_model } from './modules/llm/local/index.ts';
import {
  default_rate_limits,
  parseRateLimits,
  type RateLimits,
  RateLimitsConfigError,
} from './transport/http/rate-limits.ts';

export interface Config {
  /** TCP port (PORT, default 8080). */
  readonly port: number;
  /** Interface to listen on (ZHIFU_HOST, default 127.0.0.1). */
  readonly host: string;
  /** Base URL clients reach this server at (ZHIFU_PUBLIC_URL, default http://<host>:<port>). */
  readonly publicUrl: string;
  /** ZHIFU_PUBLIC_URL was set: the public URL is kept as given, also when PORT=0 picks the port. */
  readonly publicUrlGiven: boolean;
  /**
   * Base of the bills' `download_url` (ZHIFU_BILL_DOWNLOAD_URL; default: the public URL).
   * wechatpay-node-v3 needs `https://api.mch.weixin.qq.com` here (reference §3.5).
   */
  readonly billDownloadUrl: string | undefined;
  /** sqlite:<path> or postgres://… (ZHIFU_DATABASE_URL, default sqlite:<dataDir>/zhifu.db). */
  readonly databaseUrl: string;
  /** Directory for the SQLite file and the demo credentials (ZHIFU_DATA_DIR, default ./data). */
  readonly dataDir: string;
  /**
   * Redis shared by every node (ZHIFU_REDIS_URL, redis:// or rediss://; default none): replay
   * protection, merchant rate limits, WebSocket fan-out and LLM gateway limits then hold across
   * nodes and restarts (docs/operations.md). Unset: each process keeps them in memory.
   */
  readonly redisUrl: string | undefined;
  /** Prefix of every Redis key and channel, for deployments sharing one Redis (ZHIFU_REDIS_PREFIX, default zhifu:). */
  readonly redisPrefix: string;
  /** SQLite durability: FULL (default) or NORMAL (ZHIFU_SQLITE_SYNCHRONOUS). */
  readonly sqliteSynchronous: 'FULL' | 'NORMAL';
  /** SQLite: concurrent transactions share one durable commit (ZHIFU_SQLITE_GROUP_COMMIT, default true). */
  readonly sqliteGroupCommit: boolean;
  /** Create the demo merchant and sandbox payers on first start (ZHIFU_SEED_DEMO, default true). */
  readonly seedDemo: boolean;
  /** Serve the sandbox wallet, login and cashier (ZHIFU_SANDBOX, default true). */
  readonly sandbox: boolean;
  /** Let APIv3 callbacks reach 127.0.0.1 / ::1, for local development (ZHIFU_CALLBACK_ALLOW_LOOPBACK, default false). */
  readonly callbackAllowLoopback: boolean;
  /** Worker threads for batch risk scoring (ZHIFU_RISK_BATCH_THREADS, default 2; 0 = on the main thread). */
  readonly riskBatchThreads: number;
  /**
   * SM4 key-encryption key for personal information at rest, 32 hex characters
   * (ZHIFU_MASTER_KEY). Unset: created once in <dataDir>/master.key (mode 0600). Every node of one
   * database must use the same key; a node whose key is not the database's refuses to start.
   */
  readonly masterKey: Buffer | undefined;
  /** Id stamped on records sealed with the master key, for rotation (ZHIFU_MASTER_KEY_ID, default k1). */
  readonly masterKeyId: string;
  /** Share of API calls written to the audit log, 0–1 (ZHIFU_AUDIT_SAMPLE_RATE, default 0.01). */
  readonly auditSampleRate: number;
  /** Smart Checkout's exploration share, 0–1 (ZHIFU_CHECKOUT_EXPLORATION, default 0.05; docs/checkout.md). */
  readonly checkoutExploration: number;
  /**
   * When a Smart Checkout query is answered: asynchronous (default; once its ranking and 0.01 CNY
   * metering are committed) or durable (once they are on disk too) (ZHIFU_CHECKOUT_COMMIT; docs/checkout.md).
   */
  readonly checkoutCommit: 'asynchronous' | 'durable';
  /** Bearer token of the operator API (ZHIFU_OPERATOR_TOKEN); unset = the operator API is closed. */
  readonly operatorToken: string | undefined;
  /**
   * LLM gateway providers: a JSON array (ZHIFU_LLM_PROVIDERS) or a file holding one
   * (ZHIFU_LLM_PROVIDERS_FILE); docs/llm-gateway.md. Default: none.
   */
  readonly llmProviders: ProviderConfig[];
  /** Ordering of providers of equal priority: latency, cost or priority (ZHIFU_LLM_ROUTING, default latency). */
  readonly llmRouting: RoutingStrategy;
  /**
   * The model the conversation agent asks the gateway for (ZHIFU_AGENT_MODEL, default
   * `zhifu-local`); it must be served by a configured provider.
   */
  readonly agentModel: string;
  /**
   * Which proxies in front of the server to believe about the client's address (X-Forwarded-For),
   * for the Fraud Shield's IP features (ZHIFU_TRUST_PROXY: false (default), true, a hop count, or
   * a comma-separated list of proxy addresses / CIDR ranges).
   */
  readonly trustProxy: boolean | number | string[];
  /**
   * Per-merchant request rate limits (ZHIFU_RATE_LIMITS: `off`, or overrides such as
   * `default=1000,refund=150,fundflow_bill=3`; default those, WeChat Pay's documented limits).
   */
  readonly rateLimits: RateLimits;
  /** Log level (ZHIFU_LOG_LEVEL, default info). */
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined) return fallback;
  // Decimal digits only: Number() would also take "1e3", "0x1F90" or "0b11".
  const value = /^\d{1,9}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

function bool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined) return fallback;
  if (['1', 'true', 'yes', 'on'].includes(raw.toLowerCase())) return true;
  if (['0', 'false', 'no', 'off'].includes(raw.toLowerCase())) return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}

function trustProxy(env: Env): boolean | number | string[] {
  const name = 'ZHIFU_TRUST_PROXY';
  const raw = env[name] ?? '';
  if (raw === '' || ['0', 'false', 'no', 'off'].includes(raw.toLowerCase())) return false;
  if (['true', 'yes', 'on'].includes(raw.toLowerCase())) return true;
  if (/^\d+$/.test(raw)) return int(env, name, 1, 1, 16);
  const entries = raw.split(',').map((e) => e.trim());
  for (const e of entries) {
    const [address, prefix, ...rest] = e.split('/');
    const family = isIP(address ?? '');
    const bits = family === 4 ? 32 : 128;
    if (
      family === 0 ||
      rest.length > 0 ||
      (prefix !== undefined && !(/^\d+$/.test(prefix) && Number(prefix) <= bits))
    ) {
      throw new ConfigError(
        `${name} must be true, false, a hop count or addresses / CIDR ranges separated by commas, got "${e}"`,
      );
    }
  }
  return entries;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined) return fallback;
  const found = allowed.find((a) => a.toLowerCase() === raw.toLowerCase());
  if (!found) throw new ConfigError(`${name} must be one of ${allowed.join(', ')}, got "${raw}"`);
  return found;
}

function rate(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined) return fallback;
  const value = /^\d+(\.\d+)?$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isFinite(value) || value < 0 || value > 1)
    throw new ConfigError(`${name} must be a number from 0 to 1, got "${raw}"`);
  return value;
}

function masterKey(env: Env): Buffer | undefined {
  const raw = env.ZHIFU_MASTER_KEY;
  if (raw === undefined) return undefined;
  if (!/^[0-9a-fA-F]{32}$/.test(raw))
    throw new ConfigError('ZHIFU_MASTER_KEY must be 32 hex characters (a 128-bit SM4 key)');
  return Buffer.from(raw, 'hex');
}

function operatorToken(env: Env): string | undefined {
  const raw = env.ZHIFU_OPERATOR_TOKEN;
  if (raw === undefined) return undefined;
  if (raw.length < 24) throw new ConfigError('ZHIFU_OPERATOR_TOKEN must be at least 24 characters');
  return raw;
}

function agentModel(env: Env, providers: readonly ProviderConfig[]): string {
  const model = env.ZHIFU_AGENT_MODEL || zhifu_local_model;
  if (model !== zhifu_local_model && !providers.some((p) => p.models.includes(model)))
    throw new ConfigError(`ZHIFU_AGENT_MODEL: no configured LLM provider serves the model "${model}"`);
  return model;
}

function rateLimits(env: Env): RateLimits {
  const raw = env.ZHIFU_RATE_LIMITS;
  if (raw === undefined) return default_rate_limits;
  try {
    return parseRateLimits(raw);
  } catch (error) {
    if (error instanceof RateLimitsConfigError) throw new ConfigError(`ZHIFU_RATE_LIMITS: ${error.message}`);
    throw error;
  }
}

function llmProviders(env: Env): ProviderConfig[] {
  const inline = env.ZHIFU_LLM_PROVIDERS;
  const file = env.ZHIFU_LLM_PROVIDERS_FILE;
  if (inline && file) throw new ConfigError('set ZHIFU_LLM_PROVIDERS or ZHIFU_LLM_PROVIDERS_FILE, not both');
  const name = inline ? 'ZHIFU_LLM_PROVIDERS' : 'ZHIFU_LLM_PROVIDERS_FILE';
  let text = inline;
  if (!inline && file) {
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new ConfigError(`ZHIFU_LLM_PROVIDERS_FILE: cannot read ${file}: ${(error as Error).message}`);
    }
  }
  if (!text) return [];
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${name} is not JSON: ${(error as Error).message}`);
  }
  try {
    return parseProviders(raw, env);
  } catch (error) {
    if (error instanceof ProvidersConfigError) throw new ConfigError(`${name}: ${error.message}`);
    throw error;
  }
}

/** The host part of the default public URL: a wildcard address is reached on loopback; IPv6 in brackets. */
function urlHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

function isHttpUrl(text: string): boolean {
  try {
    const { protocol } = new URL(text);
    return protocol === 'http:' || protocol === 'https:';
  } catch {
    return false;
  }
}

function checkDatabaseUrl(url: string): void {
  if (url.startsWith('sqlite:')) {
    if (url === 'sqlite:')
      throw new ConfigError('ZHIFU_DATABASE_URL: sqlite: needs a file path, e.g. sqlite:./data/zhifu.db');
    return;
  }
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if ((parsed?.protocol !== 'postgres:' && parsed?.protocol !== 'postgresql:') || !parsed.hostname) {
    throw new ConfigError(
      `ZHIFU_DATABASE_URL must be sqlite:<file> or postgres://user@host:port/database, got "${maskPassword(url)}"`,
    );
  }
}

function redisUrl(env: Env): string | undefined {
  const raw = env.ZHIFU_REDIS_URL;
  if (raw === undefined) return undefined;
  let protocol = '';
  let hostname = '';
  try {
    ({ protocol, hostname } = new URL(raw));
  } catch {}
  if ((protocol !== 'redis:' && protocol !== 'rediss:') || !hostname)
    throw new ConfigError(
      `ZHIFU_REDIS_URL must be redis://[user:password@]host[:port][/db] or rediss://…, got "${maskPassword(raw)}"`,
    );
  return raw;
}

/** A database URL fit to print: the password blanked, in the user part and in a query parameter. */
export function maskPassword(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//***@');
  }
  if (parsed.password) parsed.password = '***';
  if (parsed.searchParams.has('password')) parsed.searchParams.set('password', '***');
  return parsed.toString();
}

export function loadConfig(given: Env = process.env): Config {
  // Values are trimmed, and an empty or blank one counts as unset (docs/configuration.md).
  const env: Env = {};
  for (const [name, value] of Object.entries(given)) {
    const trimmed = value?.trim();
    if (trimmed) env[name] = trimmed;
  }
  const port = int(env, 'PORT', 8080, 0, 65535);
  const host = env.ZHIFU_HOST || '127.0.0.1';
  const dataDir = resolve(env.ZHIFU_DATA_DIR || './data');
  const databaseUrl = env.ZHIFU_DATABASE_URL || `sqlite:${resolve(dataDir, 'zhifu.db')}`;
  const providers = llmProviders(env);
  checkDatabaseUrl(databaseUrl);
  const publicUrl = (env.ZHIFU_PUBLIC_URL || `http://${urlHost(host)}:${port}`).replace(/\/+$/, '');
  if (!isHttpUrl(publicUrl)) {
    throw new ConfigError(
      env.ZHIFU_PUBLIC_URL
        ? `ZHIFU_PUBLIC_URL must be an absolute http(s) URL, got "${publicUrl}"`
        : `ZHIFU_HOST "${host}" does not make a URL; set ZHIFU_PUBLIC_URL`,
    );
  }
  const billDownloadUrl = env.ZHIFU_BILL_DOWNLOAD_URL?.replace(/\/+$/, '');
  if (billDownloadUrl !== undefined && !isHttpUrl(billDownloadUrl))
    throw new ConfigError(
      `ZHIFU_BILL_DOWNLOAD_URL must be an absolute http(s) URL, got "${billDownloadUrl}"`,
    );
  return Object.freeze({
    port,
    host,
    publicUrl,
    publicUrlGiven: env.ZHIFU_PUBLIC_URL !== undefined,
    billDownloadUrl,
    databaseUrl,
    dataDir,
    redisUrl: redisUrl(env),
    redisPrefix: env.ZHIFU_REDIS_PREFIX || 'zhifu:',
    sqliteSynchronous: oneOf(env, 'ZHIFU_SQLITE_SYNCHRONOUS', ['FULL', 'NORMAL'] as const, 'FULL'),
    sqliteGroupCommit: bool(env, 'ZHIFU_SQLITE_GROUP_COMMIT', true),
    seedDemo: bool(env, 'ZHIFU_SEED_DEMO', true),
    sandbox: bool(env, 'ZHIFU_SANDBOX', true),
    callbackAllowLoopback: bool(env, 'ZHIFU_CALLBACK_ALLOW_LOOPBACK', false),
    riskBatchThreads: int(env, 'ZHIFU_RISK_BATCH_THREADS', 2, 0, 16),
    operatorToken: operatorToken(env),
    auditSampleRate: rate(env, 'ZHIFU_AUDIT_SAMPLE_RATE', 0.01),
    checkoutExploration: rate(env, 'ZHIFU_CHECKOUT_EXPLORATION', 0.05),
    checkoutCommit: oneOf(env, 'ZHIFU_CHECKOUT_COMMIT', ['asynchronous', 'durable'] as const, 'asynchronous'),
    masterKey: masterKey(env),
    masterKeyId: env.ZHIFU_MASTER_KEY_ID || 'k1',
    llmProviders: providers,
    llmRouting: oneOf(env, 'ZHIFU_LLM_ROUTING', routing_strategies, 'latency'),
    agentModel: agentModel(env, providers),
    trustProxy: trustProxy(env),
    rateLimits: rateLimits(env),
    logLevel: oneOf(
      env,
      'ZHIFU_LOG_LEVEL',
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const,
      'info',
    ),
  });
}
