export { sandboxPayers } from './fixtures.ts';
export {
  type Authorization,
  authorize,
  ensureSandboxPayers,
  type InstrumentView,
  instrumentById,
  instrumentsOf,
  issuer_account_id,
  payerById,
} from './wallet.service.ts';
