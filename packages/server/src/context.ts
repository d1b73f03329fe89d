/**
 * What every service receives: the database and the ports (STYLE.md rule 11). Built once by
 * buildApp (or by ops commands) and passed down; no module reads globals or the environment.
 */
import type { Db, Dialect } from './db/database.ts';
import type { Clock } from './lib/clock.ts';
import type { Ids } from './lib/ids.ts';

export interface Ctx {
  readonly db: Db;
  readonly dialect: Dialect;
  readonly clock: Clock;
  readonly ids: Ids;
  /** Base URL printed in credentials and used in h5_url / cashier links. */
  readonly publicUrl: string;
}
