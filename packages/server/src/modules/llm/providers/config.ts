/**
 * Validation of the providers configuration (ZHIFU_LLM_PROVIDERS / ZHIFU_LLM_PROVIDERS_FILE, a JSON
 * array; docs/llm-gateway.md "Providers"). Start-up fails with a message naming the entry and field.
 */
import type { ProviderConfig, ProviderKind, Region } from './provider.ts';

export class ProvidersConfigError extends Error {
  override name = 'ProvidersConfigError';
}

export type RoutingStrategy = 'priority' | 'latency' | 'cost';
export const routing_strategies: readonly RoutingStrategy[] = ['priority', 'latency', 'cost'];

/** The built-in offline provider's entry, added when a local model is injected and none is configured. */
export const zhifu_local_name = 'zhifu-local';

export function zhifuLocalConfig(): ProviderConfig {
  return {
    name: zhifu_local_name,
    kind: 'local',
    region: 'domestic',
    priority: 1000,
    models: [zhifu_local_name],
    input_fen_per_mtok: 0,
    output_fen_per_mtok: 0,
    timeout_ms: 10_000,
    stream_idle_timeout_ms: 10_000,
    retries: 0,
    retry_backoff_ms: 0,
  };
}

const kinds: readonly ProviderKind[] = ['openai', 'anthropic', 'local'];
const regions: readonly Region[] = ['domestic', 'foreign'];

export function parseProviders(raw: unknown, env: Record<string, string | undefined> = {}): ProviderConfig[] {
  if (!Array.isArray(raw)) throw new ProvidersConfigError('the providers configuration must be a JSON array');
  const names = new Set<string>();
  return raw.map((entry, i) => {
    const where = `provider ${i}`;
    if (entry === null || typeof entry !== 'object')
      throw new ProvidersConfigError(`${where} must be an object`);
    const o = entry as Record<string, unknown>;
    const str = (k: string, required: boolean): string | undefined => {
      const v = o[k];
      if (v === undefined && !required) return undefined;
      if (typeof v !== 'string' || v === '')
        throw new ProvidersConfigError(`${where}: ${k} must be a non-empty string`);
      return v;
    };
    const int = (k: string, fallback: number, min: number, max: number): number => {
      const v = o[k] ?? fallback;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
        throw new ProvidersConfigError(`${where}: ${k} must be an integer from ${min} to ${max}`);
      return v;
    };
    const name = str('name', true)!;
    if (!/^[a-z0-9][a-z0-9._-]{0,62}$/.test(name))
      throw new ProvidersConfigError(`${where}: name must be lower-case letters, digits, '.', '_' or '-'`);
    if (names.has(name)) throw new ProvidersConfigError(`${where}: name "${name}" is used twice`);
    names.add(name);
    const kind = o.kind as ProviderKind;
    if (!kinds.includes(kind))
      throw new ProvidersConfigError(`${where}: kind must be one of ${kinds.join(', ')}`);
    const region = o.region as Region;
    if (!regions.includes(region))
      throw new ProvidersConfigError(`${where}: region must be domestic or foreign (it decides redaction)`);
    const base_url = str('base_url', kind === 'openai');
    if (base_url !== undefined) {
      try {
        const u = new URL(base_url);
        if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error();
      } catch {
        throw new ProvidersConfigError(`${where}: base_url must be an http(s) URL`);
      }
    }
    const keyEnv = str('api_key_env', false);
    const api_key = keyEnv !== undefined ? env[keyEnv] : str('api_key', false);
    if (keyEnv !== undefined && !api_key)
      throw new ProvidersConfigError(`${where}: the environment variable ${keyEnv} (api_key_env) is not set`);
    const models = o.models;
    if (
      !Array.isArray(models) ||
      models.length === 0 ||
      !models.every((m) => typeof m === 'string' && m.length > 0 && m.length <= 128)
    )
      throw new ProvidersConfigError(`${where}: models must be a non-empty array of model names`);
    const model_map = o.model_map;
    if (
      model_map !== undefined &&
      (model_map === null ||
        typeof model_map !== 'object' ||
        !Object.values(model_map).every((v) => typeof v === 'string'))
    )
      throw new ProvidersConfigError(
        `${where}: model_map must map model names to the provider's model names`,
      );
    const config: ProviderConfig = {
      name,
      kind,
      region,
      priority: int('priority', 10, 0, 1_000_000),
      models: models as string[],
      input_fen_per_mtok: int('input_fen_per_mtok', 0, 0, 100_000_000),
      output_fen_per_mtok: int('output_fen_per_mtok', 0, 0, 100_000_000),
      timeout_ms: int('timeout_ms', 30_000, 1, 600_000),
      stream_idle_timeout_ms: int('stream_idle_timeout_ms', 30_000, 1, 600_000),
      retries: int('retries', 1, 0, 5),
      retry_backoff_ms: int('retry_backoff_ms', 100, 0, 60_000),
      default_max_tokens: int('default_max_tokens', 4096, 1, 1_000_000),
    };
    if (base_url !== undefined) config.base_url = base_url;
    if (api_key) config.api_key = api_key;
    if (model_map !== undefined) config.model_map = model_map as Record<string, string>;
    return config;
  });
}
