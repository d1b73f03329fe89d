export { type InstrumentKind, sandboxPayers } from './fixtures.ts';
export {
  type Authorization,
  authorize,
  type ClosedInstrument,
  closeInstrument,
  createSimulatedPayer,
  ensureSandboxPayers,
  type InstrumentView,
  instrumentById,
  instrumentsOf,
  issuer_account_id,
  payerById,
  type SimulatedPayer,
  type SimulatedPayerInput,
  simulatedPayerId,
} from './wallet.service.ts';
