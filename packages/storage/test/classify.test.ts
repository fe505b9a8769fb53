import { type ErrorClass, classifyError } from '@hadb/io';
import { describe, expect, it } from 'vitest';
import { StorageError, type StorageErrorCode } from '../src/index.js';

describe('classifyError on StorageError', () => {
  it('maps every StorageError code by its type, not its message', () => {
    const expected: Record<StorageErrorCode, ErrorClass> = {
      HADB_STORAGE_INVALID_KEY: 'client',
      HADB_STORAGE_UNAVAILABLE: 'transient',
      HADB_STORAGE_AMBIGUOUS: 'unknown',
      HADB_STORAGE_TIMEOUT: 'transient',
      HADB_STORAGE_AUTH: 'auth',
      HADB_STORAGE_REJECTED: 'client',
      HADB_STORAGE_UNSUPPORTED: 'client',
      HADB_STORAGE_PARTIAL_FAILURE: 'unknown',
      HADB_STORAGE_IO: 'unknown',
      HADB_STORAGE_PROTOCOL: 'unknown',
      HADB_STORAGE_ABORTED: 'aborted',
      HADB_STORAGE_CLOSED: 'client',
      HADB_STORAGE_INVALID_CONFIG: 'client',
    };
    for (const [code, cls] of Object.entries(expected)) {
      // A misleading message must not change the outcome.
      expect([code, classifyError(new StorageError(code as StorageErrorCode, 'timeout 503 connection reset'))]).toEqual(
        [code, cls],
      );
    }
  });

  it('uses the status of a StorageError whose code is not decisive', () => {
    expect(classifyError(new StorageError('HADB_STORAGE_PARTIAL_FAILURE', 'x', { status: 503 }))).toBe('throttled');
    expect(classifyError(new StorageError('HADB_STORAGE_PROTOCOL', 'x', { status: 500 }))).toBe('transient');
  });
});
