import { HaQLiteError } from '../errors.js';
import type { StatementResult } from '../sql.js';
import type { SqlValue } from '../values.js';

/** A Hrana value (JSON encoding). */
export type HranaValue =
  | { readonly type: 'null' }
  | { readonly type: 'integer'; readonly value: string }
  | { readonly type: 'float'; readonly value: number }
  | { readonly type: 'text'; readonly value: string }
  | { readonly type: 'blob'; readonly base64: string };

function bad(message: string): never {
  throw new HaQLiteError('HADB_HAQLITE_INVALID_VALUE', message);
}

/** Decodes a Hrana value into a parameter. */
export function fromHrana(v: unknown): SqlValue {
  const o = v as Record<string, unknown> | null;
  if (o === null || typeof o !== 'object') return bad('a value must be an object');
  switch (o.type) {
    case 'null':
      return null;
    case 'integer':
      if (typeof o.value !== 'string' || !/^-?\d+$/.test(o.value))
        return bad('an integer value must be a decimal string');
      return BigInt(o.value);
    case 'float':
      if (typeof o.value !== 'number') return bad('a float value must be a number');
      return o.value;
    case 'text':
      if (typeof o.value !== 'string') return bad('a text value must be a string');
      return o.value;
    case 'blob':
      if (typeof o.base64 !== 'string') return bad('a blob value needs base64');
      return Buffer.from(o.base64, 'base64');
    default:
      return bad(`unknown value type ${String(o.type)}`);
  }
}

/** Encodes a result value. */
export function toHrana(v: SqlValue): HranaValue {
  if (v === null) return { type: 'null' };
  if (typeof v === 'bigint') return { type: 'integer', value: v.toString() };
  if (typeof v === 'number') return { type: 'float', value: v };
  if (typeof v === 'string') return { type: 'text', value: v };
  return { type: 'blob', base64: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
}

/** A statement result in Hrana's `StmtResult` shape. */
export function stmtResult(r: StatementResult, wantRows: boolean, ms: number): Record<string, unknown> {
  return {
    cols: r.columns.map((name, i) => ({ name, decltype: r.decltypes[i] ?? null })),
    rows: wantRows ? r.rows.map((row) => row.map(toHrana)) : [],
    affected_row_count: r.rowsAffected,
    last_insert_rowid: r.lastInsertRowid === null ? null : r.lastInsertRowid.toString(),
    rows_read: 0,
    rows_written: 0,
    query_duration_ms: ms,
  };
}

/** An empty `StmtResult` (BEGIN, COMMIT, ROLLBACK). */
export const EMPTY_RESULT: StatementResult = Object.freeze({
  columns: [],
  decltypes: [],
  rows: [],
  rowsAffected: 0,
  lastInsertRowid: null,
});
