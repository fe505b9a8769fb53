import type { RoleEvent, RoleEventType } from '../src/events.js';
import { CALM, type FaultProfile } from './sim/network.js';
import { Cluster, DEFAULT_CLUSTER, type ClusterConfig, type SimNode } from './sim/cluster.js';

/** Every request and reply takes exactly 5 ms: timing assertions can be exact. */
export const FIXED: FaultProfile = { ...CALM, delay: () => 5 };
export const ONE_WAY_MS = 5;

/** A simulated cluster without random faults, drift or wall-clock skew unless asked for. */
export function scriptedCluster(overrides: Partial<ClusterConfig> = {}, seed = 1): Cluster {
  return new Cluster(seed, {
    ...DEFAULT_CLUSTER,
    drift: 0,
    wallSkewMs: 0,
    leaseFaults: FIXED,
    storageFaults: FIXED,
    ...overrides,
  });
}

/** Runs until `pred` holds (checked after every task) or `maxMs` of virtual time passed. */
export async function runUntil(c: Cluster, pred: () => boolean, maxMs: number): Promise<boolean> {
  if (pred()) return true;
  await c.sim.runFor(maxMs, pred);
  return pred();
}

/** Boots the first node, waits until it leads, then boots the others and waits until they follow. */
export async function withLeader(c: Cluster): Promise<SimNode> {
  const [first, ...rest] = c.nodes;
  if (first === undefined) throw new Error('empty cluster');
  first.boot();
  if (!(await runUntil(c, () => first.role === 'leader', 5000))) throw new Error('first node did not lead');
  for (const n of rest) n.boot();
  if (!(await runUntil(c, () => rest.every((n) => n.role === 'follower'), 5000)))
    throw new Error('others did not follow');
  return first;
}

/** Events of `type` a node emitted, with their virtual times. */
export function eventsOf<T extends RoleEventType>(
  node: SimNode,
  type: T,
): Array<[number, Extract<RoleEvent, { type: T }>]> {
  return node.events.filter(([, e]) => e.type === type) as Array<[number, Extract<RoleEvent, { type: T }>]>;
}

/** Lease writes that took effect, by instance. */
export function leaseWritesBy(c: Cluster, instanceId: string): Cluster['register']['history'] {
  return c.register.history.filter((h) => h.instanceId === instanceId);
}
