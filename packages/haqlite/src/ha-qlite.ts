import Database from 'better-sqlite3';
import {
  HaDatabase,
  passedNodeOptions,
  HaError,
  type Durability,
  type HaDatabaseStats,
  type HaNodeEvents,
  type HaRole,
  type ReadOptions,
  type WriteOptions,
} from '@hadb/ha';
import { systemClock, type Clock, type OpOptions } from '@hadb/io';
import { sqliteEngine } from './engine.js';
import { hranaStreams, RequestError, type HranaStreams } from './hrana/streams.js';
import { HaQLiteError, sqlError } from './errors.js';
import type { SqliteLeader, SyncTransaction, Transaction } from './leader.js';
import { DEFAULT_GROUP_COMMIT_MS, resolveSqliteOptions, type HaQLiteOptions } from './options.js';
import type { Statement, StatementResult } from './sql.js';
import type { SqlParams } from './values.js';
import type { SqliteReadOp, SqliteReadReply, SqliteWrite, WriteResults } from './wire.js';

const NO_OPTIONS = Object.freeze({});
const SYNC_ON_FOLLOWER = 'the synchronous API runs only on the leader; use execute(), batch() or query()';

function firstResult(results: WriteResults): StatementResult {
  return results[0]!;
}

function statementResult(reply: SqliteReadReply): StatementResult {
  if ('hrana' in reply) throw new HaError('HADB_HA_PROTOCOL', 'a query was answered with a Hrana reply');
  return reply;
}

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
export class HaQLite extends HaDatabase<SqliteWrite, SqliteReadOp, WriteResults, SqliteReadReply> {
  #path = '';
  #clock: Clock = systemClock;
  /** Streams of Hrana pipelines followers relayed here (created on the first one). */
  #relayed: HranaStreams | undefined;

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
    self.#clock = options.clock ?? systemClock;
    await self.attach(
      {
        engine: sqliteEngine({
          storage: options.storage,
          prefix: o.prefix,
          busyTimeoutMs: o.busyTimeoutMs,
          hrana: (pipeline) => self.#runRelayed(pipeline),
        }),
        ...passedNodeOptions(options),
        path: options.path,
        name: o.name,
        prefix: o.prefix,
        followerPullIntervalMs: options.followerPullIntervalMs ?? 250,
        shipIntervalMs: options.shipIntervalMs,
        groupCommitMs: options.groupCommitMs ?? DEFAULT_GROUP_COMMIT_MS,
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
  execute(sql: string, args?: SqlParams, options: WriteOptions = NO_OPTIONS): Promise<StatementResult> {
    const node = this.node;
    // Leading with nothing to wait for: straight to the leader side (which runs every check).
    const side = node.immediateLeader(options.signal, options) as SqliteLeader | undefined;
    if (side !== undefined) return side.execute(sql, args, options.signal);
    return node.write({ kind: 'execute', sql, args }, options).then(firstResult);
  }

  /** Runs several statements as one transaction (forwarded like {@link execute}); one result per statement. */
  batch(statements: readonly Statement[], options: WriteOptions = NO_OPTIONS): Promise<WriteResults> {
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

  /**
   * Sends a Hrana pipeline body (`{baton, requests}`) to the leader, which runs it in its own
   * stream store (batons are the leader's); resolves with the leader's pipeline response, or
   * `{error: {status, message, code}}` for a bad body or an unknown baton. Used by a follower's
   * Hrana server for interactive transactions. Errors: `HADB_HA_NO_LEADER`,
   * `HADB_HA_FORWARD_FAILED` (the leader could not be reached).
   * @internal
   */
  async relayHrana(pipeline: unknown, options: OpOptions = {}): Promise<unknown> {
    const reply = await this.node.read({ hrana: pipeline }, { ...options, consistency: 'strong' });
    if (!('hrana' in reply)) throw new HaError('HADB_HA_PROTOCOL', 'the leader answered a relay with a row set');
    return reply.hrana;
  }

  async #runRelayed(pipeline: unknown): Promise<unknown> {
    this.#relayed ??= hranaStreams(this, { idleMs: 10_000, clock: this.#clock });
    try {
      return await this.#relayed.handle(pipeline);
    } catch (err) {
      if (err instanceof RequestError) return { error: { status: err.status, message: err.message, code: err.code } };
      throw err;
    }
  }

  /** Rolls back relayed Hrana streams, then leaves the cluster (see `HaDatabase.close`). */
  override async close(): Promise<void> {
    await this.#relayed?.close();
    return super.close();
  }

  /** Runs a read-only statement. See {@link QueryOptions.consistency}. */
  query(sql: string, args?: SqlParams, options: QueryOptions = NO_OPTIONS): Promise<StatementResult> {
    const node = this.node;
    const side = node.immediateLeader(options.signal) as SqliteLeader | undefined;
    if (side !== undefined) return side.query(sql, args);
    return node.read({ sql, args }, options).then(statementResult);
  }

  /**
   * The leader side for a synchronous leader-local call: `HADB_HA_CLOSED` once closed,
   * `HADB_HA_NOT_LEADER` on a follower (or while this node is between roles).
   */
  #localLeader(notLeaderMessage: string): SqliteLeader {
    return this.node.localLeader(notLeaderMessage) as SqliteLeader;
  }

  /**
   * Synchronous leader-local {@link execute}: runs one write statement (or a script without
   * parameters) on this node, which must be the leader, with `committed` durability (it is in the
   * local WAL; the next ship stores it — `await sync()` to wait for that). No forwarding, no
   * idempotency token, no event-loop turn: the cost of a plain better-sqlite3 call plus the same
   * checks as {@link execute} (closed, role, the lease's write fence before the statement).
   * Errors: `HADB_HA_NOT_LEADER` (a follower, or between roles), `HADB_HA_FENCED` (the lease is
   * lost or expiring), `HADB_HA_CLOSED`, `HADB_HAQLITE_BUSY` (a {@link transaction} is open),
   * `HADB_HAQLITE_SQL`.
   */
  executeSync(sql: string, args?: SqlParams): StatementResult {
    return this.#localLeader(SYNC_ON_FOLLOWER).executeSync(sql, args);
  }

  /**
   * Synchronous leader-local {@link batch}: the statements as one transaction, one result each
   * (see {@link executeSync} for durability, checks and errors; the fence is checked again before
   * COMMIT).
   */
  batchSync(statements: readonly Statement[]): WriteResults {
    return this.#localLeader(SYNC_ON_FOLLOWER).batchSync(statements);
  }

  /**
   * Synchronous leader-local {@link query}: runs a read-only statement on the leader's reader
   * connection (sees every committed write). `HADB_HA_NOT_LEADER` on a follower,
   * `HADB_HA_CLOSED`, `HADB_HAQLITE_NOT_READ_ONLY`, `HADB_HAQLITE_SQL`.
   */
  querySync(sql: string, args?: SqlParams): StatementResult {
    return this.#localLeader(SYNC_ON_FOLLOWER).querySync(sql, args);
  }

  /**
   * Synchronous leader-local {@link transaction}: runs `fn` as one transaction, committed when it
   * returns and rolled back when it throws. `fn` must be synchronous (a returned promise rolls
   * back with `HADB_HAQLITE_INVALID_VALUE`). Checks and errors as {@link executeSync}.
   */
  transactionSync<T>(fn: (tx: SyncTransaction) => T): T {
    return this.#localLeader(SYNC_ON_FOLLOWER).transactionSync(fn);
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
