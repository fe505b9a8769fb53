export { MemBucket, type MemObject } from './mem-bucket.js';
export { MemStorageBackend, type MemStorageOptions } from './mem-storage.js';
