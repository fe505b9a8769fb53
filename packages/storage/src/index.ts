export type {
  CasResult,
  GetStreamOptions,
  ListOptions,
  ListPage,
  ListPageOptions,
  ObjectInfo,
  ObjectStream,
  OpOptions,
  PutStreamOptions,
  PutStreamResult,
  StorageBackend,
  StorageCapabilities,
  StoredObject,
} from './backend.js';
export {
  STORAGE_DEADLINE,
  StorageError,
  isStorageError,
  storageAborted,
  storageInvalidConfig,
  type StorageErrorCode,
  type StorageErrorOptions,
} from './errors.js';
// Re-exported so packages that predate `@hadb/io` keep compiling; new code imports them from `@hadb/io`.
export { HADB_ERROR_BRAND, isHadbError } from '@hadb/io';
export { MAX_KEY_BYTES, assertSafeDbName, assertSafeKey, assertSafePrefix, keyUnder } from './key-safety.js';
export { compareKeys } from './compare-keys.js';
export { listAll } from './list-all.js';
export { ChunkPool, type ChunkPoolOptions } from './chunk-pool.js';
