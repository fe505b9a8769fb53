import { HaError, type WireCodec } from '@hadb/ha';
import { CLIENT_ERROR_CODES, HaQLiteError, type HaQLiteErrorCode } from './errors.js';
import type { Statement, StatementResult } from './sql.js';
import { fromWire, paramsFromWire, paramsToWire, toWire } from './values.js';

/** A SQLite write: one statement (or script), or several statements run as one transaction. */
export type SqliteWrite =
  | { readonly kind: 'execute'; readonly sql: string; readonly args?: Statement['args'] }
  | { readonly kind: 'batch'; readonly statements: readonly Statement[] };

/** A SQLite read: one read-only statement. */
export interface SqliteRead {
  readonly sql: string;
  readonly args?: Statement['args'];
}

/**
 * A Hrana pipeline body (`{baton, requests}`) a follower's Hrana server relays to the leader, which
 * runs it in its own stream store; the reply carries the leader's pipeline response (or
 * `{error: {status, message, code}}`) the same way.
 */
export interface HranaRelay {
  readonly hrana: unknown;
}

/** What goes to the leader's read side: a read-only statement or a relayed Hrana pipeline. */
export type SqliteReadOp = SqliteRead | HranaRelay;

/** A read's answer: a statement result, or a relayed Hrana pipeline's response. */
export type SqliteReadReply = StatementResult | HranaRelay;

/** A write's results, one per statement. */
export type WriteResults = readonly StatementResult[];

function str(body: Record<string, unknown>, key: string): string {
  const v = body[key];
  if (typeof v !== 'string') throw new HaError('HADB_HA_PROTOCOL', `field "${key}" must be a string`);
  return v;
}

/** Encodes a statement result (values tagged, see `values.ts`). */
export function resultToJson(r: StatementResult): unknown {
  return {
    columns: r.columns,
    decltypes: r.decltypes,
    rows: r.rows.map((row) => row.map(toWire)),
    rows_affected: r.rowsAffected,
    last_insert_rowid: r.lastInsertRowid === null ? null : r.lastInsertRowid.toString(),
  };
}

/** Decodes a statement result; `HADB_HA_PROTOCOL` when malformed. */
export function resultFromJson(json: unknown): StatementResult {
  const r = json as Record<string, unknown> | null;
  if (
    r === null ||
    typeof r !== 'object' ||
    !Array.isArray(r.columns) ||
    !Array.isArray(r.decltypes) ||
    !Array.isArray(r.rows) ||
    typeof r.rows_affected !== 'number'
  ) {
    throw new HaError('HADB_HA_PROTOCOL', 'malformed statement result');
  }
  return {
    columns: r.columns.map(String),
    decltypes: r.decltypes.map((d) => (d === null ? null : String(d))),
    rows: r.rows.map((row: unknown) => {
      if (!Array.isArray(row)) throw new HaError('HADB_HA_PROTOCOL', 'malformed row');
      return row.map(fromWire);
    }),
    rowsAffected: r.rows_affected,
    lastInsertRowid: typeof r.last_insert_rowid === 'string' ? BigInt(r.last_insert_rowid) : null,
  };
}

function statementFromJson(s: unknown): Statement {
  if (typeof s !== 'object' || s === null) throw new HaError('HADB_HA_PROTOCOL', 'malformed statement');
  const st = s as Record<string, unknown>;
  return { sql: str(st, 'sql'), args: paramsFromWire(st.args) };
}

/**
 * haqlite's forwarding paths (`@hadb/ha`'s protocol under `/haqlite/v1`):
 * - `execute` `{"sql", "args"?}` → `{"results": [result]}`
 * - `batch` `{"statements": [{"sql", "args"?}]}` → `{"results": [...]}` (one transaction)
 * - `query` `{"sql", "args"?}` → result
 * - `hrana` `{"pipeline": {baton, requests}}` → `{"hrana": response}` (see {@link HranaRelay})
 */
export const sqliteWire: WireCodec<SqliteWrite, SqliteReadOp, WriteResults, SqliteReadReply> = Object.freeze({
  basePath: '/haqlite/v1',
  writeOps: ['execute', 'batch'],
  readOps: ['query', 'hrana'],
  encodeWrite(w: SqliteWrite) {
    if (w.kind === 'execute') return { op: 'execute', body: { sql: w.sql, args: paramsToWire(w.args) } };
    return { op: 'batch', body: { statements: w.statements.map((s) => ({ sql: s.sql, args: paramsToWire(s.args) })) } };
  },
  decodeWrite(op: string, body: Record<string, unknown>): SqliteWrite {
    if (op === 'execute') return { kind: 'execute', sql: str(body, 'sql'), args: paramsFromWire(body.args) };
    if (!Array.isArray(body.statements)) throw new HaError('HADB_HA_PROTOCOL', 'statements must be an array');
    return { kind: 'batch', statements: body.statements.map(statementFromJson) };
  },
  encodeWriteResult: (r: WriteResults) => ({ results: r.map(resultToJson) }),
  decodeWriteResult(json: unknown): WriteResults {
    const results = (json as { results?: unknown } | null)?.results;
    if (!Array.isArray(results)) throw new HaError('HADB_HA_PROTOCOL', 'malformed write response');
    return results.map(resultFromJson);
  },
  encodeRead: (r: SqliteReadOp) =>
    'hrana' in r
      ? { op: 'hrana', body: { pipeline: r.hrana } }
      : { op: 'query', body: { sql: r.sql, args: paramsToWire(r.args) } },
  decodeRead: (op: string, body: Record<string, unknown>): SqliteReadOp =>
    op === 'hrana' ? { hrana: body.pipeline } : { sql: str(body, 'sql'), args: paramsFromWire(body.args) },
  encodeReadResult: (r: SqliteReadReply) => ('hrana' in r ? { hrana: r.hrana } : resultToJson(r)),
  decodeReadResult: (json: unknown): SqliteReadReply =>
    json !== null && typeof json === 'object' && 'hrana' in json
      ? { hrana: (json as { hrana: unknown }).hrana }
      : resultFromJson(json),
  decodeError: (code: string, message: string) =>
    CLIENT_ERROR_CODES.has(code) ? new HaQLiteError(code as HaQLiteErrorCode, message) : undefined,
});
