export { MemLeaseStore, type MemLeaseStoreOptions } from './mem-lease-store.js';
