import { HadbError, errorGuard } from '@hadb/io';
import { StorageError } from '@hadb/storage';

/**
 * Stable codes of {@link StorageAgeError}. Match on these, never on messages. Contract-level
 * failures (closed, aborted, unsafe key, unsupported) keep the storage contract's
 * `StorageError` codes (`HADB_STORAGE_CLOSED`, `HADB_STORAGE_ABORTED`, …) so code written against
 * any `StorageBackend` keeps working through the wrapper.
 */
export type StorageAgeErrorCode =
  /** Bad options at construction: no recipients, an unparsable key, mixed X25519 and post-quantum recipients, … */
  | 'HADB_STORAGE_AGE_INVALID_CONFIG'
  /** The stored object is not age ciphertext (e.g. plaintext written around the wrapper). Never returned as data. */
  | 'HADB_STORAGE_AGE_NOT_ENCRYPTED'
  /** The object is age ciphertext, but none of the configured identities can open it. */
  | 'HADB_STORAGE_AGE_WRONG_KEY'
  /** The ciphertext failed authentication: truncated, extended, or a byte changed (header, MAC or payload). */
  | 'HADB_STORAGE_AGE_CORRUPT'
  /** The object is bound to a different object key: it was copied or moved inside the bucket. */
  | 'HADB_STORAGE_AGE_KEY_MISMATCH'
  /** The object opens with our identity but carries no key binding (encrypted by another age client) and `acceptUnbound` is off. */
  | 'HADB_STORAGE_AGE_UNBOUND';

/**
 * Errors of `@hadb/storage-age`. Messages name the object key and the reason, never key material
 * (identities, file keys, stream keys).
 */
export class StorageAgeError extends HadbError<StorageAgeErrorCode> {
  override readonly name = 'StorageAgeError';
}

/** True for a {@link StorageAgeError}, optionally with the given code (works across duplicate installs). */
export const isStorageAgeError = errorGuard<StorageAgeError>('StorageAgeError');

/** The contract's `HADB_STORAGE_ABORTED` for a fired signal (the io helpers' error factory). */
export const storageAborted = (message: string, cause?: unknown): StorageError =>
  new StorageError('HADB_STORAGE_ABORTED', message, { cause });

/** The INVALID_CONFIG error factory for `configChecker`. */
export const invalidConfig = (message: string, cause?: unknown): StorageAgeError =>
  new StorageAgeError('HADB_STORAGE_AGE_INVALID_CONFIG', message, { cause });

/** A `HADB_STORAGE_AGE_CORRUPT` error naming the object key. */
export function corrupt(key: string, what: string, cause?: unknown): StorageAgeError {
  return new StorageAgeError('HADB_STORAGE_AGE_CORRUPT', `object ${JSON.stringify(key)}: ${what}`, { cause });
}
