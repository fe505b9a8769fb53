import { StatementType, type DuckDBConnection } from '@duckdb/node-api';
import { HaDuckError, sqlError } from './errors.js';
import { fromDuckValue, toDuckParams, type HaParams, type HaValue } from './values.js';

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
 * Runs one read-only statement (`SELECT`, `EXPLAIN`; checked by DuckDB's own parser through a
 * prepared statement) and returns its rows. Throws `HADB_HADUCK_NOT_READ_ONLY` or `HADB_HADUCK_SQL`.
 */
export async function runQuery(conn: DuckDBConnection, sql: string, params: HaParams | undefined): Promise<QueryResult> {
  let prepared;
  try {
    prepared = await conn.prepare(sql);
  } catch (cause) {
    throw sqlError(cause);
  }
  try {
    if (!READ_ONLY_TYPES.has(prepared.statementType)) {
      throw new HaDuckError('HADB_HADUCK_NOT_READ_ONLY', 'query() runs only SELECT/EXPLAIN statements; use execute() for writes');
    }
    const bound = toDuckParams(params);
    try {
      if (bound !== undefined) prepared.bind(bound.values, bound.types);
      const reader = await prepared.runAndReadAll();
      const columns = reader.columnNames();
      const columnTypes = reader.columnTypes().map((t) => t.toString());
      const rows = reader.getRows().map((row) => row.map(fromDuckValue));
      return { columns, columnTypes, rows };
    } catch (cause) {
      throw sqlError(cause);
    }
  } finally {
    prepared.destroySync();
  }
}

/** Runs a statement (or, without params, a `;`-separated script) and returns the rows changed. */
export async function runExecute(conn: DuckDBConnection, sql: string, params: HaParams | undefined): Promise<ExecuteResult> {
  try {
    const bound = toDuckParams(params);
    const result = await conn.run(sql, bound?.values, bound?.types);
    return { rowsChanged: result.rowsChanged };
  } catch (cause) {
    throw sqlError(cause);
  }
}
