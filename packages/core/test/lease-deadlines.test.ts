import { type Clock, type Timer, silentLogger, systemClock } from '@hadb/io';
import type { LeaseStore } from '@hadb/lease';
import { EtcdLeaseStore } from '@hadb/lease-etcd';
import { NatsLeaseStore } from '@hadb/lease-nats';
import { MemStorageBackend } from '@hadb/storage-mem';
import { FaultProxy, testService } from '@hadb/testkit';
import { describe, expect, it } from 'vitest';
import { Coordinator } from '../src/coordinator.js';
import { DbLease } from '../src/db-lease.js';
import type { RoleEvent } from '../src/events.js';
import { TermFence } from '../src/fence.js';
import { runLeaderTerm } from '../src/leader-renewal.js';
import { CoordinatorMetrics } from '../src/metrics.js';
import { type LeaseTiming, resolveLeaseTiming } from '../src/options.js';
import { LocalDisk, SimFollowerBehavior, SimReplicator, World } from './sim/sim-replica.js';

const nats = testService('nats');
const etcd = testService('etcd');
const RUN = `${process.pid}-${Date.now().toString(36)}`;

/** The real clock running at `rate` (both monotonic and wall time), as on a machine whose clock is off. */
function scaledClock(rate: number): Clock {
  const origin = performance.now();
  const wallOrigin = Date.now();
  return {
    now: () => origin + rate * (performance.now() - origin),
    wallMs: () => wallOrigin + rate * (Date.now() - wallOrigin),
    sleep: (ms, signal) => systemClock.sleep(ms / rate, signal),
    timer: (ms, fn): Timer => systemClock.timer(ms / rate, fn),
  };
}

async function startTerm(store: LeaseStore, timing: LeaseTiming, clock: Clock, db: string) {
  const metrics = new CoordinatorMetrics();
  const lease = new DbLease({
    store,
    db,
    instanceId: 'node-a',
    address: 'http://a',
    timing,
    clock,
    newId: () => crypto.randomUUID(),
    logger: silentLogger,
    metrics,
  });
  const grant = await lease.claim(null, 0, new AbortController().signal);
  if (grant === undefined) throw new Error('claim failed');
  const fence = new TermFence({
    db,
    epoch: grant.epoch,
    clock,
    sentAt: grant.sentAt,
    windowMs: timing.ttlMs - timing.skewMarginMs,
  });
  const done = runLeaderTerm({ db, lease, fence, timing, clock, logger: silentLogger, metrics });
  return { fence, done, metrics };
}

const timing = resolveLeaseTiming({ ttlMs: 1500, skewMarginMs: 300, renewIntervalMs: 500 });

describe.each([
  ['nats', nats.available],
  ['etcd', etcd.available],
])('a leader whose %s lease store goes silent', (name, available) => {
  it.skipIf(!available)(
    'ends its term at its own deadline (renewals cut off, never held open)',
    async () => {
      const target = name === 'nats' ? (nats.env.HADB_TEST_NATS_URL ?? '') : (etcd.env.HADB_TEST_ETCD_URL ?? '');
      const hole = await FaultProxy.listen({ target });
      // The store's own deadline is 20 s: only core's deadlines can end the renewals in time.
      const store =
        name === 'nats'
          ? await NatsLeaseStore.open({
              servers: `nats://${hole.hostPort}`,
              bucket: `core-dl-${RUN}`,
              requestTimeoutMs: 20_000,
            })
          : await EtcdLeaseStore.open({
              hosts: `http://${hole.hostPort}`,
              prefix: `core-dl-${RUN}/`,
              requestTimeoutMs: 20_000,
            });
      try {
        const { fence, done, metrics } = await startTerm(store, timing, systemClock, `silent-${name}`);
        await new Promise((r) => setTimeout(r, 1200));
        expect(fence.reason).toBeUndefined();
        const renewedBefore = metrics.snapshot().leaseRenewalsSucceeded;
        expect(renewedBefore).toBeGreaterThan(0);
        hole.setMode('blackhole');
        const swallowedAt = performance.now();
        const reason = await done;
        const endedMs = performance.now() - swallowedAt;
        expect(reason).toBe('deadline');
        expect(fence.isValid()).toBe(false);
        // At most one TTL − margin after the last confirmed renewal, far from the store's 20 s.
        expect(endedMs).toBeLessThan(10_000);
        console.info(`core ${name}: term ended ${Math.round(endedMs)} ms after the link went silent (window 1200 ms)`);
      } finally {
        await hole.close();
        await store.close().catch(() => undefined);
      }
    },
    30_000,
  );
});

describe.skipIf(!nats.available)('clock-rate check against a real NATS server', () => {
  it.each([
    [0.5, 'clock-rate'],
    [1, undefined],
  ])(
    'a leader whose clock runs at %sx: fence reason %s',
    async (rate, expected) => {
      const store = await NatsLeaseStore.open({
        servers: nats.env.HADB_TEST_NATS_URL ?? '',
        bucket: `core-rate-${RUN}`,
      });
      try {
        const clock = scaledClock(rate);
        const { fence, done, metrics } = await startTerm(
          store,
          timing,
          clock,
          `rate-${String(rate).replace('.', '-')}`,
        );
        // One TTL of store time plus a few renewals of slack, in real time.
        await Promise.race([done, new Promise((r) => setTimeout(r, 6000))]);
        expect(fence.reason).toBe(expected);
        expect(metrics.snapshot().demotionsClockRate).toBe(expected === undefined ? 0 : 1);
        fence.close('leave');
        await done;
      } finally {
        await store.close();
      }
    },
    30_000,
  );
});

describe.skipIf(!nats.available)('a coordinator whose clock runs at 0.5x (real NATS lease store)', () => {
  it('steps down with a fenced event (reason clock-rate), and the healthy node takes over', async () => {
    const storage = new MemStorageBackend();
    const bucket = `core-rate-coord-${RUN}`;
    const stores: LeaseStore[] = [];
    const coordinators: Coordinator[] = [];
    const node = async (name: string, clock: Clock) => {
      const store = await NatsLeaseStore.open({ servers: nats.env.HADB_TEST_NATS_URL ?? '', bucket });
      stores.push(store);
      const world = new World();
      const disk = new LocalDisk(world, name);
      const coordinator = new Coordinator({
        replicator: new SimReplicator(world, storage, disk, systemClock),
        followerBehavior: new SimFollowerBehavior(world, storage, disk, name, systemClock),
        lease: {
          store,
          instanceId: name,
          address: `http://${name}`,
          ttlMs: 1000,
          renewIntervalMs: 300,
          pollIntervalMs: 100,
          skewMarginMs: 200,
        },
        followerPullIntervalMs: 50,
        clock,
      });
      coordinators.push(coordinator);
      return coordinator;
    };
    try {
      const a = await node('a', scaledClock(0.5));
      const fenced = new Promise<RoleEvent>((resolve) => a.once('fenced', resolve));
      expect((await a.join('orders', '/tmp/a')).role).toBe('leader');
      const b = await node('b', systemClock);
      expect((await b.join('orders', '/tmp/b')).role).toBe('follower');
      expect(await fenced).toMatchObject({ type: 'fenced', reason: 'clock-rate', epoch: 1 });
      expect(a.metrics().demotionsClockRate).toBe(1);
      await b.waitForRole('orders', 'leader', { signal: AbortSignal.timeout(15_000) });
      expect(b.epoch('orders')).toBe(2);
      // The slow node does not take the lease back while it holds off.
      expect(a.role('orders')).toBe('follower');
    } finally {
      for (const c of coordinators) await c.close();
      for (const s of stores) await s.close();
    }
  }, 40_000);
});
