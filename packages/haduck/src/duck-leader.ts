import type { FileHandle } from 'node:fs/promises';
import type { DuckDBConnection } from '@duckdb/node-api';
import {
  HEADER_REGION_SIZE,
  isDuckblockError,
  leaderFileHandle,
  parseHeaderRegion,
  releaseLeaderFile,
} from '@hadb/duckblock';
import {
  HaError,
  RwGate,
  isHaError,
  throwIfAborted,
  type EngineWriteOptions,
  type LeaderContext,
  type LeaderSide,
  type ShipOptions,
  type ShipReport,
} from '@hadb/ha';
import { describeError, type Clock, type OpOptions } from '@hadb/io';
import { ownInstance, type DuckHandle } from './duck-host.js';
import { HaDuckError, isHaDuckError } from './errors.js';
import type { DuckSharedInstance } from './shared-instance.js';
import {
  DEFAULT_DUCK_LIMITS,
  runExecute,
  runGuardedExecute,
  refuseReserved,
  runQuery,
  withStatementTimeout,
  type DuckLimits,
  type ExecuteResult,
  type QueryResult,
} from './sql.js';
import type { HaParams } from './values.js';
import type { DuckRead, DuckWrite } from './wire.js';
import { WriteConnection } from './write-connection.js';
import { WriteGroups, type GroupEntry } from './write-groups.js';
import { WritePool } from './write-pool.js';

/** What a checkpoint hands to storage: captured with the write gate held exclusively, uploaded outside it. */
export interface CheckpointCapture {
  /** Bytes that {@link upload} sends, for statistics. */
  readonly bytes: number;
  /** Storage sequence the segment gets. */
  readonly seq: bigint;
  /**
   * Uploads the captured blocks; does not read the DuckDB file. Resolves once they are durable in
   * storage; `snapshotDue` asks for {@link CheckpointShipper.snapshot} with the write gate held exclusively.
   */
  upload(options?: OpOptions): Promise<{ readonly snapshotDue: boolean }>;
}

/** The replication side of the leader, called by {@link LeaderEngine.checkpoint}. */
export interface CheckpointShipper {
  /**
   * Called right after `CHECKPOINT`, before any other checkpoint can run (outside the write gate;
   * under it again after a torn read): reads the blocks that differ from the last shipped state
   * (and the header) from the DuckDB file and encodes them. Returns `null` when nothing differs.
   */
  capture(): Promise<CheckpointCapture | null>;
  /**
   * Writes a snapshot of the file and applies retention, fenced by the term. Reads the whole file:
   * called between checkpoints (outside the write gate; under it again after a torn read).
   */
  snapshot(options?: OpOptions): Promise<void>;
}

/** Options of {@link DuckLeader.open}. */
export interface DuckLeaderOptions {
  readonly path: string;
  /** The HA layer's checks and commit count (see `LeaderContext` of `@hadb/ha`). */
  readonly context: LeaderContext;
  readonly shipper: CheckpointShipper;
  readonly clock: Clock;
  /** DuckDB `checkpoint_threshold`: high, so DuckDB never checkpoints on its own. Default `'1000GB'`. */
  readonly checkpointThreshold?: string | undefined;
  /**
   * Extra DuckDB configuration (e.g. `threads`, `memory_limit`). `enable_external_access` is
   * always `false` and `lock_configuration` always `true` on the leader.
   */
  readonly duckdbConfig?: Readonly<Record<string, string>> | undefined;
  /**
   * Attach the file to this shared instance instead of opening an instance of its own
   * (`duckdbConfig` and `checkpointThreshold` are then the shared instance's business).
   */
  readonly sharedInstance?: DuckSharedInstance | undefined;
  /** Per-request limits. Default {@link DEFAULT_DUCK_LIMITS}. */
  readonly limits?: DuckLimits | undefined;
  /**
   * Connections that run write requests side by side (opened on demand, kept idle after):
   * DuckDB's optimistic concurrency commits them in parallel; one that conflicts runs again
   * alone. Default {@link DEFAULT_WRITE_CONNECTIONS}; `1` runs writes one at a time.
   */
  readonly writeConnections?: number | undefined;
}

/** Default of {@link DuckLeaderOptions.writeConnections}. */
export const DEFAULT_WRITE_CONNECTIONS = 8;

/** A transaction handle passed to {@link DuckLeader.transaction}'s callback. */
export interface Transaction {
  execute(sql: string, params?: HaParams): Promise<ExecuteResult>;
  query(sql: string, params?: HaParams): Promise<QueryResult>;
}

/** A write request that runs in a group transaction (see {@link WriteGroups}): pure SQL, so a rolled-back attempt left nothing behind. */
interface PooledJob {
  readonly fn: (tx: Transaction) => Promise<ExecuteResult>;
  readonly token: string | undefined;
  readonly signal: AbortSignal | undefined;
  readonly guarded: boolean;
}

const TOKEN_TABLE = '_haduck.write_tokens';
/** Tokens older than this are pruned: a retry of a logical write must arrive within this window. */
export const TOKEN_RETENTION_MS = 15 * 60_000;

/**
 * The leader's DuckDB: one read-write instance. Write requests (`write`, `batch`, token-carrying
 * `execute`) hold the write gate shared and run side by side on pooled connections; requests
 * waiting for a connection run together as one transaction (group commit, see
 * {@link WriteGroups}). A request whose transaction fails on a conflict with a concurrent one
 * (DuckDB's optimistic concurrency: write-write conflicts, a key another open transaction
 * inserted, the same idempotency token) is rolled back whole and run again with the gate held
 * exclusively, so it fails only when it would have failed alone. Everything else that writes —
 * `transaction()` callbacks, token-less `execute`, creating and pruning the token table,
 * `CHECKPOINT` — holds the gate exclusively: no write transaction is open while DuckDB
 * checkpoints. Each checkpoint's changed blocks are captured and uploaded, and snapshots written,
 * outside the gate. Idempotency tokens live in `_haduck.write_tokens`, written in the request's
 * own transaction, inside the database, so they ship with the data and survive a failover.
 */
export class DuckLeader implements LeaderSide<DuckWrite, DuckRead, ExecuteResult, QueryResult> {
  readonly path: string;
  /** The database's DuckDB: an instance of its own, or its catalog in a shared one. */
  readonly #handle: DuckHandle;
  /**
   * Runs what holds the gate exclusively: `transaction()`, token-less `execute`, conflict re-runs,
   * `CHECKPOINT`. Also the pool's first connection: pooled requests hold the gate shared, and every
   * pooled connection is back in the pool before its requests leave the gate, so the two never overlap.
   */
  readonly #conn: WriteConnection;
  /** Long-lived handle for header reads (duckblock's; released after DuckDB closed). */
  readonly #fd: FileHandle;
  readonly #context: LeaderContext;
  readonly #shipper: CheckpointShipper;
  readonly #clock: Clock;
  /** Shared: pooled write requests. Exclusive: everything else that writes, `CHECKPOINT`, close. */
  readonly #gate = new RwGate();
  readonly #limits: DuckLimits;
  readonly #writeConnections: number;
  /** Connections of the write requests that hold the gate shared. */
  readonly #pool: WritePool;
  /** Group commit of the write requests that hold the gate shared. */
  readonly #groups: WriteGroups<PooledJob, ExecuteResult>;
  /** Queries running on their own connections: `close()` waits for them (bounded), then interrupts them. */
  readonly #queries = new Map<DuckDBConnection, Promise<unknown>>();
  #lastIteration: bigint;
  /** Ships started so far (a snapshot starts at once only while no later ship started). */
  #shipsStarted = 0;
  /** The replicator asked for a snapshot that has not started yet. */
  #snapshotDue = false;
  /** The snapshot running between checkpoints; resolves with its failure as a warning. */
  #snapshotting: Promise<string | undefined> | undefined;
  #tokensReady = false;
  #tokenWrites = 0;
  #closed = false;
  #counters = {
    checkpoints: 0,
    unexpectedCheckpoints: 0,
    lockedRetries: 0,
    /** Pooled write requests re-run alone after a conflict with a concurrent one. */
    conflictRetries: 0,
    /** Group transactions that committed more than one write request, and the requests they committed. */
    groupTransactions: 0,
    groupedWrites: 0,
    /** Cumulative milliseconds of each ship phase (`CHECKPOINT` with the gate held exclusively, capture, upload, snapshot). */
    checkpointMs: 0,
    captureMs: 0,
    uploadMs: 0,
    snapshotMs: 0,
  };

  private constructor(
    handle: DuckHandle,
    conn: WriteConnection,
    fd: FileHandle,
    iteration: bigint,
    options: DuckLeaderOptions,
  ) {
    this.path = options.path;
    this.#handle = handle;
    this.#conn = conn;
    this.#fd = fd;
    this.#lastIteration = iteration;
    this.#context = options.context;
    this.#shipper = options.shipper;
    this.#clock = options.clock;
    this.#limits = options.limits ?? DEFAULT_DUCK_LIMITS;
    this.#writeConnections = options.writeConnections ?? DEFAULT_WRITE_CONNECTIONS;
    this.#pool = new WritePool(handle, this.#writeConnections, conn);
    this.#groups = new WriteGroups(this.#pool, this.#writeConnections, (wc, entries) => this.#runGroup(wc, entries));
  }

  /**
   * Opens (or creates) the database read-write, with DuckDB's file system closed to SQL
   * (`enable_external_access=false`: no `read_csv('/etc/passwd')`, `COPY … TO`, `ATTACH`,
   * `INSTALL`) and its configuration locked (`lock_configuration=true`: no `SET
   * checkpoint_threshold`, which would make DuckDB checkpoint behind duckblock's back).
   */
  static async open(options: DuckLeaderOptions): Promise<DuckLeader> {
    const pool = options.writeConnections ?? DEFAULT_WRITE_CONNECTIONS;
    if (!Number.isSafeInteger(pool) || pool < 1)
      throw new HaDuckError('HADB_HADUCK_INVALID_CONFIG', 'writeConnections must be a positive integer');
    const config: Record<string, string> = {
      ...options.duckdbConfig,
      access_mode: 'READ_WRITE',
      checkpoint_threshold: options.checkpointThreshold ?? '1000GB',
      enable_external_access: 'false',
      lock_configuration: 'true',
    };
    const handle =
      options.sharedInstance === undefined
        ? await ownInstance(options.path, config)
        : await options.sharedInstance.attach(options.path);
    let conn: WriteConnection | undefined;
    try {
      conn = await WriteConnection.open(handle);
      // duckblock's long-lived handle: never closed while DuckDB holds the file (POSIX locks).
      const fd = await leaderFileHandle(options.path);
      const iteration = await headerIteration(fd);
      return new DuckLeader(handle, conn, fd, iteration, options);
    } catch (cause) {
      conn?.close();
      await handle.close();
      throw cause;
    }
  }

  counters(): Readonly<Record<string, number>> {
    return { ...this.#counters };
  }

  #checkOpen(): void {
    if (this.#closed) throw new HaError('HADB_HA_CLOSED', 'database is closed');
  }

  async #ensureTokenTable(): Promise<void> {
    if (this.#tokensReady) return;
    await this.#conn.conn.run(
      `CREATE SCHEMA IF NOT EXISTS _haduck; CREATE TABLE IF NOT EXISTS ${TOKEN_TABLE} (token VARCHAR PRIMARY KEY, at_ms BIGINT NOT NULL, rows_changed BIGINT NOT NULL)`,
    );
    this.#tokensReady = true;
  }

  /**
   * Runs `fn` as one write transaction. With `token`, the transaction also records the token (and
   * the result) in the token table (its primary key): for a token committed before, the attempt is
   * rolled back whole — nothing of `fn` stays — and the stored result returned. `pooled`: on a pooled connection with the gate shared, run again exclusively after
   * a conflict (only for `fn`s that are pure SQL: a rolled-back attempt left nothing behind).
   */
  async #writeTx<T extends ExecuteResult>(
    fn: (tx: Transaction) => Promise<T>,
    token: string | undefined,
    signal: AbortSignal | undefined,
    guarded: boolean,
    pooled: boolean,
  ): Promise<T> {
    // The token table is created, and pruned every 512 tokens, alone (DDL and a bulk delete would
    // conflict with concurrent requests).
    const prune = token !== undefined && ++this.#tokenWrites % 512 === 0;
    if (pooled && this.#writeConnections > 1 && (token === undefined || this.#tokensReady) && !prune) {
      try {
        return await this.#gate.shared(async () => {
          this.#checkOpen();
          const job: PooledJob = { fn, token, signal, guarded };
          const outcome = await this.#groups.submit(job);
          if (outcome.kind === 'committed') return outcome.value as T;
          if (outcome.kind === 'failed') throw outcome.error;
          // Rolled back with its group: run alone (still beside other requests).
          const conn = await this.#pool.acquire();
          try {
            return await this.#runTx(conn, fn, token, signal, guarded, false);
          } finally {
            this.#pool.release(conn);
          }
        });
      } catch (err) {
        if (!isConflict(err)) throw err;
        this.#counters.conflictRetries++;
      }
    }
    return this.#gate.exclusive(() => this.#runTx(this.#conn, fn, token, signal, guarded, prune));
  }

  async #runTx<T extends ExecuteResult>(
    wc: WriteConnection,
    fn: (tx: Transaction) => Promise<T>,
    token: string | undefined,
    signal: AbortSignal | undefined,
    guarded: boolean,
    prune: boolean,
  ): Promise<T> {
    this.#checkOpen();
    throwIfAborted(signal);
    this.#context.checkWrite();
    if (token !== undefined) await this.#ensureTokenTable();
    const { conn } = wc;
    await wc.begin();
    let open = true;
    try {
      let result: T;
      try {
        result = await this.#runBody(wc, fn, token, guarded);
        if (prune) {
          const now = Math.floor(this.#clock.wallMs());
          await conn.run(`DELETE FROM ${TOKEN_TABLE} WHERE at_ms < $1`, [now - TOKEN_RETENTION_MS]);
        }
      } catch (err) {
        if (token === undefined) throw err;
        // A token committed before: this attempt is rolled back whole and the stored result returned.
        open = false;
        await wc.rollback();
        const prior = await conn.runAndReadAll(`SELECT rows_changed FROM ${TOKEN_TABLE} WHERE token = $1`, [token]);
        const row = prior.getRows()[0];
        if (row === undefined) throw err;
        return { rowsChanged: Number(row[0]) } as T;
      }
      this.#context.checkWrite();
      await wc.commit();
      open = false;
      this.#context.committed();
      return result;
    } finally {
      if (open) await wc.rollback();
    }
  }

  /**
   * The body of a write transaction on `wc`, inside the open transaction: `fn` (guarded: each
   * statement classified, the whole interrupted after `limits.statementTimeoutMs`), then the token
   * row (which fails on a token committed before: the primary key).
   */
  async #runBody<T extends ExecuteResult>(
    wc: WriteConnection,
    fn: (tx: Transaction) => Promise<T>,
    token: string | undefined,
    guarded: boolean,
  ): Promise<T> {
    const { conn } = wc;
    const tx: Transaction = {
      execute: (sql, params) =>
        guarded ? runGuardedExecute(conn, sql, params, this.#limits.maxStatements, wc) : runExecute(conn, sql, params),
      query: (sql, params) => runQuery(conn, sql, params),
    };
    const result = guarded
      ? await withStatementTimeout(conn, this.#clock, this.#limits.statementTimeoutMs, () => fn(tx))
      : await fn(tx);
    if (token !== undefined) {
      const insert = await wc.prepared(`INSERT INTO ${TOKEN_TABLE} VALUES ($1, $2, $3)`);
      insert.bind([token, BigInt(Math.floor(this.#clock.wallMs())), BigInt(result.rowsChanged)]);
      await insert.run();
    }
    return result;
  }

  /**
   * Runs one group of pooled write requests (see {@link WriteGroups}) as one transaction on `wc`,
   * with the same checks as a transaction of its own: the term before `BEGIN` and again before
   * `COMMIT` (a refusal fails every request of the group; nothing of it stays). A request that
   * fails rolls the group back: a timeout, a refused statement or a bad value fails that request
   * alone; any other error (which its group mates may have caused) sends it to run in a
   * transaction of its own; the others run again as a group. A failed `COMMIT` (a conflict with a
   * concurrent transaction) sends every request of the group to run on its own.
   */
  async #runGroup(wc: WriteConnection, entries: GroupEntry<PooledJob, ExecuteResult>[]): Promise<void> {
    let group = entries;
    while (group.length > 0) {
      const live: GroupEntry<PooledJob, ExecuteResult>[] = [];
      for (const entry of group) {
        // Closed or aborted: the request's own run reports it.
        if (this.#closed || entry.job.signal?.aborted === true) entry.settle({ kind: 'alone' });
        else live.push(entry);
      }
      if (live.length === 0) return;
      try {
        this.#context.checkWrite();
      } catch (error) {
        for (const entry of live) entry.settle({ kind: 'failed', error });
        return;
      }
      await wc.begin();
      const results: ExecuteResult[] = [];
      let failed = -1;
      for (const [i, { job }] of live.entries()) {
        try {
          results.push(await this.#runBody(wc, job.fn, job.token, job.guarded));
        } catch (error) {
          failed = i;
          await wc.rollback();
          const own =
            isHaDuckError(error) &&
            [
              'HADB_HADUCK_TIMEOUT',
              'HADB_HADUCK_REFUSED_STATEMENT',
              'HADB_HADUCK_LIMIT',
              'HADB_HADUCK_INVALID_VALUE',
            ].includes(error.code);
          live[i]!.settle(own ? { kind: 'failed', error } : { kind: 'alone' });
          break;
        }
      }
      if (failed >= 0) {
        group = live.filter((_, i) => i !== failed);
        continue;
      }
      try {
        this.#context.checkWrite();
      } catch (error) {
        await wc.rollback();
        for (const entry of live) entry.settle({ kind: 'failed', error });
        return;
      }
      try {
        await wc.commit();
      } catch {
        await wc.rollback();
        for (const entry of live) entry.settle({ kind: 'alone' });
        return;
      }
      if (live.length > 1) {
        this.#counters.groupTransactions++;
        this.#counters.groupedWrites += live.length;
      }
      for (const [i, entry] of live.entries()) {
        this.#context.committed();
        entry.settle({ kind: 'committed', value: results[i]! });
      }
      return;
    }
  }

  /**
   * Runs a write request — `HaDuck.execute()`/`batch()`, here or forwarded by a follower — as one
   * transaction, each statement classified by DuckDB first (see `runGuardedExecute`: transaction
   * control, `SET`, `ATTACH`, `COPY`, `CALL`/`CHECKPOINT`, `_haduck` … are refused with
   * `HADB_HADUCK_REFUSED_STATEMENT`), within the request limits (`HADB_HADUCK_LIMIT`,
   * `HADB_HADUCK_TIMEOUT`).
   */
  write(write: DuckWrite, options: EngineWriteOptions): Promise<ExecuteResult> {
    const statements = write.kind === 'execute' ? [{ sql: write.sql, params: write.params }] : write.statements;
    if (statements.length > this.#limits.maxStatements) {
      return Promise.reject(
        new HaDuckError(
          'HADB_HADUCK_LIMIT',
          `a batch may hold at most ${this.#limits.maxStatements} statements (got ${statements.length})`,
        ),
      );
    }
    for (const s of statements) {
      try {
        refuseReserved(s.sql);
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return this.#writeTx(
      async (tx) => {
        let rowsChanged = 0;
        for (const s of statements) rowsChanged += (await tx.execute(s.sql, s.params)).rowsChanged;
        return { rowsChanged };
      },
      options.token,
      options.signal,
      true,
      true,
    );
  }

  /** Runs a read request (not naming `_haduck`) on its own connection, in a read-only transaction, within the limits. */
  read(read: DuckRead, _options: OpOptions = {}): Promise<QueryResult> {
    try {
      refuseReserved(read.sql);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.query(read.sql, read.params);
  }

  /**
   * Runs one write statement (or a script without params) as its own transaction. Without a token
   * it runs in autocommit (one round trip); with one, see {@link #writeTx}.
   */
  execute(sql: string, params?: HaParams, options: EngineWriteOptions = {}): Promise<ExecuteResult> {
    if (options.token !== undefined)
      return this.#writeTx((tx) => tx.execute(sql, params), options.token, options.signal, false, true);
    return this.#gate.exclusive(async () => {
      this.#checkOpen();
      throwIfAborted(options.signal);
      this.#context.checkWrite();
      const result = await runExecute(this.#conn.conn, sql, params);
      this.#context.committed();
      return result;
    });
  }

  /** Runs statements in order as one transaction; returns the total rows changed. */
  batch(
    statements: readonly { readonly sql: string; readonly params?: HaParams | undefined }[],
    options: EngineWriteOptions = {},
  ): Promise<ExecuteResult> {
    return this.#writeTx(
      async (tx) => {
        let rowsChanged = 0;
        for (const s of statements) rowsChanged += (await tx.execute(s.sql, s.params)).rowsChanged;
        return { rowsChanged };
      },
      options.token,
      options.signal,
      false,
      true,
    );
  }

  /** Runs `fn` in one transaction with the write gate held exclusively; commits when it resolves, rolls back when it throws. */
  async transaction<T>(fn: (tx: Transaction) => Promise<T>, options: OpOptions = {}): Promise<T> {
    let value!: T;
    await this.#writeTx(
      async (tx) => {
        value = await fn(tx);
        return { rowsChanged: 0 };
      },
      undefined,
      options.signal,
      false,
      false,
    );
    return value;
  }

  /**
   * Runs a read-only statement on its own connection (never blocked by writes or checkpoints),
   * inside `BEGIN TRANSACTION READ ONLY`: a statement that would write (`EXPLAIN ANALYZE INSERT …`)
   * fails with `HADB_HADUCK_NOT_READ_ONLY` and changes nothing. At most `limits.maxResultRows`
   * rows (`HADB_HADUCK_LIMIT`), interrupted after `limits.statementTimeoutMs` (`HADB_HADUCK_TIMEOUT`).
   */
  async query(sql: string, params?: HaParams): Promise<QueryResult> {
    this.#checkOpen();
    const conn = await this.#handle.connect();
    const run = (async () => {
      await conn.run('BEGIN TRANSACTION READ ONLY');
      return withStatementTimeout(conn, this.#clock, this.#limits.statementTimeoutMs, () =>
        runQuery(conn, sql, params, this.#limits.maxResultRows),
      );
    })();
    this.#queries.set(conn, run);
    try {
      return await run;
    } finally {
      this.#queries.delete(conn);
      conn.closeSync();
    }
  }

  /** Resolves once `work` settled or `ms` passed, whichever comes first. */
  #settledWithin(work: readonly Promise<unknown>[], ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = this.#clock.timer(ms, resolve);
      void Promise.allSettled(work).then(() => {
        timer.cancel();
        resolve();
      });
    });
  }

  /**
   * Checkpoints and ships. With the write gate held exclusively (no write transaction open): checks the term and runs `CHECKPOINT` (the only
   * step that changes the DuckDB file). Then, outside the lock while writes continue (their
   * commits go to the WAL, not the file): captures the changed blocks and uploads them. Once the
   * upload is queued it calls `options.captured`, so the HA layer may start the next ship's
   * `CHECKPOINT` and capture while this upload is in flight (duckblock runs that capture after
   * this upload settled, at the next sequence, diffing against what was uploaded). A snapshot the
   * replicator asks for (and the retention after it) runs after the ship resolved, between
   * checkpoints: the next ship's `CHECKPOINT` waits for it. A step whose reads find the file
   * changed under them (`HADB_DUCKBLOCK_TORN_READ`: a large transaction's optimistic writes into
   * free blocks, or `close()`) is run again with the write gate held exclusively. Rejects with
   * the term's `HaError` when the term ended (nothing checkpointed), or `HADB_HA_SHIP_FAILED` when
   * capturing or uploading failed (the blocks stay dirty and the next ship sends them).
   */
  async ship(options: ShipOptions): Promise<ShipReport> {
    throwIfAborted(options.signal);
    const mine = ++this.#shipsStarted;
    if (this.#snapshotDue) this.#startSnapshot();
    // A snapshot reads the whole file: no CHECKPOINT meanwhile. Its failure is this ship's warning.
    const warning = await this.#snapshotting;
    this.#snapshotting = undefined;
    await this.#gate.exclusive(async () => {
      this.#checkOpen();
      this.#context.checkTerm();
      options.capturePoint();
      const before = await headerIteration(this.#fd);
      if (before !== this.#lastIteration) this.#counters.unexpectedCheckpoints += Number(before - this.#lastIteration);
      const started = this.#clock.now();
      await this.#conn.conn.run(this.#handle.checkpointSql);
      this.#counters.checkpointMs += this.#clock.now() - started;
      this.#lastIteration = await headerIteration(this.#fd);
      this.#counters.checkpoints++;
    });
    let started = this.#clock.now();
    const pending = await this.#readAtRest('capturing', () => this.#shipper.capture());
    this.#counters.captureMs += this.#clock.now() - started;
    if (pending === null) return { bytes: 0, warning };
    started = this.#clock.now();
    const uploading = shipStep('uploading', () => pending.upload({ signal: options.signal }));
    options.captured?.();
    const { snapshotDue } = await uploading;
    this.#counters.uploadMs += this.#clock.now() - started;
    if (snapshotDue) {
      // Now when no later ship started; otherwise before the next one's CHECKPOINT.
      this.#snapshotDue = true;
      if (this.#shipsStarted === mine) this.#startSnapshot();
    }
    return { bytes: pending.bytes, warning };
  }

  /**
   * Starts the snapshot (and retention) the replicator asked for; the next ship waits for it.
   * Resolves with its failure as a warning (the segment is durable either way; a failed
   * snapshot is retried after a later checkpoint).
   */
  #startSnapshot(): void {
    this.#snapshotDue = false;
    const started = this.#clock.now();
    this.#snapshotting = this.#readAtRest('snapshotting', () => this.#shipper.snapshot()).then(
      () => {
        this.#counters.snapshotMs += this.#clock.now() - started;
        return undefined;
      },
      (err: unknown) => describeError(err).message,
    );
  }

  /**
   * Runs a ship step that reads the DuckDB file outside the write gate; when the file changed
   * under its reads (a torn read), runs it once more under the lock, where nothing writes the file.
   */
  async #readAtRest<T>(what: string, step: () => Promise<T>): Promise<T> {
    try {
      return await shipStep(what, step);
    } catch (err) {
      if (!isTornRead(err)) throw err;
      this.#counters.lockedRetries++;
      return this.#gate.exclusive(() => {
        this.#checkOpen();
        return shipStep(what, step);
      });
    }
  }

  /**
   * Stops accepting writes and queries, waits for running queries (at most `closeGraceMs`,
   * default 5000), interrupts the rest, closes DuckDB — every connection, so nothing can write or
   * checkpoint the file afterwards — then releases duckblock's handle on the file. Idempotent.
   */
  async close(closeGraceMs = 5000): Promise<void> {
    await this.#snapshotting;
    const wasOpen = await this.#gate.exclusive(() => {
      const open = !this.#closed;
      this.#closed = true;
      return open;
    });
    if (!wasOpen) return;
    if (this.#queries.size > 0) {
      await this.#settledWithin([...this.#queries.values()], closeGraceMs);
      for (const conn of this.#queries.keys()) conn.interrupt();
      await this.#settledWithin([...this.#queries.values()], 1000);
      for (const conn of this.#queries.keys()) conn.closeSync();
      this.#queries.clear();
    }
    this.#pool.close();
    this.#conn.close();
    await this.#handle.close();
    await releaseLeaderFile(this.path);
  }
}

/** Runs one step of shipping; wraps its failure as `HADB_HA_SHIP_FAILED` naming the step. */
async function shipStep<T>(what: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (cause) {
    if (isHaError(cause)) throw cause;
    throw new HaError('HADB_HA_SHIP_FAILED', `${what} the checkpoint failed: ${describeError(cause).message}`, {
      cause,
    });
  }
}

/**
 * True when `err` (or one of its causes) is DuckDB's report of a conflict with a concurrent
 * transaction — a write-write conflict, or a key (a user key or the idempotency token) that
 * another transaction inserted — which the same request run alone may not meet.
 */
function isConflict(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 8; depth++) {
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string' && /conflict|Constraint Error|duplicate key/i.test(message)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** True when `err` (or one of its causes) is duckblock's torn-read error. */
function isTornRead(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 8; depth++) {
    if (isDuckblockError(e, 'HADB_DUCKBLOCK_TORN_READ')) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** The active header's checkpoint iteration, read through duckblock's long-lived handle (never a new fd: see `leaderFileHandle`). */
async function headerIteration(fd: FileHandle): Promise<bigint> {
  const region = Buffer.alloc(HEADER_REGION_SIZE);
  const { bytesRead } = await fd.read(region, 0, region.length, 0);
  if (bytesRead < region.length) return 0n;
  return parseHeaderRegion(region).active.iteration;
}
