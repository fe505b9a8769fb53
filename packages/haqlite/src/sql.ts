import type Database from 'better-sqlite3';
import { HaQLiteError, sqlError } from './errors.js';
import { bindValue, type SqlParams, type SqlValue } from './values.js';

type Db = Database.Database;

/** One statement with its parameters. */
export interface Statement {
  readonly sql: string;
  readonly args?: SqlParams | undefined;
}

/** The result of one statement. */
export interface StatementResult {
  /** Column names (empty for a statement that returns no rows). */
  readonly columns: readonly string[];
  /** Declared column types (`null` for expressions). */
  readonly decltypes: readonly (string | null)[];
  /** Rows, each an array of values in column order (integers as `bigint`). */
  readonly rows: readonly (readonly SqlValue[])[];
  /** Rows inserted, updated or deleted by the statement. */
  readonly rowsAffected: number;
  /** The rowid of the last inserted row after a write (`null` for a read). */
  readonly lastInsertRowid: bigint | null;
}

const EMPTY: readonly never[] = Object.freeze([]);

/**
 * The arguments to spread into a better-sqlite3 call. Arrays of strings, numbers, bigints and
 * nulls bind as they are (no copy); others are converted (`bindValue`). Always a plain array:
 * spread call sites stay on V8's fast path (measurable per statement).
 */
function bind(args: SqlParams): unknown[] {
  if (Array.isArray(args)) {
    const list = args as unknown[];
    for (let i = 0; i < list.length; i++) {
      const v = list[i];
      const t = typeof v;
      if (v !== null && t !== 'string' && t !== 'number' && t !== 'bigint') return list.map(bindValue);
    }
    return list;
  }
  const named: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(args)) named[k.replace(/^[:@$]/, '')] = bindValue(v);
  return [named];
}

/** A prepared statement with what haqlite reads of it on every call, fetched once. */
interface Prepared {
  readonly stmt: Database.Statement;
  readonly reader: boolean;
  readonly readonly: boolean;
  /** Column names and declared types, valid while the schema cookie is `schema`. */
  columns: readonly string[] | undefined;
  decltypes: readonly (string | null)[] | undefined;
  schema: number;
  /** The caller's schema epoch at which `columns` were last confirmed (see {@link runStatement}). */
  epoch: number | undefined;
  /** BEGIN, COMMIT, END, ROLLBACK, SAVEPOINT or RELEASE. */
  readonly txControl: boolean;
}

/** Transaction control, after leading whitespace and comments. */
const TX_CONTROL = /^(?:\s+|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)*(?:BEGIN|COMMIT|END|ROLLBACK|SAVEPOINT|RELEASE)\b/i;

/** Per connection: prepared statements by SQL text (LRU-ish, bounded) and two helper statements. */
interface ConnState {
  readonly stmts: Map<string, Prepared>;
  readonly changes: Database.Statement;
  readonly schema: Database.Statement;
  /** The SQL text of the last lookup and its answer (a batch repeats one statement). */
  lastSql: string | undefined;
  last: Prepared | null;
}

const states = new WeakMap<Db, ConnState>();
const CACHE_SIZE = 256;

function state(db: Db): ConnState {
  let st = states.get(db);
  if (st === undefined) {
    st = {
      stmts: new Map(),
      changes: db.prepare('SELECT changes(), last_insert_rowid()').raw(true).safeIntegers(true),
      schema: db.prepare('PRAGMA schema_version').pluck(true),
      lastSql: undefined,
      last: null,
    };
    states.set(db, st);
  }
  return st;
}

function changes(st: ConnState): { rowsAffected: number; lastInsertRowid: bigint } {
  const [n, id] = st.changes.get() as [bigint, bigint];
  return { rowsAffected: Number(n), lastInsertRowid: id };
}

/** The prepared statement for `sql` (SQLite re-prepares it itself after a schema change); `null` for a script. */
function prepare(db: Db, st: ConnState, sql: string): Prepared | null {
  if (sql === st.lastSql) return st.last;
  const p = lookup(db, st, sql);
  st.lastSql = sql;
  st.last = p;
  return p;
}

function lookup(db: Db, st: ConnState, sql: string): Prepared | null {
  const hit = st.stmts.get(sql);
  if (hit !== undefined) return hit;
  let stmt: Database.Statement;
  try {
    stmt = db.prepare(sql);
  } catch (err) {
    if (err instanceof RangeError && /more than one statement/.test(err.message)) return null;
    throw sqlError(err);
  }
  stmt.safeIntegers(true);
  if (stmt.reader) stmt.raw(true);
  const p: Prepared = {
    stmt,
    reader: stmt.reader,
    readonly: stmt.readonly,
    columns: undefined,
    decltypes: undefined,
    schema: -1,
    epoch: undefined,
    // SQLite counts transaction control as read-only and not a reader; only those need the test.
    txControl: stmt.readonly && !stmt.reader && TX_CONTROL.test(sql),
  };
  if (st.stmts.size >= CACHE_SIZE) st.stmts.delete(st.stmts.keys().next().value!);
  st.stmts.set(sql, p);
  return p;
}

/**
 * Runs one statement on `db`. A statement text holding several statements runs as a script
 * (without parameters; the result counts the last statement's changes). `readOnly` rejects a
 * statement that writes with `HADB_HAQLITE_NOT_READ_ONLY`.
 *
 * `schemaEpoch`: a number the caller changes whenever the schema `db` sees may have changed (for a
 * reader connection: after every write of the writer). While it is unchanged, a statement's cached
 * column names are reused without asking SQLite for the schema version (a query of its own, as
 * costly as a point lookup). Without it the schema version is checked on every call.
 */
export function runStatement(
  db: Db,
  sql: string,
  args: SqlParams | undefined,
  readOnly = false,
  schemaEpoch?: number,
): StatementResult {
  return run(db, sql, args, readOnly, schemaEpoch, undefined);
}

/** The error of a statement that opened or ended a transaction where haqlite owns the transaction. */
export function txControlError(): HaQLiteError {
  return new HaQLiteError(
    'HADB_HAQLITE_SQL',
    'transaction control statements (BEGIN, COMMIT, ROLLBACK) are not allowed here; use batch() or transaction()',
  );
}

/**
 * Runs one write-side statement (see {@link runStatement}) where haqlite owns the transaction:
 * `inTransaction` is whether one is open now and must stay so. A transaction control statement
 * (BEGIN, COMMIT, END, ROLLBACK, SAVEPOINT, RELEASE) is refused with {@link txControlError}
 * before it runs. A statement that may still change the state — a script, or one SQLite calls
 * read-only — is checked afterwards, and a change throws the same error (the caller rolls back
 * what is open). A statement that writes cannot end or open a transaction and succeed, so it is
 * not checked. `readOnly` as in {@link runStatement}.
 */
export function runOwned(
  db: Db,
  sql: string,
  args: SqlParams | undefined,
  inTransaction: boolean,
  readOnly = false,
): StatementResult {
  return run(db, sql, args, readOnly, undefined, inTransaction);
}

function run(
  db: Db,
  sql: string,
  args: SqlParams | undefined,
  readOnly: boolean,
  schemaEpoch: number | undefined,
  inTransaction: boolean | undefined,
): StatementResult {
  const st = state(db);
  const p = prepare(db, st, sql);
  if (p === null) {
    if (readOnly)
      throw new HaQLiteError('HADB_HAQLITE_NOT_READ_ONLY', 'a script of several statements cannot run as a read');
    if (args !== undefined && (Array.isArray(args) ? args.length > 0 : Object.keys(args).length > 0)) {
      throw new HaQLiteError('HADB_HAQLITE_SQL', 'a script of several statements takes no parameters');
    }
    try {
      db.exec(sql);
    } catch (err) {
      throw sqlError(err);
    }
    if (inTransaction !== undefined && db.inTransaction !== inTransaction) throw txControlError();
    return { columns: EMPTY, decltypes: EMPTY, rows: EMPTY, ...changes(st) };
  }
  if (readOnly && !p.readonly)
    throw new HaQLiteError('HADB_HAQLITE_NOT_READ_ONLY', 'the statement writes; use execute()');
  // Refused before it runs: a COMMIT inside haqlite's transaction would commit part of it unchecked.
  if (inTransaction !== undefined && p.txControl) throw txControlError();
  let result: StatementResult;
  try {
    if (p.reader) {
      const rows = (args === undefined ? p.stmt.all() : p.stmt.all(...bind(args))) as SqlValue[][];
      // Column metadata is costly to fetch (more than a point lookup); it changes only with the schema.
      if (p.columns === undefined || schemaEpoch === undefined || p.epoch !== schemaEpoch) {
        const schema = st.schema.get() as number;
        if (p.columns === undefined || p.schema !== schema) {
          const cols = p.stmt.columns();
          p.columns = Object.freeze(cols.map((c) => c.name));
          p.decltypes = Object.freeze(cols.map((c) => c.type));
          p.schema = schema;
        }
        p.epoch = schemaEpoch;
      }
      result = p.readonly
        ? { columns: p.columns, decltypes: p.decltypes!, rows, rowsAffected: 0, lastInsertRowid: null }
        : { columns: p.columns, decltypes: p.decltypes!, rows, ...changes(st) };
    } else {
      const info = args === undefined ? p.stmt.run() : p.stmt.run(...bind(args));
      result = {
        columns: EMPTY,
        decltypes: EMPTY,
        rows: EMPTY,
        rowsAffected: info.changes,
        // A bigint already (safe integers).
        lastInsertRowid: info.lastInsertRowid as bigint,
      };
    }
  } catch (err) {
    throw sqlError(err);
  }
  if (inTransaction !== undefined && p.readonly && db.inTransaction !== inTransaction) throw txControlError();
  return result;
}

/** Rows as objects keyed by column name (a convenience over {@link StatementResult.rows}). */
export function rowObjects(result: StatementResult): Record<string, SqlValue>[] {
  return result.rows.map((row) => Object.fromEntries(result.columns.map((c, i) => [c, row[i] ?? null])));
}
