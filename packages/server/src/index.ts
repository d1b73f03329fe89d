export { type AppDeps, buildApp } from './app.ts';
export { type Config, ConfigError, loadConfig } from './config.ts';
export type { Ctx } from './context.ts';
export { type DatabaseHandle, openDatabase } from './db/database.ts';
export { FakeClock, systemClock } from './lib/clock.ts';
export { catalog, wireCodes } from './lib/errors.ts';
export { cryptoIds, seededIds } from './lib/ids.ts';
