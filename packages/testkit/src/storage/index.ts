export { storageBackendSuite } from './suite.js';
export type { StorageBackendSuiteOptions, StorageSuiteGroup } from './options.js';
export { UNSAFE_KEYS } from './suite-guards.js';
export {
  TEARABLE_OPERATIONS,
  WRITE_OPERATIONS,
  withFaults,
  type FaultCount,
  type FaultCounters,
  type FaultOptions,
  type FaultSettings,
  type FaultyStorageBackend,
  type StorageOperation,
} from './faults.js';
export { Prng } from '../prng.js';
export {
  S3_REQUEST_PRICES,
  countRequests,
  dollarsPerMonth,
  type CountingStorage,
  type RequestCount,
} from './counting.js';
export { atChunk, tapStreams, type StreamTaps } from './tap.js';
export { holdReads, type HeldRead, type HeldReads } from './hold.js';
