import { encodeLeaseData, LEASE_LIMITS, type LeaseData } from '@hadb/lease';
import { MemLeaseStore } from '@hadb/lease-mem';
import { MemStorageBackend } from '@hadb/storage-mem';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '@hadb/io';
import { Coordinator } from '../src/coordinator.js';
import { openAddress, sealAddress } from '../src/lease-address.js';
import { LocalDisk, SimFollowerBehavior, SimReplicator, World } from './sim/sim-replica.js';

/**
 * Forged lease records (issue 12, item 2, core side): an epoch or TTL out of bounds is never acted
 * on or remembered — the cluster gets a leader with a sane epoch after one TTL, and a corrected
 * record is honoured at once.
 */
const TIMING = { ttlMs: 600, renewIntervalMs: 200, pollIntervalMs: 100, skewMarginMs: 150 } as const;
const DB = 'forged';
const open: Coordinator[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()));
});

function coordinator(name: string, lease: MemLeaseStore, storage: MemStorageBackend, addressKey?: string): Coordinator {
  const world = new World();
  const disk = new LocalDisk(world, name);
  const c = new Coordinator({
    replicator: new SimReplicator(world, storage, disk, systemClock),
    followerBehavior: new SimFollowerBehavior(world, storage, disk, name, systemClock),
    lease: { store: lease, instanceId: name, address: `http://${name}`, addressKey, ...TIMING },
    followerPullIntervalMs: 50,
  });
  open.push(c);
  return c;
}

async function until(pred: () => boolean, ms = 8000): Promise<void> {
  const end = performance.now() + ms;
  while (!pred()) {
    if (performance.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * A record as an attacker would write it: raw JSON, not through `encodeLeaseData` (which refuses
 * out-of-bounds values). Starts from a sane encoded record and overwrites fields in place.
 */
const forged = (over: Partial<LeaseData>): Uint8Array => {
  const base = encodeLeaseData({
    instanceId: 'evil',
    address: 'http://evil',
    claimedAt: 1,
    ttlSecs: 5,
    sessionId: 's-evil',
    sleeping: false,
    epoch: 3,
  });
  const json = JSON.parse(new TextDecoder().decode(base)) as Record<string, unknown>;
  const snake: Record<string, string> = {
    instanceId: 'instance_id',
    claimedAt: 'claimed_at',
    ttlSecs: 'ttl_secs',
    sessionId: 'session_id',
  };
  for (const [k, v] of Object.entries(over)) json[snake[k] ?? k] = v;
  return new TextEncoder().encode(JSON.stringify(json));
};

describe('lease record security', () => {
  for (const [name, over] of [
    ['an epoch of 2^53 - 1', { epoch: Number.MAX_SAFE_INTEGER }],
    ['an epoch of 2^40', { epoch: 2 ** 40 }],
    // Decodable (at the codec's cap), but within the headroom core keeps for successors.
    ['an epoch at LEASE_LIMITS.maxEpoch', { epoch: LEASE_LIMITS.maxEpoch }],
    ['an epoch just above the accepted bound', { epoch: LEASE_LIMITS.maxEpoch - LEASE_LIMITS.epochHeadroom + 1 }],
    ['a TTL of 1e9 s', { ttlSecs: 1e9 }],
  ] as const) {
    it(`a record with ${name} is taken over after one TTL, with a sane epoch and never its address`, async () => {
      const lease = new MemLeaseStore();
      await lease.writeIfNotExists(DB, forged(over));
      const a = coordinator('a', lease, new MemStorageBackend());
      await a.join(DB, '/tmp/a');
      expect(a.leaderAddress(DB)).not.toBe('http://evil');
      await until(() => a.role(DB) === 'leader');
      expect(a.epoch(DB)).toBeLessThanOrEqual(4);
      expect(a.leaderAddress(DB)).toBe('http://a');
    });
  }

  it('a forged sleeping record does not park the cluster forever: it is taken over after its TTL', async () => {
    const lease = new MemLeaseStore();
    await lease.writeIfNotExists(DB, forged({ sleeping: true, ttlSecs: 1 }));
    const a = coordinator('a', lease, new MemStorageBackend());
    const sleeping = new Promise((resolve) => a.once('sleeping', resolve));
    await a.join(DB, '/tmp/a');
    await sleeping;
    expect(a.leaderAddress(DB)).toBeUndefined();
    await until(() => a.role(DB) === 'leader');
    expect(a.epoch(DB)).toBe(4);
    expect((await lease.read(DB))?.data).toBeDefined();
  });

  it('a corrected record is honoured at once: the forged epoch is not remembered', async () => {
    const lease = new MemLeaseStore();
    await lease.writeIfNotExists(DB, forged({ epoch: 2 ** 40, ttlSecs: 1e9 }));
    const a = coordinator('a', lease, new MemStorageBackend());
    await a.join(DB, '/tmp/a');
    expect(a.role(DB)).toBe('follower');
    // The operator writes a released record with a sane epoch: it is claimed at once, continuing from it.
    const current = (await lease.read(DB))!;
    await lease.writeIfMatch(DB, forged({ epoch: 7, ttlSecs: 0, address: '' }), current.etag);
    await until(() => a.role(DB) === 'leader', 2000);
    expect(a.epoch(DB)).toBe(8);
    // One cap: what engines carry in 40 bits; core accepts up to it minus the headroom.
    expect(LEASE_LIMITS.maxEpoch).toBe(2 ** 40 - 1);
    expect(LEASE_LIMITS.maxEpoch - LEASE_LIMITS.epochHeadroom).toBeGreaterThan(2 ** 39);
  });

  it('with an address key, followers use only an authenticated leader address; a forged one is never used', async () => {
    const lease = new MemLeaseStore();
    const storage = new MemStorageBackend();
    const a = coordinator('a', lease, storage, 'cluster-key');
    const b = coordinator('b', lease, storage, 'cluster-key');
    expect((await a.join(DB, '/tmp/a')).role).toBe('leader');
    await b.join(DB, '/tmp/b');
    await until(() => b.leaderAddress(DB) === 'http://a');
    // The record carries the tag; what followers hand out is the bare address.
    expect((await lease.read(DB))!.data).toBeDefined();

    // A forged record in bounds (epoch 3, TTL 5 s) naming another server: not forwarded to.
    const other = new MemLeaseStore();
    await other.writeIfNotExists(DB, forged({}));
    const c = coordinator('c', other, new MemStorageBackend(), 'cluster-key');
    await c.join(DB, '/tmp/c');
    await new Promise((r) => setTimeout(r, 3 * TIMING.pollIntervalMs));
    expect(c.leaderAddress(DB)).toBeUndefined();
    expect(c.leaderAddressRejected(DB)).toBe(true);
    expect(b.leaderAddressRejected(DB)).toBe(false);
  });

  it('an address tag does not verify for another address, session, epoch or key', () => {
    const sealed = sealAddress('k', DB, 's1', 5, 'http://a:1');
    expect(openAddress('k', DB, 's1', 5, sealed)).toBe('http://a:1');
    const tag = sealed.slice(sealed.indexOf('#'));
    expect(openAddress('k', DB, 's1', 5, `http://evil:1${tag}`)).toBeUndefined();
    expect(openAddress('k', DB, 's2', 5, sealed)).toBeUndefined();
    expect(openAddress('k', DB, 's1', 6, sealed)).toBeUndefined();
    expect(openAddress('other', DB, 's1', 5, sealed)).toBeUndefined();
    expect(openAddress('k', DB, 's1', 5, 'http://a:1')).toBeUndefined();
    // Without a key, the tag is ignored (mixed clusters without a secret keep working).
    expect(openAddress(undefined, DB, 's1', 5, sealed)).toBe('http://a:1');
  });
});
