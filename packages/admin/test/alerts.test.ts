import { CircuitBreaker, HadbError, IoError } from '@hadb/io';
import { ManualClock } from '@hadb/testkit';
import { describe, expect, it } from 'vitest';
import { alertOf, EventThrottle } from '../src/index.js';

class TestError extends HadbError<string> {
  override readonly name = 'TestError';
}

describe('alertOf', () => {
  it('maps failures to events through the cause chain', () => {
    const breaker = new CircuitBreaker({ threshold: 1 });
    breaker.settle(breaker.tryAcquire()!, 'failure');
    const open = new TestError('HADB_STORAGE_UNAVAILABLE', 'refused', { cause: breaker.openError(new Error('x')) });
    expect(alertOf(open)).toBe('circuit_breaker_open');
    expect(alertOf(new TestError('HADB_STORAGE_AUTH', 'denied'))).toBe('auth_failure');
    expect(alertOf(new TestError('HADB_LEASE_AUTH', 'denied'))).toBe('auth_failure');
    expect(alertOf(new TestError('HADB_STORAGE_AGE_WRONG_KEY', 'no'))).toBe('auth_failure');
    const io = new TestError('HADB_CHANGESET_IO', 'read failed', {
      cause: new TestError('HADB_CHANGESET_CHECKSUM_MISMATCH', 'bad'),
    });
    expect(alertOf(io)).toBe('corruption_detected');
    expect(alertOf(new TestError('HADB_DUCKBLOCK_CORRUPT', 'bad'))).toBe('corruption_detected');
    expect(alertOf(new TestError('HADB_STORAGE_UNAVAILABLE', 'down'))).toBeUndefined();
    expect(alertOf(new IoError('HADB_IO_ABORTED', 'aborted'))).toBeUndefined();
    expect(alertOf(new Error('plain'))).toBeUndefined();
    expect(alertOf(undefined)).toBeUndefined();
  });
});

describe('EventThrottle', () => {
  it('lets one event per type and database through per window and counts the ones held back', async () => {
    const clock = new ManualClock();
    const t = new EventThrottle(clock, 60_000);
    const e = { type: 'auth_failure' as const, db: 'a' };
    expect(t.pass(e)).toEqual(e);
    expect(t.pass(e)).toBeUndefined();
    expect(t.pass(e)).toBeUndefined();
    expect(t.pass({ type: 'auth_failure', db: 'b' })).toBeDefined();
    expect(t.pass({ type: 'corruption_detected', db: 'a' })).toBeDefined();
    await clock.advance(59_999);
    expect(t.pass(e)).toBeUndefined();
    await clock.advance(1);
    expect(t.pass(e)).toEqual({ ...e, context: { suppressed: 3 } });
    await clock.advance(60_000);
    expect(t.pass(e)).toEqual(e);
  });
});
