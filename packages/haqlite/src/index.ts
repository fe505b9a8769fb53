export {
  HaQLite,
  type HaQLiteEvents,
  type HaQLiteRole,
  type HaQLiteStats,
  type QueryOptions,
  type WriteOptions,
} from './ha-qlite.js';
export { DEFAULT_GROUP_COMMIT_MS, type HaQLiteOptions } from './options.js';
export { HaQLiteError, isHaQLiteError, type HaQLiteErrorCode } from './errors.js';
export { rowObjects, type Statement, type StatementResult } from './sql.js';
export type { SyncTransaction, Transaction } from './leader.js';
export { sqliteEngine, type SqliteEngineOptions } from './engine.js';
export { sqliteWire, type SqliteRead, type SqliteWrite, type WriteResults } from './wire.js';
export type { SqlParam, SqlParams, SqlValue, WireValue } from './values.js';
/** The HA layer's errors and protocol constants, re-exported for haqlite users. */
export {
  DEFAULT_FORWARD_DELAYS_MS,
  HaError,
  isHaError,
  type Durability,
  type HaErrorCode,
  type HaLeaseOptions,
} from '@hadb/ha';
export { serve, type HranaServer, type ServeOptions } from './hrana/server.js';
