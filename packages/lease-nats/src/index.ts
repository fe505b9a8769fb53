export { DEFAULT_NATS_LEASE_BUCKET, NatsLeaseStore, type NatsLeaseStoreOptions } from './nats-lease-store.js';
export { assertNatsBucket, assertNatsKey } from './keys.js';
