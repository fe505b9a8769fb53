import { isLeaseError } from '@hadb/lease';
import { BlackHole, ManualClock, rejection, testService } from '@hadb/testkit';
import { leaseBytes } from '@hadb/testkit/lease';
import { afterAll, describe, expect, it } from 'vitest';
import { NatsLeaseStore } from '../src/index.js';

const nats = testService('nats');
const servers = nats.env.HADB_TEST_NATS_URL ?? '';
const bucket = `hadb-test-deadline-${process.pid}-${Date.now().toString(36)}`;
const measured: Record<string, number> = {};

async function timed(name: string, fn: () => Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = performance.now();
  const error = await rejection(fn());
  const ms = Math.round(performance.now() - started);
  measured[name] = ms;
  return { error, ms };
}

describe.skipIf(!nats.available)('NatsLeaseStore deadlines (real nats-server behind a link that goes silent)', () => {
  afterAll(() => {
    console.info(`lease-nats time to typed error (ms): ${JSON.stringify(measured)}`);
  });

  it('a read is HADB_LEASE_TIMEOUT, a CAS HADB_LEASE_AMBIGUOUS caused by the timeout; an abort still wins', async () => {
    const hole = await BlackHole.start(servers);
    const store = await NatsLeaseStore.open({ servers: `nats://${hole.hostPort}`, bucket, requestTimeoutMs: 800 });
    try {
      const key = store.keyFor('silent');
      const created = await store.writeIfNotExists(key, leaseBytes('node-a'));
      if (!created.success) throw new Error('create failed');
      const before = await store.read(key);
      expect(before?.serverTimeMs).toBeTypeOf('number');
      hole.swallow();
      const read = await timed('read (800 ms)', () => store.read(key));
      expect(isLeaseError(read.error, 'HADB_LEASE_TIMEOUT')).toBe(true);
      expect(read.ms).toBeGreaterThanOrEqual(790);
      const cas = await timed('writeIfMatch (800 ms)', () => store.writeIfMatch(key, leaseBytes('b'), created.etag));
      expect(isLeaseError(cas.error, 'HADB_LEASE_AMBIGUOUS')).toBe(true);
      expect(isLeaseError((cas.error as Error).cause, 'HADB_LEASE_TIMEOUT')).toBe(true);
      const deleted = await timed('delete (800 ms)', () => store.delete(key));
      expect(isLeaseError(deleted.error, 'HADB_LEASE_TIMEOUT')).toBe(true);
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 50);
      const aborted = await timed('read aborted at 50 ms', () => store.read(key, { signal: controller.signal }));
      expect(isLeaseError(aborted.error, 'HADB_LEASE_ABORTED')).toBe(true);
    } finally {
      await hole.close();
      await store.close().catch(() => undefined);
    }
  }, 30_000);

  it('bounds a whole call on the injected clock, not only the client request timeout', async () => {
    const hole = await BlackHole.start(servers);
    const clock = new ManualClock();
    const store = await NatsLeaseStore.open({
      servers: `nats://${hole.hostPort}`,
      bucket,
      requestTimeoutMs: 20_000,
      clock,
    });
    try {
      const key = store.keyFor('silent-manual');
      hole.swallow();
      const pending = rejection(store.read(key));
      await clock.advance(20_000);
      const error = await pending;
      // The store's own deadline ended it: the client's 20 s (real time) timeout is far away.
      expect(isLeaseError(error, 'HADB_LEASE_TIMEOUT')).toBe(true);
      expect((error as Error).message).toContain('timed out after 20000 ms');
    } finally {
      await hole.close();
      await store.close().catch(() => undefined);
    }
  }, 15_000);
});
