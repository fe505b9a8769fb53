import { CALM, type FaultProfile } from './network.js';
import { Cluster, DB, DEFAULT_CLUSTER, type ClusterConfig } from './cluster.js';
import type { Scheduler } from './scheduler.js';

/** Network under chaos: jitter with rare multi-second spikes, lost and ambiguous requests. */
export const CHAOS: FaultProfile = {
  delay: (sim: Scheduler) => (sim.rng.chance(0.05) ? sim.rng.between(200, 3000) : sim.rng.between(1, 40)),
  lostRequest: 0.02,
  lostReply: 0.02,
  ambiguousApplied: 0.03,
  ambiguousNotApplied: 0.02,
  unavailable: 0.03,
};

/** Timing profiles a seed draws from (defaults, and a tight 2 s TTL). */
const PROFILES: ReadonlyArray<Partial<ClusterConfig>> = [
  {},
  {
    ttlMs: 2000,
    renewIntervalMs: 600,
    pollIntervalMs: 300,
    skewMarginMs: 400,
    followerPullIntervalMs: 300,
    writeEveryMs: 300,
  },
];

export interface SeedResult {
  readonly seed: number;
  readonly violations: readonly string[];
  /** Leader SIGKILL → follower promoted, virtual ms (undefined if no failover was measured). */
  readonly failoverMs: number | undefined;
  readonly failoverBoundMs: number;
  readonly acks: number;
  readonly steps: number;
  readonly virtualMs: number;
  readonly trace: readonly string[] | undefined;
}

/**
 * One seed: a cluster of 2–4 nodes with drifting clocks and skewed wall clocks runs a write
 * workload through a chaos phase (network faults, pauses up to 2.4 × TTL, crashes and restarts),
 * then calms down; once a single leader is serving, it is SIGKILLed and the failover time is
 * measured against the bound; finally the cluster converges and every invariant is checked.
 */
export async function runSeed(seed: number, options: { trace?: boolean } = {}): Promise<SeedResult> {
  const pre = new Cluster(seed, DEFAULT_CLUSTER);
  const rng = pre.sim.rng;
  const profile = rng.pick(PROFILES);
  const config: ClusterConfig = {
    ...DEFAULT_CLUSTER,
    ...profile,
    nodes: rng.pick([2, 3, 3, 4]),
    drift: rng.pick([0, 0.01, 0.05, 0.1]),
    leaseFaults: CHAOS,
    storageFaults: CHAOS,
  };
  const c = new Cluster(seed, config, options);
  const { sim, world } = c;
  const ttl = config.ttlMs;
  c.start();

  // Chaos phase: faults at random moments.
  const chaosMs = rng.between(3, 6) * ttl;
  for (let t = rng.between(0.2, 1) * ttl; t < chaosMs; t += rng.between(0.2, 0.8) * ttl) {
    const at = t;
    sim.schedule(at, () => {
      const node = sim.rng.pick(c.nodes);
      const roll = sim.rng.float();
      if (!node.host.alive) return;
      if (roll < 0.45) {
        const ms = sim.rng.between(0.05, 2.4) * ttl;
        c.trace(`${node.name} PAUSE ${Math.round(ms)} ms`);
        sim.pause(node.host, ms);
      } else if (roll < 0.7) {
        node.crash();
        const incarnation = node.host.incarnation;
        // Restart unless something else restarted (or killed) it meanwhile.
        sim.schedule(sim.rng.between(0.05, 1) * ttl, () => {
          if (node.host.incarnation === incarnation && !node.host.alive) node.boot();
        });
      }
    });
  }
  await sim.runUntil(chaosMs);

  // Calm phase: no faults, everyone back.
  c.leaseNet.profile = CALM;
  c.storageNet.profile = CALM;
  c.trace('CALM');
  for (const node of c.nodes) {
    if (node.host.paused) sim.resume(node.host);
    if (!node.host.alive) node.boot();
  }
  // Requests sent during the chaos may still be lost in flight: let their timeouts run out first
  // (lease requests: renewIntervalMs; engine requests in the simulation: 1.5 s).
  await sim.runFor(Math.max(config.renewIntervalMs, 1500) + 100);
  // A follower polls every followerPullIntervalMs while the leader writes every writeEveryMs.
  const maxLag = 2 * Math.ceil(config.followerPullIntervalMs / config.writeEveryMs) + 3;
  const settled = (lag = maxLag): boolean => {
    const leaders = c.leaders();
    if (leaders.length !== 1) return false;
    const head = c.head();
    return c.nodes.every(
      (n) =>
        n === leaders[0] || (n.host.alive && !n.host.paused && n.role === 'follower' && n.disk.position >= head - lag),
    );
  };
  await sim.runFor(8 * ttl, settled);
  let failoverMs: number | undefined;
  // Bound: the last renewal may land one delay after the kill; a follower first sees it within one
  // poll, waits (ttl + margin) on a clock that may run slow by `drift`, may need one more poll for
  // the caught-up gate, then catch-up and the seal write take a few round trips.
  const maxRtt = 30;
  const failoverBoundMs =
    (config.ttlMs + config.skewMarginMs) / (1 - config.drift) +
    2 * config.pollIntervalMs +
    config.followerPullIntervalMs +
    20 * maxRtt;
  const status = (): string =>
    c.nodes
      .map(
        (n) =>
          `${n.name}:${n.host.alive ? (n.host.paused ? 'paused' : n.role) : 'dead'}@${n.disk.position}${n.writing ? '(fence)' : ''}`,
      )
      .join(' ') + ` head=${c.head()}`;
  if (settled()) {
    // Kill at a random point of the renewal cycle.
    await sim.runFor(rng.between(0, config.renewIntervalMs));
    await sim.runFor(8 * ttl, settled);
  }
  const leader = settled() ? c.leaders()[0] : undefined;
  if (leader === undefined) {
    world.violate(`no single caught-up leader ${8 * ttl} ms after faults stopped: ${status()}`);
  } else {
    const killedAt = sim.now;
    const eventsBefore = new Map(c.nodes.map((n) => [n, n.events.length]));
    leader.crash();
    const promoted = (): boolean =>
      c.nodes.some((n) => n !== leader && n.events.slice(eventsBefore.get(n)).some(([, e]) => e.type === 'promoted'));
    await sim.runFor(3 * failoverBoundMs, promoted);
    if (!promoted())
      world.violate(`no promotion within ${Math.round(3 * failoverBoundMs)} ms after the leader was killed`);
    else {
      failoverMs = sim.now - killedAt;
      if (failoverMs > failoverBoundMs)
        world.violate(`failover took ${Math.round(failoverMs)} ms > bound ${Math.round(failoverBoundMs)} ms`);
    }
    leader.boot();
    await sim.runFor(3 * ttl, settled);
    c.writesEnabled = false;
    await sim.runFor(3 * ttl, () => settled(0));
    if (!settled(0)) world.violate(`cluster did not converge after the killed leader restarted: ${status()}`);
  }

  // Nothing acknowledged is lost; every disk is a prefix of storage.
  const chain = c.world.chain(DB);
  for (const ack of world.acks) {
    if (chain[ack.seq - 1]?.id !== ack.id)
      world.violate(`acknowledged segment ${ack.id} lost (storage has ${chain[ack.seq - 1]?.id ?? 'nothing'})`);
  }
  for (const node of c.nodes) {
    node.disk.chain.forEach((seg, i) => {
      if (chain[i]?.id !== seg.id)
        world.violate(`${node.name} diverged at ${i + 1}: ${seg.id} vs ${chain[i]?.id ?? 'nothing'}`);
    });
  }
  return {
    seed,
    violations: world.violations,
    failoverMs,
    failoverBoundMs,
    acks: world.acks.length,
    steps: sim.steps,
    virtualMs: sim.now,
    trace: c.traceLines,
  };
}
