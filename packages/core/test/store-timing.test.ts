import { S3_LEASE_TIMING } from '@hadb/lease-s3';
import { describe, expect, it } from 'vitest';
import { DB } from './sim/cluster.js';
import { eventsOf, leaseWritesBy, runUntil, scriptedCluster, withLeader } from './scripted.js';

// A cluster whose lease store recommends the S3 timing and whose coordinators set no timing
// option: they must renew, poll and fail over at the store's pace (TTL 20 s, renew 8 s, poll 6 s,
// margin 4 s), not at the 5 s defaults.
const { ttlMs: TTL, renewIntervalMs: RENEW, pollIntervalMs: POLL, skewMarginMs: MARGIN } = S3_LEASE_TIMING;

describe('failover with the S3-recommended lease timing', () => {
  it('renews every renewIntervalMs of the recommendation and records its TTL', async () => {
    const c = scriptedCluster({ nodes: 2, storeTiming: S3_LEASE_TIMING });
    await withLeader(c);
    await c.sim.runFor(5 * RENEW);
    const writes = leaseWritesBy(c, 'n1');
    expect(writes.length).toBeGreaterThanOrEqual(5);
    expect(writes.every((w) => w.ttlSecs === TTL / 1000)).toBe(true);
    const gaps = writes.slice(1).map((w, i) => w.at - writes[i]!.at);
    // Renewals follow each other RENEW apart (plus the request's round trip), never faster.
    for (const gap of gaps) {
      expect(gap).toBeGreaterThanOrEqual(RENEW);
      expect(gap).toBeLessThanOrEqual(RENEW + 100);
    }
    expect(c.world.violations).toEqual([]);
  });

  it('a follower takes over a crashed leader after TTL + margin and within TTL + margin + one poll', async () => {
    const c = scriptedCluster({ nodes: 2, storeTiming: S3_LEASE_TIMING });
    const leader = await withLeader(c);
    const follower = c.nodes[1]!;
    await c.sim.runFor(3 * RENEW);
    // Crash right after a renewal took effect: the worst case for the takeover.
    const before = leaseWritesBy(c, 'n1').length;
    expect(await runUntil(c, () => leaseWritesBy(c, 'n1').length > before, 2 * RENEW)).toBe(true);
    const lastRenewal = leaseWritesBy(c, 'n1').at(-1)!.at;
    leader.crash();
    expect(await runUntil(c, () => follower.role === 'leader', 2 * (TTL + MARGIN + POLL))).toBe(true);
    const promotedAt = eventsOf(follower, 'promoted')[0]![0];
    const failover = promotedAt - lastRenewal;
    // Never before the follower has seen the last version for TTL + margin ...
    expect(failover).toBeGreaterThanOrEqual(TTL + MARGIN);
    // ... and no later than one poll after that, plus the claim's few round trips.
    expect(failover).toBeLessThanOrEqual(TTL + MARGIN + POLL + 500);
    expect(follower.coordinator.epoch(DB)).toBe(2);
    expect(c.world.violations).toEqual([]);
  });
});
