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

function bind(args: SqlParams | undefined): unknown[] {
  if (args === undefined) return [];
  if (Array.isArray(args)) return (args as readonly unknown[]).map(bindValue);
  const named: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(args)) named[k.replace(/^[:@$]/, '')] = bindValue(v);
  return [named];
}

const changesStatements = new WeakMap<Db, Database.Statement>();
function changes(db: Db): { rowsAffected: number; lastInsertRowid: bigint } {
  let st = changesStatements.get(db);
  if (st === undefined) {
    st = db.prepare('SELECT changes(), last_insert_rowid()').raw(true).safeIntegers(true);
    changesStatements.set(db, st);
  }
  const [n, id] = st.get() as [bigint, bigint];
  return { rowsAffected: Number(n), lastInsertRowid: id };
}

/** Prepared statements per connection, by SQL text (SQLite re-prepares them after a schema change). */
const cache = new WeakMap<Db, Map<string, Database.Statement>>();
const CACHE_SIZE = 256;

function prepare(db: Db, sql: string): Database.Statement | null {
  let stmts = cache.get(db);
  if (stmts === undefined) cache.set(db, (stmts = new Map()));
  const hit = stmts.get(sql);
  if (hit !== undefined) return hit;
  try {
    const stmt = db.prepare(sql);
    if (stmts.size >= CACHE_SIZE) stmts.delete(stmts.keys().next().value!);
    stmts.set(sql, stmt);
    return stmt;
  } catch (err) {
    if (err instanceof RangeError && /more than one statement/.test(err.message)) return null;
    throw sqlError(err);
  }
}

/**
 * Runs one statement on `db`. A statement text holding several statements runs as a script
 * (without parameters; the result counts the last statement's changes). `readOnly` rejects a
 * statement that writes with `HADB_HAQLITE_NOT_READ_ONLY`.
 */
export function runStatement(db: Db, sql: string, args: SqlParams | undefined, readOnly = false): StatementResult {
  const stmt = prepare(db, sql);
  if (stmt === null) {
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
    return { columns: EMPTY, decltypes: EMPTY, rows: EMPTY, ...changes(db) };
  }
  if (readOnly && !stmt.readonly)
    throw new HaQLiteError('HADB_HAQLITE_NOT_READ_ONLY', 'the statement writes; use execute()');
  const bound = bind(args);
  try {
    stmt.safeIntegers(true);
    if (stmt.reader) {
      stmt.raw(true);
      const cols = stmt.columns();
      const rows = stmt.all(...bound) as SqlValue[][];
      const after = stmt.readonly ? { rowsAffected: 0, lastInsertRowid: null } : changes(db);
      return { columns: cols.map((c) => c.name), decltypes: cols.map((c) => c.type), rows, ...after };
    }
    const info = stmt.run(...bound);
    return {
      columns: EMPTY,
      decltypes: EMPTY,
      rows: EMPTY,
      rowsAffected: info.changes,
      lastInsertRowid: BigInt(info.lastInsertRowid),
    };
  } catch (err) {
    throw sqlError(err);
  }
}

/** Rows as objects keyed by column name (a convenience over {@link StatementResult.rows}). */
export function rowObjects(result: StatementResult): Record<string, SqlValue>[] {
  return result.rows.map((row) => Object.fromEntries(result.columns.map((c, i) => [c, row[i] ?? null])));
}
