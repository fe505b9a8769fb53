import Database from 'better-sqlite3';
import {
  HaError,
  Mutex,
  isHaError,
  throwIfAborted,
  type EngineWriteOptions,
  type LeaderContext,
  type LeaderSide,
  type ShipOptions,
  type ShipReport,
} from '@hadb/ha';
import { describeError, type Clock, type OpOptions } from '@hadb/io';
import type { DatabaseReplicator } from '@hadb/walstream';
import { HaQLiteError } from './errors.js';
import { runOwned, runStatement, txControlError, type Statement, type StatementResult } from './sql.js';
import type { SqlParams } from './values.js';
import {
  resultFromJson,
  resultToJson,
  type SqliteReadOp,
  type SqliteReadReply,
  type SqliteWrite,
  type WriteResults,
} from './wire.js';

/** A transaction handle passed to `transaction()`'s callback (statements run at once, on the leader). */
export interface Transaction {
  execute(sql: string, args?: SqlParams): Promise<StatementResult>;
  query(sql: string, args?: SqlParams): Promise<StatementResult>;
}

/** A transaction handle passed to `transactionSync()`'s callback (statements run at once, on the leader). */
export interface SyncTransaction {
  execute(sql: string, args?: SqlParams): StatementResult;
  query(sql: string, args?: SqlParams): StatementResult;
}

/** Options of {@link SqliteLeader.open}. */
export interface SqliteLeaderOptions {
  readonly path: string;
  readonly context: LeaderContext;
  /** walstream's replicator of this term (opened by the engine's `startLineage`/`continueLineage`). */
  readonly replicator: DatabaseReplicator;
  /** Signal of the term's fence: aborts an upload once the term ended. */
  readonly termSignal: AbortSignal;
  readonly clock: Clock;
  /** PASSIVE checkpoint once the WAL holds this many shipped frames. Default 1000. */
  readonly checkpointPages?: number | undefined;
  /** Runs a Hrana pipeline body relayed by a follower in this node's stream store (see `HranaRelay`). */
  readonly hrana?: ((pipeline: unknown) => Promise<unknown>) | undefined;
}

/** Table of idempotency tokens, inside the database: it ships with the data and survives a failover. */
export const TOKEN_TABLE = '_haqlite_write_tokens';
/** Tokens older than this are pruned: a retry of a logical write must arrive within this window. */
export const TOKEN_RETENTION_MS = 15 * 60_000;

/**
 * The leader's SQLite: one read-write connection (WAL mode) for writes, each write one
 * transaction under one lock; a second, read-only connection for reads. Shipping is walstream's
 * `sync()`: the commits fixed at the capture point are read from the WAL and stored as one chained
 * changeset, outside the write lock (writes continue during the upload).
 */
export class SqliteLeader implements LeaderSide<SqliteWrite, SqliteReadOp, WriteResults, SqliteReadReply> {
  readonly #db: Database.Database;
  readonly #reader: Database.Database;
  readonly #o: SqliteLeaderOptions;
  readonly #lock = new Mutex();
  /** Calls queued on {@link #lock} that have not acquired it yet. */
  #waiting = 0;
  /** The reader connection's schema epoch: bumped by every write (see `runStatement`). */
  #epoch = 0;
  readonly #begin: Database.Statement;
  readonly #commit: Database.Statement;
  readonly #rollback: Database.Statement;
  #tokensReady = false;
  #tokenWrites = 0;
  #closed = false;
  #counters = { changesets: 0, checkpoints: 0 };
  /** WAL frame index at the last checkpoint attempt. */
  #checkpointedAt = 0;

  private constructor(db: Database.Database, reader: Database.Database, o: SqliteLeaderOptions) {
    this.#db = db;
    this.#reader = reader;
    this.#o = o;
    this.#begin = db.prepare('BEGIN IMMEDIATE');
    this.#commit = db.prepare('COMMIT');
    this.#rollback = db.prepare('ROLLBACK');
  }

  /** Runs `fn` under the write lock, in arrival order. */
  #locked<T>(fn: () => Promise<T> | T): Promise<T> {
    this.#waiting++;
    return this.#lock.run(() => {
      this.#waiting--;
      return fn();
    });
  }

  /**
   * True when nothing holds or waits for the write lock: a synchronous write body may run at once
   * (it cannot interleave with anything, and no earlier caller is overtaken).
   */
  #lockFree(): boolean {
    return this.#waiting === 0 && !this.#lock.held;
  }

  /** Opens the database read-write (walstream has switched it to WAL mode) and a read-only reader. */
  static open(o: SqliteLeaderOptions): SqliteLeader {
    const db = new Database(o.path, { fileMustExist: true });
    try {
      db.pragma('busy_timeout = 5000');
      // walstream owns checkpointing (the ship runs it). SQLite's automatic one would run after
      // every commit once the WAL passed 1000 frames and, held back by walstream's read lock,
      // scan the whole unshipped WAL each time: write latency growing with the WAL.
      db.pragma('wal_autocheckpoint = 0');
      const reader = new Database(o.path, { readonly: true, fileMustExist: true });
      reader.pragma('busy_timeout = 5000');
      return new SqliteLeader(db, reader, o);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  counters(): Readonly<Record<string, number>> {
    return { ...this.#counters };
  }

  #checkOpen(): void {
    if (this.#closed) throw new HaError('HADB_HA_CLOSED', 'database is closed');
  }

  #ensureTokenTable(): void {
    if (this.#tokensReady) return;
    this.#db.exec(
      `CREATE TABLE IF NOT EXISTS ${TOKEN_TABLE} (token TEXT PRIMARY KEY, at_ms INTEGER NOT NULL, result TEXT NOT NULL)`,
    );
    this.#tokensReady = true;
  }

  #run(sql: string, args: SqlParams | undefined): StatementResult {
    return runOwned(this.#db, sql, args, true);
  }

  /**
   * Runs `fn` as one transaction under the write lock. With `token`, the transaction also records
   * the token and the results; a token seen before returns the stored results without running `fn`.
   */
  #writeTx<T>(
    fn: (tx: Transaction) => Promise<T>,
    encode: (v: T) => WriteResults,
    token: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<T | WriteResults> {
    return this.#locked(async () => {
      this.#checkOpen();
      throwIfAborted(signal);
      this.#o.context.checkWrite();
      const db = this.#db;
      this.#begin.run();
      this.#epoch++;
      let done = false;
      try {
        if (token !== undefined) {
          this.#ensureTokenTable();
          const prior = db.prepare(`SELECT result FROM ${TOKEN_TABLE} WHERE token = ?`).get(token) as
            | { result: string }
            | undefined;
          if (prior !== undefined) {
            this.#rollback.run();
            done = true;
            return (JSON.parse(prior.result) as unknown[]).map(resultFromJson);
          }
        }
        const tx: Transaction = {
          execute: async (sql, args) => this.#run(sql, args),
          query: async (sql, args) => runOwned(db, sql, args, true, true),
        };
        const value = await fn(tx);
        if (!db.inTransaction) throw txControlError();
        if (token !== undefined) {
          const now = Math.floor(this.#o.clock.wallMs());
          db.prepare(`INSERT INTO ${TOKEN_TABLE} VALUES (?, ?, ?)`).run(
            token,
            now,
            JSON.stringify(encode(value).map(resultToJson)),
          );
          if (++this.#tokenWrites % 512 === 0)
            db.prepare(`DELETE FROM ${TOKEN_TABLE} WHERE at_ms < ?`).run(now - TOKEN_RETENTION_MS);
        }
        this.#o.context.checkWrite();
        this.#commit.run();
        done = true;
        this.#o.context.committed();
        return value;
      } finally {
        this.#epoch++;
        if (!done && db.inTransaction) this.#rollback.run();
      }
    });
  }

  /** Runs a write request: one statement, or a batch as one transaction; one result per statement. */
  write(write: SqliteWrite, options: EngineWriteOptions): Promise<WriteResults> {
    const { token, signal } = options;
    if (token !== undefined) {
      const statements: readonly Statement[] =
        write.kind === 'execute' ? [{ sql: write.sql, args: write.args }] : write.statements;
      const run = async (tx: Transaction): Promise<WriteResults> => {
        const out: StatementResult[] = [];
        for (const s of statements) out.push(await tx.execute(s.sql, s.args));
        return out;
      };
      return this.#writeTx(run, (v) => v, token, signal) as Promise<WriteResults>;
    }
    // Without a token the write is one synchronous step: at once when the lock is free (no
    // microtask hops through the queue), else queued behind the holders.
    if (!this.#lockFree()) return this.#locked(() => this.#writeNow(write, signal));
    try {
      return Promise.resolve(this.#writeNow(write, signal));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** {@link write} of one statement without a token, resolving with its result (no results array). */
  execute(sql: string, args: SqlParams | undefined, signal: AbortSignal | undefined): Promise<StatementResult> {
    if (!this.#lockFree()) return this.#locked(() => this.#executeNow(sql, args, signal));
    try {
      return Promise.resolve(this.#executeNow(sql, args, signal));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #executeNow(sql: string, args: SqlParams | undefined, signal: AbortSignal | undefined): StatementResult {
    this.#checkOpen();
    throwIfAborted(signal);
    this.#o.context.checkWrite();
    return this.#autocommit(sql, args);
  }

  /** {@link read} of one read-only statement, resolving with its result. */
  query(sql: string, args: SqlParams | undefined): Promise<StatementResult> {
    try {
      return Promise.resolve(this.querySync(sql, args));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** A write without a token, checked and run synchronously (call it holding the lock or with the lock free). */
  #writeNow(write: SqliteWrite, signal: AbortSignal | undefined): WriteResults {
    this.#checkOpen();
    throwIfAborted(signal);
    this.#o.context.checkWrite();
    return write.kind === 'execute' ? [this.#autocommit(write.sql, write.args)] : this.#batch(write.statements);
  }

  /** Statements as one transaction, after the checks of {@link #writeNow} (re-checks the fence before COMMIT). */
  #batch(statements: readonly Statement[]): StatementResult[] {
    const db = this.#db;
    this.#begin.run();
    let done = false;
    try {
      const out: StatementResult[] = new Array(statements.length);
      for (let i = 0; i < statements.length; i++) out[i] = this.#run(statements[i]!.sql, statements[i]!.args);
      this.#o.context.checkWrite();
      this.#commit.run();
      done = true;
      this.#o.context.committed();
      return out;
    } finally {
      this.#epoch++;
      if (!done && db.inTransaction) this.#rollback.run();
    }
  }

  /** One statement in autocommit, after the checks of {@link #writeNow}: one round trip into SQLite. */
  #autocommit(sql: string, args: SqlParams | undefined): StatementResult {
    const db = this.#db;
    let result: StatementResult;
    try {
      result = runOwned(db, sql, args, false);
    } catch (err) {
      if (db.inTransaction) this.#rollback.run();
      throw err;
    } finally {
      this.#epoch++;
    }
    this.#o.context.committed();
    return result;
  }

  /**
   * Checks for a synchronous leader-local call: open, and no interactive transaction holding the
   * connection (a synchronous call cannot wait for it: `HADB_HAQLITE_BUSY`).
   */
  #syncReady(): void {
    this.#checkOpen();
    if (this.#db.inTransaction)
      throw new HaQLiteError(
        'HADB_HAQLITE_BUSY',
        'a transaction() is open on the leader; a synchronous call cannot wait for it (use the async API)',
      );
  }

  /** Synchronous {@link write} of one statement (no token, `committed` durability); the same checks. */
  executeSync(sql: string, args: SqlParams | undefined): StatementResult {
    this.#syncReady();
    this.#o.context.checkWrite();
    return this.#autocommit(sql, args);
  }

  /** Synchronous {@link write} of a batch as one transaction (no token, `committed` durability); the same checks. */
  batchSync(statements: readonly Statement[]): StatementResult[] {
    this.#syncReady();
    this.#o.context.checkWrite();
    return this.#batch(statements);
  }

  /** Synchronous read of one read-only statement on the reader connection. */
  querySync(sql: string, args: SqlParams | undefined): StatementResult {
    this.#checkOpen();
    return runStatement(this.#reader, sql, args, true, this.#epoch);
  }

  /**
   * Runs `fn` synchronously as one transaction (committed when it returns, rolled back when it
   * throws). `fn` must not return a promise: it is rolled back and `HADB_HAQLITE_INVALID_VALUE`
   * thrown. The fence is checked before BEGIN and again before COMMIT.
   */
  transactionSync<T>(fn: (tx: SyncTransaction) => T): T {
    this.#syncReady();
    this.#o.context.checkWrite();
    const db = this.#db;
    this.#begin.run();
    let done = false;
    try {
      const value = fn({
        execute: (sql, args) => this.#run(sql, args),
        query: (sql, args) => runOwned(db, sql, args, true, true),
      });
      if (typeof (value as { then?: unknown } | null)?.then === 'function')
        throw new HaQLiteError(
          'HADB_HAQLITE_INVALID_VALUE',
          'the callback of transactionSync() returned a promise; use transaction() for async work',
        );
      if (!db.inTransaction) throw txControlError();
      this.#o.context.checkWrite();
      this.#commit.run();
      done = true;
      this.#o.context.committed();
      return value;
    } finally {
      this.#epoch++;
      if (!done && db.inTransaction) this.#rollback.run();
    }
  }

  /** Runs `fn` in one transaction under the write lock; commits when it resolves, rolls back when it throws. */
  async transaction<T>(fn: (tx: Transaction) => Promise<T>, options: OpOptions = {}): Promise<T> {
    return (await this.#writeTx(fn, () => [], undefined, options.signal)) as T;
  }

  /** Runs a read-only statement on the reader connection (sees every committed write). */
  read(read: SqliteReadOp, _options: OpOptions = {}): Promise<SqliteReadReply> {
    return 'hrana' in read ? this.#relay(read.hrana) : this.query(read.sql, read.args);
  }

  async #relay(pipeline: unknown): Promise<SqliteReadReply> {
    this.#checkOpen();
    const relay = this.#o.hrana;
    if (relay === undefined) throw new HaError('HADB_HA_PROTOCOL', 'this node does not run relayed Hrana pipelines');
    return { hrana: await relay(pipeline) };
  }

  /**
   * Ships: under the write lock checks the term and fixes the capture point; then walstream reads
   * the committed WAL frames and stores them as one changeset (writes continue meanwhile). Rejects
   * with the term's `HaError` when the term ended, `HADB_HA_SHIP_FAILED` when storage failed (the
   * frames stay in the WAL and the next ship sends them).
   */
  async ship(options: ShipOptions): Promise<ShipReport> {
    throwIfAborted(options.signal);
    // One turn of the event loop before the capture point: writers just released by the previous
    // ship (and requests that arrived during it) commit first and share this ship, instead of
    // each ship covering only the few commits that won the race to the lock.
    await new Promise<void>((resolve) => setImmediate(resolve));
    await this.#locked(() => {
      this.#checkOpen();
      this.#o.context.checkTerm();
      options.capturePoint();
    });
    const signal =
      options.signal === undefined ? this.#o.termSignal : AbortSignal.any([options.signal, this.#o.termSignal]);
    let bytes = 0;
    try {
      const r = await this.#o.replicator.sync({ signal });
      bytes = r.bytes;
      this.#counters.changesets += r.shipped;
    } catch (cause) {
      if (isHaError(cause)) throw cause;
      if (this.#o.termSignal.aborted)
        throw new HaError('HADB_HA_FENCED', 'the term ended during the upload', { cause });
      throw new HaError('HADB_HA_SHIP_FAILED', `shipping failed: ${describeError(cause).message}`, { cause });
    }
    // A PASSIVE checkpoint each time the WAL grew by `checkpointPages` shipped frames (not on
    // every ship once it is long: walstream's read lock may keep the WAL from restarting).
    const walIndex = this.#o.replicator.status().walIndex;
    if (walIndex < this.#checkpointedAt) this.#checkpointedAt = 0;
    if (walIndex - this.#checkpointedAt >= (this.#o.checkpointPages ?? 1000) && !this.#closed) {
      this.#checkpointedAt = walIndex;
      // Not under the write lock: walstream holds SQLite's write lock only for the synchronous
      // capture-and-checkpoint step (no write of this process can interleave with it), and its
      // uploads before and after must not stall writes. With a transaction open it skips a round.
      try {
        if (await this.#o.replicator.checkpoint('PASSIVE', { signal })) this.#counters.checkpoints++;
      } catch (cause) {
        if (this.#closed) return { bytes };
        if (this.#o.termSignal.aborted)
          throw new HaError('HADB_HA_FENCED', 'the term ended during the checkpoint', { cause });
        throw new HaError('HADB_HA_SHIP_FAILED', `checkpoint failed: ${describeError(cause).message}`, { cause });
      }
    }
    return { bytes };
  }

  /** Stops accepting writes and closes both connections. Idempotent. */
  async close(): Promise<void> {
    await this.#locked(() => {
      if (this.#closed) return;
      this.#closed = true;
      this.#db.close();
      this.#reader.close();
    });
  }
}
