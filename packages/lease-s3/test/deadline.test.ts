import { isLeaseError } from '@hadb/lease';
import { S3StorageBackend } from '@hadb/storage-s3';
import { FaultProxy, rejection } from '@hadb/testkit';
import { leaseBytes } from '@hadb/testkit/lease';
import { afterAll, describe, expect, it } from 'vitest';
import { S3LeaseStore } from '../src/index.js';
import { runPrefix, s3, s3Options } from './s3-env.js';

const prefix = runPrefix('deadline');
const measured: Record<string, number> = {};

async function timed(name: string, fn: () => Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = performance.now();
  const error = await rejection(fn());
  const ms = Math.round(performance.now() - started);
  measured[name] = ms;
  return { error, ms };
}

describe.skipIf(!s3.available)('S3LeaseStore deadlines (Ceph RGW behind a link that goes silent)', () => {
  const raw = new S3StorageBackend({ ...s3Options });
  afterAll(async () => {
    await raw.deleteMany(await raw.list(prefix));
    await raw.close();
    console.info(`lease-s3 time to typed error (ms): ${JSON.stringify(measured)}`);
  });

  it('a read is HADB_LEASE_TIMEOUT, a CAS HADB_LEASE_AMBIGUOUS (caused by the timeout), an abort HADB_LEASE_ABORTED', async () => {
    const hole = await FaultProxy.listen({ target: s3Options.endpoint });
    const store = await S3LeaseStore.open({
      ...s3Options,
      endpoint: `http://${hole.hostPort}`,
      prefix,
      skipConditionalWriteProbe: true,
      requestTimeoutMs: 1000,
      retry: false,
    });
    try {
      const key = store.keyFor('silent');
      const created = await store.writeIfNotExists(key, leaseBytes('node-a'));
      if (!created.success) throw new Error('create failed');
      // The record carries the server's Last-Modified (whole seconds; the RGW runs on this host).
      const stamped = await store.read(key);
      expect(store.capabilities.serverTimeResolutionMs).toBe(1000);
      expect(Math.abs((stamped?.serverTimeMs ?? 0) - Date.now())).toBeLessThan(60_000);
      hole.setMode('blackhole');
      const read = await timed('read (1000 ms)', () => store.read(key));
      expect(isLeaseError(read.error, 'HADB_LEASE_TIMEOUT')).toBe(true);
      expect(read.ms).toBeGreaterThanOrEqual(990);
      const cas = await timed('writeIfMatch (1000 ms + re-read 1000 ms)', () =>
        store.writeIfMatch(key, leaseBytes('node-a'), created.etag),
      );
      expect(isLeaseError(cas.error, 'HADB_LEASE_AMBIGUOUS')).toBe(true);
      const deleted = await timed('delete (1000 ms)', () => store.delete(key));
      expect(isLeaseError(deleted.error, 'HADB_LEASE_TIMEOUT')).toBe(true);
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 100);
      const aborted = await timed('read aborted at 100 ms', () => store.read(key, { signal: controller.signal }));
      expect(isLeaseError(aborted.error, 'HADB_LEASE_ABORTED')).toBe(true);
      expect(aborted.ms).toBeLessThan(900);
    } finally {
      await store.close();
      await hole.close();
    }
  }, 30_000);
});
