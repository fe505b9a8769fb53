import kuzu from 'kuzu';
import type { ParamEntry, ParamValue } from '@hadb/graphstream';

/** An embedded Kuzu database with one connection. */
export interface Graph {
  readonly db: kuzu.Database;
  readonly conn: kuzu.Connection;
}

/** Opens a Kuzu database at `path` (`:memory:` for an in-memory one). */
export function openGraph(path: string): Graph {
  const db = new kuzu.Database(path);
  return { db, conn: new kuzu.Connection(db) };
}

/**
 * Releases a graph. kuzu 0.11's native teardown crashes the process at exit once a database was
 * closed explicitly (with or without its connection), so the demo's in-memory databases are left
 * to the garbage collector. A file-backed deployment should close them (`db.close()`) instead.
 */
export async function closeGraph(g: Graph): Promise<void> {
  void g;
}

/** Journal parameter → Kuzu parameter (temporal values become `Date`s, ints stay exact). */
export function toKuzu(v: ParamValue): kuzu.KuzuValue {
  switch (v.type) {
    case 'null':
      return null;
    case 'int':
      return Number.isSafeInteger(Number(v.value)) ? Number(v.value) : (v.value as unknown as kuzu.KuzuValue);
    case 'list':
      return v.value.map(toKuzu);
    case 'map':
      return Object.fromEntries(v.value.map(([k, x]) => [k, toKuzu(x)]));
    case 'date':
    case 'dateTime':
    case 'localDateTime':
      return new Date(v.value);
    case 'point':
      return { srid: v.srid, x: v.x, y: v.y, ...(v.z === undefined ? {} : { z: v.z }) };
    case 'bytes':
      return Buffer.from(v.value) as unknown as kuzu.KuzuValue;
    case 'time':
    case 'localTime':
    case 'duration':
      return v.value;
    default:
      return v.value;
  }
}

/** Runs one statement with parameters and returns its rows. Throws the engine's error. */
export async function run(
  g: Graph,
  query: string,
  params: readonly ParamEntry[] = [],
): Promise<Record<string, unknown>[]> {
  let result: kuzu.QueryResult | kuzu.QueryResult[];
  if (params.length === 0) {
    result = await g.conn.query(query);
  } else {
    const ps = await g.conn.prepare(query);
    if (!ps.isSuccess()) throw new Error(ps.getErrorMessage());
    result = await g.conn.execute(ps, Object.fromEntries(params.map(([k, v]) => [k, toKuzu(v)])));
  }
  const last = Array.isArray(result) ? result[result.length - 1] : result;
  return last === undefined ? [] : ((await last.getAll()) as Record<string, unknown>[]);
}
