import { encodeLeaseData, type LeaseStore } from '@hadb/lease';
import { MemLeaseStore } from '@hadb/lease-mem';
import { MemStorageBackend } from '@hadb/storage-mem';
import { afterEach, describe, expect, it } from 'vitest';
import { freezableLeaseStore } from '@hadb/testkit/lease';
import { systemClock } from '@hadb/io';
import { Coordinator } from '../src/coordinator.js';
import { isCoordinatorError } from '../src/errors.js';
import type { RoleEvent } from '../src/events.js';
import { leaderOnly, type Executor } from '../src/executor.js';
import { StorageNodeRegistry } from '../src/node-registry.js';
import type { CoordinatorOptions } from '../src/options.js';
import type { Replicator } from '../src/replicator.js';
import { LocalDisk, SimFollowerBehavior, SimReplicator, World, segmentKey } from './sim/sim-replica.js';

// Real time, real in-memory lease store and storage, short timings.
const TIMING = { ttlMs: 600, renewIntervalMs: 200, pollIntervalMs: 100, skewMarginMs: 150 } as const;
const DB = 'orders';

interface Node {
  readonly coordinator: Coordinator;
  readonly replicator: SimReplicator;
  readonly disk: LocalDisk;
  /** Makes every lease request of this node hang from now on (the node's process froze). */
  freeze(): void;
}

const open: Coordinator[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
});

async function until(pred: () => boolean, ms = 5000): Promise<void> {
  const end = performance.now() + ms;
  while (!pred()) {
    if (performance.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
}

function node(
  name: string,
  lease: LeaseStore | undefined,
  storage: MemStorageBackend,
  extra: Partial<CoordinatorOptions> = {},
  wrap: (r: Replicator) => Replicator = (r) => r,
): Node {
  const world = new World();
  const disk = new LocalDisk(world, name);
  const replicator = new SimReplicator(world, storage, disk, systemClock);
  const behavior = new SimFollowerBehavior(world, storage, disk, name, systemClock);
  const view = lease === undefined ? undefined : freezableLeaseStore(lease);
  const coordinator = new Coordinator({
    replicator: wrap(replicator),
    followerBehavior: behavior,
    lease:
      view === undefined ? undefined : { store: view.store, instanceId: name, address: `http://${name}`, ...TIMING },
    followerPullIntervalMs: 50,
    ...extra,
  });
  open.push(coordinator);
  return { coordinator, replicator, disk, freeze: () => view?.freeze() };
}

describe('Coordinator (real time, in-process)', () => {
  it('elects one leader, fails over after the leader freezes, and reports it through events', async () => {
    const lease = new MemLeaseStore();
    const storage = new MemStorageBackend();
    const a = node('a', lease, storage);
    const b = node('b', lease, storage);
    expect((await a.coordinator.join(DB, '/tmp/a')).role).toBe('leader');
    const joinB = await b.coordinator.join(DB, '/tmp/b');
    expect(joinB.role).toBe('follower');
    expect(a.coordinator.epoch(DB)).toBe(1);
    expect(b.coordinator.leaderAddress(DB)).toBe('http://a');
    expect(a.coordinator.leaderAddress(DB)).toBe('http://a');
    await a.replicator.write(DB);
    await a.replicator.write(DB);
    await joinB.progress.waitForCaughtUp({ signal: AbortSignal.timeout(5000) });
    await until(() => b.disk.position === 3); // seal + two writes
    expect(joinB.progress.position).toBe(3n);

    const events: RoleEvent[] = [];
    const iterator = b.coordinator.roleEvents({ signal: AbortSignal.timeout(10_000) });
    const collecting = (async () => {
      for await (const e of iterator) {
        events.push(e);
        if (e.type === 'promoted') break;
      }
    })();
    const fencedA = new Promise<RoleEvent>((resolve) => a.coordinator.once('fenced', resolve));
    const frozenAt = performance.now();
    a.freeze();
    await b.coordinator.waitForRole(DB, 'leader', { signal: AbortSignal.timeout(10_000) });
    const failoverMs = performance.now() - frozenAt;
    await collecting;
    expect(events.map((e) => e.type)).toEqual(['promoted']);
    expect(events[0]).toMatchObject({ db: DB, epoch: 2 });
    expect(await fencedA).toMatchObject({ type: 'fenced', reason: 'deadline', epoch: 1 });
    // The frozen leader fenced itself before the follower could take over.
    expect(failoverMs).toBeGreaterThanOrEqual(TIMING.ttlMs);
    expect(failoverMs).toBeLessThan(TIMING.ttlMs + TIMING.skewMarginMs + 2 * TIMING.pollIntervalMs + 1000);
    expect(() => a.coordinator.checkWrite(DB)).toThrow();
    expect(b.coordinator.checkWrite(DB).epoch).toBe(2);
    expect(await b.replicator.write(DB)).toBe(true);
    expect((await storage.get(segmentKey(DB, 5)))?.data).toBeDefined();
  });

  it('leaderOnly refuses mutations on a follower and runs them on the leader', async () => {
    const lease = new MemLeaseStore();
    const storage = new MemStorageBackend();
    const a = node('a', lease, storage);
    const b = node('b', lease, storage);
    await a.coordinator.join(DB, '/tmp/a');
    await b.coordinator.join(DB, '/tmp/b');
    const ran: string[] = [];
    const engine: Executor<readonly unknown[], string> = {
      isMutation: (q) => /^\s*(insert|update|delete|create)/i.test(q),
      execute: async (q) => {
        ran.push(q);
        return 'ok';
      },
    };
    const onA = leaderOnly(engine, a.coordinator, DB);
    const onB = leaderOnly(engine, b.coordinator, DB);
    expect(await onB.execute('select 1', [])).toBe('ok');
    await expect(onB.execute('insert into t values (1)', [])).rejects.toMatchObject({ code: 'HADB_CORE_NOT_LEADER' });
    expect(await onA.execute('insert into t values (1)', [])).toBe('ok');
    expect(ran).toEqual(['select 1', 'insert into t values (1)']);
  });

  it('without a lease every database is a leader that is never fenced', async () => {
    const storage = new MemStorageBackend();
    const solo = node('solo', undefined, storage);
    const { role } = await solo.coordinator.join(DB, '/tmp/solo');
    expect(role).toBe('leader');
    const fence = solo.coordinator.checkWrite(DB);
    expect(fence.epoch).toBe(0);
    expect(fence.remainingMs()).toBe(Infinity);
    expect(await solo.replicator.write(DB)).toBe(true);
    await solo.coordinator.leave(DB);
    expect(solo.coordinator.role(DB)).toBeUndefined();
    expect(solo.replicator.activeFence).toBeUndefined();
  });

  it('a client follows but never claims, even a free lease', async () => {
    const lease = new MemLeaseStore();
    const storage = new MemStorageBackend();
    const client = node('c', lease, storage, { requestedRole: 'client' });
    expect((await client.coordinator.join(DB, '/tmp/c')).role).toBe('client');
    await new Promise((r) => setTimeout(r, 3 * TIMING.ttlMs));
    expect(await lease.read(DB)).toBeNull();
    const leader = node('l', lease, storage);
    expect((await leader.coordinator.join(DB, '/tmp/l')).role).toBe('leader');
    await leader.replicator.write(DB);
    await until(() => client.disk.position === 2 && client.coordinator.leaderAddress(DB) === 'http://l');
    expect(client.coordinator.role(DB)).toBe('client');
  });

  it('a sleeping cluster is reported, nobody is promoted while the record is fresh, and it is woken after its TTL', async () => {
    const lease = new MemLeaseStore();
    const storage = new MemStorageBackend();
    const parked = encodeLeaseData({
      instanceId: 'x',
      address: '',
      claimedAt: 1,
      ttlSecs: 1,
      sessionId: 's',
      sleeping: true,
      epoch: 4,
    });
    await lease.writeIfNotExists(DB, parked);
    const a = node('a', lease, storage);
    const sleeping = new Promise<RoleEvent>((resolve) => a.coordinator.once('sleeping', resolve));
    expect((await a.coordinator.join(DB, '/tmp/a')).role).toBe('follower');
    expect(await sleeping).toEqual({ type: 'sleeping', db: DB });
    expect(a.coordinator.role(DB)).toBe('follower');
    expect((await lease.read(DB))?.data).toEqual(parked);
    await until(() => a.coordinator.role(DB) === 'leader');
    expect(a.coordinator.epoch(DB)).toBe(5);
  });

  it('join as leader fails (and gives the lease back) when restoring does not reach the durable head', async () => {
    const lease = new MemLeaseStore();
    const storage = new MemStorageBackend();
    const first = node('first', lease, storage);
    await first.coordinator.join(DB, '/tmp/first');
    await first.replicator.write(DB);
    await first.coordinator.leave(DB);
    const short = node('short', lease, storage, {}, (r) => ({
      startLineage: r.startLineage.bind(r),
      continueLineage: r.continueLineage.bind(r),
      remove: r.remove.bind(r),
      sync: r.sync.bind(r),
      pull: async () => 0n, // restore stopped before the head
    }));
    let caught: unknown;
    try {
      await short.coordinator.join(DB, '/tmp/short');
    } catch (err) {
      caught = err;
    }
    expect(isCoordinatorError(caught, 'HADB_CORE_JOIN_FAILED')).toBe(true);
    expect(isCoordinatorError((caught as Error).cause, 'HADB_CORE_NOT_CAUGHT_UP')).toBe(true);
    expect(short.coordinator.contains(DB)).toBe(false);
    const record = await lease.read(DB);
    expect(new TextDecoder().decode(record!.data)).toContain('"ttl_secs":0');
  });

  it('validates names and state, and close() ends iterators and waiters', async () => {
    const lease = new MemLeaseStore();
    const storage = new MemStorageBackend();
    const a = node('a', lease, storage);
    await expect(a.coordinator.join('../escape', '/tmp/x')).rejects.toMatchObject({ code: 'HADB_STORAGE_INVALID_KEY' });
    await a.coordinator.join(DB, '/tmp/a');
    await expect(a.coordinator.join(DB, '/tmp/a')).rejects.toMatchObject({ code: 'HADB_CORE_ALREADY_JOINED' });
    expect(() => a.coordinator.checkWrite('other')).toThrow(expect.objectContaining({ code: 'HADB_CORE_UNKNOWN_DB' }));
    const b = node('b', lease, storage);
    await b.coordinator.join(DB, '/tmp/b');
    expect(await b.coordinator.handoff(DB)).toBe(false);
    const waiting = b.coordinator.waitForRole(DB, 'leader');
    const iterator = b.coordinator.roleEvents();
    const next = iterator.next();
    const aborted = b.coordinator.waitForRole(DB, 'leader', { signal: AbortSignal.abort() });
    await expect(aborted).rejects.toMatchObject({ code: 'HADB_CORE_ABORTED' });
    await b.coordinator.close();
    await expect(waiting).rejects.toMatchObject({ code: 'HADB_CORE_CLOSED' });
    expect((await next).done).toBe(true);
    await expect(b.coordinator.join('x', '/tmp/x')).rejects.toMatchObject({ code: 'HADB_CORE_CLOSED' });
    expect(a.coordinator.databaseNames()).toEqual([DB]);
    expect(await a.coordinator.drainAll()).toBe(1);
    expect(a.coordinator.databaseCount).toBe(0);
  });

  it('followers advertise themselves in the node registry under the current leader session', async () => {
    const lease = new MemLeaseStore();
    const storage = new MemStorageBackend();
    const registry = new StorageNodeRegistry(storage);
    const a = node('a', lease, storage, { nodeRegistry: registry, prefix: 'ha/' });
    const b = node('b', lease, storage, { nodeRegistry: registry, prefix: 'ha/' });
    await a.coordinator.join(DB, '/tmp/a');
    await b.coordinator.join(DB, '/tmp/b');
    await until(() => b.coordinator.leaderAddress(DB) === 'http://a');
    await new Promise((r) => setTimeout(r, 100));
    const replicas = await a.coordinator.discoverReplicas(DB);
    expect(replicas.map((r) => [r.instanceId, r.address, r.role])).toEqual([['b', 'http://b', 'follower']]);
    expect(await storage.exists('ha/orders/_nodes/b.json')).toBe(true);
    expect(a.coordinator.prometheus()).toContain('hadb_lease_claims_succeeded_total 1');
  });
});
