import { type ErrorClass, classifyError } from '@hadb/io';
import { describe, expect, it } from 'vitest';
import { LeaseError, type LeaseErrorCode } from '../src/index.js';

describe('classifyError on LeaseError', () => {
  it('maps every LeaseError code', () => {
    const expected: Record<LeaseErrorCode, ErrorClass> = {
      HADB_LEASE_UNAVAILABLE: 'transient',
      HADB_LEASE_AMBIGUOUS: 'unknown',
      HADB_LEASE_TIMEOUT: 'transient',
      HADB_LEASE_AUTH: 'auth',
      HADB_LEASE_CORRUPT: 'unknown',
      HADB_LEASE_INVALID_ETAG: 'client',
      HADB_LEASE_UNSUPPORTED: 'client',
      HADB_LEASE_INVALID_KEY: 'client',
      HADB_LEASE_ABORTED: 'aborted',
      HADB_LEASE_CLOSED: 'client',
      HADB_LEASE_INVALID_CONFIG: 'client',
    };
    for (const [code, cls] of Object.entries(expected)) {
      expect([code, classifyError(new LeaseError(code as LeaseErrorCode, 'x'))]).toEqual([code, cls]);
    }
  });
});
