export { S3LeaseStore, type S3LeaseStoreOptions } from './s3-lease-store.js';
