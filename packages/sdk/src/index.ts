/** @zhifu/sdk: the merchant SDK of Zhifu. Zero runtime dependencies (node:crypto and fetch). */
export type { HmacAuth, HttpMethod, OrderInput, RsaAuth, ZhifuClientOptions } from './client.ts';
export { ZhifuClient } from './client.ts';
export type { ErrorCode, ErrorDetail, ZhifuErrorInit } from './errors.ts';
export {
  errorCodes,
  ZhifuApiError,
  ZhifuConnectionError,
  ZhifuError,
  ZhifuSignatureError,
} from './errors.ts';
export type {
  InstrumentKind,
  PayerProofInput,
  PayInput,
  SandboxClientOptions,
  SandboxInstrument,
  SandboxLogin,
  SandboxOrder,
  SandboxPayer,
  SandboxPayment,
} from './sandbox.ts';
export { payerProof, SandboxClient } from './sandbox.ts';
export type {
  AuthorizationInput,
  EncryptedResource,
  HeaderSource,
  ResponseKeys,
  ResponseVerifier,
  SignedMessage,
} from './signing.ts';
export {
  canonicalRequest,
  createNonce,
  createResponseVerifier,
  decryptResource,
  hmacAuthorization,
  hmacResponseSerial,
  rsaAuthorization,
  signatureWindowSeconds,
  signHmac,
  signRsa,
} from './signing.ts';
export type * from './types.ts';
