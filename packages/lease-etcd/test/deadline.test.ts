import { isLeaseError } from '@hadb/lease';
import { BlackHole, ManualClock, rejection, testService } from '@hadb/testkit';
import { leaseBytes } from '@hadb/testkit/lease';
import { afterAll, describe, expect, it } from 'vitest';
import { EtcdLeaseStore } from '../src/index.js';

const etcd = testService('etcd');
const hosts = etcd.env.HADB_TEST_ETCD_URL ?? '';
const prefix = `hadb-test-deadline-${process.pid}-${Date.now().toString(36)}/`;
const measured: Record<string, number> = {};

async function timed(name: string, fn: () => Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = performance.now();
  const error = await rejection(fn());
  const ms = Math.round(performance.now() - started);
  measured[name] = ms;
  return { error, ms };
}

describe.skipIf(!etcd.available)('EtcdLeaseStore deadlines (real etcd behind a link that goes silent)', () => {
  afterAll(() => {
    console.info(`lease-etcd time to typed error (ms): ${JSON.stringify(measured)}`);
  });

  it('a read is HADB_LEASE_TIMEOUT, a CAS HADB_LEASE_AMBIGUOUS; an abort still wins', async () => {
    const hole = await BlackHole.start(hosts);
    const store = await EtcdLeaseStore.open({ hosts: `http://${hole.hostPort}`, prefix, requestTimeoutMs: 800 });
    try {
      const key = store.keyFor('silent');
      const created = await store.writeIfNotExists(key, leaseBytes('node-a'));
      if (!created.success) throw new Error('create failed');
      hole.swallow();
      const read = await timed('read (800 ms)', () => store.read(key));
      expect(isLeaseError(read.error, 'HADB_LEASE_TIMEOUT')).toBe(true);
      expect(read.ms).toBeGreaterThanOrEqual(790);
      const cas = await timed('writeIfMatch (800 ms)', () => store.writeIfMatch(key, leaseBytes('b'), created.etag));
      expect(isLeaseError(cas.error, 'HADB_LEASE_AMBIGUOUS')).toBe(true);
      const deleted = await timed('delete (800 ms)', () => store.delete(key));
      expect(isLeaseError(deleted.error, 'HADB_LEASE_TIMEOUT')).toBe(true);
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 50);
      const aborted = await timed('read aborted at 50 ms', () => store.read(key, { signal: controller.signal }));
      expect(isLeaseError(aborted.error, 'HADB_LEASE_ABORTED')).toBe(true);
    } finally {
      await store.close();
      await hole.close();
    }
  }, 30_000);

  it('bounds a whole call on the injected clock, not only the gRPC deadline', async () => {
    const hole = await BlackHole.start(hosts);
    const clock = new ManualClock({ wallOriginMs: Date.now() });
    const store = await EtcdLeaseStore.open({
      hosts: `http://${hole.hostPort}`,
      prefix,
      requestTimeoutMs: 20_000,
      clock,
    });
    try {
      hole.swallow();
      const pending = rejection(store.read(store.keyFor('silent-manual')));
      await clock.advance(20_000);
      const error = await pending;
      // The store's own deadline ended it; the gRPC deadline (20 s of real time) is far away.
      expect(isLeaseError(error, 'HADB_LEASE_TIMEOUT')).toBe(true);
      expect((error as Error).message).toContain('timed out after 20000 ms');
    } finally {
      await store.close();
      await hole.close();
    }
  }, 15_000);
});
