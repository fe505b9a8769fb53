import { describe, expect, it } from 'vitest';
import { LEASE_LIMITS, decodeLeaseData, encodeLeaseData, isLeaseError, isLeaseExpired } from '../src/index.js';

const text = (b: Uint8Array) => new TextDecoder().decode(b);
const bytes = (s: string) => new TextEncoder().encode(s);

describe('LeaseData codec', () => {
  it('re-serialises the Rust interop fixture byte-identically', () => {
    const fixture =
      '{"instance_id":"iid-interop","address":"cinchfs://host","claimed_at":1700000000,"ttl_secs":30,"session_id":"sid-interop","sleeping":false}';
    const lease = decodeLeaseData(bytes(fixture));
    expect(lease).toEqual({
      instanceId: 'iid-interop',
      address: 'cinchfs://host',
      claimedAt: 1700000000,
      ttlSecs: 30,
      sessionId: 'sid-interop',
      sleeping: false,
    });
    expect(text(encodeLeaseData(lease))).toBe(fixture);
  });

  it('parses the minimal legacy record with Rust defaults', () => {
    const lease = decodeLeaseData(bytes('{"instance_id":"i","claimed_at":100,"ttl_secs":5}'));
    expect(lease).toEqual({ instanceId: 'i', address: '', claimedAt: 100, ttlSecs: 5, sessionId: '', sleeping: false });
  });

  it('appends epoch and nonce after the Rust fields and round-trips them', () => {
    const lease = {
      instanceId: 'a',
      address: 'http://x',
      claimedAt: 1,
      ttlSecs: 5,
      sessionId: 's',
      sleeping: true,
      epoch: 7,
      nonce: 'n1',
    };
    const encoded = text(encodeLeaseData(lease));
    expect(encoded).toBe(
      '{"instance_id":"a","address":"http://x","claimed_at":1,"ttl_secs":5,"session_id":"s","sleeping":true,"epoch":7,"nonce":"n1"}',
    );
    expect(decodeLeaseData(bytes(encoded))).toEqual(lease);
  });

  it('ignores unknown fields like serde', () => {
    expect(decodeLeaseData(bytes('{"instance_id":"i","claimed_at":1,"ttl_secs":2,"extra":[1]}')).instanceId).toBe('i');
  });

  it.each([
    ['not json', 'nope'],
    ['array', '[]'],
    ['missing instance_id', '{"claimed_at":1,"ttl_secs":2}'],
    ['negative claimed_at', '{"instance_id":"i","claimed_at":-1,"ttl_secs":2}'],
    ['fractional ttl', '{"instance_id":"i","claimed_at":1,"ttl_secs":2.5}'],
    ['string epoch', '{"instance_id":"i","claimed_at":1,"ttl_secs":2,"epoch":"3"}'],
  ])('rejects %s with HADB_LEASE_CORRUPT', (_name, input) => {
    let caught: unknown;
    try {
      decodeLeaseData(bytes(input));
    } catch (e) {
      caught = e;
    }
    expect(isLeaseError(caught, 'HADB_LEASE_CORRUPT')).toBe(true);
  });

  it('rejects invalid UTF-8', () => {
    expect(() => decodeLeaseData(new Uint8Array([0x7b, 0xff, 0x7d]))).toThrow(/UTF-8/);
  });

  it('expires at claimed_at + ttl_secs (Rust rule)', () => {
    const lease = decodeLeaseData(bytes('{"instance_id":"i","claimed_at":100,"ttl_secs":5}'));
    expect(isLeaseExpired(lease, 104)).toBe(false);
    expect(isLeaseExpired(lease, 105)).toBe(true);
  });
});

describe('LeaseData limits', () => {
  const base = { instanceId: 'i', address: '', claimedAt: 100, ttlSecs: 5, sessionId: 's', sleeping: false };
  const code = (fn: () => unknown): string => {
    try {
      fn();
      return 'ok';
    } catch (error) {
      return isLeaseError(error) ? error.code : String(error);
    }
  };

  it('accepts values at the caps and refuses values past them, on encode and on decode', () => {
    expect(
      code(() => encodeLeaseData({ ...base, ttlSecs: LEASE_LIMITS.maxTtlSecs, epoch: LEASE_LIMITS.maxEpoch })),
    ).toBe('ok');
    expect(code(() => encodeLeaseData({ ...base, ttlSecs: LEASE_LIMITS.maxTtlSecs + 1 }))).toBe('HADB_LEASE_CORRUPT');
    expect(code(() => encodeLeaseData({ ...base, epoch: LEASE_LIMITS.maxEpoch + 1 }))).toBe('HADB_LEASE_CORRUPT');
    expect(code(() => encodeLeaseData({ ...base, instanceId: 'x'.repeat(LEASE_LIMITS.maxTextChars + 1) }))).toBe(
      'HADB_LEASE_CORRUPT',
    );
    const json = (fields: string): Uint8Array =>
      new TextEncoder().encode(`{"instance_id":"i","claimed_at":1,${fields}}`);
    expect(decodeLeaseData(json(`"ttl_secs":${LEASE_LIMITS.maxTtlSecs}`)).ttlSecs).toBe(LEASE_LIMITS.maxTtlSecs);
    expect(code(() => decodeLeaseData(json(`"ttl_secs":${LEASE_LIMITS.maxTtlSecs + 1}`)))).toBe('HADB_LEASE_CORRUPT');
    expect(code(() => decodeLeaseData(json(`"ttl_secs":5,"epoch":${LEASE_LIMITS.maxEpoch + 1}`)))).toBe(
      'HADB_LEASE_CORRUPT',
    );
    expect(
      code(() => decodeLeaseData(json(`"ttl_secs":5,"nonce":"${'n'.repeat(LEASE_LIMITS.maxTextChars + 1)}"`))),
    ).toBe('HADB_LEASE_CORRUPT');
  });

  it('refuses a record larger than maxRecordBytes before parsing it', () => {
    const padded = new TextEncoder().encode(
      `{"instance_id":"i","claimed_at":1,"ttl_secs":5,"pad":"${'p'.repeat(LEASE_LIMITS.maxRecordBytes)}"}`,
    );
    expect(code(() => decodeLeaseData(padded))).toBe('HADB_LEASE_CORRUPT');
    // The same record without the padding field is fine: the size alone decided.
    expect(
      code(() => decodeLeaseData(new TextEncoder().encode('{"instance_id":"i","claimed_at":1,"ttl_secs":5}'))),
    ).toBe('ok');
  });
});
