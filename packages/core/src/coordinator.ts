import { assertSafeDbName } from '@hadb/storage';
import { DatabaseDriver } from './database-driver.js';
import { CoordinatorError } from './errors.js';
import { RoleEventHub, type RoleEvent, type RoleEventListener, type RoleEventType } from './events.js';
import type { WriteGuard } from './executor.js';
import type { WriteFence } from './fence.js';
import { describeError, type OpOptions } from '@hadb/io';
import { CoordinatorMetrics, type MetricsSnapshot } from './metrics.js';
import { isRegistrationValid, type NodeRegistration } from './node-registry.js';
import { resolveOptions, type CoordinatorOptions, type ResolvedOptions } from './options.js';
import type { ReplicaProgress } from './progress.js';
import type { Role } from './role.js';

/** Result of {@link Coordinator.join}. */
export interface JoinResult {
  /** The role the node started with. */
  readonly role: Role;
  /** Live replication progress of this database on this node. */
  readonly progress: ReplicaProgress;
}

/** Options of calls that can be cancelled. */
export interface CallOptions extends OpOptions {
  readonly signal?: AbortSignal | undefined;
}

/**
 * Runs leader election, fencing, failover and follower catch-up for any number of databases.
 *
 * Guarantees (with a lease store whose compare-and-swap is atomic, and clock rates that differ by
 * less than `skewMarginMs / ttlMs`):
 * - at most one node holds a valid write fence per database at any instant; the leader fences
 *   itself at `renewedAt + ttl − margin` on its monotonic clock, without waiting for failures;
 * - a claimer takes over only after seeing the same lease record for `ttl + margin` on its own
 *   monotonic clock (absent or released records at once);
 * - each term has a strictly larger epoch than every earlier one, handed to the replicator;
 * - a node is promoted only after catching up to the durable head;
 * - ambiguous lease writes are resolved by re-reading, never guessed;
 * - a fenced or demoted leader goes back to following on its own.
 */
export class Coordinator implements WriteGuard, AsyncDisposable {
  readonly #options: ResolvedOptions;
  readonly #dbs = new Map<string, DatabaseDriver>();
  readonly #hub: RoleEventHub;
  readonly #metricValues = new CoordinatorMetrics();
  #closed = false;

  constructor(options: CoordinatorOptions) {
    this.#options = resolveOptions(options);
    this.#hub = new RoleEventHub((err) =>
      this.#options.logger.error({ err: describeError(err) }, 'role event listener threw'),
    );
  }

  /**
   * Joins `db` (local file `path`): becomes leader if the lease is free (after restoring to the
   * durable head), otherwise follows. `options.signal` cuts every step of it, the restore included
   * (the lease is then given back). Rejects with `HADB_CORE_ALREADY_JOINED`, `HADB_CORE_JOIN_FAILED`
   * (cause attached), or `HADB_STORAGE_INVALID_KEY` for an unsafe name.
   */
  async join(db: string, path: string, options: CallOptions = {}): Promise<JoinResult> {
    this.#assertOpen();
    assertSafeDbName(db);
    if (this.#dbs.has(db)) throw new CoordinatorError('HADB_CORE_ALREADY_JOINED', `${db} is already joined`);
    const runtime = new DatabaseDriver(db, path, this.#options, this.#hub, this.#metricValues);
    this.#dbs.set(db, runtime);
    try {
      const role = await runtime.join(options.signal);
      return { role, progress: runtime.progress };
    } catch (err) {
      await runtime.leave();
      if (this.#dbs.get(db) === runtime) this.#dbs.delete(db);
      throw err;
    }
  }

  /**
   * Leaves `db`: a leader stops replicating and releases the lease (so a follower takes over at
   * once); a follower stops following and deregisters. Unknown databases are ignored.
   */
  async leave(db: string): Promise<void> {
    const runtime = this.#dbs.get(db);
    if (runtime === undefined) return;
    await runtime.leave();
    if (this.#dbs.get(db) === runtime) this.#dbs.delete(db);
  }

  /**
   * Hands leadership of `db` to another node: flushes (`sync`), stops replicating, releases the
   * lease, and follows — without claiming again for `ttl + margin`, so a caught-up follower takes
   * over. Resolves `false` if this node is not a valid leader of `db`. `{ flush: false }` skips the
   * flush: for a leader that cannot reach storage (its flush would only wait for the timeout).
   */
  async handoff(db: string, options: { readonly flush?: boolean | undefined } = {}): Promise<boolean> {
    return (await this.#dbs.get(db)?.handoff(options)) ?? false;
  }

  /** Leaves every database; resolves with how many were left. */
  async drainAll(): Promise<number> {
    const names = [...this.#dbs.keys()];
    await Promise.all(names.map((db) => this.leave(db)));
    return names.length;
  }

  /** The node's role for `db`, or `undefined` if not joined. */
  role(db: string): Role | undefined {
    return this.#dbs.get(db)?.role;
  }

  /** The leader's address as last seen in the lease record (own address while leading). */
  leaderAddress(db: string): string | undefined {
    return this.#dbs.get(db)?.leaderAddress;
  }

  /**
   * True while the lease record names a live holder whose address did not authenticate with
   * `lease.addressKey` (a different key, or a forged record): `leaderAddress` is `undefined` then.
   */
  leaderAddressRejected(db: string): boolean {
    return this.#dbs.get(db)?.leaderAddressRejected ?? false;
  }

  /** The current term's epoch while this node leads `db`. */
  epoch(db: string): number | undefined {
    return this.#dbs.get(db)?.epoch;
  }

  /** Replication progress of `db` on this node. */
  progress(db: string): ReplicaProgress | undefined {
    return this.#dbs.get(db)?.progress;
  }

  /**
   * The write fence of `db`: throws `HADB_CORE_UNKNOWN_DB`, `HADB_CORE_NOT_LEADER`, or
   * `HADB_CORE_FENCED` (the term is over). Check it before accepting a write.
   */
  checkWrite(db: string): WriteFence {
    const runtime = this.#dbs.get(db);
    if (runtime === undefined) throw new CoordinatorError('HADB_CORE_UNKNOWN_DB', `${db} is not joined`);
    return runtime.checkWrite();
  }

  /**
   * Resolves once this node's role for `db` is `role` (at once if it already is). Rejects with
   * `HADB_CORE_ABORTED` when `signal` aborts and `HADB_CORE_CLOSED` when the coordinator closes.
   */
  waitForRole(db: string, role: Role, options: CallOptions = {}): Promise<void> {
    const { signal } = options;
    return new Promise<void>((resolve, reject) => {
      if (this.role(db) === role) {
        resolve();
        return;
      }
      const cleanup = (): void => {
        off();
        signal?.removeEventListener('abort', onAbort);
        this.#closeWaiters.delete(onClose);
      };
      const off = this.#hub.on('*', (event) => {
        if (event.db === db && this.role(db) === role) {
          cleanup();
          resolve();
        }
      });
      const onAbort = (): void => {
        cleanup();
        reject(
          new CoordinatorError('HADB_CORE_ABORTED', `waitForRole(${db}, ${role}) aborted`, { cause: signal?.reason }),
        );
      };
      const onClose = (): void => {
        cleanup();
        reject(new CoordinatorError('HADB_CORE_CLOSED', 'coordinator closed'));
      };
      if (signal?.aborted) {
        onAbort();
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#closeWaiters.add(onClose);
    });
  }

  readonly #closeWaiters = new Set<() => void>();

  /** Async iterator over role events from now on (ends when `signal` aborts or on `close`). */
  roleEvents(options: CallOptions = {}): AsyncIterableIterator<RoleEvent> {
    return this.#hub.iterate(options.signal);
  }

  /** Subscribes to events of one type (or `'*'`); returns an unsubscribe function. */
  on<T extends RoleEventType>(type: T | '*', listener: RoleEventListener<T>): () => void {
    return this.#hub.on(type, listener);
  }

  /** Removes a listener added with {@link on}. */
  off<T extends RoleEventType>(type: T | '*', listener: RoleEventListener<T>): void {
    this.#hub.off(type, listener);
  }

  /** Like {@link on}, for the next event only. */
  once<T extends RoleEventType>(type: T | '*', listener: RoleEventListener<T>): () => void {
    return this.#hub.once(type, listener);
  }

  /** A snapshot of the counters and gauges (Rust `MetricsSnapshot` fields, camelCase). */
  metrics(): MetricsSnapshot {
    return this.#metricValues.snapshot();
  }

  /** Prometheus text exposition of {@link metrics} (Rust metric names). */
  prometheus(): string {
    return this.#metricValues.toPrometheus();
  }

  /**
   * Replicas of `db` that follow the current leader session and heartbeated within `6 × ttl`
   * (older entries belong to a previous leader or a dead node). Empty without a node registry.
   */
  async discoverReplicas(db: string, options: CallOptions = {}): Promise<NodeRegistration[]> {
    const registry = this.#options.nodeRegistry;
    const lease = this.#options.lease;
    const session = this.#dbs.get(db)?.currentLeaderSession;
    if (registry === undefined || lease === undefined || session === undefined) return [];
    const all = await registry.discoverAll(this.#options.prefix, db, { signal: options.signal });
    const now = Math.floor(this.#options.clock.wallMs() / 1000);
    return all.filter((r) => isRegistrationValid(r, session, lease.ttlSecs * 6, now));
  }

  /** Whether `db` is joined. */
  contains(db: string): boolean {
    return this.#dbs.has(db);
  }

  /** Joined database names. */
  databaseNames(): string[] {
    return [...this.#dbs.keys()];
  }

  /** Number of joined databases. */
  get databaseCount(): number {
    return this.#dbs.size;
  }

  /** Leaves every database and ends every event iterator. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.drainAll();
    for (const onClose of [...this.#closeWaiters]) onClose();
    this.#hub.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #assertOpen(): void {
    if (this.#closed) throw new CoordinatorError('HADB_CORE_CLOSED', 'coordinator is closed');
  }
}
