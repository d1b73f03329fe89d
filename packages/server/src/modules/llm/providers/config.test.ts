/** The providers configuration: defaults, key variables, and start-up errors that name the entry and field. */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../config.ts';
import { ProvidersConfigError, parseProviders } from './config.ts';

const deepseek = {
  name: 'deepseek',
  kind: 'openai',
  base_url: 'https://api.deepseek.com/v1',
  api_key_env: 'DEEPSEEK_API_KEY',
  region: 'domestic',
  models: ['deepseek-chat'],
};

describe('providers configuration', () => {
  it('fills defaults and reads the key from the named variable', () => {
    const [p] = parseProviders([deepseek], { DEEPSEEK_API_KEY: 'sk-1' });
    expect(p).toMatchObject({
      name: 'deepseek',
      api_key: 'sk-1',
      priority: 10,
      timeout_ms: 30_000,
      stream_idle_timeout_ms: 30_000,
      retries: 1,
      input_fen_per_mtok: 0,
    });
  });

  it('refuses bad entries with the entry and field named', () => {
    const cases: [unknown, RegExp][] = [
      [{ ...deepseek, region: 'mars' }, /provider 0: region must be domestic or foreign/],
      [{ ...deepseek, kind: 'gemini' }, /provider 0: kind must be one of/],
      [{ ...deepseek, base_url: undefined }, /provider 0: base_url/],
      [{ ...deepseek, base_url: 'ftp://x' }, /base_url must be an http\(s\) URL/],
      [{ ...deepseek, models: [] }, /models must be a non-empty array/],
      [{ ...deepseek, priority: -1 }, /priority must be an integer/],
      [{ ...deepseek, input_fen_per_mtok: 1.5 }, /input_fen_per_mtok must be an integer/],
      [{ ...deepseek, api_key_env: 'UNSET_VARIABLE' }, /UNSET_VARIABLE \(api_key_env\) is not set/],
    ];
    for (const [entry, message] of cases)
      expect(() => parseProviders([entry], { DEEPSEEK_API_KEY: 'sk-1' })).toThrow(message);
    expect(() => parseProviders([deepseek, deepseek], { DEEPSEEK_API_KEY: 'sk-1' })).toThrow(/used twice/);
    expect(() => parseProviders({}, {})).toThrow(ProvidersConfigError);
  });

  it('is read from ZHIFU_LLM_PROVIDERS at start-up, and a bad value stops it', () => {
    const config = loadConfig({
      ZHIFU_LLM_PROVIDERS: JSON.stringify([deepseek]),
      DEEPSEEK_API_KEY: 'sk-1',
      ZHIFU_LLM_ROUTING: 'cost',
    });
    expect(config.llmProviders.map((p) => p.name)).toEqual(['deepseek']);
    expect(config.llmRouting).toBe('cost');
    expect(loadConfig({}).llmProviders).toEqual([]);
    expect(() => loadConfig({ ZHIFU_LLM_PROVIDERS: '[{' })).toThrow(ConfigError);
    expect(() => loadConfig({ ZHIFU_LLM_PROVIDERS: '[{"name":"x"}]' })).toThrow(
      /ZHIFU_LLM_PROVIDERS: provider 0/,
    );
    expect(() => loadConfig({ ZHIFU_LLM_ROUTING: 'random' })).toThrow(/ZHIFU_LLM_ROUTING/);
    expect(loadConfig({}).agentModel).toBe('zhifu-local');
    const served = deepseek.models[0]!;
    expect(
      loadConfig({
        ZHIFU_LLM_PROVIDERS: JSON.stringify([deepseek]),
        DEEPSEEK_API_KEY: 'sk-1',
        ZHIFU_AGENT_MODEL: served,
      }).agentModel,
    ).toBe(served);
    expect(() => loadConfig({ ZHIFU_AGENT_MODEL: 'gpt-unknown' })).toThrow(/ZHIFU_AGENT_MODEL/);
  });
});
