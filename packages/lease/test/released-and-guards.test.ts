import { raceAbort, throwIfAborted } from '@hadb/io';
import { describe, expect, it } from 'vitest';
import {
  leaseAborted,
  assertLeaseKey,
  assertLeasePrefix,
  assertLeaseScope,
  decodeLeaseData,
  encodeLeaseData,
  isLeaseError,
  isLeaseExpired,
  isLeaseReleased,
  newLeaseNonce,
  releasedLeaseData,
  type LeaseData,
} from '../src/index.js';

const text = (b: Uint8Array) => new TextDecoder().decode(b);
const held: LeaseData = {
  instanceId: 'node-a',
  address: 'http://a:8080',
  claimedAt: 1_700_000_000,
  ttlSecs: 5,
  sessionId: 'sess-1',
  sleeping: true,
  epoch: 9,
  nonce: 'n-1',
};

function codeOf(action: () => unknown): string {
  try {
    action();
    return 'returned';
  } catch (error) {
    return isLeaseError(error) ? error.code : String(error);
  }
}

describe('released records', () => {
  it('keep holder, session and epoch; zero the times; clear sleeping; take a fresh nonce', () => {
    const released = releasedLeaseData(held);
    expect(released).toMatchObject({
      instanceId: 'node-a',
      address: 'http://a:8080',
      sessionId: 'sess-1',
      epoch: 9,
      claimedAt: 0,
      ttlSecs: 0,
      sleeping: false,
      released: true,
    });
    expect(released.nonce).not.toBe('n-1');
    expect(isLeaseReleased(released)).toBe(true);
    expect(isLeaseExpired(released, 0)).toBe(true);
  });

  it('serialise `released` between epoch and nonce, and round-trip', () => {
    const released = { ...releasedLeaseData(held), nonce: 'n-2' };
    const json = text(encodeLeaseData(released));
    expect(json).toBe(
      '{"instance_id":"node-a","address":"http://a:8080","claimed_at":0,"ttl_secs":0,"session_id":"sess-1","sleeping":false,"epoch":9,"released":true,"nonce":"n-2"}',
    );
    expect(decodeLeaseData(new TextEncoder().encode(json))).toEqual(released);
  });

  it('are expired for Rust readers, which only know claimed_at + ttl_secs', () => {
    const json = JSON.parse(text(encodeLeaseData(releasedLeaseData(held)))) as { claimed_at: number; ttl_secs: number };
    expect(json.claimed_at + json.ttl_secs).toBe(0);
  });

  it('omit `released` when false and reject a non-boolean one', () => {
    expect(text(encodeLeaseData({ ...held, released: false }))).not.toContain('released');
    expect(decodeLeaseData(encodeLeaseData(held)).released).toBeUndefined();
    const bad = new TextEncoder().encode('{"instance_id":"i","claimed_at":1,"ttl_secs":2,"released":"yes"}');
    expect(codeOf(() => decodeLeaseData(bad))).toBe('HADB_LEASE_CORRUPT');
  });

  it('a live record is not released', () => {
    expect(isLeaseReleased(held)).toBe(false);
    expect(isLeaseExpired(held, 1_700_000_004)).toBe(false);
  });
});

describe('nonces', () => {
  it('do not repeat', () => {
    expect(new Set(Array.from({ length: 10_000 }, newLeaseNonce)).size).toBe(10_000);
  });
});

describe('guards', () => {
  it('accept safe scopes, keys and prefixes and reject unsafe ones with HADB_LEASE_INVALID_KEY', () => {
    expect(assertLeaseScope('db-1.v2_x')).toBe('db-1.v2_x');
    expect(assertLeaseKey('a/db/_lease.json')).toBe('a/db/_lease.json');
    expect(assertLeasePrefix('')).toBe('');
    expect(assertLeasePrefix('a/b/')).toBe('a/b/');
    for (const scope of ['', '../x', 'a/b', '.h', 'a..b'])
      expect(codeOf(() => assertLeaseScope(scope))).toBe('HADB_LEASE_INVALID_KEY');
    for (const key of ['', '../x', '/a', 'a\u0000'])
      expect(codeOf(() => assertLeaseKey(key))).toBe('HADB_LEASE_INVALID_KEY');
    for (const prefix of ['a', '/a/', '../a/'])
      expect(codeOf(() => assertLeasePrefix(prefix))).toBe('HADB_LEASE_INVALID_KEY');
  });

  it('leaseAborted gives HADB_LEASE_ABORTED through io helpers, with the reason as cause', async () => {
    const controller = new AbortController();
    controller.abort('stop');
    let thrown: unknown;
    try {
      throwIfAborted(controller.signal, leaseAborted);
    } catch (error) {
      thrown = error;
    }
    expect(isLeaseError(thrown, 'HADB_LEASE_ABORTED')).toBe(true);
    expect((thrown as Error).cause).toBe('stop');
    const pending = new AbortController();
    const never = raceAbort(new Promise<never>(() => undefined), pending.signal, leaseAborted);
    pending.abort();
    await expect(never).rejects.toMatchObject({ name: 'LeaseError', code: 'HADB_LEASE_ABORTED' });
  });
});
