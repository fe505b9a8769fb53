import { StatementType, type DuckDBConnection, type DuckDBPreparedStatement } from '@duckdb/node-api';
import type { Clock } from '@hadb/io';
import { HaDuckError, sqlError } from './errors.js';
import { fromDuckValue, toDuckParams, type HaParams, type HaValue } from './values.js';
import type { StatementCache } from './write-connection.js';

/** Rows of a query, the same shape locally and through forwarding. */
export interface QueryResult {
  /** Column names in order. */
  readonly columns: readonly string[];
  /** DuckDB type of each column, as DuckDB prints it (`BIGINT`, `DECIMAL(18,3)`, `STRUCT(a INTEGER)`…). */
  readonly columnTypes: readonly string[];
  /** Rows of {@link HaValue}s. */
  readonly rows: readonly (readonly HaValue[])[];
}

/** Outcome of a write. */
export interface ExecuteResult {
  /** Rows inserted, updated or deleted by the (last) statement. */
  readonly rowsChanged: number;
}

const READ_ONLY_TYPES = new Set<number>([StatementType.SELECT, StatementType.EXPLAIN]);

/**
 * Statement kinds `execute()`/`batch()` run (DuckDB's own classification, from a prepared
 * statement): queries, DML, DDL, macros, `ANALYZE`, `VACUUM`, `EXPLAIN`. Everything else —
 * transaction control, `SET`/`RESET`, `PRAGMA`, `ATTACH`/`DETACH`, `INSTALL`/`LOAD`, `COPY`,
 * `EXPORT`/`IMPORT DATABASE`, `CALL` (including `CHECKPOINT`), `PREPARE`/`EXECUTE` — is refused.
 */
const WRITE_TYPES = new Set<number>([
  StatementType.SELECT,
  StatementType.INSERT,
  StatementType.UPDATE,
  StatementType.DELETE,
  StatementType.MERGE_INTO,
  StatementType.CREATE,
  StatementType.CREATE_FUNC,
  StatementType.ALTER,
  StatementType.DROP,
  StatementType.ANALYZE,
  StatementType.VACUUM,
  StatementType.EXPLAIN,
]);

/** haduck's own schema (the idempotency-token table): never named by a request. */
const RESERVED_SCHEMA = /_haduck/i;

/** Per-request limits of the leader (local and forwarded requests alike). */
export interface DuckLimits {
  /** Statements in one `execute()` script or one `batch()`. Default 1000. */
  readonly maxStatements: number;
  /** Rows one `query()` may return. Default 100000. */
  readonly maxResultRows: number;
  /** A statement (or a batch) running longer is interrupted and rolled back, ms. Default 30000. */
  readonly statementTimeoutMs: number;
}

/** Defaults of {@link DuckLimits}. */
export const DEFAULT_DUCK_LIMITS: DuckLimits = Object.freeze({
  maxStatements: 1000,
  maxResultRows: 100_000,
  statementTimeoutMs: 30_000,
});

/**
 * Runs `fn`; when it takes longer than `ms`, interrupts `conn` (DuckDB aborts the running
 * statement and its transaction) and throws `HADB_HADUCK_TIMEOUT`.
 */
export async function withStatementTimeout<T>(
  conn: DuckDBConnection,
  clock: Clock,
  ms: number,
  fn: () => Promise<T>,
): Promise<T> {
  let fired = false;
  const timer = clock.timer(ms, () => {
    fired = true;
    conn.interrupt();
  });
  try {
    return await fn();
  } catch (cause) {
    if (fired) throw new HaDuckError('HADB_HADUCK_TIMEOUT', `statement interrupted after ${ms} ms`, { cause });
    throw cause;
  } finally {
    timer.cancel();
  }
}

/** Throws `HADB_HADUCK_REFUSED_STATEMENT` when `sql` names haduck's `_haduck` schema. */
export function refuseReserved(sql: string): void {
  if (RESERVED_SCHEMA.test(sql))
    throw new HaDuckError('HADB_HADUCK_REFUSED_STATEMENT', 'statements may not name the _haduck schema');
}

/** Statement kinds a {@link StatementCache} keeps: the repeated DML of an application, not one-off DDL. */
const KEPT_TYPES = new Set<number>([
  StatementType.INSERT,
  StatementType.UPDATE,
  StatementType.DELETE,
  StatementType.MERGE_INTO,
]);

/**
 * Runs a statement (or, without params, a `;`-separated script) one statement at a time, each
 * classified by DuckDB's parser first: a kind outside the allowed set (see `WRITE_TYPES`), the
 * `_haduck` schema or more than `maxStatements` statements throw before that statement runs.
 * With `cache`, a single DML statement is taken from it when kept, and kept after it ran.
 * Returns the rows changed by the last statement.
 */
export async function runGuardedExecute(
  conn: DuckDBConnection,
  sql: string,
  params: HaParams | undefined,
  maxStatements: number,
  cache?: StatementCache,
): Promise<ExecuteResult> {
  refuseReserved(sql);
  const kept = cache?.take(sql);
  if (kept !== undefined) return { rowsChanged: await runWriteStatement(kept, toDuckParams(params), 0, true) };
  // One statement (the common case): prepared directly, one round trip fewer than extracting.
  let single: DuckDBPreparedStatement | undefined;
  try {
    single = await conn.prepare(sql);
  } catch (cause) {
    if (!(cause instanceof Error && /multiple statements|No statement to prepare/.test(cause.message)))
      throw sqlError(cause);
  }
  if (single !== undefined) {
    const keep = cache !== undefined && KEPT_TYPES.has(single.statementType);
    if (keep) cache.keep(sql, single);
    let singleBound;
    try {
      singleBound = toDuckParams(params);
    } catch (err) {
      if (!keep) single.destroySync();
      throw err;
    }
    return { rowsChanged: await runWriteStatement(single, singleBound, 0, keep) };
  }
  let extracted;
  try {
    extracted = await conn.extractStatements(sql);
  } catch (cause) {
    throw sqlError(cause);
  }
  if (extracted.count > maxStatements) {
    throw new HaDuckError(
      'HADB_HADUCK_LIMIT',
      `a request may run at most ${maxStatements} statements (got ${extracted.count})`,
    );
  }
  const bound = toDuckParams(params);
  if (bound !== undefined && extracted.count !== 1)
    throw new HaDuckError('HADB_HADUCK_SQL', 'parameters need exactly one statement');
  let rowsChanged = 0;
  for (let i = 0; i < extracted.count; i++) {
    let prepared;
    try {
      prepared = await extracted.prepare(i);
    } catch (cause) {
      throw sqlError(cause);
    }
    rowsChanged = await runWriteStatement(prepared, bound, i, false);
  }
  return { rowsChanged };
}

/**
 * Runs statement `i` of a request when its kind is allowed (see `WRITE_TYPES`), then destroys it
 * unless `kept` (a {@link StatementCache} owns it); returns the rows changed.
 */
async function runWriteStatement(
  prepared: DuckDBPreparedStatement,
  bound: ReturnType<typeof toDuckParams>,
  i: number,
  kept: boolean,
): Promise<number> {
  try {
    if (!WRITE_TYPES.has(prepared.statementType)) {
      throw new HaDuckError(
        'HADB_HADUCK_REFUSED_STATEMENT',
        `statement ${i + 1} is a ${StatementType[prepared.statementType] ?? 'refused'} statement, which haduck does not run (see the README)`,
      );
    }
    try {
      if (bound !== undefined) prepared.bind(bound.values, bound.types);
      return (await prepared.run()).rowsChanged;
    } catch (cause) {
      throw sqlError(cause);
    }
  } finally {
    if (!kept) prepared.destroySync();
  }
}

/**
 * Runs one read-only statement (`SELECT`, `EXPLAIN`; checked by DuckDB's own parser through a
 * prepared statement) and returns its rows. Throws `HADB_HADUCK_NOT_READ_ONLY` or `HADB_HADUCK_SQL`.
 */
export async function runQuery(
  conn: DuckDBConnection,
  sql: string,
  params: HaParams | undefined,
  maxRows?: number,
): Promise<QueryResult> {
  let prepared;
  try {
    prepared = await conn.prepare(sql);
  } catch (cause) {
    throw sqlError(cause);
  }
  try {
    if (!READ_ONLY_TYPES.has(prepared.statementType)) {
      throw new HaDuckError(
        'HADB_HADUCK_NOT_READ_ONLY',
        'query() runs only SELECT/EXPLAIN statements; use execute() for writes',
      );
    }
    const bound = toDuckParams(params);
    try {
      if (bound !== undefined) prepared.bind(bound.values, bound.types);
      const reader =
        maxRows === undefined ? await prepared.runAndReadAll() : await prepared.streamAndReadUntil(maxRows + 1);
      if (maxRows !== undefined && reader.currentRowCount > maxRows) {
        throw new HaDuckError('HADB_HADUCK_LIMIT', `the result has more than ${maxRows} rows (limits.maxResultRows)`);
      }
      const columns = reader.columnNames();
      const columnTypes = reader.columnTypes().map((t) => t.toString());
      const rows = reader.getRows().map((row) => row.map(fromDuckValue));
      return { columns, columnTypes, rows };
    } catch (cause) {
      if (cause instanceof Error && /read-only mode/.test(cause.message)) {
        throw new HaDuckError(
          'HADB_HADUCK_NOT_READ_ONLY',
          'query() ran a statement that writes (e.g. EXPLAIN ANALYZE of a write); use execute()',
          { cause },
        );
      }
      throw sqlError(cause);
    }
  } finally {
    prepared.destroySync();
  }
}

/** Runs a statement (or, without params, a `;`-separated script) and returns the rows changed. */
export async function runExecute(
  conn: DuckDBConnection,
  sql: string,
  params: HaParams | undefined,
): Promise<ExecuteResult> {
  try {
    const bound = toDuckParams(params);
    const result = await conn.run(sql, bound?.values, bound?.types);
    return { rowsChanged: result.rowsChanged };
  } catch (cause) {
    throw sqlError(cause);
  }
}
