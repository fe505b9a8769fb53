export type { CasResult, OpOptions } from '@hadb/storage';
export type { LeaseCapabilities, LeaseRecord, LeaseStore, LeaseTimingRecommendation } from './store.js';
export {
  LEASE_DEADLINE,
  LeaseError,
  isLeaseError,
  leaseAborted,
  leaseInvalidConfig,
  type LeaseErrorCode,
} from './errors.js';
export {
  LEASE_LIMITS,
  decodeLeaseData,
  encodeLeaseData,
  isLeaseExpired,
  isLeaseReleased,
  newLeaseNonce,
  releasedLeaseData,
  type LeaseData,
} from './lease-data.js';
export { assertLeaseKey, assertLeasePrefix, assertLeaseScope } from './guards.js';
export { releaseLease } from './release.js';
export { StorageLeaseStore, type StorageLeaseStoreOptions } from './storage-lease-store.js';
