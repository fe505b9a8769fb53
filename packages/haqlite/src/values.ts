import { HaError } from '@hadb/ha';
import { HaQLiteError } from './errors.js';

/**
 * A SQLite value as haqlite returns it: `null`, an INTEGER as `bigint` (always, so no precision
 * is lost and integers never look like floats), a REAL as `number`, TEXT as `string`, a BLOB as
 * `Uint8Array` (a `Buffer` in results).
 */
export type SqlValue = null | bigint | number | string | Uint8Array;

/** A parameter: a {@link SqlValue}, or a boolean (bound as 1 or 0). */
export type SqlParam = SqlValue | boolean;

/** Parameters: positional (`?`, `?NNN`) or named (`:name`, `@name`, `$name`; keys without the prefix). */
export type SqlParams = readonly SqlParam[] | Readonly<Record<string, SqlParam>>;

/** A value on haqlite's forwarding wire (JSON): TEXT as a string, the others tagged. */
export type WireValue =
  | null
  | string
  | { readonly i: string }
  | { readonly f: number | string }
  | { readonly b: string };

function invalid(message: string): never {
  throw new HaQLiteError('HADB_HAQLITE_INVALID_VALUE', message);
}

/** Checks and converts one parameter for better-sqlite3 (blobs as Buffers, booleans as 1/0). */
export function bindValue(v: unknown): null | bigint | number | string | Buffer {
  if (v === null || typeof v === 'string' || typeof v === 'bigint') return v;
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1n : 0n;
  if (v instanceof Uint8Array) return Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  return invalid(`unsupported parameter of type ${v === undefined ? 'undefined' : typeof v}`);
}

/** Encodes a value for the wire. */
export function toWire(v: SqlParam): WireValue {
  if (v === null || typeof v === 'string') return v;
  if (typeof v === 'bigint') return { i: v.toString() };
  if (typeof v === 'boolean') return { i: v ? '1' : '0' };
  if (typeof v === 'number') return { f: Number.isFinite(v) ? v : String(v) };
  if (v instanceof Uint8Array) return { b: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
  return invalid(`unsupported value of type ${typeof v}`);
}

/** Decodes a wire value; `HADB_HA_PROTOCOL` for a malformed one. */
export function fromWire(w: unknown): SqlValue {
  if (w === null || typeof w === 'string') return w;
  if (typeof w === 'object') {
    const o = w as Record<string, unknown>;
    if (typeof o.i === 'string' && /^-?\d+$/.test(o.i)) return BigInt(o.i);
    if (typeof o.f === 'number') return o.f;
    if (typeof o.f === 'string') return Number(o.f);
    if (typeof o.b === 'string') return Buffer.from(o.b, 'base64');
  }
  throw new HaError('HADB_HA_PROTOCOL', 'malformed wire value');
}

/** Encodes parameters for the wire. */
export function paramsToWire(p: SqlParams | undefined): unknown {
  if (p === undefined) return undefined;
  if (Array.isArray(p)) return (p as readonly SqlParam[]).map(toWire);
  const named: Record<string, WireValue> = {};
  for (const [k, v] of Object.entries(p)) named[k] = toWire(v);
  return { named };
}

/** Decodes wire parameters. */
export function paramsFromWire(w: unknown): SqlParams | undefined {
  if (w === undefined || w === null) return undefined;
  if (Array.isArray(w)) return w.map(fromWire);
  const named = (w as { named?: unknown }).named;
  if (typeof named !== 'object' || named === null) throw new HaError('HADB_HA_PROTOCOL', 'malformed params');
  const out: Record<string, SqlValue> = {};
  for (const [k, v] of Object.entries(named)) out[k] = fromWire(v);
  return out;
}
