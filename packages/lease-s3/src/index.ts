export {
  DEFAULT_S3_LEASE_REQUEST_TIMEOUT_MS,
  S3_LEASE_TIMING,
  S3LeaseStore,
  type S3LeaseStoreOptions,
} from './s3-lease-store.js';
