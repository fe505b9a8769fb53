import { describe, expect, it } from 'vitest';
import type { CatchupContext, FollowerBehavior } from '../src/follower-behavior.js';
import type { LeaderTerm, Replicator } from '../src/replicator.js';
import { DB, type SimNode } from './sim/cluster.js';
import { eventsOf, leaseWritesBy, ONE_WAY_MS, runUntil, scriptedCluster, withLeader } from './scripted.js';

// Defaults under test: TTL 5 s, renew 2 s, lease poll 1 s, margin 1 s, follower pull 1 s.
const TTL = 5000;
const MARGIN = 1000;
const POLL = 1000;

function seqOfKey(key: string): number {
  return Number.parseInt(key.slice(key.lastIndexOf('/') + 1), 16);
}

describe('self-fencing leader', () => {
  it('fences at renewedAt + TTL − margin, counted from when the last confirmed renewal was sent, without waiting for failed renewals', async () => {
    const c = scriptedCluster({ nodes: 1 });
    const leader = await withLeader(c);
    await c.sim.runFor(3000);
    // The next renewal is confirmed, but its reply is 1.5 s late; every renewal after it is lost.
    let renewals = 0;
    let confirmedSentAt = Number.NaN;
    c.leaseNet.intercept = ({ kind, host }) => {
      if (kind !== 'lease.cas' || host !== leader.host) return undefined;
      renewals++;
      if (renewals === 1) {
        confirmedSentAt = c.sim.now;
        return { replyDelayMs: 1500 };
      }
      return { fault: 'lost-request' };
    };
    let fencedAt = Number.NaN;
    let checkWriteError: unknown;
    let signalAborted = false;
    leader.coordinator.on('fenced', () => {
      fencedAt = c.sim.now;
      signalAborted = leader.replicator.activeFence?.signal.aborted === true;
      try {
        leader.coordinator.checkWrite(DB);
      } catch (err) {
        checkWriteError = err;
      }
    });
    expect(await runUntil(c, () => !Number.isNaN(fencedAt), 20_000)).toBe(true);
    // Not from the reply (+1.5 s), not after three failed renewals (~6 s): exactly TTL − margin.
    expect(fencedAt - confirmedSentAt).toBeGreaterThanOrEqual(TTL - MARGIN - 1);
    expect(fencedAt - confirmedSentAt).toBeLessThanOrEqual(TTL - MARGIN + 1);
    expect(eventsOf(leader, 'fenced')[0]?.[1]).toMatchObject({ reason: 'deadline', epoch: 1 });
    expect(checkWriteError).toMatchObject({ code: 'HADB_CORE_FENCED' });
    expect(signalAborted).toBe(true);
    // Nothing of this term was sent after the deadline.
    const late = c.world.creates.filter(({ at }) => at - ONE_WAY_MS > fencedAt);
    expect(late).toEqual([]);
    expect(await runUntil(c, () => leader.role === 'follower', 5000)).toBe(true);
  });

  it('a leader paused longer than the TTL writes nothing after its deadline and steps down when it resumes', async () => {
    const c = scriptedCluster({ nodes: 2 });
    const leader = await withLeader(c);
    const follower = c.nodes[1]!;
    await c.sim.runFor(2500);
    const session = leader.coordinator.epoch(DB);
    c.sim.pause(leader.host, 2 * TTL);
    expect(await runUntil(c, () => follower.role === 'leader', 20_000)).toBe(true);
    expect(await runUntil(c, () => !leader.host.paused && leader.role === 'follower', 20_000)).toBe(true);
    await c.sim.runFor(3000);
    expect(c.world.violations).toEqual([]);
    expect(session).toBe(1);
    // Every segment after the takeover belongs to the new term.
    const takeover = eventsOf(follower, 'promoted')[0]![0];
    expect(c.world.creates.filter(({ at, seg }) => at > takeover && seg.epoch === 1)).toEqual([]);
  });
});

describe('claim rule', () => {
  for (const offset of [3_600_000, -3_600_000]) {
    it(`takes a held lease only after seeing the same record for TTL + margin on its own monotonic clock (follower wall clock ${offset > 0 ? 'an hour ahead' : 'an hour behind'})`, async () => {
      const c = scriptedCluster({ nodes: 2, wallOffsetsMs: [0, offset] });
      const leader = await withLeader(c);
      const follower = c.nodes[1]!;
      const reads: number[] = [];
      c.leaseNet.intercept = ({ kind, host }) => {
        if (kind === 'lease.read' && host === follower.host) reads.push(c.sim.now);
        return undefined;
      };
      await c.sim.runFor(2500);
      leader.crash();
      expect(await runUntil(c, () => follower.role === 'leader', 20_000)).toBe(true);
      const lastLeaderWrite = leaseWritesBy(c, 'n1').at(-1)!.at;
      // First read to reach the store after the last write; its reply arrives one way later.
      const firstSeen = reads.find((sent) => sent + ONE_WAY_MS >= lastLeaderWrite)! + 2 * ONE_WAY_MS;
      const claimSent = leaseWritesBy(c, 'n2')[0]!.at - ONE_WAY_MS;
      expect(claimSent - firstSeen).toBeGreaterThanOrEqual(TTL + MARGIN);
      expect(claimSent - firstSeen).toBeLessThanOrEqual(TTL + MARGIN + 100);
      expect(c.world.violations).toEqual([]);
    });
  }

  it('restarts the wait whenever the record changes (a renewing leader is never taken over)', async () => {
    const c = scriptedCluster({ nodes: 3 });
    await withLeader(c);
    await c.sim.runFor(60_000);
    expect(leaseWritesBy(c, 'n2')).toEqual([]);
    expect(leaseWritesBy(c, 'n3')).toEqual([]);
  });

  it('takes a released lease at once: handoff moves leadership within one poll and the old leader stays back', async () => {
    const c = scriptedCluster({ nodes: 2 });
    const leader = await withLeader(c);
    const follower = c.nodes[1]!;
    await c.sim.runFor(2000);
    const started = c.sim.now;
    let handedOff: boolean | undefined;
    void leader.coordinator.handoff(DB).then((v) => (handedOff = v));
    expect(await runUntil(c, () => follower.role === 'leader', 10_000)).toBe(true);
    expect(eventsOf(follower, 'promoted')[0]![0] - started).toBeLessThan(POLL + 200);
    expect(await runUntil(c, () => handedOff !== undefined, 1000)).toBe(true);
    expect(handedOff).toBe(true);
    expect(leader.role).toBe('follower');
    expect(eventsOf(leader, 'demoted').at(-1)?.[1]).toMatchObject({ reason: 'handoff', epoch: 1 });
    expect(eventsOf(leader, 'fenced')).toEqual([]);
    expect(eventsOf(follower, 'promoted')[0]?.[1].epoch).toBe(2);
    await c.sim.runFor(10_000);
    expect(follower.role).toBe('leader');
    expect(c.world.violations).toEqual([]);
  });

  it('a leaving leader releases the lease so a follower takes over at once', async () => {
    const c = scriptedCluster({ nodes: 2 });
    const leader = await withLeader(c);
    const follower = c.nodes[1]!;
    await c.sim.runFor(2000);
    const started = c.sim.now;
    void leader.coordinator.leave(DB);
    expect(await runUntil(c, () => follower.role === 'leader', 10_000)).toBe(true);
    expect(c.sim.now - started).toBeLessThan(POLL + 200);
    expect(leader.coordinator.role(DB)).toBeUndefined();
  });
});

describe('epochs and fenced writes', () => {
  it('every term gets a strictly larger epoch, and the replicator is handed exactly that epoch', async () => {
    const c = scriptedCluster({ nodes: 3 });
    const terms: Array<{ node: string; epoch: number; fenceEpoch: number }> = [];
    c.wrapReplicator = (node, inner) => ({
      ...bind(inner),
      startLineage: (db, path, term, o) => {
        terms.push({ node: node.name, epoch: term.epoch, fenceEpoch: term.fence.epoch });
        return inner.startLineage(db, path, term, o);
      },
      continueLineage: (db, path, term, o) => {
        terms.push({ node: node.name, epoch: term.epoch, fenceEpoch: term.fence.epoch });
        return inner.continueLineage(db, path, term, o);
      },
    });
    let leader = await withLeader(c);
    for (let i = 0; i < 4; i++) {
      await c.sim.runFor(2000);
      leader.crash();
      const old = leader;
      expect(await runUntil(c, () => c.nodes.some((n) => n !== old && n.role === 'leader'), 20_000)).toBe(true);
      leader = c.nodes.find((n) => n.role === 'leader')!;
      old.boot();
      await runUntil(c, () => old.role === 'follower', 5000);
    }
    const epochs = terms.map((t) => t.epoch);
    expect(epochs).toEqual([1, 2, 3, 4, 5]);
    expect(terms.every((t) => t.fenceEpoch === t.epoch)).toBe(true);
    const chainEpochs = c.world.chain(DB).map((s) => s.epoch);
    expect(chainEpochs).toEqual([...chainEpochs].sort((a, b) => a - b));
    expect(c.world.violations).toEqual([]);
  });

  it('a new term stays above the durable epoch even if the lease record was lost (epoch floor from storage)', async () => {
    const c = scriptedCluster({ nodes: 2 });
    const leader = await withLeader(c);
    const other = c.nodes[1]!;
    await c.sim.runFor(2000);
    leader.crash();
    expect(await runUntil(c, () => other.role === 'leader', 20_000)).toBe(true);
    await c.sim.runFor(2000);
    expect(c.world.chain(DB).at(-1)?.epoch).toBe(2);
    other.crash();
    c.register.delete(DB); // e.g. a Rust node's leave deletes the record, or the store lost it
    leader.boot(); // a fresh process: it has seen no epoch at all
    expect(await runUntil(c, () => leader.role === 'leader', 10_000)).toBe(true);
    expect(leader.coordinator.epoch(DB)).toBe(3);
    expect(c.world.violations).toEqual([]);
  });

  it('a deposed leader whose segment write arrives late can never overwrite the new term’s sequence', async () => {
    const c = scriptedCluster({ nodes: 2 });
    const leader = await withLeader(c);
    const follower = c.nodes[1]!;
    await c.sim.runFor(2000);
    // The leader's next segment write is stuck in the network for 12 s, and it loses the lease meanwhile.
    let delayedSeq: number | undefined;
    c.leaseNet.intercept = ({ host }) => (host === leader.host ? { fault: 'lost-request' } : undefined);
    c.storageNet.intercept = ({ kind, host, key }) => {
      if (kind !== 'storage.create' || host !== leader.host) return undefined;
      delayedSeq ??= seqOfKey(key);
      return { requestDelayMs: 12_000 };
    };
    expect(await runUntil(c, () => follower.role === 'leader' && delayedSeq !== undefined, 20_000)).toBe(true);
    await c.sim.runFor(15_000);
    const segment = c.world.chain(DB)[delayedSeq! - 1]!;
    expect(segment.epoch).toBe(2);
    const oldSession = leaseWritesBy(c, 'n1')[0]!.sessionId;
    expect(c.world.acks.some((a) => a.seq === delayedSeq && a.id.startsWith(oldSession))).toBe(false);
    // Its late writes were refused by putIfAbsent: nothing of the old term at or after that sequence.
    expect(c.world.creates.some(({ seg }) => seg.id.startsWith(oldSession) && seg.seq >= delayedSeq!)).toBe(false);
    expect(c.world.violations).toEqual([]);
  });
});

describe('caught-up gate', () => {
  it('a follower behind the durable head never claims the lease, and leads once it has caught up', async () => {
    const c = scriptedCluster({ nodes: 2 });
    const leader = await withLeader(c);
    const follower = c.nodes[1]!;
    await c.sim.runFor(3000);
    // The follower cannot fetch its next segment; head reads still work.
    const stuckAt = follower.disk.position + 1;
    let blocked = true;
    c.storageNet.intercept = ({ kind, host, key }) =>
      blocked && host === follower.host && kind === 'storage.get' && key.includes('/seg/') && seqOfKey(key) === stuckAt
        ? { fault: 'unavailable' }
        : undefined;
    expect(await runUntil(c, () => c.head() >= stuckAt + 2, 10_000)).toBe(true);
    leader.crash();
    await c.sim.runFor(4 * (TTL + MARGIN));
    expect(leaseWritesBy(c, 'n2')).toEqual([]);
    expect(follower.role).toBe('follower');
    expect(eventsOf(follower, 'promoted')).toEqual([]);
    blocked = false;
    expect(await runUntil(c, () => follower.role === 'leader', 10_000)).toBe(true);
    expect(follower.disk.position).toBe(c.head());
    expect(c.world.violations).toEqual([]);
  });

  it('promotion is refused when catch-up ends below the durable head (the lease is given back, the replicator never starts)', async () => {
    const c = scriptedCluster({ nodes: 2 });
    let continuing = 0;
    c.wrapBehavior = (node, inner) =>
      node.name !== 'n2'
        ? inner
        : ({
            runFollowerLoop: (ctx) => inner.runFollowerLoop(ctx),
            durableHead: (db, o) => inner.durableHead(db, o),
            // Catch-up stops short (say a segment it could not verify) and says so.
            catchupOnPromotion: async (ctx: CatchupContext) => (await inner.catchupOnPromotion(ctx)) - 2n,
          } satisfies FollowerBehavior);
    c.wrapReplicator = (node, inner) =>
      node.name !== 'n2'
        ? inner
        : {
            ...bind(inner),
            continueLineage: (db, path, term: LeaderTerm, o) => {
              continuing++;
              return inner.continueLineage(db, path, term, o);
            },
          };
    const leader = await withLeader(c);
    const follower = c.nodes[1]!;
    await c.sim.runFor(3000);
    leader.crash();
    await c.sim.runFor(4 * (TTL + MARGIN));
    expect(eventsOf(follower, 'promoted')).toEqual([]);
    expect(follower.role).toBe('follower');
    expect(continuing).toBe(0);
    expect(follower.coordinator.metrics().promotionsAbortedCatchup).toBeGreaterThanOrEqual(1);
    // The lease was handed back (released record), not left to expire.
    expect(leaseWritesBy(c, 'n2').some((w) => w.ttlSecs === 0)).toBe(true);
  });
});

describe('stuck engine calls', () => {
  it('a promotion step that hangs past replicatorTimeoutMs ends the term at once, so the lease is not held hostage', async () => {
    const c = scriptedCluster({ nodes: 3 });
    let release: (() => void) | undefined;
    c.wrapReplicator = (node, inner) =>
      node.name !== 'n2'
        ? inner
        : {
            ...bind(inner),
            // Ignores its signal and never finishes until the test lets it.
            continueLineage: () => new Promise<void>((resolve) => (release = resolve)),
          };
    const leader = await withLeader(c);
    const [, stuck, other] = c.nodes as [SimNode, SimNode, SimNode];
    // Make n2 the one that claims: n3 cannot read the lease for a while.
    let blockOther = true;
    c.leaseNet.intercept = ({ host, kind }) =>
      blockOther && host === other.host && kind === 'lease.read' ? { fault: 'unavailable' } : undefined;
    await c.sim.runFor(2000);
    leader.crash();
    expect(await runUntil(c, () => release !== undefined, 20_000)).toBe(true);
    const stuckSince = c.sim.now;
    blockOther = false;
    // replicatorTimeoutMs is 5 s in the simulation; then the lease must lapse and n3 take over.
    expect(await runUntil(c, () => other.role === 'leader', 20_000)).toBe(true);
    expect(c.sim.now - stuckSince).toBeLessThan(5000 + TTL + MARGIN + 2 * POLL + 500);
    expect(eventsOf(stuck, 'promoted')).toEqual([]);
    release!();
    expect(await runUntil(c, () => stuck.coordinator.metrics().promotionsAbortedTimeout === 1, 10_000)).toBe(true);
    const headNow = c.head();
    expect(await runUntil(c, () => stuck.role === 'follower' && stuck.disk.position >= headNow + 2, 10_000)).toBe(true);
    expect(c.world.violations).toEqual([]);
  });
});

describe('ambiguous lease writes', () => {
  it('a claim whose reply was lost in ambiguity but that landed is recognised by re-reading (no second claim)', async () => {
    const c = scriptedCluster({ nodes: 2 });
    const leader = await withLeader(c);
    const follower = c.nodes[1]!;
    let scripted = false;
    c.leaseNet.intercept = ({ kind, host }) => {
      if (scripted || host !== follower.host || kind !== 'lease.cas') return undefined;
      scripted = true;
      return { fault: 'ambiguous-applied' };
    };
    await c.sim.runFor(2500);
    leader.crash();
    expect(await runUntil(c, () => follower.role === 'leader', 20_000)).toBe(true);
    const claims = leaseWritesBy(c, 'n2');
    expect(scripted).toBe(true);
    expect(new Set(claims.map((w) => w.sessionId)).size).toBe(1);
    expect(eventsOf(follower, 'promoted')[0]![0] - claims[0]!.at).toBeLessThan(300);
    expect(follower.coordinator.metrics().leaseAmbiguousResolved).toBeGreaterThanOrEqual(1);
  });

  it('a claim that failed ambiguously while another node won is never taken for a win', async () => {
    const c = scriptedCluster({ nodes: 3 });
    const leader = await withLeader(c);
    const [, unlucky, lucky] = c.nodes as [SimNode, SimNode, SimNode];
    c.leaseNet.intercept = ({ kind, host }) =>
      host === unlucky.host && (kind === 'lease.cas' || kind === 'lease.create')
        ? { fault: 'ambiguous-not-applied' }
        : undefined;
    await c.sim.runFor(2500);
    leader.crash();
    expect(await runUntil(c, () => lucky.role === 'leader', 20_000)).toBe(true);
    await c.sim.runFor(10_000);
    expect(eventsOf(unlucky, 'promoted')).toEqual([]);
    expect(unlucky.role).toBe('follower');
    expect(c.world.violations).toEqual([]);
  });

  it('renewals that land but report an ambiguous outcome keep the lease (resolved by re-reading, no demotion)', async () => {
    const c = scriptedCluster({ nodes: 2 });
    const leader = await withLeader(c);
    c.leaseNet.intercept = ({ kind, host }) =>
      host === leader.host && kind === 'lease.cas' ? { fault: 'ambiguous-applied' } : undefined;
    await c.sim.runFor(20_000);
    expect(eventsOf(leader, 'fenced')).toEqual([]);
    expect(eventsOf(leader, 'demoted')).toEqual([]);
    expect(leader.role).toBe('leader');
    expect(leader.coordinator.metrics().leaseAmbiguousResolved).toBeGreaterThanOrEqual(8);
    expect(leaseWritesBy(c, 'n2')).toEqual([]);
  });
});

describe('re-follow', () => {
  it('a fenced leader returns to following by itself, catches up, and can lead again', async () => {
    const c = scriptedCluster({ nodes: 2 });
    const leader = await withLeader(c);
    const follower = c.nodes[1]!;
    await c.sim.runFor(2000);
    let partitioned = true;
    c.leaseNet.intercept = ({ host }) => (partitioned && host === leader.host ? { fault: 'lost-request' } : undefined);
    expect(await runUntil(c, () => follower.role === 'leader', 20_000)).toBe(true);
    expect(eventsOf(leader, 'fenced')[0]?.[1].reason).toBe('deadline');
    expect(eventsOf(leader, 'demoted')[0]?.[1].reason).toBe('deadline');
    partitioned = false;
    const headAtTakeover = c.head();
    expect(
      await runUntil(
        c,
        () => leader.role === 'follower' && c.head() > headAtTakeover + 3 && leader.disk.position >= c.head() - 2,
        20_000,
      ),
    ).toBe(true);
    follower.crash();
    expect(await runUntil(c, () => leader.role === 'leader', 20_000)).toBe(true);
    expect(c.world.violations).toEqual([]);
  });

  it('a leader that lost its lease to another node (CAS conflict) is demoted and follows again', async () => {
    const c = scriptedCluster({ nodes: 2 });
    const leader = await withLeader(c);
    const follower = c.nodes[1]!;
    await c.sim.runFor(2000);
    // Renewals are slow to arrive: the follower's claim lands first, the renewal then conflicts.
    c.leaseNet.intercept = ({ kind, host }) =>
      host === leader.host && kind === 'lease.cas' ? { requestDelayMs: 9000 } : undefined;
    expect(await runUntil(c, () => follower.role === 'leader', 20_000)).toBe(true);
    c.leaseNet.intercept = undefined;
    expect(await runUntil(c, () => leader.role === 'follower' && leader.disk.position >= c.head() - 2, 20_000)).toBe(
      true,
    );
    expect(c.world.violations).toEqual([]);
  });
});

/** A plain object with the replicator's methods bound (so a test can override a few). */
function bind(r: Replicator): Replicator {
  return {
    startLineage: r.startLineage.bind(r),
    continueLineage: r.continueLineage.bind(r),
    pull: r.pull.bind(r),
    remove: r.remove.bind(r),
    sync: r.sync.bind(r),
  };
}
