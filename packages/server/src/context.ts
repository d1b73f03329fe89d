/**
 * What every service receives: the database and the ports (STYLE.md rule 11). Built once by
 * buildApp (or by ops commands) and passed down; no module reads globals or the environment.
 */
import type { Db, Dialect } from './db/database.ts';
import type { Clock } from './lib/clock.ts';
import type { Keyring } from './lib/crypto/index.ts';
import type { Ids } from './lib/ids.ts';

export interface Ctx {
  readonly db: Db;
  readonly dialect: Dialect;
  readonly clock: Clock;
  readonly ids: Ids;
  /** Base URL printed in credentials and used in h5_url / cashier links. */
  readonly publicUrl: string;
  /** Key-encryption keys for personal information at rest (SM4 envelope, lib/crypto/envelope.ts). */
  readonly keys: DataKeys;
}

export interface DataKeys {
  /** The key id new records are sealed under. */
  readonly current: string;
  readonly keyring: Keyring;
}

/** A single-key ring, e.g. from ZHIFU_MASTER_KEY or a test's random key. */
export function dataKeys(id: string, key: Uint8Array): DataKeys {
  return { current: id, keyring: new Map([[id, key]]) };
}
