export type { CasResult, OpOptions } from '@hadb/storage';
export type { LeaseCapabilities, LeaseRecord, LeaseStore } from './store.js';
export { LeaseError, isLeaseError, type LeaseErrorCode } from './errors.js';
export { decodeLeaseData, encodeLeaseData, isLeaseExpired, type LeaseData } from './lease-data.js';
