import { randomUUID } from 'node:crypto';
import type { OpOptions } from '@hadb/io';
import type { LeaderSide } from './engine.js';
import { HaError, throwIfAborted } from './errors.js';
import { forwardToLeader, type ForwardingClient, type ForwardToLeaderOptions } from './forwarding/client.js';
import type { Durability } from './forwarding/protocol.js';
import type { ReadOptions, WriteOptions } from './ha-node.js';
import { LoopTurns } from './loop-turns.js';
import type { ResolvedHaNodeOptions } from './options.js';
import type { RoleLifecycle } from './role-lifecycle.js';
import type { NodeStats } from './stats.js';

/** Options of a leader-side call without a signal (one shared object instead of one per call). */
const NO_SIGNAL: Readonly<OpOptions> = Object.freeze({});

/** What the router needs from its node. */
export interface WriteRouterDeps<W, R, WR, RR> {
  readonly options: ResolvedHaNodeOptions<W, R, WR, RR>;
  readonly lifecycle: RoleLifecycle<W, R, WR, RR>;
  readonly client: ForwardingClient<W, R, WR, RR>;
  readonly stats: NodeStats;
  /** The leader's forwarding address as this node knows it now (from the lease). */
  leaderAddress(): string | undefined;
  /** True when the lease names a live leader whose address did not authenticate with this node's secret. */
  leaderAddressRejected?: (() => boolean) | undefined;
  /** This node's own forwarding address. */
  readonly selfAddress: string;
}

/**
 * Where writes and reads run: on this node's leader side when it leads, else forwarded to the
 * leader with one idempotency token across every retry and failover; `shipped` writes wait for
 * the ship that covers them (asking the scheduler for a prompt one: the group-commit hook).
 */
export class WriteRouter<W, R, WR, RR> {
  readonly #deps: WriteRouterDeps<W, R, WR, RR>;
  readonly #lifecycle: RoleLifecycle<W, R, WR, RR>;
  readonly #options: ResolvedHaNodeOptions<W, R, WR, RR>;
  readonly #client: ForwardingClient<W, R, WR, RR>;
  readonly #stats: NodeStats;
  /** Leader writes running now (the group-commit window is skipped when none else is). */
  #writing = 0;
  /** Whether the event loop turns between calls (see {@link LoopTurns}). */
  readonly #turns = new LoopTurns();
  /**
   * A leader write waits for a ship first once the oldest unshipped commit is this old (ms):
   * midway between the ship interval and the ship stall timeout.
   */
  readonly #backlogMs: number;

  constructor(deps: WriteRouterDeps<W, R, WR, RR>) {
    this.#deps = deps;
    this.#lifecycle = deps.lifecycle;
    this.#options = deps.options;
    this.#client = deps.client;
    this.#stats = deps.stats;
    const { shipIntervalMs, shipStallTimeoutMs } = deps.options;
    this.#backlogMs = shipIntervalMs + (shipStallTimeoutMs - shipIntervalMs) / 2;
  }

  #assertOpen(): void {
    if (this.#lifecycle.closed) throw new HaError('HADB_HA_CLOSED', 'database is closed');
  }

  /** The leader side, or `HADB_HA_NOT_LEADER`. */
  #leaderSide(what = 'this node is not the leader'): {
    side: LeaderSide<W, R, WR, RR>;
    commitSeq: () => number;
    waitShipped: (seq: number, o: OpOptions) => Promise<void>;
  } {
    const leader = this.#lifecycle.leader;
    if (leader === undefined) throw new HaError('HADB_HA_NOT_LEADER', what);
    const { side, scheduler } = leader;
    return { side, commitSeq: () => scheduler.commitSeq, waitShipped: (seq, o) => scheduler.waitShipped(seq, o) };
  }

  /** Leader side of forwarding and of local writes: refuses with `HADB_HA_NOT_LEADER` elsewhere. */
  async leaderWrite<T>(
    run: (side: LeaderSide<W, R, WR, RR>) => Promise<T>,
    durability: Durability,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    await this.#lifecycle.settled();
    const leader = this.#lifecycle.leader;
    if (leader === undefined) throw new HaError('HADB_HA_NOT_LEADER', 'this node is not the leader');
    if (leader.scheduler.behindBy(this.#backlogMs)) {
      // Backpressure: commits outrun the ships. Wait for the ship that covers what is committed
      // (it gets the event loop to itself meanwhile) instead of letting the backlog grow until
      // the ship stalls and the leader hands its lease off.
      this.#stats.backpressureWaits++;
      leader.scheduler.requestShip(true);
      await leader.scheduler.waitShipped(leader.scheduler.commitSeq, { signal });
    }
    let result: T;
    this.#writing++;
    try {
      result = await run(leader.side);
    } finally {
      this.#writing--;
    }
    if (durability === 'shipped') {
      const seq = leader.scheduler.commitSeq;
      // With no other write running, none could join the group-commit window: ship at once.
      leader.scheduler.requestShip(this.#writing === 0);
      // Rides the next ship (group commit) rather than forcing one per write.
      await leader.scheduler.waitShipped(seq, { signal });
    }
    return result;
  }

  async leaderRead(read: R, signal?: AbortSignal): Promise<RR> {
    await this.#lifecycle.settled();
    const leader = this.#lifecycle.leader;
    if (leader === undefined) throw new HaError('HADB_HA_NOT_LEADER', 'this node is not the leader');
    return leader.side.read(read, { signal });
  }

  /** Retry options of a call that goes to the leader: the address is re-read from the lease before every attempt. */
  #route(signal: AbortSignal | undefined): ForwardToLeaderOptions {
    return {
      delaysMs: this.#options.forwardRetryDelaysMs,
      budgetMs: this.#options.forwardRetryBudgetMs,
      // Never wait longer between attempts than a follower waits between lease reads.
      maxDelayMs: Math.min(1000, this.#options.lease.pollIntervalMs ?? 1000),
      signal,
      clock: this.#options.clock,
      leaderAddress: () => this.#deps.leaderAddress(),
      leaderAddressRejected: this.#deps.leaderAddressRejected,
      selfAddress: this.#deps.selfAddress,
      onRetry: () => this.#stats.forwardRetries++,
    };
  }

  /**
   * Runs `write` as one transaction — here when leading, otherwise forwarded to the leader.
   * Retries through a failover with one idempotency token, so the write runs at most once. Errors:
   * the engine's client errors (not retryable), `HADB_HA_FORWARD_FAILED` / `HADB_HA_NO_LEADER`
   * (retry with the same `idempotencyToken`).
   */
  write(write: W, options: WriteOptions = {}): Promise<WR> {
    // Fast path: leading, no transition in flight, a `committed` write without a token. The same
    // checks as below run synchronously (the leader side checks `closed`, the signal and the write
    // fence again under its lock); only the awaits of an already-settled lifecycle are skipped.
    const side = this.immediateLeader(options.signal, options);
    if (side === undefined) return this.#write(write, options);
    try {
      return side.write(write, options.signal === undefined ? NO_SIGNAL : { signal: options.signal });
    } catch (err) {
      return Promise.reject(err); // an engine that throws instead of rejecting
    }
  }

  /**
   * The leader side when a call may run on it at once, with nothing to wait for: this node is
   * open and leading, no role transition is queued or running, and `signal` has not fired; for a
   * write (`write` given) also no idempotency token and `committed` durability (given or the
   * default). Otherwise `undefined`: take the general path ({@link write}, {@link read}), which
   * waits, forwards or throws. The side itself still checks `closed`, the signal and the write
   * fence per call.
   */
  immediateLeader(signal: AbortSignal | undefined, write?: WriteOptions): LeaderSide<W, R, WR, RR> | undefined {
    if (signal?.aborted === true || !this.#lifecycle.idle || this.#turns.starved()) return undefined;
    if (
      write !== undefined &&
      (write.idempotencyToken !== undefined || (write.durability ?? this.#options.durability) !== 'committed')
    )
      return undefined;
    const leader = this.#lifecycle.leader;
    if (leader === undefined || (write !== undefined && leader.scheduler.behindBy(this.#backlogMs))) return undefined;
    return leader.side;
  }

  /**
   * The leader side of this node, now (no wait): for an engine's synchronous leader-local calls.
   * Throws `HADB_HA_CLOSED` once closed, `HADB_HA_NOT_LEADER` (with `what`) when not leading. The
   * caller still runs the write fence (`checkWrite`) before each write.
   */
  localLeader(what = 'this node is not the leader'): LeaderSide<W, R, WR, RR> {
    this.#assertOpen();
    const leader = this.#lifecycle.leader;
    if (leader === undefined) throw new HaError('HADB_HA_NOT_LEADER', what);
    return leader.side;
  }

  async #write(write: W, options: WriteOptions): Promise<WR> {
    // A caller whose calls all resolve in microtasks still lets the lease renewal run.
    if (this.#turns.starved()) await this.#turns.yieldTurns();
    throwIfAborted(options.signal);
    this.#assertOpen();
    await this.#lifecycle.settled();
    const durability = options.durability ?? this.#options.durability;
    const { signal } = options;
    if (this.#lifecycle.role === 'leader' && options.idempotencyToken === undefined) {
      return this.leaderWrite((side) => side.write(write, { signal }), durability, signal);
    }
    const token = options.idempotencyToken ?? randomUUID();
    return forwardToLeader(
      {
        local: async () => {
          await this.#lifecycle.settled();
          this.#assertOpen();
          if (this.#lifecycle.role !== 'leader') return undefined;
          return { value: await this.leaderWrite((side) => side.write(write, { token, signal }), durability, signal) };
        },
        remote: (address) => {
          this.#stats.forwardedWrites++;
          return this.#client.write(address, write, token, durability, signal);
        },
      },
      this.#route(signal),
    );
  }

  /** Runs a read-only request. See {@link ReadOptions.consistency}. */
  read(read: R, options: ReadOptions = {}): Promise<RR> {
    const side = this.immediateLeader(options.signal);
    if (side === undefined) return this.#read(read, options);
    try {
      return side.read(read, options.signal === undefined ? NO_SIGNAL : { signal: options.signal });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  async #read(read: R, options: ReadOptions): Promise<RR> {
    if (this.#turns.starved()) await this.#turns.yieldTurns();
    throwIfAborted(options.signal);
    this.#assertOpen();
    await this.#lifecycle.settled();
    const { signal } = options;
    const leader = this.#lifecycle.leader;
    if (leader !== undefined) return leader.side.read(read, { signal });
    if ((options.consistency ?? 'local') === 'local') {
      const follower = this.#lifecycle.follower;
      if (follower === undefined) throw new HaError('HADB_HA_NOT_READY', 'no local copy yet');
      return follower.read(read, { signal });
    }
    return forwardToLeader(
      {
        local: async () => {
          await this.#lifecycle.settled();
          this.#assertOpen();
          const here = this.#lifecycle.leader;
          return here === undefined ? undefined : { value: await here.side.read(read, { signal }) };
        },
        remote: (address) => this.#client.read(address, read, signal),
      },
      this.#route(signal),
    );
  }

  /**
   * Runs `fn` on this node's leader side, which must exist (`HADB_HA_NOT_LEADER` otherwise): for
   * calls that cannot be forwarded, such as an interactive transaction. With `shipped` durability
   * it resolves once the commits it made are shipped.
   */
  async onLeader<T>(
    fn: (side: LeaderSide<W, R, WR, RR>) => Promise<T>,
    options: { durability?: Durability | undefined; signal?: AbortSignal | undefined; notLeaderMessage?: string } = {},
  ): Promise<T> {
    if (this.#turns.starved()) await this.#turns.yieldTurns();
    await this.#lifecycle.settled();
    const { side, commitSeq, waitShipped } = this.#leaderSide(options.notLeaderMessage);
    const value = await fn(side);
    if ((options.durability ?? this.#options.durability) === 'shipped') await waitShipped(commitSeq(), options);
    return value;
  }
}
