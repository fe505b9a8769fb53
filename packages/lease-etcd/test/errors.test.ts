import { isLeaseError } from '@hadb/lease';
import { GRPCDeadlineExceededError } from 'etcd3';
import { describe, expect, it } from 'vitest';
import { toLeaseError } from '../src/errors.js';

describe('toLeaseError', () => {
  it('a write whose gRPC deadline fired is AMBIGUOUS caused by a TIMEOUT, as when the call deadline wins', () => {
    const err = toLeaseError(new GRPCDeadlineExceededError('deadline exceeded'), 'writeIfMatch', true);
    expect(isLeaseError(err, 'HADB_LEASE_AMBIGUOUS')).toBe(true);
    expect(isLeaseError((err as Error).cause, 'HADB_LEASE_TIMEOUT')).toBe(true);
  });

  it('a read whose gRPC deadline fired is a TIMEOUT', () => {
    const err = toLeaseError(new GRPCDeadlineExceededError('deadline exceeded'), 'read', false);
    expect(isLeaseError(err, 'HADB_LEASE_TIMEOUT')).toBe(true);
  });
});
