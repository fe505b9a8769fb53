import type { FileHandle } from 'node:fs/promises';
import { HEADER_REGION_SIZE, leaderFileHandle, parseHeaderRegion } from '@hadb/duckblock';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { HaDuckError, isHaDuckError, throwIfAborted } from './errors.js';
import { Mutex } from './mutex.js';
import { runExecute, runQuery, type ExecuteResult, type QueryResult } from './sql.js';
import type { HaParams } from './values.js';

/** What a checkpoint hands to storage: captured under the write lock, uploaded outside it. */
export interface CheckpointCapture {
  /** Bytes that {@link upload} sends, for statistics. */
  readonly bytes: number;
  /** Storage sequence the segment gets. */
  readonly seq: bigint;
  /**
   * Uploads the captured blocks; does not read the DuckDB file. Resolves once they are durable in
   * storage; `snapshotDue` asks for {@link CheckpointShipper.snapshot} under the write lock.
   */
  upload(options?: { signal?: AbortSignal | undefined }): Promise<{ readonly snapshotDue: boolean }>;
}

/** The replication side of the leader, called by {@link LeaderEngine.checkpoint}. */
export interface CheckpointShipper {
  /**
   * Called under the write lock right after `CHECKPOINT`, while no commit can run: reads the blocks
   * that differ from the last shipped state (and the header) from the DuckDB file and encodes them.
   * Returns `null` when nothing differs.
   */
  capture(): Promise<CheckpointCapture | null>;
  /** Writes a snapshot of the file (reads the whole file: called under the write lock). */
  snapshot(options?: { signal?: AbortSignal | undefined }): Promise<void>;
  /** Deletes what the snapshot made unnecessary in storage (called after it, outside the write lock). */
  retention(options?: { signal?: AbortSignal | undefined }): Promise<void>;
}

/** Statistics of the leader engine. */
export interface LeaderStats {
  readonly commits: number;
  readonly checkpoints: number;
  /** Checkpoint iterations DuckDB made on its own (should stay 0 with the high threshold). */
  readonly unexpectedCheckpoints: number;
  readonly bytesShipped: number;
  readonly lastShipError: string | undefined;
}

/** Options of {@link LeaderEngine.open}. */
export interface LeaderEngineOptions {
  readonly path: string;
  /** Called under the write lock before every write and before every commit; throws to refuse. */
  readonly guard: () => void;
  /**
   * Called under the write lock before every `CHECKPOINT`; throws when this node's term has ended,
   * so a fenced leader never checkpoints changes it can no longer ship.
   */
  readonly fence: () => void;
  readonly shipper: CheckpointShipper;
  /** DuckDB `checkpoint_threshold`: high, so DuckDB never checkpoints on its own. Default `'1000GB'`. */
  readonly checkpointThreshold?: string | undefined;
  /** Extra DuckDB configuration (e.g. `threads`, `memory_limit`). */
  readonly duckdbConfig?: Readonly<Record<string, string>> | undefined;
}

/** A transaction handle passed to {@link LeaderEngine.transaction}'s callback. */
export interface Transaction {
  execute(sql: string, params?: HaParams): Promise<ExecuteResult>;
  query(sql: string, params?: HaParams): Promise<QueryResult>;
}

const TOKEN_TABLE = '_haduck.write_tokens';
/** Tokens older than this are pruned: a retry of a logical write must arrive within this window. */
export const TOKEN_RETENTION_MS = 15 * 60_000;

/**
 * The leader's DuckDB: one read-write instance, every write under one lock, checkpoints only when
 * asked, each checkpoint's changed blocks captured under the same lock and shipped in order.
 */
export class LeaderEngine {
  readonly path: string;
  readonly #instance: DuckDBInstance;
  readonly #conn: DuckDBConnection;
  /** Long-lived handle for header reads (duckblock's; the owner releases it after DuckDB closed). */
  readonly #fd: FileHandle;
  readonly #guard: () => void;
  readonly #fence: () => void;
  readonly #shipper: CheckpointShipper;
  readonly #writeLock = new Mutex();
  readonly #shipLock = new Mutex();
  #commitSeq = 0;
  #shippedSeq = 0;
  #lastIteration: bigint;
  #shipWaiters: { seq: number; resolve: () => void; reject: (err: Error) => void }[] = [];
  #tokensReady = false;
  #tokenWrites = 0;
  #closed = false;
  #disposed = false;
  #stats = { commits: 0, checkpoints: 0, unexpectedCheckpoints: 0, bytesShipped: 0, lastShipError: undefined as string | undefined };

  private constructor(path: string, instance: DuckDBInstance, conn: DuckDBConnection, fd: FileHandle, iteration: bigint, options: LeaderEngineOptions) {
    this.path = path;
    this.#instance = instance;
    this.#conn = conn;
    this.#fd = fd;
    this.#lastIteration = iteration;
    this.#guard = options.guard;
    this.#fence = options.fence;
    this.#shipper = options.shipper;
  }

  /** Opens (or creates) the database read-write. */
  static async open(options: LeaderEngineOptions): Promise<LeaderEngine> {
    const config: Record<string, string> = {
      ...options.duckdbConfig,
      access_mode: 'READ_WRITE',
      checkpoint_threshold: options.checkpointThreshold ?? '1000GB',
    };
    const instance = await DuckDBInstance.create(options.path, config);
    let conn: DuckDBConnection | undefined;
    let fd: FileHandle;
    try {
      conn = await instance.connect();
      // duckblock's long-lived handle: never closed while DuckDB holds the file (POSIX locks).
      fd = await leaderFileHandle(options.path);
      const iteration = await headerIteration(fd);
      return new LeaderEngine(options.path, instance, conn, fd, iteration, options);
    } catch (cause) {
      conn?.closeSync();
      instance.closeSync();
      throw cause;
    }
  }

  /** True when commits exist that no checkpoint has shipped yet. */
  get dirty(): boolean {
    return this.#commitSeq > this.#shippedSeq;
  }

  get stats(): LeaderStats {
    return { ...this.#stats };
  }

  #checkOpen(): void {
    if (this.#closed) throw new HaDuckError('HADB_HADUCK_CLOSED', 'database is closed');
  }

  async #ensureTokenTable(): Promise<void> {
    if (this.#tokensReady) return;
    await this.#conn.run(
      `CREATE SCHEMA IF NOT EXISTS _haduck; CREATE TABLE IF NOT EXISTS ${TOKEN_TABLE} (token VARCHAR PRIMARY KEY, at_ms BIGINT NOT NULL, rows_changed BIGINT NOT NULL)`,
    );
    this.#tokensReady = true;
  }

  /**
   * Runs `fn` as one transaction under the write lock. With `token`, the transaction also records
   * the token (and the result) in `_haduck.write_tokens`; a token seen before returns its stored
   * result without running `fn` again. That table is shipped with the data, so deduplication
   * survives a failover.
   */
  async #writeTx<T extends ExecuteResult>(
    fn: (tx: Transaction) => Promise<T>,
    token: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    return this.#writeLock.run(async () => {
      this.#checkOpen();
      throwIfAborted(signal);
      this.#guard();
      if (token !== undefined) await this.#ensureTokenTable();
      await this.#conn.run('BEGIN TRANSACTION');
      let committed = false;
      try {
        if (token !== undefined) {
          const seen = await this.#conn.runAndReadAll(`SELECT rows_changed FROM ${TOKEN_TABLE} WHERE token = $1`, [token]);
          const prior = seen.getRows()[0];
          if (prior !== undefined) {
            await this.#conn.run('ROLLBACK');
            committed = true;
            return { rowsChanged: Number(prior[0]) } as T;
          }
        }
        const tx: Transaction = {
          execute: (sql, params) => runExecute(this.#conn, sql, params),
          query: (sql, params) => runQuery(this.#conn, sql, params),
        };
        const result = await fn(tx);
        if (token !== undefined) {
          const now = Date.now();
          await this.#conn.run(`INSERT INTO ${TOKEN_TABLE} VALUES ($1, $2, $3)`, [token, now, result.rowsChanged]);
          if (++this.#tokenWrites % 512 === 0) await this.#conn.run(`DELETE FROM ${TOKEN_TABLE} WHERE at_ms < $1`, [now - TOKEN_RETENTION_MS]);
        }
        this.#guard();
        await this.#conn.run('COMMIT');
        committed = true;
        this.#commitSeq++;
        this.#stats.commits++;
        return result;
      } finally {
        if (!committed) {
          try {
            await this.#conn.run('ROLLBACK');
          } catch {
            // No transaction left to roll back (DuckDB aborted it already).
          }
        }
      }
    });
  }

  /**
   * Runs one write statement (or a script without params) as its own transaction. Without a token
   * it runs in autocommit (one round trip); with one, see {@link #writeTx}.
   */
  execute(sql: string, params?: HaParams, options: { token?: string | undefined; signal?: AbortSignal | undefined } = {}): Promise<ExecuteResult> {
    if (options.token !== undefined) return this.#writeTx((tx) => tx.execute(sql, params), options.token, options.signal);
    return this.#writeLock.run(async () => {
      this.#checkOpen();
      throwIfAborted(options.signal);
      this.#guard();
      const result = await runExecute(this.#conn, sql, params);
      this.#commitSeq++;
      this.#stats.commits++;
      return result;
    });
  }

  /** Runs statements in order as one transaction; returns the total rows changed. */
  batch(
    statements: readonly { readonly sql: string; readonly params?: HaParams | undefined }[],
    options: { token?: string | undefined; signal?: AbortSignal | undefined } = {},
  ): Promise<ExecuteResult> {
    return this.#writeTx(
      async (tx) => {
        let rowsChanged = 0;
        for (const s of statements) rowsChanged += (await tx.execute(s.sql, s.params)).rowsChanged;
        return { rowsChanged };
      },
      options.token,
      options.signal,
    );
  }

  /** Runs `fn` in one transaction under the write lock; commits when it resolves, rolls back when it throws. */
  async transaction<T>(fn: (tx: Transaction) => Promise<T>, options: { signal?: AbortSignal | undefined } = {}): Promise<T> {
    let value!: T;
    await this.#writeTx(
      async (tx) => {
        value = await fn(tx);
        return { rowsChanged: 0 };
      },
      undefined,
      options.signal,
    );
    return value;
  }

  /** Runs a read-only statement on its own connection (never blocked by writes or checkpoints). */
  async query(sql: string, params?: HaParams): Promise<QueryResult> {
    this.#checkOpen();
    const conn = await this.#instance.connect();
    try {
      return await runQuery(conn, sql, params);
    } finally {
      conn.closeSync();
    }
  }

  /**
   * Checkpoints and ships: under the write lock checks the term, runs `CHECKPOINT` and captures
   * the changed blocks; then uploads them outside the lock (writes continue meanwhile; only the
   * next checkpoint waits). When the replicator asks for a snapshot, writes it under the lock.
   * Resolves once everything committed before the call is in storage. Rejects with
   * `HADB_HADUCK_FENCED` / `HADB_HADUCK_NOT_LEADER` when the term ended (nothing checkpointed), or
   * `HADB_HADUCK_SHIP_FAILED` when capturing or uploading failed (the blocks stay dirty and the next
   * checkpoint ships them).
   */
  async checkpoint(options: { signal?: AbortSignal | undefined } = {}): Promise<void> {
    await this.#shipLock.run(async () => {
      throwIfAborted(options.signal);
      let seq = 0;
      let capture: CheckpointCapture | null = null;
      await this.#writeLock.run(async () => {
        if (this.#disposed) throw new HaDuckError('HADB_HADUCK_CLOSED', 'database is closed');
        if (this.#closed && this.#commitSeq === this.#shippedSeq) return;
        this.#fence();
        seq = this.#commitSeq;
        const before = await headerIteration(this.#fd);
        if (before !== this.#lastIteration) this.#stats.unexpectedCheckpoints += Number(before - this.#lastIteration);
        await this.#conn.run('CHECKPOINT');
        this.#lastIteration = await headerIteration(this.#fd);
        this.#stats.checkpoints++;
        capture = await this.#shipStep('capturing', () => this.#shipper.capture());
      });
      const pending = capture as CheckpointCapture | null;
      if (pending !== null) {
        const { snapshotDue } = await this.#shipStep('uploading', () => pending.upload({ signal: options.signal }));
        this.#stats.bytesShipped += pending.bytes;
        this.#stats.lastShipError = undefined;
        if (snapshotDue) {
          // The segment is durable either way; a failed snapshot or retention is retried after a later checkpoint.
          try {
            await this.#writeLock.run(() => this.#shipStep('snapshotting', () => this.#shipper.snapshot({ signal: options.signal })));
            await this.#shipStep('cleaning up after', () => this.#shipper.retention({ signal: options.signal }));
          } catch {
            // Recorded in stats().lastShipError.
          }
        }
      }
      if (pending === null) this.#stats.lastShipError = undefined;
      if (seq > this.#shippedSeq) this.#shippedSeq = seq;
      const ready = this.#shipWaiters.filter((w) => w.seq <= this.#shippedSeq);
      this.#shipWaiters = this.#shipWaiters.filter((w) => w.seq > this.#shippedSeq);
      for (const w of ready) w.resolve();
    });
  }

  /** Runs one step of shipping; records and wraps its failure as `HADB_HADUCK_SHIP_FAILED`. */
  async #shipStep<T>(what: string, step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (cause) {
      this.#stats.lastShipError = `${what} the checkpoint failed: ${cause instanceof Error ? cause.message : String(cause)}`;
      throw isHaDuckError(cause) ? cause : new HaDuckError('HADB_HADUCK_SHIP_FAILED', `${what} the checkpoint failed`, { cause });
    }
  }

  /** Number of commits so far (a write's own commit is included once its call resolved). */
  get commitSeq(): number {
    return this.#commitSeq;
  }

  /**
   * Resolves once commit number `seq` is shipped by a later checkpoint (the periodic one: this
   * does not force a checkpoint, so concurrent writes share one). Rejects with `HADB_HADUCK_CLOSED`
   * when the engine closes first (for example on demotion).
   */
  waitShipped(seq: number, options: { signal?: AbortSignal | undefined } = {}): Promise<void> {
    if (seq <= this.#shippedSeq) return Promise.resolve();
    if (this.#disposed) return Promise.reject(new HaDuckError('HADB_HADUCK_CLOSED', 'database closed before the write was shipped'));
    return new Promise<void>((resolve, reject) => {
      const w = { seq, resolve, reject };
      this.#shipWaiters.push(w);
      options.signal?.addEventListener(
        'abort',
        () => {
          this.#shipWaiters = this.#shipWaiters.filter((x) => x !== w);
          reject(new HaDuckError('HADB_HADUCK_ABORTED', 'aborted while waiting for shipping', { cause: options.signal?.reason }));
        },
        { once: true },
      );
    });
  }

  /** Resolves once every commit made before the call is shipped (checkpointing as needed). */
  async sync(options: { signal?: AbortSignal | undefined } = {}): Promise<void> {
    const target = this.#commitSeq;
    while (this.#shippedSeq < target) await this.checkpoint(options);
  }

  /**
   * Stops accepting writes; with `ship` (default) runs a last checkpoint and ships it; then closes
   * DuckDB. The caller then releases duckblock's handle (`releaseLeaderFile`). Idempotent.
   */
  async close(options: { ship?: boolean; signal?: AbortSignal | undefined } = {}): Promise<void> {
    if (this.#closed) return;
    await this.#writeLock.run(() => {
      this.#closed = true;
    });
    try {
      if (options.ship !== false && this.dirty) await this.checkpoint(options);
    } finally {
      await this.#shipLock.run(async () => {
        this.#disposed = true;
        for (const w of this.#shipWaiters.splice(0)) {
          w.reject(new HaDuckError('HADB_HADUCK_CLOSED', 'database closed before the write was shipped; it may be lost'));
        }
        this.#conn.closeSync();
        this.#instance.closeSync();
      });
    }
  }
}

/** The active header's checkpoint iteration, read through duckblock's long-lived handle (never a new fd: see `leaderFileHandle`). */
async function headerIteration(fd: FileHandle): Promise<bigint> {
  const region = Buffer.alloc(HEADER_REGION_SIZE);
  const { bytesRead } = await fd.read(region, 0, region.length, 0);
  if (bytesRead < region.length) return 0n;
  return parseHeaderRegion(region).active.iteration;
}
