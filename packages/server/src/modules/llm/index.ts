/** The LLM gateway's public surface (docs/llm-gateway.md). */
export { estimateTokens, Gateway, type GatewayOptions, normalize } from './gateway.service.ts';
export { hashKey, KeyStore } from './keys.service.ts';
export type * from './llm.types.ts';
export {
  ProvidersConfigError,
  parseProviders,
  type RoutingStrategy,
  routing_strategies,
  zhifu_local_name,
  zhifuLocalConfig,
} from './providers/config.ts';
export { ProviderError } from './providers/http.ts';
export type { ProviderConfig, ProviderKind, Region } from './providers/provider.ts';
export { detect, luhnValid, residentIdValid } from './redaction/detectors.ts';
export { RedactionError, redactRequest, StreamRestorer, Vault } from './redaction/redactor.ts';
