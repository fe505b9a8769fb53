import { LEASE_LIMITS, StorageLeaseStore, decodeLeaseData } from '@hadb/lease';
import type { StorageBackend } from '@hadb/storage';
import { MemBucket, MemStorageBackend } from '@hadb/storage-mem';
import { leaseStoreSuite, leaseBytes } from '@hadb/testkit/lease';
import { withFaults } from '@hadb/testkit/storage';
import { describe, expect, it } from 'vitest';
import { codeOf } from '@hadb/testkit';

// StorageLeaseStore over the in-memory StorageBackend (one shared bucket, as several clients of
// one object store would see it). The same store over real S3 runs in s3-lease-store.test.ts.
const bucket = new MemBucket();

leaseStoreSuite({
  name: 'StorageLeaseStore over storage-mem',
  create: () => new StorageLeaseStore(new MemStorageBackend({ bucket }), { prefix: 'leases/', ownsBackend: true }),
  capabilities: { etagKind: 'opaque', monotonicEtags: false, serverSideExpiry: false, stampsNonce: true },
  keyLayout: [
    ['db1', 'leases/db1/_lease.json'],
    ['orders.v2_eu-1', 'leases/orders.v2_eu-1/_lease.json'],
  ],
});

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const bytes = (s: string) => new TextEncoder().encode(s);

/** The same backend, claiming its conditional writes are not atomic. */
function nonAtomic(backend: StorageBackend): StorageBackend {
  return new Proxy(backend, {
    get: (target, property) =>
      property === 'capabilities'
        ? { ...target.capabilities, atomicConditionalWrites: false }
        : (Reflect.get(target, property) as unknown),
  });
}

describe('StorageLeaseStore specifics', () => {
  it('refuses a record over LEASE_LIMITS.maxRecordBytes with HADB_LEASE_CORRUPT, reading at most one chunk past it', async () => {
    const backend = new MemStorageBackend({ streamChunkBytes: 4096 });
    let streamed = 0;
    const counting: StorageBackend = Object.assign(Object.create(backend) as StorageBackend, {
      getStream: async (key: string, options?: Parameters<StorageBackend['getStream']>[1]) => {
        const stream = await backend.getStream(key, options);
        if (stream === null) return null;
        async function* body(): AsyncGenerator<Uint8Array> {
          for await (const chunk of stream!.body) {
            streamed += chunk.length;
            yield chunk;
          }
        }
        return { ...stream, body: body() };
      },
    });
    await using store = new StorageLeaseStore(counting);
    const key = store.keyFor('db');
    await backend.put(key, new Uint8Array(4 * 1024 * 1024));
    expect(await codeOf(() => store.read(key))).toBe('HADB_LEASE_CORRUPT');
    expect(streamed).toBeLessThanOrEqual(4096);
    // A record within the limit reads back unchanged.
    await backend.put(key, leaseBytes('a'));
    const record = await store.read(key);
    expect(decodeLeaseData(record!.data).instanceId).toBe('a');
    expect(streamed).toBeLessThan(LEASE_LIMITS.maxRecordBytes);
  });

  it('refuses a backend without atomic conditional writes', async () => {
    expect(await codeOf(() => new StorageLeaseStore(nonAtomic(new MemStorageBackend())))).toBe(
      'HADB_LEASE_UNSUPPORTED',
    );
  });

  it('validates the prefix and keeps keys under it', async () => {
    expect(await codeOf(() => new StorageLeaseStore(new MemStorageBackend(), { prefix: 'no-slash' }))).toBe(
      'HADB_LEASE_INVALID_KEY',
    );
    expect(await codeOf(() => new StorageLeaseStore(new MemStorageBackend(), { prefix: '../up/' }))).toBe(
      'HADB_LEASE_INVALID_KEY',
    );
    await using store = new StorageLeaseStore(new MemStorageBackend(), { prefix: 'a/' });
    expect(store.keyFor('db')).toBe('a/db/_lease.json');
    expect(await codeOf(() => store.read('b/db/_lease.json'))).toBe('HADB_LEASE_INVALID_KEY');
    const unprefixed = new StorageLeaseStore(new MemStorageBackend());
    expect(unprefixed.keyFor('db')).toBe('db/_lease.json');
  });

  it('stamps a fresh nonce on every write, keeping every other field and their order', async () => {
    const backend = new MemStorageBackend();
    await using store = new StorageLeaseStore(backend);
    const key = store.keyFor('nonce');
    const given =
      '{"instance_id":"a","address":"","claimed_at":1,"ttl_secs":5,"session_id":"s","sleeping":false,"epoch":3,"nonce":"fixed","future_field":[1,{"x":2}]}';
    const created = await store.writeIfNotExists(key, bytes(given));
    if (!created.success) throw new Error('create failed');
    const first = text((await backend.get(key))!.data);
    const nonce1 = decodeLeaseData(bytes(first)).nonce!;
    expect(nonce1).not.toBe('fixed');
    expect(first).toBe(given.replace('"nonce":"fixed"', `"nonce":"${nonce1}"`));
    // The identical body written again is stored with another nonce, so its etag cannot repeat.
    const updated = await store.writeIfMatch(key, bytes(given), created.etag);
    if (!updated.success) throw new Error('update failed');
    const nonce2 = decodeLeaseData((await backend.get(key))!.data).nonce!;
    expect(nonce2).not.toBe(nonce1);
  });

  it('rejects a body that is not a lease record with HADB_LEASE_CORRUPT, writing nothing', async () => {
    const backend = new MemStorageBackend();
    await using store = new StorageLeaseStore(backend);
    const key = store.keyFor('garbage');
    for (const body of ['not json', '[]', '{"instance_id":"a"}', '\u00ff']) {
      expect(await codeOf(() => store.writeIfNotExists(key, bytes(body)))).toBe('HADB_LEASE_CORRUPT');
    }
    expect(await codeOf(() => store.writeIfMatch(key, new Uint8Array([0xff]), '1'))).toBe('HADB_LEASE_CORRUPT');
    expect(await backend.get(key)).toBeNull();
  });

  it('closes the backend only when it owns it', async () => {
    const shared = new MemStorageBackend();
    await new StorageLeaseStore(shared).close();
    expect(await shared.get('x')).toBeNull();
    const owned = new MemStorageBackend();
    await new StorageLeaseStore(owned, { ownsBackend: true }).close();
    await expect(owned.get('x')).rejects.toMatchObject({ code: 'HADB_STORAGE_CLOSED' });
  });

  it('maps a lost reply to HADB_LEASE_AMBIGUOUS and an outage to HADB_LEASE_UNAVAILABLE', async () => {
    const faulty = withFaults(new MemStorageBackend(), {
      seed: 1,
      lostReplies: 1,
      operations: ['putIfAbsent', 'putIfMatch'],
    });
    await using store = new StorageLeaseStore(faulty);
    const key = store.keyFor('faults');
    expect(await codeOf(() => store.writeIfNotExists(key, leaseBytes('a')))).toBe('HADB_LEASE_AMBIGUOUS');
    // The write landed: re-reading resolves the ambiguity.
    expect(decodeLeaseData((await store.read(key))!.data).instanceId).toBe('a');
    faulty.setFaults({ lostReplies: 0, errorRate: 1, operations: ['get', 'getStream'] });
    expect(await codeOf(() => store.read(key))).toBe('HADB_LEASE_UNAVAILABLE');
  });
});
