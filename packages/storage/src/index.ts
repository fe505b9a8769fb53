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
  HADB_ERROR_BRAND,
  StorageError,
  isHadbError,
  isStorageError,
  throwIfAborted,
  type StorageErrorCode,
  type StorageErrorOptions,
} from './errors.js';
export { MAX_KEY_BYTES, assertSafeDbName, assertSafeKey, assertSafePrefix, keyUnder } from './key-safety.js';
export { compareKeys } from './compare-keys.js';
export { listAll } from './list-all.js';
export { abortError, abortable, raceAbort } from './abortable.js';
