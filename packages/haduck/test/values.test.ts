import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isHaDuckError } from '../src/errors.js';
import { runExecute, runQuery } from '../src/sql.js';
import { fromWire, paramsFromWire, paramsToWire, toWire, type HaParams, type HaValue } from '../src/values.js';

let instance: DuckDBInstance;
let conn: DuckDBConnection;
beforeAll(async () => {
  instance = await DuckDBInstance.create(':memory:');
  conn = await instance.connect();
  await conn.run("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')");
});
afterAll(() => {
  conn.closeSync();
  instance.closeSync();
});

/** JSON text in between, exactly as the forwarding protocol carries it. */
function throughWire(value: HaValue): HaValue {
  return fromWire(JSON.parse(JSON.stringify(toWire(value))));
}

async function one(expr: string, params?: HaParams): Promise<{ value: HaValue; type: string }> {
  const r = await runQuery(conn, `SELECT ${expr} AS v`, params);
  return { value: r.rows[0]![0]!, type: r.columnTypes[0]! };
}

const bytes = (...b: number[]): Uint8Array => new Uint8Array(b);

// [SQL expression, DuckDB type as reported, the HaValue it must read as]
const CASES: [string, string, HaValue][] = [
  ['true', 'BOOLEAN', true],
  ['(-128)::TINYINT', 'TINYINT', -128],
  ['32767::SMALLINT', 'SMALLINT', 32767],
  ['(-2147483648)::INTEGER', 'INTEGER', -2147483648],
  ['255::UTINYINT', 'UTINYINT', 255],
  ['65535::USMALLINT', 'USMALLINT', 65535],
  ['4294967295::UINTEGER', 'UINTEGER', 4294967295],
  ['(-9223372036854775808)::BIGINT', 'BIGINT', -9223372036854775808n],
  ['9223372036854775807::BIGINT', 'BIGINT', 9223372036854775807n],
  ['18446744073709551615::UBIGINT', 'UBIGINT', 18446744073709551615n],
  ['(-170141183460469231731687303715884105728)::HUGEINT', 'HUGEINT', -170141183460469231731687303715884105728n],
  ['170141183460469231731687303715884105727::HUGEINT', 'HUGEINT', 170141183460469231731687303715884105727n],
  ['340282366920938463463374607431768211455::UHUGEINT', 'UHUGEINT', 340282366920938463463374607431768211455n],
  [
    "'-123456789012345678901234567890123456789012345678901234567890'::BIGNUM",
    'BIGNUM',
    -123456789012345678901234567890123456789012345678901234567890n,
  ],
  ['1.5::FLOAT', 'FLOAT', 1.5],
  ['0.1::DOUBLE', 'DOUBLE', 0.1],
  ['5e-324::DOUBLE', 'DOUBLE', 5e-324],
  ["'NaN'::DOUBLE", 'DOUBLE', Number.NaN],
  ["'inf'::DOUBLE", 'DOUBLE', Number.POSITIVE_INFINITY],
  ["'-inf'::FLOAT", 'FLOAT', Number.NEGATIVE_INFINITY],
  ["'-0'::DOUBLE", 'DOUBLE', -0],
  ['123.456::DECIMAL(18,3)', 'DECIMAL(18,3)', '123.456'],
  ["'-12345678901234567890.1234567890'::DECIMAL(38,10)", 'DECIMAL(38,10)', '-12345678901234567890.1234567890'],
  ["DATE '2024-02-29'", 'DATE', '2024-02-29'],
  ["TIME '12:34:56.789'", 'TIME', '12:34:56.789'],
  ["TIMESTAMP '2024-02-29 12:34:56.123456'", 'TIMESTAMP', '2024-02-29 12:34:56.123456'],
  ["TIMESTAMP_NS '2024-01-01 00:00:00.123456789'", 'TIMESTAMP_NS', '2024-01-01 00:00:00.123456789'],
  ["TIMESTAMPTZ '2024-02-29 12:34:56+00'", 'TIMESTAMP WITH TIME ZONE', '2024-02-29 12:34:56+00'],
  ['INTERVAL 1 DAY + INTERVAL 3 HOUR', 'INTERVAL', '1 day 03:00:00'],
  ["'a1b2c3d4-0000-4000-8000-000000000001'::UUID", 'UUID', 'a1b2c3d4-0000-4000-8000-000000000001'],
  ["'happy'::mood", "ENUM('sad', 'ok', 'happy')", 'happy'],
  ["'101'::BIT", 'BIT', '101'],
  ["''", 'VARCHAR', ''],
  ['\'héllo ✓ {"$bigint":"1"}\'', 'VARCHAR', 'héllo ✓ {"$bigint":"1"}'],
  ["'\\x00\\xFFab'::BLOB", 'BLOB', bytes(0, 255, 97, 98)],
  ["''::BLOB", 'BLOB', bytes()],
  ['[1, 2, NULL]', 'INTEGER[]', [1, 2, null]],
  ['[[1::BIGINT], [], [2, 3]]', 'BIGINT[][]', [[1n], [], [2n, 3n]]],
  ['[1, 2, 3]::INTEGER[3]', 'INTEGER[3]', [1, 2, 3]],
  ["{'a': 1, 'b': 'x', 'c': NULL::INTEGER}", 'STRUCT(a INTEGER, b VARCHAR, c INTEGER)', { a: 1, b: 'x', c: null }],
  [
    "{'$bigint': 1, 'n': {'l': [9223372036854775807::BIGINT]}}",
    'STRUCT("$bigint" INTEGER, n STRUCT(l BIGINT[]))',
    { $bigint: 1, n: { l: [9223372036854775807n] } },
  ],
  [
    "MAP {'k': 1, 'j': 2}",
    'MAP(VARCHAR, INTEGER)',
    [
      { key: 'k', value: 1 },
      { key: 'j', value: 2 },
    ],
  ],
  ["MAP {1::BIGINT: '\\x01'::BLOB}", 'MAP(BIGINT, BLOB)', [{ key: 1n, value: bytes(1) }]],
  ['NULL::INTEGER', 'INTEGER', null],
  ['NULL::BLOB', 'BLOB', null],
  ['NULL::DECIMAL(10,2)', 'DECIMAL(10,2)', null],
];

describe('values: DuckDB → HaValue → JSON wire → HaValue', () => {
  it.each(CASES)('%s reads as its HaValue and survives the wire', async (expr, type, expected) => {
    const { value, type: reported } = await one(expr);
    expect(reported.replaceAll('"', '')).toBe(type.replaceAll('"', ''));
    expect(value).toStrictEqual(expected);
    expect(throughWire(value)).toStrictEqual(expected);
  });

  it('keeps -0, NaN and ±Infinity distinct on the wire', () => {
    expect(Object.is(throughWire(-0), -0)).toBe(true);
    expect(Object.is(throughWire(0), 0)).toBe(true);
    expect(toWire(Number.NaN)).toEqual({ $double: 'NaN' });
    expect(toWire(Number.NEGATIVE_INFINITY)).toEqual({ $double: '-Infinity' });
  });

  it('keeps an object field named __proto__ as an ordinary field on the wire', () => {
    const value = JSON.parse('{"__proto__": 1, "x": [2]}') as Record<string, HaValue>;
    expect(Object.keys(value)).toEqual(['__proto__', 'x']);
    const wire = JSON.parse(JSON.stringify(toWire(value))) as unknown;
    expect(wire).toEqual(JSON.parse('{"$struct": {"__proto__": 1, "x": [2]}}'));
    const back = fromWire(wire) as Record<string, HaValue>;
    expect(Object.keys(back)).toEqual(['__proto__', 'x']);
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
  });

  it('gives text forms that cast back to the same value (DECIMAL, DATE/TIME, TIMESTAMP*, INTERVAL, UUID)', async () => {
    const exprs = [
      ["'-12345678901234567890.1234567890'::DECIMAL(38,10)", 'DECIMAL(38,10)'],
      ["DATE '0001-01-01'", 'DATE'],
      ["TIME '23:59:59.999999'", 'TIME'],
      ["TIMESTAMP '1970-01-01 00:00:00.000001'", 'TIMESTAMP'],
      ["TIMESTAMP_NS '2024-01-01 00:00:00.123456789'", 'TIMESTAMP_NS'],
      ["TIMESTAMPTZ '2024-06-30 23:00:00+00'", 'TIMESTAMPTZ'],
      ["INTERVAL '1 year 2 months 3 days 04:05:06.000007'", 'INTERVAL'],
      ["'ffffffff-ffff-ffff-ffff-ffffffffffff'::UUID", 'UUID'],
    ];
    for (const [expr, type] of exprs) {
      const { value } = await one(expr!);
      expect(typeof value).toBe('string');
      const same = await one(`$1::${type} = ${expr}`, [throughWire(value) as string]);
      expect(same.value, expr).toBe(true);
    }
  });
});

describe('values: parameters', () => {
  it('binds every scalar kind and reads it back unchanged, also after the wire', async () => {
    const params: HaParams = [
      null,
      true,
      7,
      2 ** 40,
      1.25,
      Number.NaN,
      -9223372036854775808n,
      340282366920938463463374607431768211455n,
      'text ✓',
      bytes(0, 1, 2, 255),
    ];
    const wired = paramsFromWire(JSON.parse(JSON.stringify(paramsToWire(params)))) as HaParams;
    expect(wired).toStrictEqual(params);
    const r = await runQuery(
      conn,
      'SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, typeof($3), typeof($4), typeof($5), typeof($7)',
      wired,
    );
    // Integral numbers bind as INTEGER (32-bit) or BIGINT (read back as bigint), others as DOUBLE; bigint binds as HUGEINT.
    expect(r.rows[0]).toStrictEqual([
      null,
      true,
      7,
      2n ** 40n,
      1.25,
      Number.NaN,
      -9223372036854775808n,
      340282366920938463463374607431768211455n,
      'text ✓',
      bytes(0, 1, 2, 255),
      'INTEGER',
      'BIGINT',
      'DOUBLE',
      'HUGEINT',
    ]);
  });

  it('binds bigints outside HUGEINT as UHUGEINT or BIGNUM and unsafe integral numbers as DOUBLE, never wrapping', async () => {
    const params: HaParams = [2n ** 128n - 1n, -(2n ** 127n) - 1n, 10n ** 50n, 2 ** 60];
    const r = await runQuery(conn, 'SELECT $1, typeof($1), $2, typeof($2), $3, typeof($3), $4, typeof($4)', params);
    expect(r.rows[0]).toStrictEqual([
      2n ** 128n - 1n,
      'UHUGEINT',
      -(2n ** 127n) - 1n,
      'BIGNUM',
      10n ** 50n,
      'BIGNUM',
      2 ** 60,
      'DOUBLE',
    ]);
  });

  it('named parameters survive the wire', async () => {
    const named = { lo: -9223372036854775808n, hi: 9223372036854775807n, b: bytes(9) };
    const wired = paramsFromWire(JSON.parse(JSON.stringify(paramsToWire(named))));
    expect(wired).toStrictEqual(named);
    const r = await runQuery(conn, 'SELECT $lo::BIGINT, $hi::BIGINT, $b', wired);
    expect(r.rows[0]).toStrictEqual([named.lo, named.hi, named.b]);
  });

  it('stores BIGINT bounds, HUGEINT, DECIMAL, DATE, TIMESTAMP and BLOB columns exactly from parameters', async () => {
    await conn.run('CREATE TABLE p (b BIGINT, h HUGEINT, d DECIMAL(38,10), dt DATE, ts TIMESTAMP, bl BLOB)');
    const rows: HaParams[] = [
      [
        -9223372036854775808n,
        -170141183460469231731687303715884105728n,
        '-12345678901234567890.1234567890',
        '2024-02-29',
        '2024-02-29 12:34:56.123456',
        bytes(),
      ],
      [
        9223372036854775807n,
        170141183460469231731687303715884105727n,
        '0.0000000001',
        '9999-12-31',
        '1970-01-01 00:00:00',
        bytes(0, 0, 255),
      ],
    ];
    for (const row of rows)
      expect((await runExecute(conn, 'INSERT INTO p VALUES ($1, $2, $3, $4, $5, $6)', row)).rowsChanged).toBe(1);
    const r = await runQuery(conn, 'SELECT * FROM p ORDER BY b', undefined);
    expect(r.rows).toStrictEqual(rows);
    expect(r.rows.map((row) => row.map(throughWire))).toStrictEqual(rows);
  });

  it('refuses a BIGINT column value out of range (no silent wrap)', async () => {
    await conn.run('CREATE TABLE q (b BIGINT)');
    await expect(runExecute(conn, 'INSERT INTO q VALUES ($1)', [9223372036854775808n])).rejects.toMatchObject({
      code: 'HADB_HADUCK_SQL',
    });
  });

  it('refuses structured values as parameters', () => {
    expect(() => paramsFromWire([{ $struct: { a: 1 } }])).toThrow(
      expect.objectContaining({ code: 'HADB_HADUCK_INVALID_VALUE' }),
    );
    expect(() => paramsFromWire([[1, 2]])).toThrow(expect.objectContaining({ code: 'HADB_HADUCK_INVALID_VALUE' }));
    expect(() => paramsFromWire({ $named: [1] })).toThrow(
      expect.objectContaining({ code: 'HADB_HADUCK_INVALID_VALUE' }),
    );
    expect(() => paramsFromWire('x')).toThrow(expect.objectContaining({ code: 'HADB_HADUCK_INVALID_VALUE' }));
  });
});

describe('values: malformed wire input is a typed error', () => {
  const bad: [string, unknown][] = [
    ['an untagged object', { a: 1 }],
    ['two tags', { $bigint: '1', $blob: '' }],
    ['an unknown tag', { $date: '2024-01-01' }],
    ['a bigint with spaces', { $bigint: ' 1' }],
    ['a bigint as a number', { $bigint: 1 }],
    ['a decimal as a bigint', { $bigint: '1.5' }],
    ['a bigint over 10,000 digits', { $bigint: '9'.repeat(10_001) }],
    ['bad base64', { $blob: 'a*==' }],
    ['base64 of the wrong length', { $blob: 'abc' }],
    ['an unknown $double', { $double: 'nan' }],
    ['a struct that is an array', { $struct: [1] }],
    ['a nested bad value', [1, [{ $bigint: 'x' }]]],
  ];
  it.each(bad)('%s', (_what, wire) => {
    let caught: unknown;
    try {
      fromWire(wire);
    } catch (err) {
      caught = err;
    }
    expect(isHaDuckError(caught, 'HADB_HADUCK_INVALID_VALUE')).toBe(true);
  });

  it('nesting deeper than 64 levels', () => {
    let wire: unknown = 1;
    for (let i = 0; i < 70; i++) wire = [wire];
    expect(() => fromWire(wire)).toThrow(expect.objectContaining({ code: 'HADB_HADUCK_INVALID_VALUE' }));
  });

  it('accepts a 10,000-digit bigint', () => {
    expect(fromWire({ $bigint: '9'.repeat(10_000) })).toBe(10n ** 10_000n - 1n);
  });
});
