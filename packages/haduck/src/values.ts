import {
  DuckDBArrayValue,
  DuckDBBlobValue,
  DuckDBListValue,
  DuckDBMapValue,
  DuckDBStructValue,
  BIGNUM,
  DOUBLE,
  UHUGEINT,
  blobValue,
  type DuckDBType,
  type DuckDBValue,
} from '@duckdb/node-api';
import { HaDuckError } from './errors.js';

/**
 * A value in a result row, the same whether the query ran locally or on the leader:
 * - `null`, `boolean`, `string`;
 * - `number` for TINYINT…INTEGER, UTINYINT…UINTEGER, FLOAT and DOUBLE (NaN and ±Infinity included);
 * - `bigint` for BIGINT, UBIGINT, HUGEINT, UHUGEINT and BIGNUM (exact);
 * - `Uint8Array` for BLOB;
 * - `string` in DuckDB's own text form for DECIMAL (exact), DATE, TIME, TIMESTAMP*, INTERVAL, UUID,
 *   ENUM, BIT and any other type (cast it back in SQL when you need the type);
 * - an array for LIST and ARRAY; a plain object for STRUCT; an array of `{ key, value }` for MAP.
 */
export type HaValue = null | boolean | number | bigint | string | Uint8Array | HaValue[] | { [field: string]: HaValue };

/**
 * A statement parameter: `null`, `boolean`, `number` (INTEGER when integral and in 32-bit range,
 * BIGINT when a larger safe integer, DOUBLE otherwise), `bigint` (HUGEINT within its range, else
 * UHUGEINT or BIGNUM; casts implicitly to BIGINT columns, out-of-range values are an error, never
 * wrapped), `string` (VARCHAR, casts implicitly to DATE/TIMESTAMP/DECIMAL/UUID columns) or
 * `Uint8Array` (BLOB).
 */
export type HaParam = null | boolean | number | bigint | string | Uint8Array;

/** Positional (`$1`, `?`) or named (`$name`) parameters. */
export type HaParams = readonly HaParam[] | Readonly<Record<string, HaParam>>;

/** Sets an own enumerable field, also for names like `__proto__` that plain assignment would treat specially. */
function setField<T>(target: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

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
  if (value instanceof DuckDBBlobValue)
    return new Uint8Array(value.bytes.buffer, value.bytes.byteOffset, value.bytes.byteLength);
  if (value instanceof DuckDBListValue || value instanceof DuckDBArrayValue) return value.items.map(fromDuckValue);
  if (value instanceof DuckDBStructValue) {
    const out: Record<string, HaValue> = {};
    for (const [k, v] of Object.entries(value.entries)) setField(out, k, fromDuckValue(v));
    return out;
  }
  if (value instanceof DuckDBMapValue) {
    return value.entries.map((e) => ({ key: fromDuckValue(e.key), value: fromDuckValue(e.value) }));
  }
  return String(value);
}

const HUGEINT_MIN = -(2n ** 127n);
const HUGEINT_MAX = 2n ** 127n - 1n;
const UHUGEINT_MAX = 2n ** 128n - 1n;

/** Parameters as `@duckdb/node-api` binds them: values plus an explicit type where its inference would be wrong. */
export interface DuckParams {
  readonly values: DuckDBValue[] | Record<string, DuckDBValue>;
  readonly types: DuckDBType[] | Record<string, DuckDBType | undefined>;
}

/**
 * Converts {@link HaParams} to what `@duckdb/node-api` binds. The driver binds every `bigint` as
 * HUGEINT (wrapping values outside its range) and every integral `number` as INTEGER/BIGINT, so
 * larger bigints get UHUGEINT or BIGNUM and integral numbers beyond 2^53 get DOUBLE. Throws
 * `HADB_HADUCK_INVALID_VALUE`.
 */
export function toDuckParams(params: HaParams | undefined): DuckParams | undefined {
  if (params === undefined) return undefined;
  const one = (p: HaParam, where: string): [DuckDBValue, DuckDBType | undefined] => {
    if (p === null || typeof p === 'boolean' || typeof p === 'string') return [p, undefined];
    if (typeof p === 'bigint') {
      if (p >= HUGEINT_MIN && p <= HUGEINT_MAX) return [p, undefined];
      return [p, p > 0n && p <= UHUGEINT_MAX ? UHUGEINT : BIGNUM];
    }
    if (typeof p === 'number') return [p, Number.isInteger(p) && !Number.isSafeInteger(p) ? DOUBLE : undefined];
    if (p instanceof Uint8Array) return [blobValue(p), undefined];
    throw new HaDuckError('HADB_HADUCK_INVALID_VALUE', `parameter ${where} has an unsupported type`);
  };
  if (Array.isArray(params)) {
    const bound = (params as readonly HaParam[]).map((p, i) => one(p, String(i + 1)));
    // An undefined entry lets the driver infer that parameter's type.
    return { values: bound.map((b) => b[0]), types: bound.map((b) => b[1]) as DuckDBType[] };
  }
  const values: Record<string, DuckDBValue> = {};
  const types: Record<string, DuckDBType | undefined> = {};
  for (const [k, v] of Object.entries(params as Record<string, HaParam>)) {
    const [value, type] = one(v, k);
    setField(values, k, value);
    setField(types, k, type);
  }
  return { values, types };
}

// ---- Wire encoding (forwarding protocol) ----------------------------------------------------
//
// JSON with tagged objects for what JSON cannot carry. Every JSON object on the wire is a tag with
// exactly one key, so decoding is unambiguous:
//   {"$bigint":"-9223372036854775808"}   bigint (decimal, up to 10,000 digits)
//   {"$blob":"<base64>"}                 Uint8Array
//   {"$double":"NaN"|"Infinity"|"-Infinity"|"-0"}  numbers JSON cannot carry
//   {"$struct":{"a":<wire>,...}}         plain object (STRUCT, MAP entries)
// Arrays are arrays; null, booleans, finite numbers and strings are themselves.

/** A JSON-safe encoding of a {@link HaValue}. */
export type WireValue = null | boolean | number | string | WireValue[] | { readonly [tag: string]: unknown };

/** Encodes a value for the forwarding protocol. */
export function toWire(value: HaValue): WireValue {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') {
    if (Number.isFinite(value) && !Object.is(value, -0)) return value;
    return { $double: Object.is(value, -0) ? '-0' : String(value) };
  }
  if (typeof value === 'bigint') return { $bigint: value.toString() };
  if (value instanceof Uint8Array)
    return { $blob: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
  if (Array.isArray(value)) return value.map(toWire);
  if (typeof value === 'object') {
    const out: Record<string, WireValue> = {};
    for (const [k, v] of Object.entries(value)) setField(out, k, toWire(v));
    return { $struct: out };
  }
  throw new HaDuckError('HADB_HADUCK_INVALID_VALUE', `cannot encode a value of type ${typeof value}`);
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
/** Up to 10,000 digits: every integer type, including BIGNUM values of that size. */
const BIGINT = /^-?[0-9]{1,10000}$/;

/** Decodes a wire value. Throws `HADB_HADUCK_INVALID_VALUE` on anything outside the encoding above. */
export function fromWire(value: unknown, depth = 0): HaValue {
  if (depth > 64) throw new HaDuckError('HADB_HADUCK_INVALID_VALUE', 'wire value nested too deeply');
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new HaDuckError('HADB_HADUCK_INVALID_VALUE', 'non-finite number on the wire');
    return value;
  }
  if (Array.isArray(value)) return value.map((v) => fromWire(v, depth + 1));
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length !== 1)
      throw new HaDuckError('HADB_HADUCK_INVALID_VALUE', 'wire object must have exactly one tag');
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
        if (inner === '-0') return -0;
        break;
      case '$struct': {
        if (typeof inner !== 'object' || inner === null || Array.isArray(inner)) break;
        const out: Record<string, HaValue> = {};
        for (const [k, v] of Object.entries(inner as Record<string, unknown>)) setField(out, k, fromWire(v, depth + 1));
        return out;
      }
      default:
        break;
    }
    throw new HaDuckError('HADB_HADUCK_INVALID_VALUE', 'malformed tagged wire value');
  }
  throw new HaDuckError('HADB_HADUCK_INVALID_VALUE', 'unsupported wire value');
}

/** Encodes parameters for the wire. */
export function paramsToWire(
  params: HaParams | undefined,
): WireValue[] | { readonly $named: Record<string, WireValue> } | undefined {
  if (params === undefined) return undefined;
  if (Array.isArray(params)) return (params as readonly HaParam[]).map((p) => toWire(p));
  const out: Record<string, WireValue> = {};
  for (const [k, v] of Object.entries(params as Record<string, HaParam>)) setField(out, k, toWire(v));
  return { $named: out };
}

function asParam(v: HaValue): HaParam {
  if (v === null || typeof v !== 'object' || v instanceof Uint8Array) return v;
  throw new HaDuckError('HADB_HADUCK_INVALID_VALUE', 'parameters must be scalars');
}

/** Decodes wire parameters (see {@link paramsToWire}). */
export function paramsFromWire(wire: unknown): HaParams | undefined {
  if (wire === undefined || wire === null) return undefined;
  if (Array.isArray(wire)) return wire.map((w) => asParam(fromWire(w)));
  if (typeof wire === 'object' && '$named' in wire) {
    const named = (wire as { $named: unknown }).$named;
    if (typeof named !== 'object' || named === null || Array.isArray(named)) {
      throw new HaDuckError('HADB_HADUCK_INVALID_VALUE', 'malformed named parameters');
    }
    const out: Record<string, HaParam> = {};
    for (const [k, v] of Object.entries(named as Record<string, unknown>)) setField(out, k, asParam(fromWire(v)));
    return out;
  }
  throw new HaDuckError('HADB_HADUCK_INVALID_VALUE', 'malformed parameters');
}
