import type { Coordinator, RoleEvent } from '@hadb/core';
import { HaError } from './errors.js';
import type { Logger, OpOptions } from '@hadb/io';
import type { FollowerSide, HaEngine, LeaderContext, LeaderSide } from './engine.js';
import type { FileGate } from './file-gate.js';
import { Mutex } from './mutex.js';
import type { ResolvedHaNodeOptions } from './options.js';
import { ShipScheduler } from './ship-scheduler.js';

/** This node's role. `closed` after `close`. */
export type HaRole = 'leader' | 'follower' | 'closed';

/** The leader side of the current term with its ship schedule. */
export interface LeaderTermSides<W, R, WR, RR> {
  readonly side: LeaderSide<W, R, WR, RR>;
  readonly scheduler: ShipScheduler;
}

/** What the lifecycle reports to its node. */
export interface RoleLifecycleHooks {
  /** After each role change (`promoted`: follower → leader; `demoted`: leader → follower). */
  onRole(role: HaRole, change: 'promoted' | 'demoted' | undefined): void;
  /** A leader term ended: its counters, to keep them in the stats. */
  onLeaderRetired(counters: {
    commits: number;
    ships: number;
    bytesShipped: number;
    shipFailures: number;
    lastShipError: string | undefined;
    engine: Readonly<Record<string, number>>;
  }): void;
  onShipped(bytes: number): void;
  onError(error: unknown): void;
  /**
   * The leader stalled (`HADB_HA_SHIP_STALLED`, see `shipStallTimeoutMs`); the lifecycle hands the
   * lease off right after. `handedOff` resolves with whether the hand-off ended this node's term.
   */
  onShipStalled(error: Error, handedOff: Promise<boolean>): void;
}

/**
 * Keeps this node's engine in line with the coordinator's role: on a win it closes the follower
 * side and opens the leader side (with its ship schedule); on a loss it retires the leader side —
 * stop shipping, close, make the local copy safe to follow from — and reopens the follower side.
 * Transitions run one at a time; {@link settled} waits for the one in flight.
 */
export class RoleLifecycle<W, R, WR, RR> {
  readonly #options: ResolvedHaNodeOptions<W, R, WR, RR>;
  readonly #engine: HaEngine<W, R, WR, RR>;
  readonly #coordinator: Coordinator;
  readonly #fileGate: FileGate;
  readonly #hooks: RoleLifecycleHooks;
  readonly #leaderContext: LeaderContext;
  readonly #transitions = new Mutex();
  /** Aborted when the node starts to close: cuts a `prepareLocalCopy` still running. */
  readonly #closing = new AbortController();
  #role: HaRole | 'starting' = 'starting';
  #leader: LeaderTermSides<W, R, WR, RR> | undefined;
  #follower: FollowerSide<R, RR> | undefined;
  #settling: Promise<void> = Promise.resolve();
  /** Transitions queued or running. */
  #pending = 0;

  constructor(
    options: ResolvedHaNodeOptions<W, R, WR, RR>,
    engine: HaEngine<W, R, WR, RR>,
    coordinator: Coordinator,
    fileGate: FileGate,
    leaderContext: LeaderContext,
    hooks: RoleLifecycleHooks,
  ) {
    this.#options = options;
    this.#engine = engine;
    this.#coordinator = coordinator;
    this.#fileGate = fileGate;
    this.#leaderContext = leaderContext;
    this.#hooks = hooks;
  }

  /** The role; `starting` reads as `follower`. */
  get role(): HaRole {
    return this.#role === 'starting' ? 'follower' : this.#role;
  }

  get closed(): boolean {
    return this.#role === 'closed';
  }

  /** The current leader term's sides, while leading. */
  get leader(): LeaderTermSides<W, R, WR, RR> | undefined {
    return this.#role === 'leader' ? this.#leader : undefined;
  }

  /** The follower's read side (also before the first version exists). */
  get follower(): FollowerSide<R, RR> | undefined {
    return this.#follower;
  }

  /** Resolves once the transition in flight (if any) is done. */
  settled(): Promise<void> {
    return this.#settling;
  }

  /** True when no transition is queued or running: {@link settled} would resolve with nothing to wait for. */
  get idle(): boolean {
    return this.#pending === 0;
  }

  /**
   * Makes the local copy safe and creates the follower side; call before joining. `signal` (the
   * open's) cuts it like closing does.
   */
  async prepare(options: OpOptions = {}): Promise<void> {
    const closing = this.#closing.signal;
    const signal = options.signal === undefined ? closing : AbortSignal.any([closing, options.signal]);
    // A copy this node wrote as leader but never shipped must not be followed from.
    await this.#engine.prepareLocalCopy({ signal });
    this.#follower = this.#engine.openFollower();
  }

  /** Reacts to a coordinator event (subscribe with `coordinator.on('*', …)`). */
  onRoleEvent(event: RoleEvent): void {
    if (event.db !== this.#options.name || this.#role === 'closed') return;
    const leading = event.type === 'promoted' || (event.type === 'joined' && event.role === 'leader');
    // Taken synchronously: once the coordinator says "leader", the follower side must not touch
    // the file until the leader side that is about to open has been retired again.
    if (leading) this.#fileGate.hold();
    if (leading || event.type === 'demoted') void this.transition(() => this.#syncRole());
  }

  /** Brings the engine in line with the coordinator's current role (idempotent). */
  sync(): Promise<void> {
    return this.transition(() => this.#syncRole());
  }

  /** Runs `fn` as the next transition; its failure is reported, not thrown. */
  transition(fn: () => Promise<void>): Promise<void> {
    this.#pending++;
    const p = this.#transitions.run(async () => {
      try {
        if (this.#role === 'closed') return;
        await fn();
      } catch (err) {
        // A step cut short because the node is closing is not a failure.
        if (!this.#closing.signal.aborted) this.#hooks.onError(err);
      } finally {
        this.#pending--;
      }
    });
    this.#settling = p;
    return p;
  }

  async #syncRole(): Promise<void> {
    if (this.#coordinator.role(this.#options.name) === 'leader') {
      this.#fileGate.hold();
      await this.#becomeLeader();
    } else {
      await this.#becomeFollower();
    }
  }

  async #becomeLeader(): Promise<void> {
    if (this.#role === 'leader') return;
    const wasFollower = this.#role === 'follower';
    await this.#follower?.close();
    this.#follower = undefined;
    let side: LeaderSide<W, R, WR, RR>;
    try {
      side = await this.#engine.openLeader(this.#leaderContext);
    } catch (err) {
      // This node holds the lease but cannot write: give the lease to another node.
      void this.#coordinator.handoff(this.#options.name).catch((e: unknown) => this.#hooks.onError(e));
      throw err;
    }
    const scheduler = new ShipScheduler({
      clock: this.#options.clock,
      intervalMs: this.#options.shipIntervalMs,
      idleShipEveryTicks: 10,
      groupCommitMs: this.#options.groupCommitMs,
      ship: (o) => side.ship(o),
      onShipped: (report) => this.#hooks.onShipped(report.bytes),
      onError: (err) => this.#hooks.onError(err),
      shipTimeoutMs: this.#options.shipTimeoutMs,
      stallTimeoutMs: this.#options.shipStallTimeoutMs,
      onStalled: (err) => this.#handOffStalled(scheduler, err),
      logger: this.#options.logger,
    });
    scheduler.start();
    this.#leader = { side, scheduler };
    this.#role = 'leader';
    this.#hooks.onRole('leader', wasFollower ? 'promoted' : undefined);
  }

  /**
   * A leader that cannot ship gives its lease to a caught-up follower instead of holding it: the
   * coordinator releases it without flushing (the flush would only wait on the same storage) and
   * does not claim it again for `ttl + margin`. Its unshipped commits are set aside on retirement.
   */
  #handOffStalled(scheduler: ShipScheduler, error: Error): void {
    if (this.#leader?.scheduler !== scheduler) return;
    const handedOff = this.#coordinator.handoff(this.#options.name, { flush: false });
    this.#hooks.onShipStalled(error, handedOff);
  }

  async #becomeFollower(): Promise<void> {
    const wasLeader = this.#role === 'leader';
    try {
      await this.#retireLeader();
    } finally {
      this.#fileGate.release();
    }
    if (this.#role === 'follower' && this.#follower !== undefined) return;
    this.#follower ??= this.#engine.openFollower();
    await this.#follower.start();
    this.#role = 'follower';
    this.#hooks.onRole('follower', wasLeader ? 'demoted' : undefined);
  }

  /** Retires the leader side after its term ended: nothing more is shipped (storage would refuse it). */
  async #retireLeader(): Promise<void> {
    const leader = this.#leader;
    if (leader === undefined) return;
    this.#leader = undefined;
    try {
      await leader.scheduler.stop();
      await leader.side.close();
    } finally {
      this.#countRetired(leader);
      // Unshipped changes of the ended term are set aside here, never followed from. Closing the
      // node cuts it (the engine leaves the copy as it was; the next start prepares it again).
      await this.#engine.prepareLocalCopy({ signal: this.#closing.signal });
    }
  }

  #countRetired(leader: LeaderTermSides<W, R, WR, RR>): void {
    const c = leader.scheduler.counters;
    this.#hooks.onLeaderRetired({
      commits: c.commits,
      ships: c.ships,
      bytesShipped: c.bytesShipped,
      shipFailures: c.shipFailures,
      lastShipError: c.lastShipError,
      engine: leader.side.counters(),
    });
  }

  /**
   * Closes the node's engine sides: a leader ships what it committed (writes are refused from the
   * moment this starts), then closes. `afterRoleClosed` runs once the role reads `closed`. A
   * `prepareLocalCopy` still running (a retiring leader's) is aborted first.
   */
  async close(logger: Logger): Promise<void> {
    this.#closing.abort(new HaError('HADB_HA_CLOSED', 'the node is closing'));
    await this.#transitions.run(async () => {
      const leader = this.#leader;
      if (leader !== undefined) {
        try {
          await leader.scheduler.sync();
        } catch (err) {
          this.#hooks.onError(err);
        }
      }
      this.#role = 'closed';
    });
    const leader = this.#leader;
    if (leader !== undefined) {
      this.#leader = undefined;
      // Commits that landed between the sync above and the role change are shipped now.
      await leader.scheduler.sync().catch((err: unknown) => this.#hooks.onError(err));
      await leader.scheduler.stop();
      await leader.side.close().catch((err: unknown) => this.#hooks.onError(err));
      this.#countRetired(leader);
    }
    await this.#follower
      ?.close()
      .catch((err: unknown) => logger.warn({ err: String(err) }, 'closing the follower side failed'));
    this.#fileGate.release();
  }
}
