import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Coordinator, isCoordinatorError, type RoleEvent } from '@hadb/core';
import { HaDuckError, isHaDuckError, throwIfAborted } from './errors.js';
import { FollowerReader } from './follower-reader.js';
import { ForwardingClient, forwardToLeader, type ForwardToLeaderOptions } from './forwarding/client.js';
import type { Durability } from './forwarding/protocol.js';
import { ForwardingServer, type ForwardTarget } from './forwarding/server.js';
import { LeaderEngine, type Transaction } from './leader-engine.js';
import { Mutex } from './mutex.js';
import { resolveOptions, type HaDuckOptions, type ResolvedHaDuckOptions } from './options.js';
import { duckblockReplication, type AppliedInfo, type HaDuckReplication } from './replication.js';
import type { ExecuteResult, QueryResult } from './sql.js';
import type { HaParams } from './values.js';

/** This node's role. `starting` only inside `open`; `closed` after `close`. */
export type HaDuckRole = 'leader' | 'follower' | 'closed';

/** Options of a write. */
export interface WriteOptions {
  /**
   * `committed`: resolve once committed on the leader (lost if the leader dies before its next
   * checkpoint ships). `shipped`: resolve once the write is in storage (survives any failover).
   * Default: the `durability` option of `open`.
   */
  readonly durability?: Durability | undefined;
  /**
   * Identifies one logical write across retries (8-128 of `[A-Za-z0-9._:-]`). A write with a token
   * the leader has already run returns the stored result instead of running again, also after a
   * failover (tokens are stored in the database, table `_haduck.write_tokens`). Generated when
   * omitted; pass your own to retry a failed call safely.
   */
  readonly idempotencyToken?: string | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** Options of a read. */
export interface QueryOptions {
  /**
   * `local` (default): this node's copy (on a follower, as of its last applied checkpoint).
   * `strong`: run on the leader (forwarded from a follower), seeing every committed write.
   */
  readonly consistency?: 'local' | 'strong' | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** Counters and gauges of one node. */
export interface HaDuckStats {
  readonly role: HaDuckRole;
  /** Leader: commits, checkpoints, DuckDB-initiated checkpoints (should be 0), bytes shipped. */
  readonly commits: number;
  readonly checkpoints: number;
  readonly unexpectedCheckpoints: number;
  readonly bytesShipped: number;
  readonly lastShipError: string | undefined;
  /** Follower: last applied position, segments applied, snapshot restores. */
  readonly position: string;
  readonly appliedSegments: number;
  readonly restoredSnapshots: number;
  /** Follower: reader swaps and how long reads were paused by them (ms). */
  readonly swaps: number;
  readonly lastReadPauseMs: number;
  readonly maxReadPauseMs: number;
  /** Writes sent to the leader, and retried attempts among them. */
  readonly forwardedWrites: number;
  readonly forwardRetries: number;
  readonly promotions: number;
  readonly demotions: number;
}

/** Events of {@link HaDuck}. `error` is emitted only when a listener is attached. */
export interface HaDuckEvents {
  role: [role: HaDuckRole];
  promoted: [];
  demoted: [];
  applied: [info: AppliedInfo & { readonly pauseMs: number }];
  shipped: [info: { readonly bytes: number }];
  error: [error: Error];
}

/**
 * Highly available DuckDB. One node leads: it owns the read-write DuckDB instance, runs every write
 * under one lock, checkpoints on its own schedule and ships each checkpoint's changed blocks to
 * storage. The others follow: they apply the shipped checkpoints to their own file, serve reads
 * from a read-only instance, and forward writes to the leader over HTTP. When the leader dies, a
 * caught-up follower takes over.
 */
export class HaDuck extends EventEmitter<HaDuckEvents> implements AsyncDisposable {
  readonly #o: ResolvedHaDuckOptions;
  readonly #replication: HaDuckReplication;
  readonly #coordinator: Coordinator;
  readonly #client: ForwardingClient;
  readonly #transitions = new Mutex();
  #server: ForwardingServer | undefined;
  #address: string;
  #role: HaDuckRole | 'starting' = 'starting';
  #engine: LeaderEngine | undefined;
  #reader: FollowerReader | undefined;
  #settling: Promise<void> = Promise.resolve();
  #loop: { stop(): Promise<void> } | undefined;
  #offEvents: (() => void) | undefined;
  #closing: Promise<void> | undefined;
  #counters = {
    position: 0n,
    appliedSegments: 0,
    restoredSnapshots: 0,
    lastReadPauseMs: 0,
    forwardedWrites: 0,
    forwardRetries: 0,
    promotions: 0,
    demotions: 0,
    retiredLeader: { commits: 0, checkpoints: 0, unexpectedCheckpoints: 0, bytesShipped: 0 },
  };

  private constructor(o: ResolvedHaDuckOptions, address: string, server: ForwardingServer | undefined) {
    super();
    this.#o = o;
    this.#address = address;
    this.#server = server;
    this.#client = new ForwardingClient({ secret: o.secret, timeoutMs: o.forwardTimeoutMs });
    this.#replication = duckblockReplication({
      storage: o.storage,
      prefix: o.prefix,
      onApplied: (info) => this.#onApplied(info),
      duckdbConfig: o.duckdbConfig,
      logger: o.logger,
    });
    this.#coordinator = new Coordinator({
      replicator: this.#replication.replicator,
      followerBehavior: this.#replication.followerBehavior,
      lease: {
        store: o.lease,
        instanceId: o.instanceId,
        address,
        ttlMs: o.leaseTtlMs,
        renewIntervalMs: o.leaseRenewIntervalMs,
        pollIntervalMs: o.leasePollIntervalMs,
        skewMarginMs: o.skewMarginMs,
      },
      prefix: o.prefix,
      followerPullIntervalMs: o.pullIntervalMs,
      logger: o.logger,
    });
  }

  /**
   * Starts a node: binds the forwarding server, joins the cluster (restoring or catching up the
   * local copy from storage), and opens DuckDB in the role won. Resolves once the node can serve.
   */
  static async open(options: HaDuckOptions): Promise<HaDuck> {
    const o = resolveOptions(options);
    let server: ForwardingServer | undefined;
    let self: HaDuck | undefined;
    const target: ForwardTarget = {
      leaderExecute: (sql, params, token, durability) => self!.#leaderWrite((e) => e.execute(sql, params, { token }), durability),
      leaderBatch: (statements, token, durability) => self!.#leaderWrite((e) => e.batch(statements, { token }), durability),
      leaderQuery: (sql, params) => self!.#leaderQuery(sql, params),
    };
    if (o.listen !== false) {
      server = await ForwardingServer.listen({ target, host: o.listen.host, port: o.listen.port, secret: o.secret, logger: o.logger });
    }
    const address = o.address ?? (server === undefined ? '' : `http://${o.listen === false ? '127.0.0.1' : o.listen.host}:${server.port}`);
    self = new HaDuck(o, address, server);
    try {
      await self.#start();
    } catch (err) {
      await self.close().catch(() => undefined);
      throw err;
    }
    return self;
  }

  /** This node's role. */
  get role(): HaDuckRole {
    return this.#role === 'starting' ? 'follower' : this.#role;
  }

  /** The forwarding address this node advertises. */
  get address(): string {
    return this.#address;
  }

  /** The database name. */
  get name(): string {
    return this.#o.name;
  }

  async #start(): Promise<void> {
    // A copy this node wrote as leader but never shipped (killed between CHECKPOINT and upload,
    // or with commits only in its WAL) must not be followed from: set it aside first.
    await this.#replication.reconcileLocalCopy(this.#o.path, this.#o.name);
    this.#reader = new FollowerReader(this.#o.path, this.#o.duckdbConfig);
    this.#offEvents = this.#coordinator.on('*', (event: RoleEvent) => this.#onRoleEvent(event));
    await this.#coordinator.join(this.#o.name, this.#o.path);
    await this.#transition(() => this.#syncRole());
  }

  #transition(fn: () => Promise<void>): Promise<void> {
    const p = this.#transitions.run(async () => {
      if (this.#role === 'closed') return;
      try {
        await fn();
      } catch (err) {
        this.#emitError(err);
      }
    });
    this.#settling = p;
    return p;
  }

  #onRoleEvent(event: RoleEvent): void {
    if (event.db !== this.#o.name || this.#role === 'closed') return;
    const leading = event.type === 'promoted' || (event.type === 'joined' && event.role === 'leader');
    // Taken synchronously: once the coordinator says "leader", the follower side must not touch
    // the file until the leader engine that is about to open has been retired again.
    if (leading) this.#replication.fileGate.hold();
    if (leading || event.type === 'demoted') void this.#transition(() => this.#syncRole());
  }

  /** Brings this node's engine in line with the coordinator's current role (idempotent). */
  async #syncRole(): Promise<void> {
    if (this.#coordinator.role(this.#o.name) === 'leader') {
      this.#replication.fileGate.hold();
      await this.#becomeLeader();
    } else {
      await this.#becomeFollower();
    }
  }

  async #becomeLeader(): Promise<void> {
    if (this.#role === 'leader') return;
    const wasFollower = this.#role === 'follower';
    await this.#reader?.close();
    this.#reader = undefined;
    try {
      this.#engine = await LeaderEngine.open({
        path: this.#o.path,
        guard: () => this.#guard(),
        fence: () => this.#fenceCheck(),
        shipper: this.#replication.shipper(this.#o.name),
        duckdbConfig: this.#o.duckdbConfig,
      });
    } catch (err) {
      // This node holds the lease but cannot write: give the lease to another node.
      void this.#coordinator.handoff(this.#o.name).catch((e: unknown) => this.#emitError(e));
      throw err;
    }
    this.#loop = this.#startCheckpointLoop(this.#engine);
    this.#role = 'leader';
    if (wasFollower) {
      this.#counters.promotions++;
      this.emit('promoted');
    }
    this.emit('role', 'leader');
  }

  async #becomeFollower(): Promise<void> {
    const wasLeader = this.#role === 'leader';
    try {
      await this.#retireEngine();
    } finally {
      this.#replication.fileGate.release();
    }
    if (this.#role === 'follower' && this.#reader !== undefined) return;
    this.#reader ??= new FollowerReader(this.#o.path, this.#o.duckdbConfig);
    await this.#reader.start();
    this.#role = 'follower';
    if (wasLeader) {
      this.#counters.demotions++;
      this.emit('demoted');
    }
    this.emit('role', 'follower');
  }

  async #retireEngine(): Promise<void> {
    const engine = this.#engine;
    if (engine === undefined) return;
    this.#engine = undefined;
    await this.#loop?.stop();
    this.#loop = undefined;
    try {
      // The term is over: storage would refuse an upload; unshipped changes are set aside below.
      await engine.close({ ship: false });
    } finally {
      this.#countRetired(engine);
      await this.#replication.afterLeaderClose(this.#o.path);
      await this.#replication.reconcileLocalCopy(this.#o.path, this.#o.name);
    }
  }

  /** Keeps a closed engine's counters in {@link stats}. */
  #countRetired(engine: LeaderEngine): void {
    const s = engine.stats;
    const r = this.#counters.retiredLeader;
    r.commits += s.commits;
    r.checkpoints += s.checkpoints;
    r.unexpectedCheckpoints += s.unexpectedCheckpoints;
    r.bytesShipped += s.bytesShipped;
  }

  #startCheckpointLoop(engine: LeaderEngine): { stop(): Promise<void> } {
    let stopped = false;
    let wake: (() => void) | undefined;
    let tick = 0;
    const run = (async () => {
      let last = performance.now();
      while (!stopped) {
        // Start-to-start schedule: a slow checkpoint does not stretch the interval.
        const wait = Math.max(0, last + this.#o.checkpointIntervalMs - performance.now());
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, wait);
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        if (stopped) break;
        last = performance.now();
        tick++;
        // Every tenth tick checkpoints even when clean: catches writes made outside haduck's
        // bookkeeping (a failed script that committed part of itself, sequences bumped by reads).
        if (!engine.dirty && tick % 10 !== 0) continue;
        const before = engine.stats.bytesShipped;
        try {
          await engine.checkpoint();
          const bytes = engine.stats.bytesShipped - before;
          if (bytes > 0) this.emit('shipped', { bytes });
        } catch (err) {
          // A term that just ended is reported by the `demoted` event, not as an error.
          if (!isHaDuckError(err, 'HADB_HADUCK_CLOSED') && !isHaDuckError(err, 'HADB_HADUCK_FENCED') && !isHaDuckError(err, 'HADB_HADUCK_NOT_LEADER')) {
            this.#emitError(err);
          }
        }
      }
    })();
    return {
      async stop() {
        stopped = true;
        wake?.();
        await run;
      },
    };
  }

  /** Called by the follower behavior after each applied segment or restored snapshot. */
  async #onApplied(info: AppliedInfo): Promise<void> {
    this.#counters.position = info.seq;
    if (info.kind === 'snapshot') this.#counters.restoredSnapshots++;
    else this.#counters.appliedSegments++;
    const reader = this.#reader;
    let pauseMs = 0;
    if (reader !== undefined && this.#role !== 'leader') {
      await reader.swap();
      pauseMs = reader.stats.recentPausesMs.at(-1) ?? 0;
      this.#counters.lastReadPauseMs = pauseMs;
    }
    this.emit('applied', { ...info, pauseMs });
  }

  /** Throws unless this node may write right now (called under the write lock). */
  #guard(): void {
    if (this.#role === 'closed') throw new HaDuckError('HADB_HADUCK_CLOSED', 'database is closed');
    this.#fenceCheck();
  }

  /** Throws unless this node's term is still valid (called under the write lock before writes and checkpoints). */
  #fenceCheck(): void {
    try {
      this.#coordinator.checkWrite(this.#o.name);
    } catch (cause) {
      if (isCoordinatorError(cause, 'HADB_CORE_FENCED')) throw new HaDuckError('HADB_HADUCK_FENCED', 'this node lost its lease; write refused', { cause });
      throw new HaDuckError('HADB_HADUCK_NOT_LEADER', 'this node is not the leader', { cause });
    }
  }

  #emitError(err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    if (this.listenerCount('error') > 0) this.emit('error', error);
    else this.#o.logger?.warn?.({ err: error.message }, 'haduck background error');
  }

  async #settled(): Promise<void> {
    await this.#settling;
  }

  /** Leader side of forwarding and of local writes: refuses with `HADB_HADUCK_NOT_LEADER` elsewhere. */
  async #leaderWrite(run: (engine: LeaderEngine) => Promise<ExecuteResult>, durability: Durability, signal?: AbortSignal): Promise<ExecuteResult> {
    await this.#settled();
    const engine = this.#engine;
    if (this.#role !== 'leader' || engine === undefined) throw new HaDuckError('HADB_HADUCK_NOT_LEADER', 'this node is not the leader');
    const result = await run(engine);
    // Rides the next periodic checkpoint (group commit) rather than forcing one per write.
    if (durability === 'shipped') await engine.waitShipped(engine.commitSeq, { signal });
    return result;
  }

  async #leaderQuery(sql: string, params: HaParams | undefined): Promise<QueryResult> {
    await this.#settled();
    const engine = this.#engine;
    if (this.#role !== 'leader' || engine === undefined) throw new HaDuckError('HADB_HADUCK_NOT_LEADER', 'this node is not the leader');
    return engine.query(sql, params);
  }

  /** Retry options of a call that goes to the leader: the address is re-read from the lease before every attempt. */
  #route(signal: AbortSignal | undefined): ForwardToLeaderOptions {
    return {
      delaysMs: this.#o.forwardRetryDelaysMs,
      signal,
      leaderAddress: () => this.#coordinator.leaderAddress(this.#o.name),
      selfAddress: this.#address,
      onRetry: () => this.#counters.forwardRetries++,
    };
  }

  /** Runs a write here when leading, else on the leader, retrying through failovers. */
  async #write(
    local: (engine: LeaderEngine, token: string | undefined) => Promise<ExecuteResult>,
    remote: (address: string, token: string, durability: Durability, signal?: AbortSignal) => Promise<ExecuteResult>,
    options: WriteOptions,
  ): Promise<ExecuteResult> {
    throwIfAborted(options.signal);
    if (this.#role === 'closed') throw new HaDuckError('HADB_HADUCK_CLOSED', 'database is closed');
    await this.#settled();
    const durability = options.durability ?? this.#o.durability;
    if (this.#role === 'leader' && options.idempotencyToken === undefined) {
      return this.#leaderWrite((e) => local(e, undefined), durability, options.signal);
    }
    const token = options.idempotencyToken ?? randomUUID();
    return forwardToLeader(
      {
        local: async () => {
          await this.#settled();
          if (this.#role === 'closed') throw new HaDuckError('HADB_HADUCK_CLOSED', 'database is closed');
          if (this.#role !== 'leader') return undefined;
          return { value: await this.#leaderWrite((e) => local(e, token), durability, options.signal) };
        },
        remote: (address) => {
          this.#counters.forwardedWrites++;
          return remote(address, token, durability, options.signal);
        },
      },
      this.#route(options.signal),
    );
  }

  /**
   * Runs one write statement (or a `;`-separated script without parameters) as one transaction —
   * here when leading, otherwise forwarded to the leader. Retries through a failover with one
   * idempotency token, so the write runs at most once. Errors: `HADB_HADUCK_SQL` (not retryable),
   * `HADB_HADUCK_FORWARD_FAILED` / `HADB_HADUCK_NO_LEADER` (retry with the same `idempotencyToken`).
   */
  execute(sql: string, params?: HaParams, options: WriteOptions = {}): Promise<ExecuteResult> {
    return this.#write(
      (e, token) => e.execute(sql, params, { token, signal: options.signal }),
      (address, token, durability, signal) => this.#client.execute(address, sql, params, token, durability, signal),
      options,
    );
  }

  /** Runs several statements as one transaction (forwarded like {@link execute}). Returns the total rows changed. */
  batch(statements: readonly { readonly sql: string; readonly params?: HaParams | undefined }[], options: WriteOptions = {}): Promise<ExecuteResult> {
    return this.#write(
      (e, token) => e.batch(statements, { token, signal: options.signal }),
      (address, token, durability, signal) => this.#client.batch(address, statements, token, durability, signal),
      options,
    );
  }

  /**
   * Runs `fn` in one transaction on this node, which must be the leader (a closure cannot be
   * forwarded; use {@link batch} from followers). Commits when `fn` resolves; rolls back when it
   * throws. Throws `HADB_HADUCK_NOT_LEADER` on a follower.
   */
  async transaction<T>(fn: (tx: Transaction) => Promise<T>, options: { durability?: Durability; signal?: AbortSignal } = {}): Promise<T> {
    await this.#settled();
    const engine = this.#engine;
    if (this.#role !== 'leader' || engine === undefined) throw new HaDuckError('HADB_HADUCK_NOT_LEADER', 'transaction() runs only on the leader; use batch()');
    const value = await engine.transaction(fn, options);
    if ((options.durability ?? this.#o.durability) === 'shipped') await engine.waitShipped(engine.commitSeq, options);
    return value;
  }

  /** Runs a read-only statement (`SELECT`, `EXPLAIN`). See {@link QueryOptions.consistency}. */
  async query(sql: string, params?: HaParams, options: QueryOptions = {}): Promise<QueryResult> {
    throwIfAborted(options.signal);
    if (this.#role === 'closed') throw new HaDuckError('HADB_HADUCK_CLOSED', 'database is closed');
    await this.#settled();
    if (this.#role === 'leader' && this.#engine !== undefined) return this.#engine.query(sql, params);
    if ((options.consistency ?? 'local') === 'local') {
      if (this.#reader === undefined) throw new HaDuckError('HADB_HADUCK_NOT_READY', 'no local copy yet');
      return this.#reader.query(sql, params);
    }
    return forwardToLeader(
      {
        local: async () => {
          await this.#settled();
          if (this.#role === 'closed') throw new HaDuckError('HADB_HADUCK_CLOSED', 'database is closed');
          const engine = this.#engine;
          return this.#role === 'leader' && engine !== undefined ? { value: await engine.query(sql, params) } : undefined;
        },
        remote: (address) => this.#client.query(address, sql, params, options.signal),
      },
      this.#route(options.signal),
    );
  }

  /** Leader: checkpoint and ship now. Throws `HADB_HADUCK_NOT_LEADER` on a follower. */
  async checkpoint(options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.#settled();
    if (this.#engine === undefined) throw new HaDuckError('HADB_HADUCK_NOT_LEADER', 'checkpoint() runs only on the leader');
    await this.#engine.checkpoint(options);
  }

  /**
   * Leader: resolves once every write committed so far is in storage (the RPO becomes zero for
   * them). Follower: resolves once the local copy has applied everything durable at call time.
   */
  async sync(options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.#settled();
    if (this.#engine !== undefined) return this.#engine.sync(options);
    const head = await this.#replication.followerBehavior.durableHead(this.#o.name, options);
    while (this.#counters.position < head.position) {
      throwIfAborted(options.signal);
      if (this.#role !== 'follower') return this.sync(options);
      await new Promise((r) => setTimeout(r, Math.min(50, this.#o.pullIntervalMs)));
    }
  }

  /** Resolves when this node has `role` (immediately if it has it). */
  async waitForRole(role: 'leader' | 'follower', options: { signal?: AbortSignal } = {}): Promise<void> {
    while (this.role !== role) {
      throwIfAborted(options.signal);
      if (this.#role === 'closed') throw new HaDuckError('HADB_HADUCK_CLOSED', 'database is closed');
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(t);
          this.off('role', done);
          resolve();
        };
        const t = setTimeout(done, 100);
        this.on('role', done);
      });
    }
  }

  stats(): HaDuckStats {
    const live = this.#engine?.stats;
    const r = this.#counters.retiredLeader;
    const swaps = this.#reader?.stats;
    return {
      role: this.role,
      commits: r.commits + (live?.commits ?? 0),
      checkpoints: r.checkpoints + (live?.checkpoints ?? 0),
      unexpectedCheckpoints: r.unexpectedCheckpoints + (live?.unexpectedCheckpoints ?? 0),
      bytesShipped: r.bytesShipped + (live?.bytesShipped ?? 0),
      lastShipError: live?.lastShipError,
      position: this.#counters.position.toString(),
      appliedSegments: this.#counters.appliedSegments,
      restoredSnapshots: this.#counters.restoredSnapshots,
      swaps: swaps?.swaps ?? 0,
      lastReadPauseMs: this.#counters.lastReadPauseMs,
      maxReadPauseMs: swaps?.maxPauseMs ?? 0,
      forwardedWrites: this.#counters.forwardedWrites,
      forwardRetries: this.#counters.forwardRetries,
      promotions: this.#counters.promotions,
      demotions: this.#counters.demotions,
    };
  }

  /** Read pauses (ms) of the most recent swaps on this follower, oldest first. */
  readPauses(): readonly number[] {
    return this.#reader?.stats.recentPausesMs ?? [];
  }

  /**
   * Leaves the cluster: a leader ships its last commits, closes DuckDB and releases the lease (a
   * follower takes over without waiting for the TTL); a follower stops following. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    await this.#transitions.run(async () => {
      const engine = this.#engine;
      if (engine !== undefined) {
        try {
          await engine.sync();
        } catch (err) {
          this.#emitError(err);
        }
      }
      this.#role = 'closed';
    });
    await this.#server?.close();
    if (this.#engine !== undefined) {
      const engine = this.#engine;
      this.#engine = undefined;
      await this.#loop?.stop();
      await engine.close({ ship: true }).catch((err: unknown) => this.#emitError(err));
      this.#countRetired(engine);
      await this.#replication.afterLeaderClose(this.#o.path);
    }
    await this.#reader?.close();
    try {
      await this.#coordinator.leave(this.#o.name);
    } catch (err) {
      if (!isCoordinatorError(err)) throw err;
    }
    this.#offEvents?.();
    await this.#coordinator.close();
    this.#replication.fileGate.release();
    this.emit('role', 'closed');
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
