import { EventEmitter } from 'node:events';
import { Coordinator, isCoordinatorError, type RoleEvent } from '@hadb/core';
import { abortReason, describeError, type OpOptions } from '@hadb/io';
import type { AppliedInfo, HaEngine, LeaderContext, LeaderSide } from './engine.js';
import { HaError, haAborted, throwIfAborted } from './errors.js';
import { FileGate } from './file-gate.js';
import { PullWatchdog, watchedFollowerBehavior } from './follower-watchdog.js';
import { NodeAdmin } from './node-admin.js';
import { ForwardingClient } from './forwarding/client.js';
import type { Durability } from './forwarding/protocol.js';
import { ForwardingServer, type ForwardTarget } from './forwarding/server.js';
import { HeadBoard } from './notice/head-board.js';
import { LeaderWaker } from './notice/leader-waker.js';
import { PathLock } from './path-lock.js';
import { claimInstance } from './instance-guard.js';
import { resolveHaNodeOptions, type HaNodeOptions, type ResolvedHaNodeOptions } from './options.js';
import { RoleLifecycle, type HaRole } from './role-lifecycle.js';
import { NodeStats, type HaStats } from './stats.js';
import { WriteRouter } from './write-router.js';

/** Options of a write. */
export interface WriteOptions extends OpOptions {
  /**
   * `committed`: resolve once committed on the leader (lost if the leader dies before its next
   * ship). `shipped`: resolve once the write is in storage (survives any failover). Default: the
   * node's `durability` option.
   */
  readonly durability?: Durability | undefined;
  /**
   * Identifies one logical write across retries (8-128 of `[A-Za-z0-9._:-]`). A write with a token
   * the leader has already run returns the stored result instead of running again, also after a
   * failover (the engine keeps tokens in the database). Generated when omitted; pass your own to
   * retry a failed call safely.
   */
  readonly idempotencyToken?: string | undefined;
}

/** Options of a read. */
export interface ReadOptions extends OpOptions {
  /**
   * `local` (default): this node's copy (on a follower, as of its last applied step).
   * `strong`: run on the leader (forwarded from a follower), seeing every committed write.
   */
  readonly consistency?: 'local' | 'strong' | undefined;
}

/** Events of {@link HaNode} (emitted on its `events` emitter). `error` is emitted only when a listener is attached. */
export interface HaNodeEvents {
  role: [role: HaRole];
  promoted: [];
  demoted: [];
  applied: [info: AppliedInfo & { readonly pauseMs: number }];
  shipped: [info: { readonly bytes: number }];
  /**
   * A request was refused for a missing or wrong bearer token: by the forwarding server
   * (`via: 'forwarding'`) or by a server the adapter runs on this node (haqlite's Hrana server
   * emits `via: 'hrana'`). Never carries the token.
   */
  unauthorized: [info: { readonly via: string }];
  error: [error: Error];
}

/**
 * One node of a highly available database, generic over its engine. One node leads: it owns the
 * read-write database, runs every write through the engine's write lock and ships on a schedule.
 * The others follow: they apply what was shipped, serve reads from a read-only copy, and forward
 * writes (and strong reads) to the leader over HTTP. When the leader dies, a caught-up follower
 * takes over. See `engine.ts` for what a database supplies.
 */
export class HaNode<W, R, WR, RR> implements AsyncDisposable {
  /** Where the node's events are emitted (the adapter's own emitter when it passes one). */
  readonly events: EventEmitter<HaNodeEvents>;
  readonly #options: ResolvedHaNodeOptions<W, R, WR, RR>;
  readonly #engine: HaEngine<W, R, WR, RR>;
  readonly #coordinator: Coordinator;
  readonly #client: ForwardingClient<W, R, WR, RR>;
  readonly #fileGate = new FileGate();
  readonly #pullWatchdog: PullWatchdog;
  readonly #lifecycle: RoleLifecycle<W, R, WR, RR>;
  readonly #router: WriteRouter<W, R, WR, RR>;
  readonly #stats = new NodeStats();
  readonly #server: ForwardingServer<W, R, WR, RR> | undefined;
  /** The claim on the database path, released by `close()`. */
  #lock: PathLock | undefined;
  #claim: { release(): Promise<void> } | undefined;
  readonly #address: string;
  /** Woken after every applied step and role change (event-driven `sync`). */
  #progressWaiters = new Set<() => void>();
  #offEvents: (() => void) | undefined;
  /** The admin server when `options.admin` is set. */
  readonly #admin: NodeAdmin | undefined;
  #closing: Promise<void> | undefined;
  /** The shipped head followers long-poll for (answered while this node leads). */
  readonly #heads: HeadBoard;

  private constructor(
    options: ResolvedHaNodeOptions<W, R, WR, RR>,
    engine: HaEngine<W, R, WR, RR>,
    address: string,
    server: ForwardingServer<W, R, WR, RR> | undefined,
    events: EventEmitter<HaNodeEvents>,
  ) {
    this.#options = options;
    this.#heads = new HeadBoard(options.clock);
    this.#address = address;
    this.#server = server;
    this.events = events;
    this.#engine = engine;
    this.#client = new ForwardingClient({
      codec: this.#engine.wire,
      secret: options.secret,
      timeoutMs: options.forwardTimeoutMs,
      clock: options.clock,
    });
    this.#pullWatchdog = new PullWatchdog({
      db: options.name,
      clock: options.clock,
      logger: options.logger,
      pullTimeoutMs: options.pullTimeoutMs,
      // Even while the leader answers, a slow look at storage for objects it did not announce.
      answeredLookMs: IDLE_LOOK_PULL_TIMEOUTS * options.pullTimeoutMs,
      reportsPulls: engine.reportsPulls,
      onPullFailed: () => {
        this.#stats.pullFailures++;
        this.#stats.lastPullError ??= 'follower pulls are failing';
      },
      onRecovered: (downMs) => {
        this.#stats.lastPullError = undefined;
        options.logger.info({ db: options.name, downMs: Math.round(downMs) }, 'hadb: follower pulls recovered');
      },
      onStalled: (err) => {
        this.#stats.pullStalls++;
        this.#stats.lastPullError = err.message;
        this.#reportLoudly(err, 'hadb: follower cannot pull');
      },
    });
    this.#coordinator = new Coordinator({
      replicator: this.#engine.replicator,
      followerBehavior: watchedFollowerBehavior(
        this.#engine.followerBehavior,
        this.#fileGate,
        this.#pullWatchdog,
        (err) => this.#admin?.error(err),
      ),
      // The forwarding secret also authenticates the leader's address in the lease record: a
      // forged record never receives writes or the secret.
      lease: {
        ...options.lease,
        instanceId: options.instanceId,
        address,
        addressKey: options.lease.addressKey ?? options.secret,
      },
      prefix: options.prefix,
      followerPullIntervalMs: options.followerPullIntervalMs,
      replicatorTimeoutMs: options.replicatorTimeoutMs,
      clock: options.clock,
      logger: options.logger,
    });
    const leaderContext: LeaderContext = {
      checkWrite: () => this.#checkWrite(),
      checkTerm: () => this.#checkTerm(),
      committed: () => this.#lifecycle.leader?.scheduler.committed(),
    };
    this.#lifecycle = new RoleLifecycle(options, this.#engine, this.#coordinator, this.#fileGate, leaderContext, {
      onRole: (role, change) => {
        if (change === 'promoted') this.#stats.promotions++;
        if (change === 'demoted') this.#stats.demotions++;
        if (change !== undefined) this.events.emit(change);
        this.events.emit('role', role);
        this.#heads.poke();
        this.#wakeProgress();
      },
      onLeaderRetired: (c) => this.#stats.retire(c),
      onShipped: (bytes) => {
        this.#heads.advance();
        this.events.emit('shipped', { bytes });
      },
      onError: (err) => this.#emitError(err),
      onShipStalled: (err, handedOff) => {
        this.#stats.shipStalls++;
        this.#reportLoudly(err, 'hadb: leader cannot ship; handing the lease to another node');
        handedOff.then(
          (ended) =>
            options.logger.error({ db: options.name, handedOff: ended }, 'hadb: stalled leader hand-off finished'),
          (e: unknown) => this.#emitError(e),
        );
      },
    });
    if (options.admin !== undefined) {
      this.#admin = new NodeAdmin({
        admin: options.admin,
        db: options.name,
        nodeId: options.instanceId,
        address,
        clock: options.clock,
        logger: options.logger,
        stats: () => this.stats(),
        idle: () => this.#lifecycle.leader?.scheduler.dirty === false,
      });
      this.#admin.listen(events);
    }
    this.#router = new WriteRouter({
      options,
      lifecycle: this.#lifecycle,
      client: this.#client,
      stats: this.#stats,
      leaderAddress: () => this.#coordinator.leaderAddress(options.name),
      leaderAddressRejected: () => this.#coordinator.leaderAddressRejected(options.name),
      selfAddress: address,
    });
  }

  /**
   * Starts a node: binds the forwarding server, makes the local copy safe, joins the cluster
   * (restoring or catching up from storage), and opens the engine in the role won. Resolves once
   * the node can serve. `events` lets an adapter receive the events on its own emitter.
   * `options.signal` cancels the open: it rejects with `HADB_HA_ABORTED` (or the hadb error given
   * as the reason) once everything it took is released (see {@link HaNodeOptions.signal}).
   */
  static async open<W, R, WR, RR>(
    options: HaNodeOptions<W, R, WR, RR>,
    events: EventEmitter<HaNodeEvents> = new EventEmitter<HaNodeEvents>(),
  ): Promise<HaNode<W, R, WR, RR>> {
    const o = resolveHaNodeOptions(options);
    const signal = options.signal;
    throwIfAborted(signal);
    let lock: PathLock | undefined;
    let claim: Awaited<ReturnType<typeof claimInstance>> | undefined;
    try {
      // Before anything touches the path: a second node on it fails here.
      lock = await PathLock.acquire(o.path, o.instanceId, { signal });
      // And before anything touches the database: a second live node with this instanceId fails here.
      claim = await claimInstance(o, lock, signal);
      const node = await HaNode.#openLocked(o, events, lock, signal);
      node.#claim = claim;
      return node;
    } catch (err) {
      // Whatever a step cut by the signal threw (a core, io or engine error), the open was aborted.
      const failure = signal?.aborted === true ? abortReason(signal, haAborted) : err;
      await claim?.release();
      lock?.release();
      throw failure;
    }
  }

  static async #openLocked<W, R, WR, RR>(
    o: ResolvedHaNodeOptions<W, R, WR, RR>,
    events: EventEmitter<HaNodeEvents>,
    lock: PathLock,
    signal: AbortSignal | undefined,
  ): Promise<HaNode<W, R, WR, RR>> {
    let self: HaNode<W, R, WR, RR> | undefined;
    const leaderWaker = new LeaderWaker({
      clock: o.clock,
      leaderAddress: () => (self === undefined ? undefined : self.#coordinator.leaderAddress(o.name)),
      selfAddress: () => (self === undefined ? '' : self.#address),
      secret: o.secret,
      fallbackMs: o.followerPullIntervalMs,
      // The leader answers well within a pull timeout, so the watchdog never cuts a wait for a
      // leader that answers (see PullWatchdog.idle).
      holdMs: Math.max(1, Math.min(HEAD_HOLD_MS, Math.floor(o.pullTimeoutMs / 2))),
      graceMs: o.forwardTimeoutMs,
    });
    // Nothing calls `onApplied` before the node joins, so `self` is set by then.
    const engine = o.engine({
      // Waiting for the leader's notice is not a pull: the pull watchdog does not judge it. It cuts
      // the wait once a pull timeout passes without the leader's answer, so a follower whose
      // leader went silent still looks at storage that often; an answering leader costs no request.
      leaderWaker: {
        wait: (signal) =>
          self === undefined
            ? leaderWaker.wait(signal)
            : self.#pullWatchdog.idle((s, alive) => leaderWaker.wait(s, alive), signal, 'fallback'),
      },
      db: o.name,
      path: o.path,
      clock: o.clock,
      logger: o.logger,
      onApplied: async (info) => {
        if (self !== undefined) await self.#onApplied(info);
      },
      onError: (err) => {
        if (self !== undefined) self.#emitError(err);
      },
    });
    let server: ForwardingServer<W, R, WR, RR> | undefined;
    if (o.listen !== false) {
      const target: ForwardTarget<W, R, WR, RR> = {
        write: (w, token, durability) =>
          live(self).#router.leaderWrite((side) => side.write(w, { token }), durability, undefined),
        read: (r) => live(self).#router.leaderRead(r),
        isClientError: (err) => engine.isClientError(err),
        // A node whose term ended (fenced, still demoting) answers no notice: a follower then
        // stops trusting it and looks at the lease and storage itself.
        waitHead: async (after, holdMs, signal) => {
          const node = live(self);
          if (node.#lifecycle.leader === undefined || node.#lifecycle.closed)
            throw new HaError('HADB_HA_NOT_LEADER', 'this node is not the leader');
          node.#checkTerm();
          const head = await node.#heads.wait(after, holdMs, signal);
          node.#checkTerm();
          return head;
        },
      };
      server = await ForwardingServer.listen({
        target,
        codec: engine.wire,
        host: o.listen.host,
        port: o.listen.port,
        secret: o.secret,
        logger: o.logger,
        ...o.forwarding,
        onUnauthorized: () => events.emit('unauthorized', { via: 'forwarding' }),
      });
    }
    const host = o.listen === false ? '127.0.0.1' : o.listen.host;
    const address = o.address ?? (server === undefined ? '' : `http://${host}:${server.port}`);
    try {
      self = new HaNode(o, engine, address, server, events);
      self.#lock = lock;
    } catch (err) {
      await server?.close();
      throw err;
    }
    try {
      await self.#start(signal);
    } catch (err) {
      await self.close().catch(() => undefined);
      throw err;
    }
    return self;
  }

  /** This node's role. */
  get role(): HaRole {
    return this.#lifecycle.role;
  }

  /** The forwarding address this node advertises. */
  get address(): string {
    return this.#address;
  }

  /** The database name. */
  get name(): string {
    return this.#options.name;
  }

  /** The engine of this node. */
  get engine(): HaEngine<W, R, WR, RR> {
    return this.#engine;
  }

  /** Prepares, joins and opens the engine; `signal` cuts the steps that wait (the open then closes the node). */
  async #start(signal: AbortSignal | undefined): Promise<void> {
    throwIfAborted(signal);
    await this.#lifecycle.prepare({ signal });
    this.#offEvents = this.#coordinator.on('*', (event: RoleEvent) => this.#lifecycle.onRoleEvent(event));
    await this.#coordinator.join(this.#options.name, this.#options.path, { signal });
    await this.#lifecycle.sync();
    throwIfAborted(signal);
    await this.#admin?.start(this.#coordinator);
    throwIfAborted(signal);
  }

  /** Throws unless this node may write right now (called under the engine's write lock). */
  #checkWrite(): void {
    if (this.#lifecycle.closed) throw new HaError('HADB_HA_CLOSED', 'database is closed');
    this.#checkTerm();
  }

  /** Throws unless this node's term is still valid (called before writes and before ships). */
  #checkTerm(): void {
    try {
      this.#coordinator.checkWrite(this.#options.name);
    } catch (cause) {
      if (isCoordinatorError(cause, 'HADB_CORE_FENCED'))
        throw new HaError('HADB_HA_FENCED', 'this node lost its lease; write refused', { cause });
      throw new HaError('HADB_HA_NOT_LEADER', 'this node is not the leader', { cause });
    }
  }

  /**
   * Called by the engine's follower side after each applied step: refreshes the read side first,
   * then counts the position, so a `sync()` woken by it finds the step readable.
   */
  async #onApplied(info: AppliedInfo): Promise<void> {
    const follower = this.#lifecycle.follower;
    let pauseMs = 0;
    if (follower !== undefined && this.#lifecycle.role !== 'leader') {
      const started = this.#options.clock.now();
      await follower.refresh();
      pauseMs = this.#options.clock.now() - started;
      this.#stats.readPause(pauseMs);
    }
    this.#pullWatchdog.progress();
    this.#stats.applied(info);
    this.#wakeProgress();
    this.events.emit('applied', { ...info, pauseMs });
  }

  #wakeProgress(): void {
    for (const wake of [...this.#progressWaiters]) wake();
  }

  #emitError(err: unknown): void {
    this.#admin?.error(err);
    const error = err instanceof Error ? err : new Error(String(err));
    if (this.events.listenerCount('error') > 0) this.events.emit('error', error);
    else this.#options.logger.warn({ err: error.message }, 'hadb: background error');
  }

  /** An outage the operator must see: logger.error, the admin's error count, and the `error` event. */
  #reportLoudly(err: Error, message: string): void {
    this.#options.logger.error({ db: this.#options.name, err: describeError(err) }, message);
    this.#admin?.error(err);
    if (this.events.listenerCount('error') > 0) this.events.emit('error', err);
  }

  #assertOpen(): void {
    if (this.#lifecycle.closed) throw new HaError('HADB_HA_CLOSED', 'database is closed');
  }

  /**
   * Runs `write` as one transaction — here when leading, otherwise forwarded to the leader.
   * Retries through a failover with one idempotency token, so the write runs at most once. Errors:
   * the engine's client errors (not retryable), `HADB_HA_FORWARD_FAILED` / `HADB_HA_NO_LEADER`
   * (retry with the same `idempotencyToken`).
   */
  write(write: W, options: WriteOptions = {}): Promise<WR> {
    return this.#router.write(write, options);
  }

  /** Runs a read-only request. See {@link ReadOptions.consistency}. */
  read(read: R, options: ReadOptions = {}): Promise<RR> {
    return this.#router.read(read, options);
  }

  /**
   * Runs `fn` on this node's leader side, which must exist (`HADB_HA_NOT_LEADER` otherwise): for
   * calls that cannot be forwarded, such as an interactive transaction. With `shipped` durability
   * it resolves once the commits it made are shipped.
   */
  onLeader<T>(
    fn: (side: LeaderSide<W, R, WR, RR>) => Promise<T>,
    options: { durability?: Durability | undefined; signal?: AbortSignal | undefined; notLeaderMessage?: string } = {},
  ): Promise<T> {
    return this.#router.onLeader(fn, options);
  }

  /**
   * This node's leader side now, without waiting (for an engine's synchronous leader-local calls).
   * Throws `HADB_HA_CLOSED` once closed and `HADB_HA_NOT_LEADER` (with `notLeaderMessage`) when
   * not leading. The caller must still run the write fence (`LeaderContext.checkWrite`) per write.
   */
  localLeader(notLeaderMessage?: string): LeaderSide<W, R, WR, RR> {
    return this.#router.localLeader(notLeaderMessage);
  }

  /**
   * The leader side when a call may run on it at once (leading, settled, `signal` not fired; for a
   * write also no idempotency token and `committed` durability), else `undefined` — then use
   * {@link write} / {@link read}. Lets an adapter skip the general path's waits; the side still
   * runs its checks (`closed`, signal, write fence) per call.
   */
  immediateLeader(signal: AbortSignal | undefined, write?: WriteOptions): LeaderSide<W, R, WR, RR> | undefined {
    return this.#router.immediateLeader(signal, write);
  }

  /** Leader: ship now. Throws `HADB_HA_NOT_LEADER` on a follower. */
  async ship(options: OpOptions = {}): Promise<void> {
    await this.#lifecycle.settled();
    const leader = this.#lifecycle.leader;
    if (leader === undefined) throw new HaError('HADB_HA_NOT_LEADER', 'ship() runs only on the leader');
    await leader.scheduler.shipOnce(options);
  }

  /**
   * Leader: resolves once every write committed so far is in storage. Follower: resolves once the
   * local copy has applied everything durable at call time (woken by each applied step, no polling).
   */
  async sync(options: OpOptions = {}): Promise<void> {
    await this.#lifecycle.settled();
    const leader = this.#lifecycle.leader;
    if (leader !== undefined) return leader.scheduler.sync(options);
    const head = await this.#engine.followerBehavior.durableHead(this.#options.name, options);
    while (this.#stats.position < head.position) {
      throwIfAborted(options.signal);
      this.#assertOpen();
      if (this.role === 'leader') return this.sync(options);
      await this.#nextProgress(options.signal);
    }
  }

  /** Resolves at the next applied step, role change or close (or rejects when `signal` fires). */
  #nextProgress(signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const done = (): void => {
        this.#progressWaiters.delete(done);
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        this.#progressWaiters.delete(done);
        reject(new HaError('HADB_HA_ABORTED', 'operation aborted', { cause: signal?.reason }));
      };
      this.#progressWaiters.add(done);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Resolves when this node has `role` (at once if it has it); woken by role events, no polling. */
  async waitForRole(role: 'leader' | 'follower', options: OpOptions = {}): Promise<void> {
    while (this.role !== role) {
      throwIfAborted(options.signal);
      this.#assertOpen();
      await this.#nextProgress(options.signal);
    }
  }

  /** Counters and gauges of this node. */
  stats(): HaStats {
    const leader = this.#lifecycle.leader;
    return this.#stats.snapshot(
      this.role,
      leader === undefined ? undefined : { ...leader.scheduler.counters, engine: leader.side.counters() },
    );
  }

  /** The admin server's URL (`http://host:port/`) when the `admin` option is set and the node has joined. */
  get adminUrl(): string | undefined {
    return this.#admin?.server?.url;
  }

  /** Read pauses (ms) of the most recent refreshes on this follower, oldest first. */
  readPauses(): readonly number[] {
    return this.#stats.recentPauses();
  }

  /**
   * Leaves the cluster: a leader ships its last commits, closes its engine and releases the lease
   * (a follower takes over without waiting for the TTL); a follower stops following. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    await this.#admin?.close();
    await this.#lifecycle.close(this.#options.logger);
    this.#heads.close();
    this.#wakeProgress();
    await this.#server?.close();
    try {
      await this.#coordinator.leave(this.#options.name);
    } catch (err) {
      if (!isCoordinatorError(err)) throw err;
    }
    this.#offEvents?.();
    await this.#coordinator.close();
    await this.#claim?.release();
    this.#lock?.release();
    this.events.emit('role', 'closed');
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** How long a leader holds a follower's head long poll, ms. */
const HEAD_HOLD_MS = 20_000;
/** An idle follower whose leader answers looks at storage once per this many pull timeouts. */
const IDLE_LOOK_PULL_TIMEOUTS = 10;

/** The node once constructed; a request that arrives while it is still starting is refused as not leader. */
function live<T>(node: T | undefined): T {
  if (node === undefined) throw new HaError('HADB_HA_NOT_LEADER', 'this node is still starting');
  return node;
}
