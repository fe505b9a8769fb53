import { decodeLeaseData } from '@hadb/lease';
import { S3StorageBackend } from '@hadb/storage-s3';
import { RUST_LEASE_FIXTURES, leaseBytes } from '@hadb/testkit/lease';
import { afterAll, describe, expect, it } from 'vitest';
import { S3LeaseStore } from '../src/index.js';
import { runPrefix, s3, s3Options } from './s3-env.js';
import { codeOf } from '@hadb/testkit';

const prefix = runPrefix('specific');

describe.skipIf(!s3.available)('S3LeaseStore specifics (Ceph RGW)', () => {
  const raw = new S3StorageBackend({ ...s3Options });
  afterAll(async () => {
    await raw.deleteMany(await raw.list(prefix));
    await raw.close();
  });

  it('probes conditional writes when opening and reports the verdict', async () => {
    await using store = await S3LeaseStore.open({ ...s3Options, prefix });
    expect(store.probe?.verdict).toBe('atomic');
    expect(store.name).toBe('s3');
  });

  it('refuses a server whose conditional writes fail the probe (quoted If-Match on RGW 16)', async () => {
    // Ceph RGW 16 answers 412 to every correctly quoted If-Match: as configured, renewals would
    // always fail. The probe catches that before the store is used.
    const quoted = !s3Options.unquotedIfMatch;
    const code = await codeOf(() => S3LeaseStore.open({ ...s3Options, prefix, unquotedIfMatch: quoted }));
    expect(code).toBe('HADB_LEASE_UNSUPPORTED');
  });

  it('skips the probe only when told to', async () => {
    await using store = await S3LeaseStore.open({ ...s3Options, prefix, skipConditionalWriteProbe: true });
    expect(store.probe).toBeUndefined();
  });

  it('stores the lease at {prefix}{db}/_lease.json with the Rust fields first', async () => {
    await using store = await S3LeaseStore.open({ ...s3Options, prefix, skipConditionalWriteProbe: true });
    const key = store.keyFor('layout');
    expect(key).toBe(`${prefix}layout/_lease.json`);
    const created = await store.writeIfNotExists(key, new TextEncoder().encode(RUST_LEASE_FIXTURES.interop));
    if (!created.success) throw new Error('create failed');
    const object = await raw.get(`${prefix}layout/_lease.json`);
    expect(object?.etag).toBe(created.etag);
    expect(new TextDecoder().decode(object!.data).startsWith(RUST_LEASE_FIXTURES.interop.slice(0, -1))).toBe(true);
  });

  it('never repeats an ETag although S3 gives identical bytes identical ETags', async () => {
    // The reason for the nonce: S3 ETags are content hashes.
    const body = leaseBytes('same');
    const a = await raw.put(`${prefix}same-bytes/a`, body);
    const b = await raw.put(`${prefix}same-bytes/b`, body);
    expect(a.etag).toBe(b.etag);
    await using store = await S3LeaseStore.open({ ...s3Options, prefix, skipConditionalWriteProbe: true });
    const key = store.keyFor('same-bytes');
    const first = await store.writeIfNotExists(key, body);
    if (!first.success) throw new Error('create failed');
    const second = await store.writeIfMatch(key, body, first.etag);
    if (!second.success) throw new Error('update failed');
    expect(second.etag).not.toBe(first.etag);
    expect(await store.writeIfMatch(key, body, first.etag)).toEqual({ success: false });
    expect(decodeLeaseData((await store.read(key))!.data).instanceId).toBe('same');
  });

  it('maps refused credentials to HADB_LEASE_AUTH and a missing bucket to HADB_LEASE_UNAVAILABLE', async () => {
    const badKey = {
      ...s3Options,
      credentials: { ...s3Options.credentials, secretAccessKey: 'wrong-secret' },
      retry: false as const,
    };
    expect(await codeOf(() => S3LeaseStore.open({ ...badKey, prefix }))).toBe('HADB_LEASE_AUTH');
    const noBucket = { ...s3Options, bucket: `hadb-missing-${process.pid}`, retry: false as const };
    expect(await codeOf(() => S3LeaseStore.open({ ...noBucket, prefix }))).toBe('HADB_LEASE_UNAVAILABLE');
  });

  it('rejects a prefix that does not end with "/"', async () => {
    expect(await codeOf(() => S3LeaseStore.open({ ...s3Options, prefix: 'no-slash' }))).toBe('HADB_LEASE_INVALID_KEY');
  });
});
