import {
  HaDatabase,
  passedNodeOptions,
  type Durability,
  type HaDatabaseStats,
  type HaNodeEvents,
  type HaRole,
  type ReadOptions,
  type WriteOptions,
} from '@hadb/ha';
import type { OpOptions } from '@hadb/io';
import { duckEngine } from './duck-engine.js';
import type { DuckLeader, Transaction } from './duck-leader.js';
import { HaDuckError } from './errors.js';
import { DEFAULT_GROUP_COMMIT_MS, resolveDuckOptions, type HaDuckOptions } from './options.js';
import type { ExecuteResult, QueryResult } from './sql.js';
import type { HaParams } from './values.js';
import type { DuckRead, DuckWrite } from './wire.js';

/** This node's role; `closed` after `close`. */
export type HaDuckRole = HaRole;

/** Options of a write (see `@hadb/ha`'s `WriteOptions`: durability, idempotency token, signal). */
export type { WriteOptions } from '@hadb/ha';

/** Options of a read (`consistency: 'local' | 'strong'`, signal). */
export type QueryOptions = ReadOptions;

/** Counters and gauges of one node: `@hadb/ha`'s, plus DuckDB's checkpoints and reader swaps. */
export interface HaDuckStats extends HaDatabaseStats {
  /** Leader: checkpoints shipped, and DuckDB-initiated checkpoints (should be 0). */
  readonly checkpoints: number;
  readonly unexpectedCheckpoints: number;
  /** Leader: ship steps re-run under the write lock because the file changed under their reads. */
  readonly lockedRetries: number;
  /** Leader: write requests re-run alone after a conflict with a concurrent one (see `writeConnections`). */
  readonly conflictRetries: number;
  /**
   * Leader: transactions that committed several concurrent write requests together (group
   * commit: one `COMMIT`, one WAL sync), and the requests they committed.
   */
  readonly groupTransactions: number;
  readonly groupedWrites: number;
  /**
   * Leader: cumulative milliseconds of each checkpoint phase — DuckDB's `CHECKPOINT` (the only
   * part under the write lock), reading the changed blocks, uploading them, snapshots.
   */
  readonly checkpointPhasesMs: {
    readonly checkpoint: number;
    readonly capture: number;
    readonly upload: number;
    readonly snapshot: number;
  };
  /** Follower: reader swaps and how long reads were paused by them (ms). */
  readonly swaps: number;
  readonly lastReadPauseMs: number;
  readonly maxReadPauseMs: number;
}

/** Events of {@link HaDuck} (those of `@hadb/ha`'s node). `error` is emitted only when a listener is attached. */
export type HaDuckEvents = HaNodeEvents;

/**
 * Highly available DuckDB: the DuckDB engine (`duck-engine.ts`) on `@hadb/ha`. One node leads: it
 * owns the read-write DuckDB instance, runs every write under one lock, checkpoints on its own
 * schedule and ships each checkpoint's changed blocks to storage. The others follow: they apply
 * the shipped checkpoints to their own file, serve reads from a read-only instance, and forward
 * writes to the leader over HTTP. When the leader dies, a caught-up follower takes over.
 */
export class HaDuck extends HaDatabase<DuckWrite, DuckRead, ExecuteResult, QueryResult> {
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
    await self.attach(
      {
        engine: duckEngine({
          storage: options.storage,
          prefix: duck.prefix,
          duckdbConfig: duck.duckdbConfig,
          sharedInstance: duck.sharedInstance,
          snapshot: options.snapshot,
          retention: options.retention,
          keepSetAside: duck.keepSetAside,
          limits: duck.limits,
          writeConnections: duck.writeConnections,
        }),
        ...passedNodeOptions(options),
        path: options.path,
        name: duck.name,
        prefix: duck.prefix,
        followerPullIntervalMs: options.followerPullIntervalMs ?? 250,
        shipIntervalMs: options.checkpointIntervalMs,
        groupCommitMs: options.groupCommitMs ?? DEFAULT_GROUP_COMMIT_MS,
      },
      (err) =>
        new HaDuckError('HADB_HADUCK_INVALID_CONFIG', err.message.replace('shipIntervalMs', 'checkpointIntervalMs'), {
          cause: err,
        }),
    );
    return self;
  }

  /**
   * Runs one write statement (or a `;`-separated script without parameters) as one transaction —
   * here when leading, otherwise forwarded to the leader. Retries through a failover with one
   * idempotency token, so the write runs at most once. Errors: `HADB_HADUCK_SQL` (not retryable),
   * `HADB_HA_FORWARD_FAILED` / `HADB_HA_NO_LEADER` (retry with the same `idempotencyToken`).
   */
  execute(sql: string, params?: HaParams, options: WriteOptions = {}): Promise<ExecuteResult> {
    return this.node.write({ kind: 'execute', sql, params }, options);
  }

  /** Runs several statements as one transaction (forwarded like {@link execute}). Returns the total rows changed. */
  batch(
    statements: readonly { readonly sql: string; readonly params?: HaParams | undefined }[],
    options: WriteOptions = {},
  ): Promise<ExecuteResult> {
    return this.node.write({ kind: 'batch', statements }, options);
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
    return this.node.onLeader((side) => (side as DuckLeader).transaction(fn, options), {
      ...options,
      notLeaderMessage: 'transaction() runs only on the leader; use batch()',
    });
  }

  /** Runs a read-only statement (`SELECT`, `EXPLAIN`). See {@link QueryOptions.consistency}. */
  query(sql: string, params?: HaParams, options: QueryOptions = {}): Promise<QueryResult> {
    return this.node.read({ sql, params }, options);
  }

  /** Leader: checkpoint and ship now. Throws `HADB_HA_NOT_LEADER` on a follower. */
  checkpoint(options: OpOptions = {}): Promise<void> {
    return this.node.ship(options);
  }

  stats(): HaDuckStats {
    const { base, node } = this.baseStats();
    return {
      ...base,
      checkpoints: node.engine.checkpoints ?? 0,
      unexpectedCheckpoints: node.engine.unexpectedCheckpoints ?? 0,
      lockedRetries: node.engine.lockedRetries ?? 0,
      conflictRetries: node.engine.conflictRetries ?? 0,
      groupTransactions: node.engine.groupTransactions ?? 0,
      groupedWrites: node.engine.groupedWrites ?? 0,
      checkpointPhasesMs: {
        checkpoint: node.engine.checkpointMs ?? 0,
        capture: node.engine.captureMs ?? 0,
        upload: node.engine.uploadMs ?? 0,
        snapshot: node.engine.snapshotMs ?? 0,
      },
      swaps: node.refreshes,
      lastReadPauseMs: node.lastReadPauseMs,
      maxReadPauseMs: node.maxReadPauseMs,
    };
  }

  /** Read pauses (ms) of the most recent swaps on this follower, oldest first. */
  readPauses(): readonly number[] {
    return this.node.readPauses();
  }
}
