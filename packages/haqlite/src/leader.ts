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
import { runStatement, type Statement, type StatementResult } from './sql.js';
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

function txControl(): HaQLiteError {
  return new HaQLiteError(
    'HADB_HAQLITE_SQL',
    'transaction control statements (BEGIN, COMMIT, ROLLBACK) are not allowed here; use batch() or transaction()',
  );
}

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
    const r = runStatement(this.#db, sql, args);
    if (!this.#db.inTransaction) throw txControl();
    return r;
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
    return this.#lock.run(async () => {
      this.#checkOpen();
      throwIfAborted(signal);
      this.#o.context.checkWrite();
      const db = this.#db;
      db.exec('BEGIN IMMEDIATE');
      let done = false;
      try {
        if (token !== undefined) {
          this.#ensureTokenTable();
          const prior = db.prepare(`SELECT result FROM ${TOKEN_TABLE} WHERE token = ?`).get(token) as
            | { result: string }
            | undefined;
          if (prior !== undefined) {
            db.exec('ROLLBACK');
            done = true;
            return (JSON.parse(prior.result) as unknown[]).map(resultFromJson);
          }
        }
        const tx: Transaction = {
          execute: async (sql, args) => this.#run(sql, args),
          query: async (sql, args) => runStatement(db, sql, args, true),
        };
        const value = await fn(tx);
        if (!db.inTransaction) throw txControl();
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
        db.exec('COMMIT');
        done = true;
        this.#o.context.committed();
        return value;
      } finally {
        if (!done && db.inTransaction) db.exec('ROLLBACK');
      }
    });
  }

  /** Runs a write request: one statement, or a batch as one transaction; one result per statement. */
  async write(write: SqliteWrite, options: EngineWriteOptions): Promise<WriteResults> {
    const statements: readonly Statement[] =
      write.kind === 'execute' ? [{ sql: write.sql, args: write.args }] : write.statements;
    if (write.kind === 'execute' && options.token === undefined)
      return this.#autocommit(write.sql, write.args, options.signal);
    if (options.token === undefined) return this.#batch(statements, options.signal);
    const run = async (tx: Transaction): Promise<WriteResults> => {
      const out: StatementResult[] = [];
      for (const s of statements) out.push(await tx.execute(s.sql, s.args));
      return out;
    };
    return (await this.#writeTx(run, (v) => v, options.token, options.signal)) as WriteResults;
  }

  /** Statements as one transaction (no token), run synchronously under the write lock. */
  #batch(statements: readonly Statement[], signal: AbortSignal | undefined): Promise<WriteResults> {
    return this.#lock.run(() => {
      this.#checkOpen();
      throwIfAborted(signal);
      this.#o.context.checkWrite();
      const db = this.#db;
      db.exec('BEGIN IMMEDIATE');
      let done = false;
      try {
        const out: StatementResult[] = new Array(statements.length);
        for (let i = 0; i < statements.length; i++) out[i] = this.#run(statements[i]!.sql, statements[i]!.args);
        this.#o.context.checkWrite();
        db.exec('COMMIT');
        done = true;
        this.#o.context.committed();
        return out;
      } finally {
        if (!done && db.inTransaction) db.exec('ROLLBACK');
      }
    });
  }

  /** One statement in autocommit (no token): one round trip into SQLite. */
  #autocommit(sql: string, args: SqlParams | undefined, signal: AbortSignal | undefined): Promise<WriteResults> {
    return this.#lock.run(async () => {
      this.#checkOpen();
      throwIfAborted(signal);
      this.#o.context.checkWrite();
      let result: StatementResult;
      try {
        result = runStatement(this.#db, sql, args);
      } catch (err) {
        if (this.#db.inTransaction) this.#db.exec('ROLLBACK');
        throw err;
      }
      if (this.#db.inTransaction) {
        this.#db.exec('ROLLBACK');
        throw txControl();
      }
      this.#o.context.committed();
      return [result];
    });
  }

  /** Runs `fn` in one transaction under the write lock; commits when it resolves, rolls back when it throws. */
  async transaction<T>(fn: (tx: Transaction) => Promise<T>, options: OpOptions = {}): Promise<T> {
    return (await this.#writeTx(fn, () => [], undefined, options.signal)) as T;
  }

  /** Runs a read-only statement on the reader connection (sees every committed write). */
  async read(read: SqliteReadOp, _options: OpOptions = {}): Promise<SqliteReadReply> {
    this.#checkOpen();
    if ('hrana' in read) {
      const relay = this.#o.hrana;
      if (relay === undefined) throw new HaError('HADB_HA_PROTOCOL', 'this node does not run relayed Hrana pipelines');
      return { hrana: await relay(read.hrana) };
    }
    return runStatement(this.#reader, read.sql, read.args, true);
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
    await this.#lock.run(async () => {
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
    await this.#lock.run(() => {
      if (this.#closed) return;
      this.#closed = true;
      this.#db.close();
      this.#reader.close();
    });
  }
}
