import { EventEmitter } from 'node:events';
import { HaNode, type Durability, type HaNodeEvents, type HaRole, type ReadOptions, type WriteOptions } from '@hadb/ha';
import { isHadbError, type OpOptions } from '@hadb/io';
import { duckEngine } from './duck-engine.js';
import type { DuckLeader, Transaction } from './duck-leader.js';
import { HaDuckError } from './errors.js';
import { resolveDuckOptions, type HaDuckOptions } from './options.js';
import type { ExecuteResult, QueryResult } from './sql.js';
import type { HaParams } from './values.js';
import type { DuckRead, DuckWrite } from './wire.js';

/** This node's role; `closed` after `close`. */
export type HaDuckRole = HaRole;

/** Options of a write (see `@hadb/ha`'s `WriteOptions`: durability, idempotency token, signal). */
export type { WriteOptions } from '@hadb/ha';

/** Options of a read (`consistency: 'local' | 'strong'`, signal). */
export type QueryOptions = ReadOptions;

/** Counters and gauges of one node. */
export interface HaDuckStats {
  readonly role: HaDuckRole;
  /** Leader: commits, checkpoints, DuckDB-initiated checkpoints (should be 0), bytes shipped. */
  readonly commits: number;
  readonly checkpoints: number;
  readonly unexpectedCheckpoints: number;
  readonly bytesShipped: number;
  readonly lastShipError: string | undefined;
  /**
   * Leader: cumulative milliseconds of each checkpoint phase — DuckDB's `CHECKPOINT` (the only
   * part under the write lock), reading the changed blocks, uploading them, snapshots.
   */
  /** Leader: ship steps re-run under the write lock because the file changed under their reads. */
  readonly lockedRetries: number;
  readonly checkpointPhasesMs: {
    readonly checkpoint: number;
    readonly capture: number;
    readonly upload: number;
    readonly snapshot: number;
  };
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

/** Events of {@link HaDuck} (those of `@hadb/ha`'s node). `error` is emitted only when a listener is attached. */
export type HaDuckEvents = HaNodeEvents;

type DuckNode = HaNode<DuckWrite, DuckRead, ExecuteResult, QueryResult>;

/**
 * Highly available DuckDB: the DuckDB engine (`duck-engine.ts`) on `@hadb/ha`. One node leads: it
 * owns the read-write DuckDB instance, runs every write under one lock, checkpoints on its own
 * schedule and ships each checkpoint's changed blocks to storage. The others follow: they apply
 * the shipped checkpoints to their own file, serve reads from a read-only instance, and forward
 * writes to the leader over HTTP. When the leader dies, a caught-up follower takes over.
 */
export class HaDuck extends EventEmitter<HaDuckEvents> implements AsyncDisposable {
  #node!: DuckNode;

  private constructor() {
    super();
  }

  /**
   * Starts a node: binds the forwarding server, joins the cluster (restoring or catching up the
   * local copy from storage), and opens DuckDB in the role won. Resolves once the node can serve.
   * Bad options throw `HADB_HADUCK_INVALID_CONFIG` (a bad name or prefix: the storage key error).
   */
  static async open(options: HaDuckOptions): Promise<HaDuck> {
    const duck = resolveDuckOptions(options);
    const self = new HaDuck();
    try {
      self.#node = await HaNode.open(
        {
          engine: duckEngine({
            storage: options.storage,
            prefix: duck.prefix,
            duckdbConfig: duck.duckdbConfig,
            snapshot: options.snapshot,
            retention: options.retention,
            keepSetAside: duck.keepSetAside,
            limits: duck.limits,
          }),
          path: options.path,
          name: duck.name,
          lease: options.lease,
          instanceId: options.instanceId,
          prefix: duck.prefix,
          address: options.address,
          listen: options.listen,
          secret: options.secret,
          followerPullIntervalMs: options.followerPullIntervalMs ?? 250,
          shipIntervalMs: options.checkpointIntervalMs,
          groupCommitMs: options.groupCommitMs,
          durability: options.durability,
          forwardRetryDelaysMs: options.forwardRetryDelaysMs,
          forwardTimeoutMs: options.forwardTimeoutMs,
          clock: options.clock,
          logger: options.logger,
          admin: options.admin,
        },
        self,
      );
    } catch (err) {
      if (isHadbError(err) && err.code.endsWith('_INVALID_CONFIG')) {
        throw new HaDuckError(
          'HADB_HADUCK_INVALID_CONFIG',
          err.message.replace('shipIntervalMs', 'checkpointIntervalMs'),
          { cause: err },
        );
      }
      throw err;
    }
    return self;
  }

  /** This node's role. */
  get role(): HaDuckRole {
    return this.#node.role;
  }

  /** The forwarding address this node advertises. */
  get address(): string {
    return this.#node.address;
  }

  /** The database name. */
  get name(): string {
    return this.#node.name;
  }

  /** The admin server's URL (`http://host:port/`) when the `admin` option is set. */
  get adminUrl(): string | undefined {
    return this.#node.adminUrl;
  }

  /**
   * Runs one write statement (or a `;`-separated script without parameters) as one transaction —
   * here when leading, otherwise forwarded to the leader. Retries through a failover with one
   * idempotency token, so the write runs at most once. Errors: `HADB_HADUCK_SQL` (not retryable),
   * `HADB_HA_FORWARD_FAILED` / `HADB_HA_NO_LEADER` (retry with the same `idempotencyToken`).
   */
  execute(sql: string, params?: HaParams, options: WriteOptions = {}): Promise<ExecuteResult> {
    return this.#node.write({ kind: 'execute', sql, params }, options);
  }

  /** Runs several statements as one transaction (forwarded like {@link execute}). Returns the total rows changed. */
  batch(
    statements: readonly { readonly sql: string; readonly params?: HaParams | undefined }[],
    options: WriteOptions = {},
  ): Promise<ExecuteResult> {
    return this.#node.write({ kind: 'batch', statements }, options);
  }

  /**
   * Runs `fn` in one transaction on this node, which must be the leader (a closure cannot be
   * forwarded; use {@link batch} from followers). Commits when `fn` resolves; rolls back when it
   * throws. Throws `HADB_HA_NOT_LEADER` on a follower.
   */
  transaction<T>(
    fn: (tx: Transaction) => Promise<T>,
    options: OpOptions & { readonly durability?: Durability | undefined } = {},
  ): Promise<T> {
    return this.#node.onLeader((side) => (side as DuckLeader).transaction(fn, options), {
      ...options,
      notLeaderMessage: 'transaction() runs only on the leader; use batch()',
    });
  }

  /** Runs a read-only statement (`SELECT`, `EXPLAIN`). See {@link QueryOptions.consistency}. */
  query(sql: string, params?: HaParams, options: QueryOptions = {}): Promise<QueryResult> {
    return this.#node.read({ sql, params }, options);
  }

  /** Leader: checkpoint and ship now. Throws `HADB_HA_NOT_LEADER` on a follower. */
  checkpoint(options: OpOptions = {}): Promise<void> {
    return this.#node.ship(options);
  }

  /**
   * Leader: resolves once every write committed so far is in storage (the RPO becomes zero for
   * them). Follower: resolves once the local copy has applied everything durable at call time.
   */
  sync(options: OpOptions = {}): Promise<void> {
    return this.#node.sync(options);
  }

  /** Resolves when this node has `role` (immediately if it has it). */
  waitForRole(role: 'leader' | 'follower', options: OpOptions = {}): Promise<void> {
    return this.#node.waitForRole(role, options);
  }

  stats(): HaDuckStats {
    const s = this.#node.stats();
    return {
      role: s.role,
      commits: s.commits,
      checkpoints: s.engine.checkpoints ?? 0,
      unexpectedCheckpoints: s.engine.unexpectedCheckpoints ?? 0,
      bytesShipped: s.bytesShipped,
      lastShipError: s.lastShipError,
      lockedRetries: s.engine.lockedRetries ?? 0,
      checkpointPhasesMs: {
        checkpoint: s.engine.checkpointMs ?? 0,
        capture: s.engine.captureMs ?? 0,
        upload: s.engine.uploadMs ?? 0,
        snapshot: s.engine.snapshotMs ?? 0,
      },
      position: s.position.toString(),
      appliedSegments: s.appliedSegments,
      restoredSnapshots: s.restoredSnapshots,
      swaps: s.refreshes,
      lastReadPauseMs: s.lastReadPauseMs,
      maxReadPauseMs: s.maxReadPauseMs,
      forwardedWrites: s.forwardedWrites,
      forwardRetries: s.forwardRetries,
      promotions: s.promotions,
      demotions: s.demotions,
    };
  }

  /** Read pauses (ms) of the most recent swaps on this follower, oldest first. */
  readPauses(): readonly number[] {
    return this.#node.readPauses();
  }

  /**
   * Leaves the cluster: a leader ships its last commits, closes DuckDB and releases the lease (a
   * follower takes over without waiting for the TTL); a follower stops following. Idempotent.
   */
  close(): Promise<void> {
    return this.#node.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
