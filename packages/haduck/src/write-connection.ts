import type { DuckDBConnection, DuckDBPreparedStatement } from '@duckdb/node-api';
import type { DuckHandle } from './duck-host.js';

/** Prepared statements one {@link WriteConnection} keeps (least recently used evicted first). */
export const STATEMENT_CACHE_SIZE = 16;

/**
 * Prepared statements kept on one connection and reused by later requests that run the same SQL
 * text: a write skips DuckDB's parse, bind and plan (one round trip to DuckDB's worker, and the
 * work itself). DuckDB re-binds a kept statement on its own when the catalog changed since it was
 * prepared (a column added, a table replaced, a macro redefined), so a kept statement runs what the
 * same SQL prepared now would run.
 */
export interface StatementCache {
  /** The kept statement for `sql`, bindings cleared, or `undefined`. */
  take(sql: string): DuckDBPreparedStatement | undefined;
  /** Keeps `statement` (prepared from `sql`) for reuse; the cache owns it from now on. */
  keep(sql: string, statement: DuckDBPreparedStatement): void;
}

/**
 * One DuckDB connection of the leader that runs write transactions, with the statements it runs
 * on every write — `BEGIN TRANSACTION`, `COMMIT` — prepared once and the request statements it
 * ran recently kept (see {@link StatementCache}). Used by one request at a time.
 */
export class WriteConnection implements StatementCache {
  readonly conn: DuckDBConnection;
  readonly #statements = new Map<string, DuckDBPreparedStatement>();
  #begin: DuckDBPreparedStatement | undefined;
  #commit: DuckDBPreparedStatement | undefined;
  #closed = false;

  private constructor(conn: DuckDBConnection) {
    this.conn = conn;
  }

  /** Opens a connection to the leader's database. */
  static async open(handle: DuckHandle): Promise<WriteConnection> {
    return new WriteConnection(await handle.connect());
  }

  /** Starts a transaction (`BEGIN TRANSACTION`, prepared once). */
  async begin(): Promise<void> {
    this.#begin ??= await this.conn.prepare('BEGIN TRANSACTION');
    await this.#begin.run();
  }

  /** Commits the open transaction (`COMMIT`, prepared once). */
  async commit(): Promise<void> {
    this.#commit ??= await this.conn.prepare('COMMIT');
    await this.#commit.run();
  }

  /** Rolls back the open transaction; none left to roll back (DuckDB aborted it already) is fine. */
  async rollback(): Promise<void> {
    try {
      await this.conn.run('ROLLBACK');
    } catch {
      // No transaction left to roll back.
    }
  }

  take(sql: string): DuckDBPreparedStatement | undefined {
    const statement = this.#statements.get(sql);
    if (statement === undefined) return undefined;
    // Most recently used last: the Map's order is the eviction order.
    this.#statements.delete(sql);
    this.#statements.set(sql, statement);
    statement.clearBindings();
    return statement;
  }

  keep(sql: string, statement: DuckDBPreparedStatement): void {
    const prior = this.#statements.get(sql);
    if (prior === statement) return;
    prior?.destroySync();
    this.#statements.delete(sql);
    this.#statements.set(sql, statement);
    if (this.#statements.size > STATEMENT_CACHE_SIZE) {
      const [oldest, evicted] = this.#statements.entries().next().value as [string, DuckDBPreparedStatement];
      this.#statements.delete(oldest);
      evicted.destroySync();
    }
  }

  /** A statement for `sql` (kept, or prepared now and kept): for haduck's own statements. */
  async prepared(sql: string): Promise<DuckDBPreparedStatement> {
    const kept = this.take(sql);
    if (kept !== undefined) return kept;
    const statement = await this.conn.prepare(sql);
    this.keep(sql, statement);
    return statement;
  }

  /** Destroys the kept statements and closes the connection. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const statement of this.#statements.values()) statement.destroySync();
    this.#statements.clear();
    this.#begin?.destroySync();
    this.#commit?.destroySync();
    this.conn.closeSync();
  }
}
