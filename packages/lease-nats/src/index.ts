export {
  DEFAULT_NATS_LEASE_BUCKET,
  DEFAULT_NATS_REQUEST_TIMEOUT_MS,
  NatsLeaseStore,
  type NatsLeaseStoreOptions,
} from './nats-lease-store.js';
export { assertNatsBucket, assertNatsKey } from './keys.js';
