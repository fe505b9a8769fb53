import { assertSafeDbName, assertSafeKey, assertSafePrefix, isStorageError } from '@hadb/storage';
import { LeaseError } from './errors.js';

function asLeaseError(fn: () => string): string {
  try {
    return fn();
  } catch (error) {
    if (isStorageError(error, 'HADB_STORAGE_INVALID_KEY')) {
      throw new LeaseError('HADB_LEASE_INVALID_KEY', error.message, { cause: error });
    }
    throw error;
  }
}

/**
 * Checks a lease scope (a database name) against the allow-list
 * `[A-Za-z0-9][A-Za-z0-9._-]{0,127}` without `..`. Returns it; throws `HADB_LEASE_INVALID_KEY`.
 * Every `keyFor` runs this before building a key.
 */
export function assertLeaseScope(scope: string): string {
  return asLeaseError(() => assertSafeDbName(scope));
}

/**
 * Checks a lease key handed to `read`/`writeIfNotExists`/`writeIfMatch`/`delete`: non-empty, no
 * leading `/`, no backslash, no control characters, no `.`/`..`/empty path segments, at most
 * 1024 bytes. Returns it; throws `HADB_LEASE_INVALID_KEY`. Backends add their own rules on top.
 */
export function assertLeaseKey(key: string): string {
  return asLeaseError(() => assertSafeKey(key));
}

/**
 * Checks a key prefix: `""` or a safe path ending in `/`. Returns it; throws
 * `HADB_LEASE_INVALID_KEY`.
 */
export function assertLeasePrefix(prefix: string): string {
  asLeaseError(() => assertSafePrefix(prefix));
  if (prefix !== '' && !prefix.endsWith('/')) {
    throw new LeaseError('HADB_LEASE_INVALID_KEY', 'prefix rejected: must be empty or end with "/"');
  }
  return prefix;
}
