/** @zhifu/sdk: the merchant SDK of Zhifu. Zero runtime dependencies (node:crypto, node:http(s) and fetch). */
export type {
  CallbackEventType,
  RefundCallbackResource,
  VerifiedCallback,
  VerifyCallbackInput,
} from './callbacks.ts';
export { verifyCallback } from './callbacks.ts';
export type {
  CheckoutInstrumentKind,
  CheckoutScene,
  Eligibility,
  InstrumentUsage,
  Promotion,
  PromotionRequest,
  RankedInstrument,
  Ranking,
  RankRequest,
} from './checkout.ts';
export type {
  HmacAuth,
  HttpMethod,
  OrderInput,
  RequestOptions,
  RsaAuth,
  ZhifuClientOptions,
} from './client.ts';
export { ZhifuClient } from './client.ts';
export type {
  Conversation,
  ConversationMessage,
  ConversationProposal,
  ConversationToolDefinition,
  ConversationToolName,
  ConversationTurn,
  MandateConfirmation,
  MandateTerms,
  SignMandateInput,
} from './conversations.ts';
export {
  ConversationsClient,
  conversationKey,
  conversationTools,
  mandateTarget,
  openConversationMessage,
  sealConversationMessage,
  signMandate,
} from './conversations.ts';
export type { ErrorCode, ErrorDetail, ZhifuErrorInit } from './errors.ts';
export {
  errorCodes,
  ZhifuApiError,
  ZhifuConnectionError,
  ZhifuError,
  ZhifuSignatureError,
} from './errors.ts';
export type {
  AckFrame,
  ClientFrame,
  DecidedBy,
  DecisionAnswer,
  DecisionFrame,
  DecisionRequiredData,
  DecisionRequiredEvent,
  DecisionResultFrame,
  DecisionState,
  ErrorFrame,
  EventFrame,
  EventOfType,
  EventType,
  HelloFrame,
  MerchantFrozenData,
  MerchantFrozenEvent,
  PaymentBlockedEvent,
  PaymentDecision,
  PaymentEventData,
  PaymentManualReviewEvent,
  PaymentReleasedEvent,
  PaymentSucceededEvent,
  RefundAbnormalEvent,
  RefundClosedEvent,
  RefundSucceededEvent,
  RiskBatchCompletedData,
  RiskBatchCompletedEvent,
  RiskBatchFailedData,
  RiskBatchFailedEvent,
  RiskLevel,
  RiskReason,
  RiskSummary,
  ServerFrame,
  ZhifuEvent,
} from './events.ts';
export {
  decisionAnswers,
  eventTypes,
  isPaymentEvent,
  notificationCloseCodes,
  verifyEventFrame,
} from './events.ts';
export type {
  CallbackAttempt,
  CallbackRecord,
  ConnectedInfo,
  DecisionInfo,
  DisconnectedInfo,
  NotificationClientEvents,
  NotificationClientOptions,
  NotificationSettings,
} from './notifications.ts';
export { NotificationClient } from './notifications.ts';
export type {
  ClosedSandboxInstrument,
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
  nonceMaxLength,
  rsaAuthorization,
  signatureWindowSeconds,
  signHmac,
  signRsa,
} from './signing.ts';
export type * from './types.ts';
export type { WsConnectOptions, WsEvents, WsReadyState } from './ws.ts';
export { WsConnection, WsHandshakeError, wsCloseCodes } from './ws.ts';
