export {
  type AccountKind,
  audit,
  balanceOf,
  balancesOf,
  type JournalInput,
  type LedgerAudit,
  openAccount,
  type Posting,
  post,
} from './ledger.service.ts';
