import { EventEmitter } from 'node:events';
import Database from 'better-sqlite3';
import { HaNode, type Durability, type HaNodeEvents, type HaRole, type ReadOptions, type WriteOptions } from '@hadb/ha';
import { isHadbError, type OpOptions } from '@hadb/io';
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

/** Counters and gauges of one node. */
export interface HaQLiteStats {
  readonly role: HaQLiteRole;
  /** Leader: commits, changesets stored, bytes shipped, last ship error. */
  readonly commits: number;
  readonly changesets: number;
  readonly bytesShipped: number;
  readonly lastShipError: string | undefined;
  /** Follower: last applied sequence, changesets applied, full restores. */
  readonly position: string;
  readonly appliedSegments: number;
  readonly restoredSnapshots: number;
  /** Writes sent to the leader, and retried attempts among them. */
  readonly forwardedWrites: number;
  readonly forwardRetries: number;
  readonly promotions: number;
  readonly demotions: number;
}

/** Events of {@link HaQLite} (those of `@hadb/ha`'s node). `error` is emitted only when a listener is attached. */
export type HaQLiteEvents = HaNodeEvents;

type SqliteNode = HaNode<SqliteWrite, SqliteRead, WriteResults, StatementResult>;

/**
 * Highly available SQLite: the SQLite engine (`engine.ts`) on `@hadb/ha`. One node leads: it
 * writes its file in WAL mode and ships commits to storage as chained walstream changesets. The
 * others follow: they keep a read-only replica current, serve reads from it, and forward writes to
 * the leader over HTTP. When the leader dies, a caught-up follower takes over.
 */
export class HaQLite extends EventEmitter<HaQLiteEvents> implements AsyncDisposable {
  #node!: SqliteNode;
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
    try {
      self.#node = await HaNode.open(
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
          forwardTimeoutMs: options.forwardTimeoutMs,
          clock: options.clock,
          logger: options.logger,
          admin: options.admin,
        },
        self,
      );
    } catch (err) {
      if (isHadbError(err) && err.code.endsWith('_INVALID_CONFIG') && err.code !== 'HADB_HAQLITE_INVALID_CONFIG') {
        throw new HaQLiteError('HADB_HAQLITE_INVALID_CONFIG', err.message, { cause: err });
      }
      throw err;
    }
    return self;
  }

  /** This node's role. */
  get role(): HaQLiteRole {
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
   * Runs one write statement (or a `;`-separated script without parameters) — here when leading,
   * otherwise forwarded to the leader. Retries through a failover with one idempotency token, so
   * the write runs at most once. Errors: `HADB_HAQLITE_SQL` (not retryable),
   * `HADB_HA_FORWARD_FAILED` / `HADB_HA_NO_LEADER` (retry with the same `idempotencyToken`).
   */
  async execute(sql: string, args?: SqlParams, options: WriteOptions = {}): Promise<StatementResult> {
    const [result] = await this.#node.write({ kind: 'execute', sql, args }, options);
    return result!;
  }

  /** Runs several statements as one transaction (forwarded like {@link execute}); one result per statement. */
  batch(statements: readonly Statement[], options: WriteOptions = {}): Promise<WriteResults> {
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
    return this.#node.onLeader((side) => (side as SqliteLeader).transaction(fn, options), {
      ...options,
      notLeaderMessage: 'transaction() runs only on the leader; use batch()',
    });
  }

  /** Runs a read-only statement. See {@link QueryOptions.consistency}. */
  query(sql: string, args?: SqlParams, options: QueryOptions = {}): Promise<StatementResult> {
    return this.#node.read({ sql, args }, options);
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
    return this.#node.ship(options);
  }

  /**
   * Leader: resolves once every write committed so far is in storage. Follower: resolves once the
   * replica has applied everything durable at call time.
   */
  sync(options: OpOptions = {}): Promise<void> {
    return this.#node.sync(options);
  }

  /** Resolves when this node has `role` (immediately if it has it). */
  waitForRole(role: 'leader' | 'follower', options: OpOptions = {}): Promise<void> {
    return this.#node.waitForRole(role, options);
  }

  stats(): HaQLiteStats {
    const s = this.#node.stats();
    return {
      role: s.role,
      commits: s.commits,
      changesets: s.engine.changesets ?? 0,
      bytesShipped: s.bytesShipped,
      lastShipError: s.lastShipError,
      position: s.position.toString(),
      appliedSegments: s.appliedSegments,
      restoredSnapshots: s.restoredSnapshots,
      forwardedWrites: s.forwardedWrites,
      forwardRetries: s.forwardRetries,
      promotions: s.promotions,
      demotions: s.demotions,
    };
  }

  /**
   * Leaves the cluster: a leader ships its last commits, closes SQLite and releases the lease (a
   * follower takes over without waiting for the TTL); a follower stops following. Idempotent.
   */
  close(): Promise<void> {
    return this.#node.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
