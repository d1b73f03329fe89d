export {
  type AccountKind,
  audit,
  balanceOf,
  balancesOf,
  type JournalInput,
  type LedgerAudit,
  lockInOrder,
  openAccount,
  type Posting,
  post,
} from './ledger.service.ts';
