export {
  HaDuck,
  type HaDuckEvents,
  type HaDuckRole,
  type HaDuckStats,
  type QueryOptions,
  type WriteOptions,
} from './ha-duck.js';
export type { HaDuckOptions } from './options.js';
export { HaDuckError, isHaDuckError, type HaDuckErrorCode } from './errors.js';
export type { ExecuteResult, QueryResult } from './sql.js';
export type { Transaction } from './leader-engine.js';
export type { AppliedInfo } from './replication.js';
export { fromWire, toWire, type HaParam, type HaParams, type HaValue, type WireValue } from './values.js';
export { PATHS as FORWARDING_PATHS, type Durability } from './forwarding/protocol.js';
export { DEFAULT_FORWARD_DELAYS_MS } from './forwarding/client.js';
