export {
  type AccountKind,
  audit,
  balanceOf,
  balancesOf,
  ensureAccount,
  type JournalInput,
  type LedgerAudit,
  lockInOrder,
  openAccount,
  type Posting,
  post,
} from './ledger.service.ts';
