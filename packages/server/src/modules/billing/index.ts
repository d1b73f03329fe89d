export {
  type BillQuery,
  buildFundFlowBill,
  buildTradeBill,
  downloadBill,
  type FundAccountType,
  requestBill,
  type TradeBillType,
} from './bills.service.ts';
export {
  type AiEligibility,
  aiEligibility,
  aiGate,
  eligibility_window,
  type GrantInput,
  insertGrantForFixture,
  merchantEligibility,
  requireAiEligibility,
  setAiEligibilityGrant,
} from './eligibility.service.ts';
export {
  type CaptureFeeInput,
  chargeProcessingFee,
  feesAccountId,
  feesDueAccountId,
  type RefundFeeInput,
  returnProcessingFee,
} from './fees.service.ts';
export {
  conversationTiers,
  type Metered,
  type MeterInput,
  meter,
  setConversationTiers,
  type UsageLine,
  type UsageView,
  usageOf,
} from './metering.service.ts';
export { chinaMonth, monthRange } from './periods.ts';
export {
  type ConversationTier,
  conversationUnitPrice,
  default_conversation_tiers,
  llm_tokens_per_unit,
  llmUnits,
  processing_fee_rate,
  type UsageKind,
  unit_price_fen,
} from './prices.ts';
export { type SeededHistory, seedDemoHistory } from './seed.service.ts';
export { type Statement, statement, statementCsv } from './statements.service.ts';
