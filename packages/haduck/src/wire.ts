import { HaError, type WireCodec } from '@hadb/ha';
import { CLIENT_ERROR_CODES, HaDuckError, type HaDuckErrorCode } from './errors.js';
import type { ExecuteResult, QueryResult } from './sql.js';
import { fromWire, paramsFromWire, paramsToWire, toWire, type HaParams } from './values.js';

/** A DuckDB write: one statement (or script), or several statements as one transaction. */
export type DuckWrite =
  | { readonly kind: 'execute'; readonly sql: string; readonly params?: HaParams | undefined }
  | {
      readonly kind: 'batch';
      readonly statements: readonly { readonly sql: string; readonly params?: HaParams | undefined }[];
    };

/** A DuckDB read: one read-only statement. */
export interface DuckRead {
  readonly sql: string;
  readonly params?: HaParams | undefined;
}

/**
 * haduck's forwarding paths (`@hadb/ha`'s protocol under `/haduck/v1`):
 * - `execute` `{"sql", "params"?}` → `{"rows_changed": n}`
 * - `batch` `{"statements": [{"sql", "params"?}]}` → `{"rows_changed": n}` (one transaction)
 * - `query` `{"sql", "params"?}` → `{"columns", "column_types", "rows"}`
 * Values use the tagged wire encoding of `values.ts`.
 */
export const PATHS = {
  execute: '/haduck/v1/execute',
  batch: '/haduck/v1/batch',
  query: '/haduck/v1/query',
} as const;

function str(body: Record<string, unknown>, key: string): string {
  const v = body[key];
  if (typeof v !== 'string') throw new HaError('HADB_HA_PROTOCOL', `field "${key}" must be a string`);
  return v;
}

function rowsChanged(r: unknown): ExecuteResult {
  const n = (r as { rows_changed?: unknown } | null)?.rows_changed;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0)
    throw new HaError('HADB_HA_PROTOCOL', 'malformed write response');
  return { rowsChanged: n };
}

/** The wire codec of DuckDB requests and results. */
export const duckWire: WireCodec<DuckWrite, DuckRead, ExecuteResult, QueryResult> = Object.freeze({
  basePath: '/haduck/v1',
  writeOps: ['execute', 'batch'],
  readOps: ['query'],
  encodeWrite(w: DuckWrite) {
    if (w.kind === 'execute') return { op: 'execute', body: { sql: w.sql, params: paramsToWire(w.params) } };
    return {
      op: 'batch',
      body: { statements: w.statements.map((s) => ({ sql: s.sql, params: paramsToWire(s.params) })) },
    };
  },
  decodeWrite(op: string, body: Record<string, unknown>): DuckWrite {
    if (op === 'execute') return { kind: 'execute', sql: str(body, 'sql'), params: paramsFromWire(body.params) };
    if (!Array.isArray(body.statements)) throw new HaError('HADB_HA_PROTOCOL', 'statements must be an array');
    const statements = body.statements.map((s: unknown) => {
      if (typeof s !== 'object' || s === null) throw new HaError('HADB_HA_PROTOCOL', 'malformed statement');
      const st = s as Record<string, unknown>;
      return { sql: str(st, 'sql'), params: paramsFromWire(st.params) };
    });
    return { kind: 'batch', statements };
  },
  encodeWriteResult: (r: ExecuteResult) => ({ rows_changed: r.rowsChanged }),
  decodeWriteResult: rowsChanged,
  encodeRead: (r: DuckRead) => ({ op: 'query', body: { sql: r.sql, params: paramsToWire(r.params) } }),
  decodeRead: (_op: string, body: Record<string, unknown>): DuckRead => ({
    sql: str(body, 'sql'),
    params: paramsFromWire(body.params),
  }),
  encodeReadResult: (r: QueryResult) => ({
    columns: r.columns,
    column_types: r.columnTypes,
    rows: r.rows.map((row) => row.map(toWire)),
  }),
  decodeReadResult(json: unknown): QueryResult {
    const r = json as Record<string, unknown>;
    if (!Array.isArray(r?.columns) || !Array.isArray(r.column_types) || !Array.isArray(r.rows)) {
      throw new HaError('HADB_HA_PROTOCOL', 'malformed query response');
    }
    return {
      columns: r.columns.map(String),
      columnTypes: r.column_types.map(String),
      rows: r.rows.map((row: unknown) => {
        if (!Array.isArray(row)) throw new HaError('HADB_HA_PROTOCOL', 'malformed row');
        return row.map((v) => fromWire(v));
      }),
    };
  },
  decodeError: (code: string, message: string) =>
    CLIENT_ERROR_CODES.has(code) ? new HaDuckError(code as HaDuckErrorCode, message) : undefined,
});
