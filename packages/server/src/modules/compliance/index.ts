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
  consentsOf,
  dataKeyMatches,
  recordConsent,
  recordTransfer,
  transferSummary,
} from './pipl.service.ts';
