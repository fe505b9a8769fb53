import Database from 'better-sqlite3';
import {
  HaDatabase,
  type Durability,
  type HaDatabaseStats,
  type HaNodeEvents,
  type HaRole,
  type ReadOptions,
  type WriteOptions,
} from '@hadb/ha';
import type { OpOptions } from '@hadb/io';
import { sqliteEngine } from './engine.js';
import { HaQLiteError, sqlError } from './errors.js';
import type { SqliteLeader, Transaction } from './leader.js';
import { DEFAULT_GROUP_COMMIT_MS, resolveSqliteOptions, type HaQLiteOptions } from './options.js';
import type { Statement, StatementResult } from './sql.js';
import type { SqlParams } from './values.js';
import type { SqliteRead, SqliteWrite, WriteResults } from './wire.js';

/** This node's role; `closed` after `close`. */
export type HaQLiteRole = HaRole;

/** Options of a write (`durability`, `idempotencyToken`, `signal`; see `@hadb/ha`'s `WriteOptions`). */
export type { WriteOptions } from '@hadb/ha';

/** Options of a read (`consistency: 'local' | 'strong'`, `signal`). */
export type QueryOptions = ReadOptions;

/** Counters and gauges of one node: `@hadb/ha`'s, plus the changesets a leader stored. */
export interface HaQLiteStats extends HaDatabaseStats {
  readonly changesets: number;
}

/** Events of {@link HaQLite} (those of `@hadb/ha`'s node). `error` is emitted only when a listener is attached. */
export type HaQLiteEvents = HaNodeEvents;

/**
 * Highly available SQLite: the SQLite engine (`engine.ts`) on `@hadb/ha`. One node leads: it
 * writes its file in WAL mode and ships commits to storage as chained walstream changesets. The
 * others follow: they keep a read-only replica current, serve reads from it, and forward writes to
 * the leader over HTTP. When the leader dies, a caught-up follower takes over.
 */
export class HaQLite extends HaDatabase<SqliteWrite, SqliteRead, WriteResults, StatementResult> {
  #path = '';

  private constructor() {
    super();
  }

  /**
   * Starts a node: binds the forwarding server, joins the cluster (restoring or catching up the
   * local copy from storage), and opens SQLite in the role won. Resolves once the node can serve.
   * Bad options throw `HADB_HAQLITE_INVALID_CONFIG` (a bad name or prefix: the storage key error).
   */
  static async open(options: HaQLiteOptions): Promise<HaQLite> {
    const o = resolveSqliteOptions(options);
    const self = new HaQLite();
    self.#path = options.path;
    await self.attach(
      {
        engine: sqliteEngine({
          storage: options.storage,
          prefix: o.prefix,
          busyTimeoutMs: o.busyTimeoutMs,
        }),
        path: options.path,
        name: o.name,
        lease: options.lease,
        instanceId: options.instanceId,
        prefix: o.prefix,
        address: options.address,
        listen: options.listen,
        secret: options.secret,
        forwarding: options.forwarding,
        followerPullIntervalMs: options.followerPullIntervalMs ?? 250,
        shipIntervalMs: options.shipIntervalMs,
        groupCommitMs: options.groupCommitMs ?? DEFAULT_GROUP_COMMIT_MS,
        durability: options.durability,
        forwardRetryDelaysMs: options.forwardRetryDelaysMs,
        forwardRetryBudgetMs: options.forwardRetryBudgetMs,
        shipTimeoutMs: options.shipTimeoutMs,
        shipStallTimeoutMs: options.shipStallTimeoutMs,
        pullTimeoutMs: options.pullTimeoutMs,
        forwardTimeoutMs: options.forwardTimeoutMs,
        clock: options.clock,
        logger: options.logger,
        admin: options.admin,
      },
      (err) =>
        err.code === 'HADB_HAQLITE_INVALID_CONFIG'
          ? err
          : new HaQLiteError('HADB_HAQLITE_INVALID_CONFIG', err.message, { cause: err }),
    );
    return self;
  }

  /**
   * Runs one write statement (or a `;`-separated script without parameters) — here when leading,
   * otherwise forwarded to the leader. Retries through a failover with one idempotency token, so
   * the write runs at most once. Errors: `HADB_HAQLITE_SQL` (not retryable),
   * `HADB_HA_FORWARD_FAILED` / `HADB_HA_NO_LEADER` (retry with the same `idempotencyToken`).
   */
  async execute(sql: string, args?: SqlParams, options: WriteOptions = {}): Promise<StatementResult> {
    const [result] = await this.node.write({ kind: 'execute', sql, args }, options);
    return result!;
  }

  /** Runs several statements as one transaction (forwarded like {@link execute}); one result per statement. */
  batch(statements: readonly Statement[], options: WriteOptions = {}): Promise<WriteResults> {
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
    return this.node.onLeader((side) => (side as SqliteLeader).transaction(fn, options), {
      ...options,
      notLeaderMessage: 'transaction() runs only on the leader; use batch()',
    });
  }

  /** Runs a read-only statement. See {@link QueryOptions.consistency}. */
  query(sql: string, args?: SqlParams, options: QueryOptions = {}): Promise<StatementResult> {
    return this.node.read({ sql, args }, options);
  }

  /**
   * Describes a statement without running it, against this node's local file: its result columns
   * and whether it only reads. `HADB_HAQLITE_SQL` if SQLite cannot prepare it (or there is no
   * local file yet).
   */
  describe(sql: string): {
    readonly columns: readonly { readonly name: string; readonly decltype: string | null }[];
    readonly readonly: boolean;
  } {
    let conn: Database.Database;
    try {
      conn = new Database(this.#path, { readonly: true, fileMustExist: true });
    } catch (err) {
      throw sqlError(err);
    }
    try {
      const stmt = conn.prepare(sql);
      return {
        columns: stmt.reader ? stmt.columns().map((c) => ({ name: c.name, decltype: c.type })) : [],
        readonly: stmt.readonly,
      };
    } catch (err) {
      throw sqlError(err);
    } finally {
      conn.close();
    }
  }

  /** Leader: ship now. Throws `HADB_HA_NOT_LEADER` on a follower. */
  ship(options: OpOptions = {}): Promise<void> {
    return this.node.ship(options);
  }

  stats(): HaQLiteStats {
    const { base, node } = this.baseStats();
    return { ...base, changesets: node.engine.changesets ?? 0 };
  }
}
