export {
  HaDuck,
  type HaDuckEvents,
  type HaDuckRole,
  type HaDuckStats,
  type QueryOptions,
  type WriteOptions,
} from './ha-duck.js';
export { DEFAULT_GROUP_COMMIT_MS, type HaDuckOptions } from './options.js';
export { DuckSharedInstance, type DuckSharedInstanceOptions } from './shared-instance.js';
export { HaDuckError, isHaDuckError, type HaDuckErrorCode } from './errors.js';
export type { DuckLimits, ExecuteResult, QueryResult } from './sql.js';
export { DEFAULT_DUCK_LIMITS } from './sql.js';
export type { Transaction } from './duck-leader.js';
export { duckEngine, type DuckEngineOptions } from './duck-engine.js';
export { PATHS as FORWARDING_PATHS, duckWire, type DuckRead, type DuckWrite } from './wire.js';
export { fromWire, toWire, type HaParam, type HaParams, type HaValue, type WireValue } from './values.js';
/** The HA layer's errors, events and protocol constants, re-exported for haduck users. */
export {
  DEFAULT_FORWARD_DELAYS_MS,
  HaError,
  isHaError,
  type AppliedInfo,
  type Durability,
  type HaErrorCode,
  type HaLeaseOptions,
} from '@hadb/ha';
