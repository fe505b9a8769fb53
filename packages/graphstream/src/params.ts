/**
 * Query parameter values carried in a journal entry. The union mirrors graphstream's `ParamValue`
 * one to one, so every value survives a round trip through the `graphd.GraphValue` protobuf.
 */
export type ParamValue =
  | { readonly type: 'null' }
  | { readonly type: 'bool'; readonly value: boolean }
  /** A signed 64-bit integer. */
  | { readonly type: 'int'; readonly value: bigint }
  /** An IEEE 754 double (NaN and infinities included). */
  | { readonly type: 'float'; readonly value: number }
  | { readonly type: 'string'; readonly value: string }
  | { readonly type: 'bytes'; readonly value: Uint8Array }
  | { readonly type: 'list'; readonly value: readonly ParamValue[] }
  /** An ordered map: entry order is kept (and duplicate keys too, as the wire allows them). */
  | { readonly type: 'map'; readonly value: readonly ParamEntry[] }
  /** A temporal value as an ISO-8601 string; the engine parses it on replay. */
  | { readonly type: TemporalType; readonly value: string }
  /** A spatial point; `z` present for 3-D points. */
  | { readonly type: 'point'; readonly srid: number; readonly x: number; readonly y: number; readonly z?: number };

/** A named parameter: `[name, value]`. */
export type ParamEntry = readonly [string, ParamValue];

/** The temporal kinds of the graphd schema. */
export type TemporalType = 'date' | 'time' | 'localTime' | 'dateTime' | 'localDateTime' | 'duration';

/** The temporal kinds, in schema order (`TemporalKind` 1..6). */
export const TEMPORAL_TYPES: readonly TemporalType[] = [
  'date',
  'time',
  'localTime',
  'dateTime',
  'localDateTime',
  'duration',
];

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;

/** Constructors for {@link ParamValue}, e.g. `param.int(5)`, `param.map({ name: param.string('a') })`. */
export const param = {
  null: (): ParamValue => ({ type: 'null' }),
  bool: (value: boolean): ParamValue => ({ type: 'bool', value }),
  /** Throws `RangeError` outside the signed 64-bit range or for a non-integer number. */
  int: (value: bigint | number): ParamValue => {
    const v = typeof value === 'bigint' ? value : BigInt(value);
    if (v < INT64_MIN || v > INT64_MAX) throw new RangeError('int parameter outside the signed 64-bit range');
    return { type: 'int', value: v };
  },
  float: (value: number): ParamValue => ({ type: 'float', value }),
  string: (value: string): ParamValue => ({ type: 'string', value }),
  bytes: (value: Uint8Array): ParamValue => ({ type: 'bytes', value }),
  list: (value: readonly ParamValue[]): ParamValue => ({ type: 'list', value }),
  /** From ordered entries or a plain object (insertion order). */
  map: (value: readonly ParamEntry[] | Readonly<Record<string, ParamValue>>): ParamValue => ({
    type: 'map',
    value: Array.isArray(value) ? (value as readonly ParamEntry[]) : Object.entries(value),
  }),
  date: (iso: string): ParamValue => ({ type: 'date', value: iso }),
  time: (iso: string): ParamValue => ({ type: 'time', value: iso }),
  localTime: (iso: string): ParamValue => ({ type: 'localTime', value: iso }),
  dateTime: (iso: string): ParamValue => ({ type: 'dateTime', value: iso }),
  localDateTime: (iso: string): ParamValue => ({ type: 'localDateTime', value: iso }),
  duration: (iso: string): ParamValue => ({ type: 'duration', value: iso }),
  point: (srid: number, x: number, y: number, z?: number): ParamValue =>
    z === undefined ? { type: 'point', srid, x, y } : { type: 'point', srid, x, y, z },
} as const;

/**
 * Converts a plain JavaScript value: `null`/`undefined` → null, boolean, `bigint` → int, a safe
 * integer `number` → int, any other `number` → float, string, `Uint8Array` → bytes, arrays → list,
 * `Date` → dateTime (ISO, UTC), plain objects → map. Values that are already {@link ParamValue}s
 * cannot be told apart from plain objects, so build those with {@link param} instead.
 * Throws `TypeError` for anything else (functions, symbols, class instances).
 */
export function toParamValue(value: unknown): ParamValue {
  if (value === null || value === undefined) return param.null();
  switch (typeof value) {
    case 'boolean':
      return param.bool(value);
    case 'bigint':
      return param.int(value);
    case 'number':
      return Number.isSafeInteger(value) ? param.int(value) : param.float(value);
    case 'string':
      return param.string(value);
    case 'object': {
      if (value instanceof Uint8Array) return param.bytes(value);
      if (Array.isArray(value)) return param.list(value.map(toParamValue));
      if (value instanceof Date) return param.dateTime(value.toISOString());
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto === Object.prototype || proto === null) {
        return param.map(Object.entries(value).map(([k, v]) => [k, toParamValue(v)] as const));
      }
      break;
    }
    default:
      break;
  }
  throw new TypeError(`cannot convert a ${typeof value} to a journal parameter`);
}

/** {@link toParamValue} over an object's own entries, for a whole parameter set. */
export function toParams(values: Readonly<Record<string, unknown>>): ParamEntry[] {
  return Object.entries(values).map(([k, v]) => [k, toParamValue(v)] as const);
}

/**
 * Converts back to plain JavaScript: int → `bigint`, float → `number`, bytes → `Uint8Array`,
 * temporal → ISO string, point → `{ srid, x, y, z? }`, map → plain object (a later duplicate key
 * wins), list → array, null → `null`.
 */
export function fromParamValue(value: ParamValue): unknown {
  switch (value.type) {
    case 'null':
      return null;
    case 'list':
      return value.value.map(fromParamValue);
    case 'map':
      return Object.fromEntries(value.value.map(([k, v]) => [k, fromParamValue(v)]));
    case 'point':
      return value.z === undefined
        ? { srid: value.srid, x: value.x, y: value.y }
        : { srid: value.srid, x: value.x, y: value.y, z: value.z };
    default:
      return value.value;
  }
}
