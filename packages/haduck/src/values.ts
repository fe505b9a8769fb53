import {
  DuckDBArrayValue,
  DuckDBBlobValue,
  DuckDBListValue,
  DuckDBMapValue,
  DuckDBStructValue,
  blobValue,
  type DuckDBValue,
} from '@duckdb/node-api';
import { HaDuckError } from './errors.js';

/**
 * A value in a result row, the same whether the query ran locally or on the leader:
 * - `null`, `boolean`, `string`;
 * - `number` for TINYINT…INTEGER, UTINYINT…UINTEGER, FLOAT and DOUBLE (NaN and ±Infinity included);
 * - `bigint` for BIGINT, UBIGINT, HUGEINT, UHUGEINT (exact);
 * - `Uint8Array` for BLOB;
 * - `string` in DuckDB's own text form for DECIMAL (exact), DATE, TIME, TIMESTAMP*, INTERVAL, UUID,
 *   ENUM, BIT and any other type (cast it back in SQL when you need the type);
 * - an array for LIST and ARRAY; a plain object for STRUCT; an array of `{ key, value }` for MAP.
 */
export type HaValue = null | boolean | number | bigint | string | Uint8Array | HaValue[] | { [field: string]: HaValue };

/**
 * A statement parameter: `null`, `boolean`, `number` (INTEGER when integral and in 32-bit range,
 * BIGINT when integral and larger, DOUBLE otherwise), `bigint` (HUGEINT, casts to BIGINT
 * implicitly), `string` (VARCHAR, casts implicitly to DATE/TIMESTAMP/DECIMAL/UUID columns) or
 * `Uint8Array` (BLOB).
 */
export type HaParam = null | boolean | number | bigint | string | Uint8Array;

/** Positional (`$1`, `?`) or named (`$name`) parameters. */
export type HaParams = readonly HaParam[] | Readonly<Record<string, HaParam>>;

/** Converts one DuckDB value from `reader.getRows()` into a {@link HaValue}. */
export function fromDuckValue(value: DuckDBValue): HaValue {
  if (value === null) return null;
  switch (typeof value) {
    case 'boolean':
    case 'number':
    case 'bigint':
    case 'string':
      return value;
    default:
      break;
  }
  if (value instanceof DuckDBBlobValue) return new Uint8Array(value.bytes.buffer, value.bytes.byteOffset, value.bytes.byteLength);
  if (value instanceof DuckDBListValue || value instanceof DuckDBArrayValue) return value.items.map(fromDuckValue);
  if (value instanceof DuckDBStructValue) {
    const out: Record<string, HaValue> = {};
    for (const [k, v] of Object.entries(value.entries)) out[k] = fromDuckValue(v);
    return out;
  }
  if (value instanceof DuckDBMapValue) {
    return value.entries.map((e) => ({ key: fromDuckValue(e.key), value: fromDuckValue(e.value) }));
  }
  return String(value);
}

/** Converts {@link HaParams} to what `@duckdb/node-api` binds. Throws `HADUCK_INVALID_VALUE`. */
export function toDuckParams(params: HaParams | undefined): DuckDBValue[] | Record<string, DuckDBValue> | undefined {
  if (params === undefined) return undefined;
  const one = (p: HaParam, where: string): DuckDBValue => {
    if (p === null || typeof p === 'boolean' || typeof p === 'string' || typeof p === 'bigint') return p;
    if (typeof p === 'number') return p;
    if (p instanceof Uint8Array) return blobValue(p);
    throw new HaDuckError('HADUCK_INVALID_VALUE', `parameter ${where} has an unsupported type`);
  };
  if (Array.isArray(params)) return (params as readonly HaParam[]).map((p, i) => one(p, String(i + 1)));
  const out: Record<string, DuckDBValue> = {};
  for (const [k, v] of Object.entries(params as Record<string, HaParam>)) out[k] = one(v, k);
  return out;
}

// ---- Wire encoding (forwarding protocol) ----------------------------------------------------
//
// JSON with tagged objects for what JSON cannot carry. Every JSON object on the wire is a tag with
// exactly one key, so decoding is unambiguous:
//   {"$bigint":"-9223372036854775808"}   bigint
//   {"$blob":"<base64>"}                 Uint8Array
//   {"$double":"NaN"|"Infinity"|"-Infinity"}  non-finite numbers
//   {"$struct":{"a":<wire>,...}}         plain object (STRUCT, MAP entries)
// Arrays are arrays; null, booleans, finite numbers and strings are themselves.

/** A JSON-safe encoding of a {@link HaValue}. */
export type WireValue = null | boolean | number | string | WireValue[] | { readonly [tag: string]: unknown };

/** Encodes a value for the forwarding protocol. */
export function toWire(value: HaValue): WireValue {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') {
    if (Number.isFinite(value)) return value;
    return { $double: String(value) };
  }
  if (typeof value === 'bigint') return { $bigint: value.toString() };
  if (value instanceof Uint8Array) return { $blob: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
  if (Array.isArray(value)) return value.map(toWire);
  if (typeof value === 'object') {
    const out: Record<string, WireValue> = {};
    for (const [k, v] of Object.entries(value)) out[k] = toWire(v);
    return { $struct: out };
  }
  throw new HaDuckError('HADUCK_INVALID_VALUE', `cannot encode a value of type ${typeof value}`);
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const BIGINT = /^-?[0-9]{1,40}$/;

/** Decodes a wire value. Throws `HADUCK_INVALID_VALUE` on anything outside the encoding above. */
export function fromWire(value: unknown, depth = 0): HaValue {
  if (depth > 64) throw new HaDuckError('HADUCK_INVALID_VALUE', 'wire value nested too deeply');
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new HaDuckError('HADUCK_INVALID_VALUE', 'non-finite number on the wire');
    return value;
  }
  if (Array.isArray(value)) return value.map((v) => fromWire(v, depth + 1));
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length !== 1) throw new HaDuckError('HADUCK_INVALID_VALUE', 'wire object must have exactly one tag');
    const [tag, inner] = entries[0]!;
    switch (tag) {
      case '$bigint':
        if (typeof inner !== 'string' || !BIGINT.test(inner)) break;
        return BigInt(inner);
      case '$blob':
        if (typeof inner !== 'string' || !BASE64.test(inner) || inner.length % 4 !== 0) break;
        return new Uint8Array(Buffer.from(inner, 'base64'));
      case '$double':
        if (inner === 'NaN') return Number.NaN;
        if (inner === 'Infinity') return Number.POSITIVE_INFINITY;
        if (inner === '-Infinity') return Number.NEGATIVE_INFINITY;
        break;
      case '$struct': {
        if (typeof inner !== 'object' || inner === null || Array.isArray(inner)) break;
        const out: Record<string, HaValue> = {};
        for (const [k, v] of Object.entries(inner as Record<string, unknown>)) out[k] = fromWire(v, depth + 1);
        return out;
      }
      default:
        break;
    }
    throw new HaDuckError('HADUCK_INVALID_VALUE', 'malformed tagged wire value');
  }
  throw new HaDuckError('HADUCK_INVALID_VALUE', 'unsupported wire value');
}

/** Encodes parameters for the wire. */
export function paramsToWire(params: HaParams | undefined): WireValue[] | { readonly $named: Record<string, WireValue> } | undefined {
  if (params === undefined) return undefined;
  if (Array.isArray(params)) return (params as readonly HaParam[]).map((p) => toWire(p));
  const out: Record<string, WireValue> = {};
  for (const [k, v] of Object.entries(params as Record<string, HaParam>)) out[k] = toWire(v);
  return { $named: out };
}

function asParam(v: HaValue): HaParam {
  if (v === null || typeof v !== 'object' || v instanceof Uint8Array) return v;
  throw new HaDuckError('HADUCK_INVALID_VALUE', 'parameters must be scalars');
}

/** Decodes wire parameters (see {@link paramsToWire}). */
export function paramsFromWire(wire: unknown): HaParams | undefined {
  if (wire === undefined || wire === null) return undefined;
  if (Array.isArray(wire)) return wire.map((w) => asParam(fromWire(w)));
  if (typeof wire === 'object' && '$named' in wire) {
    const named = (wire as { $named: unknown }).$named;
    if (typeof named !== 'object' || named === null || Array.isArray(named)) {
      throw new HaDuckError('HADUCK_INVALID_VALUE', 'malformed named parameters');
    }
    const out: Record<string, HaParam> = {};
    for (const [k, v] of Object.entries(named as Record<string, unknown>)) out[k] = asParam(fromWire(v));
    return out;
  }
  throw new HaDuckError('HADUCK_INVALID_VALUE', 'malformed parameters');
}
