import { Coordinator } from '../../src/coordinator.js';
import type { RoleEvent } from '../../src/events.js';
import type { FollowerBehavior } from '../../src/follower-behavior.js';
import type { Replicator } from '../../src/replicator.js';
import type { Logger } from '@hadb/io';
import type { LeaseTimingRecommendation } from '@hadb/lease';
import { Network, CALM, type FaultProfile } from './network.js';
import { NodeClock } from './node-clock.js';
import { Host, Scheduler } from './scheduler.js';
import { SimLeaseClient, SimLeaseRegister } from './sim-lease.js';
import { SimObjectStore, SimStorageClient } from './sim-storage.js';
import { LocalDisk, SimFollowerBehavior, SimReplicator, World } from './sim-replica.js';

export const DB = 'db1';

/** Timing and environment of one simulated cluster. */
export interface ClusterConfig {
  readonly nodes: number;
  readonly ttlMs: number;
  readonly renewIntervalMs: number;
  readonly pollIntervalMs: number;
  readonly skewMarginMs: number;
  readonly followerPullIntervalMs: number;
  /** Each node's clocks run at a rate drawn from [1 − drift, 1 + drift]. */
  readonly drift: number;
  /** Each node's wall clock is offset by up to ± this many ms. */
  readonly wallSkewMs: number;
  /** Mean pause between client writes on the leader. */
  readonly writeEveryMs: number;
  /** Fixed wall-clock offsets per node (default: random within ± wallSkewMs). */
  readonly wallOffsetsMs?: readonly number[];
  /** Fixed clock rates per node (default: random within 1 ± drift). */
  readonly rates?: readonly number[];
  readonly leaseFaults: FaultProfile;
  readonly storageFaults: FaultProfile;
  /**
   * The lease store recommends this timing (`capabilities.recommendedTiming`) and the coordinator
   * gets no timing options: it must use the store's. Default: the timing above, passed explicitly.
   */
  readonly storeTiming?: LeaseTimingRecommendation | undefined;
}

export const DEFAULT_CLUSTER: ClusterConfig = {
  nodes: 3,
  ttlMs: 5000,
  renewIntervalMs: 2000,
  pollIntervalMs: 1000,
  skewMarginMs: 1000,
  followerPullIntervalMs: 1000,
  drift: 0.05,
  wallSkewMs: 120_000,
  writeEveryMs: 800,
  leaseFaults: CALM,
  storageFaults: CALM,
};

/** A simulated node: a host, its disk, and (while running) a coordinator incarnation. */
export class SimNode {
  readonly name: string;
  readonly host: Host;
  readonly disk: LocalDisk;
  readonly rate: number;
  readonly wallOffsetMs: number;
  clock!: NodeClock;
  coordinator!: Coordinator;
  replicator!: SimReplicator;
  behavior!: SimFollowerBehavior;
  /** Events of every incarnation: [virtual time, event]. */
  readonly events: Array<[number, RoleEvent]> = [];
  private readonly cluster: Cluster;

  constructor(cluster: Cluster, name: string, rate: number, wallOffsetMs: number) {
    this.cluster = cluster;
    this.name = name;
    this.host = new Host(name);
    this.host.alive = false;
    this.disk = new LocalDisk(cluster.world, name);
    this.rate = rate;
    this.wallOffsetMs = wallOffsetMs;
  }

  /** Boots a new incarnation (fresh process, same disk). */
  boot(): void {
    const c = this.cluster;
    const sim = c.sim;
    if (this.host.alive) return;
    sim.revive(this.host);
    c.trace(`${this.name} BOOT incarnation ${this.host.incarnation}`);
    this.clock = new NodeClock(sim, this.host, {
      rate: this.rate,
      wallOffsetMs: this.wallOffsetMs,
      monoBase: sim.rng.between(0, 1e6),
    });
    const storage = new SimStorageClient(this.host, c.store, c.storageNet);
    this.replicator = new SimReplicator(c.world, storage, this.disk, this.clock);
    this.behavior = new SimFollowerBehavior(c.world, storage, this.disk, this.name, this.clock);
    const cfg = c.config;
    const coordinator = new Coordinator({
      replicator: c.wrapReplicator?.(this, this.replicator) ?? this.replicator,
      followerBehavior: c.wrapBehavior?.(this, this.behavior) ?? this.behavior,
      lease: {
        store: new SimLeaseClient(this.host, c.register, c.leaseNet, cfg.storeTiming),
        instanceId: this.name,
        address: `sim://${this.name}`,
        ...(cfg.storeTiming === undefined
          ? {
              ttlMs: cfg.ttlMs,
              renewIntervalMs: cfg.renewIntervalMs,
              pollIntervalMs: cfg.pollIntervalMs,
              skewMarginMs: cfg.skewMarginMs,
            }
          : {}),
      },
      followerPullIntervalMs: cfg.followerPullIntervalMs,
      replicatorTimeoutMs: 5000,
      clock: this.clock,
      logger: c.logger(this.name),
      newId: () => sim.rng.id(),
    });
    this.coordinator = coordinator;
    coordinator.on('*', (event) => {
      this.events.push([sim.now, event]);
      c.trace(`${this.name} ${JSON.stringify(event)}`);
    });
    const incarnation = this.host.incarnation;
    sim.schedule(0, () => void this.joinLoop(coordinator, incarnation), this.host);
  }

  private async joinLoop(coordinator: Coordinator, incarnation: number): Promise<void> {
    while (this.host.incarnation === incarnation) {
      try {
        await coordinator.join(DB, `/data/${this.name}.db`);
        break;
      } catch (err) {
        this.cluster.trace(`${this.name} join failed: ${(err as Error).message} ${String((err as Error).cause)}`);
        await this.clock.sleep(500);
      }
    }
    void this.workload(coordinator, incarnation);
  }

  private async workload(coordinator: Coordinator, incarnation: number): Promise<void> {
    const cfg = this.cluster.config;
    const sim = this.cluster.sim;
    while (this.host.incarnation === incarnation) {
      await this.clock.sleep(sim.rng.between(0.5, 1.5) * cfg.writeEveryMs);
      if (coordinator.role(DB) !== 'leader' || !this.cluster.writesEnabled) continue;
      try {
        coordinator.checkWrite(DB);
        await this.replicator.write(DB);
      } catch {
        // refused or failed: not acknowledged
      }
    }
  }

  crash(): void {
    this.cluster.trace(`${this.name} CRASH`);
    this.cluster.sim.crash(this.host);
  }

  /** Whether this incarnation holds a valid write fence. */
  get writing(): boolean {
    return this.host.alive && this.replicator?.activeFence?.isValid() === true;
  }

  get role(): string | undefined {
    return this.host.alive ? this.coordinator.role(DB) : undefined;
  }
}

/** A cluster of simulated nodes over one lease register and one object store. */
export class Cluster {
  readonly sim: Scheduler;
  readonly config: ClusterConfig;
  readonly store = new SimObjectStore();
  readonly world: World;
  readonly register: SimLeaseRegister;
  readonly leaseNet: Network;
  readonly storageNet: Network;
  readonly nodes: SimNode[] = [];
  readonly traceLines: string[] | undefined;
  /** Largest number of simultaneously valid write fences observed. */
  maxWriters = 0;
  /** Whether leaders keep taking client writes. */
  writesEnabled = true;
  /** Lets a test wrap a node's follower behaviour (applies at the next boot). */
  wrapBehavior: ((node: SimNode, behavior: FollowerBehavior) => FollowerBehavior) | undefined;
  /** Lets a test wrap a node's replicator (applies at the next boot). */
  wrapReplicator: ((node: SimNode, replicator: Replicator) => Replicator) | undefined;

  constructor(seed: number, config: ClusterConfig, options: { trace?: boolean } = {}) {
    this.sim = new Scheduler(seed);
    this.config = config;
    this.world = new World(this.store);
    this.world.now = () => this.sim.now;
    this.register = new SimLeaseRegister(this.world.violations, () => this.sim.now);
    this.leaseNet = new Network(this.sim, config.leaseFaults);
    this.storageNet = new Network(this.sim, config.storageFaults);
    this.traceLines = options.trace === true ? [] : undefined;
    for (let i = 0; i < config.nodes; i++) {
      const rate = config.rates?.[i] ?? 1 + this.sim.rng.between(-config.drift, config.drift);
      const random = this.sim.rng.between(-config.wallSkewMs, config.wallSkewMs);
      const offset = config.wallOffsetsMs?.[i] ?? random;
      this.nodes.push(new SimNode(this, `n${i + 1}`, rate, offset));
    }
    this.sim.afterTask = () => this.checkSingleWriter();
  }

  start(): void {
    for (const node of this.nodes) node.boot();
  }

  /** Invariant: at most one node holds a valid write fence at any instant. */
  private checkSingleWriter(): void {
    let writers = 0;
    let who = '';
    for (const node of this.nodes) {
      if (node.writing) {
        writers++;
        who += ` ${node.name}(epoch ${node.replicator.activeFence?.epoch})`;
      }
    }
    if (writers > this.maxWriters) this.maxWriters = writers;
    if (writers > 1) this.world.violate(`${writers} nodes hold a valid write fence:${who}`);
  }

  trace(line: string): void {
    this.traceLines?.push(`${(this.sim.now / 1000).toFixed(3)} ${line}`);
  }

  logger(name: string): Logger {
    if (this.traceLines === undefined) {
      const noop = (): void => {};
      return { debug: noop, info: noop, warn: noop, error: noop };
    }
    const log = (level: string) => (obj: object, msg: string) =>
      this.trace(
        `${name} ${level} ${msg} ${JSON.stringify(obj, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`,
      );
    return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
  }

  /** Nodes that are alive and consider themselves leader with a valid fence. */
  leaders(): SimNode[] {
    return this.nodes.filter((n) => n.host.alive && !n.host.paused && n.role === 'leader' && n.writing);
  }

  /** Sequence of the newest segment in storage. */
  head(): number {
    return this.world.head;
  }
}
