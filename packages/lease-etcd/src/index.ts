export { DEFAULT_ETCD_LEASE_PREFIX, EtcdLeaseStore, type EtcdLeaseStoreOptions } from './etcd-lease-store.js';
