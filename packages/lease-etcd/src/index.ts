export {
  DEFAULT_ETCD_LEASE_PREFIX,
  DEFAULT_ETCD_REQUEST_TIMEOUT_MS,
  EtcdLeaseStore,
  type EtcdLeaseStoreOptions,
} from './etcd-lease-store.js';
