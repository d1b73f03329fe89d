export {
  assertNotFrozen,
  assertNotFrozenAt,
  type FreezeReason,
  freeze,
  listFreezes,
  type ReviewAction,
  reviewFreeze,
  type Screened,
  screenOrderTexts,
} from './compliance.service.ts';
export { screen } from './detector/index.ts';
export {
  adoptDataKey,
  consentsOf,
  recordConsent,
  recordedDataKey,
  recordTransfer,
  transferSummary,
} from './pipl.service.ts';
