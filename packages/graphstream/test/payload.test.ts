import { describe, expect, it } from 'vitest';
import { decodePayload, encodePayload, type JournalPayload } from '../src/payload.js';
import { fromParamValue, param, type ParamValue, toParamValue, toParams } from '../src/params.js';
import { isGraphstreamError } from '../src/errors.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const fromHex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

function roundTrip(value: ParamValue): ParamValue {
  const payload: JournalPayload = { sequence: 1n, query: 'RETURN $v', params: [['v', value]], timestampMs: 0n };
  const back = decodePayload(encodePayload(payload));
  expect(back.params).toHaveLength(1);
  return back.params[0]![1];
}

describe('JournalEntry payload round trip, one per type', () => {
  const cases: [string, ParamValue][] = [
    ['null', param.null()],
    ['bool true', param.bool(true)],
    ['bool false', param.bool(false)],
    ['int', param.int(42)],
    ['int zero', param.int(0)],
    ['int min', param.int(-(1n << 63n))],
    ['int max', param.int((1n << 63n) - 1n)],
    ['float', param.float(3.25)],
    ['float zero', param.float(0)],
    ['float -inf', param.float(-Infinity)],
    ['string', param.string('héllo ✓')],
    ['empty string', param.string('')],
    ['bytes', param.bytes(new Uint8Array([0, 1, 255]))],
    ['empty bytes', param.bytes(new Uint8Array())],
    ['list', param.list([param.int(1), param.string('x'), param.null(), param.list([])])],
    [
      'map',
      param.map([
        ['b', param.int(1)],
        ['a', param.bool(false)],
        ['b', param.string('dup')],
      ]),
    ],
    ['date', param.date('2024-02-29')],
    ['time', param.time('12:34:56.789+02:00')],
    ['localTime', param.localTime('12:34:56')],
    ['dateTime', param.dateTime('2024-02-29T12:34:56.789Z')],
    ['localDateTime', param.localDateTime('2024-02-29T12:34:56')],
    ['duration', param.duration('P1Y2M3DT4H5M6.5S')],
    ['point 2d', param.point(4326, 12.5, -7.25)],
    ['point 3d', param.point(4979, 1, 2, 3)],
    ['point 3d z=0', param.point(9157, 0, 0, 0)],
  ];
  for (const [name, value] of cases) {
    it(name, () => {
      expect(roundTrip(value)).toEqual(value);
    });
  }

  it('float NaN', () => {
    const back = roundTrip(param.float(Number.NaN));
    expect(back.type).toBe('float');
    expect(Number.isNaN((back as { value: number }).value)).toBe(true);
  });

  it('keeps sequence, query, parameter order and timestamp', () => {
    const payload: JournalPayload = {
      sequence: 18446744073709551615n,
      query: 'CREATE (:P {name: $name, age: $age})',
      params: toParams({ name: 'Ann', age: 31, score: 0.5, tags: ['a', 'b'], at: new Date(0) }),
      timestampMs: -5n,
    };
    expect(decodePayload(encodePayload(payload))).toEqual(payload);
    expect(payload.params.map(([k]) => k)).toEqual(['name', 'age', 'score', 'tags', 'at']);
  });
});

describe('payload golden bytes (hand-computed from the proto3 wire rules)', () => {
  it('encodes every wire type exactly', () => {
    const payload: JournalPayload = {
      sequence: 5n,
      query: 'RETURN $a',
      params: [
        ['a', param.int(300)],
        ['n', param.null()],
        ['f', param.float(1.5)],
        ['d', param.date('2024-01-02')],
        ['p', param.point(4326, 1, 2, 0)],
        ['i', param.int(-1)],
      ],
      timestampMs: 1700000000000n,
    };
    const expected = [
      '0805', // 1: sequence varint 5
      '1209 52455455524e202461', // 2: query "RETURN $a"
      // 3: MapEntry{key "a", value GraphValue{int_value(3) varint 300}}
      '1a08 0a0161 1203 18ac02',
      // 3: MapEntry{key "n", value GraphValue{null_value(1) = empty message}}
      '1a07 0a016e 1202 0a00',
      // 3: MapEntry{key "f", value GraphValue{float_value(4) fixed64 1.5}}
      '1a0e 0a0166 1209 21000000000000f83f',
      // 3: MapEntry{key "d", value GraphValue{temporal_value(9){kind DATE=1, iso}}}
      '1a15 0a0164 1210 4a0e 0801 120a 323032342d30312d3032',
      // 3: MapEntry{key "p", value GraphValue{point_value(10){srid 4326, x 1, y 2, z 0 (explicit)}}}
      '1a25 0a0170 1220 521e 08e621 11000000000000f03f 190000000000000040 210000000000000000',
      // 3: MapEntry{key "i", value GraphValue{int_value -1 = ten-byte varint}}
      '1a10 0a0169 120b 18ffffffffffffffffff01',
      '2080d095ffbc31', // 4: timestamp_ms varint 1700000000000
    ].join('');
    const bytes = encodePayload(payload);
    expect(hex(bytes)).toBe(expected.replace(/\s+/g, ''));
    expect(decodePayload(bytes)).toEqual(payload);
  });

  it('omits proto3 default scalars', () => {
    expect(hex(encodePayload({ sequence: 0n, query: '', params: [], timestampMs: 0n }))).toBe('');
  });

  it('decodes an unset value and a missing map value as null, TEMPORAL_UNSPECIFIED as string', () => {
    // params: MapEntry{key "x"} (no value), MapEntry{key "y", value GraphValue{}} (no oneof),
    // MapEntry{key "z", value GraphValue{temporal_value{kind 0, iso "t"}}}
    const bytes = fromHex('1a03 0a0178  1a05 0a0179 1200  1a0a 0a017a 1205 4a03 120174');
    const p = decodePayload(bytes);
    expect(p.params).toEqual([
      ['x', param.null()],
      ['y', param.null()],
      ['z', param.string('t')],
    ]);
  });

  it('rejects bytes that are not a JournalEntry with a typed error', () => {
    let err: unknown;
    try {
      decodePayload(fromHex('12ff'));
    } catch (e) {
      err = e;
    }
    expect(isGraphstreamError(err, 'HADB_GRAPHSTREAM_INVALID_PAYLOAD')).toBe(true);
  });
});

describe('plain JavaScript conversion', () => {
  it('maps JS values to parameter types and back', () => {
    expect(toParamValue(7)).toEqual(param.int(7));
    expect(toParamValue(7.5)).toEqual(param.float(7.5));
    expect(toParamValue(2n ** 40n)).toEqual(param.int(2n ** 40n));
    expect(toParamValue(undefined)).toEqual(param.null());
    expect(toParamValue({ a: [1, 'x'] })).toEqual(param.map([['a', param.list([param.int(1), param.string('x')])]]));
    expect(fromParamValue(param.map([['a', param.point(1, 2, 3)]]))).toEqual({ a: { srid: 1, x: 2, y: 3 } });
    expect(() => toParamValue(() => 1)).toThrow(TypeError);
    expect(() => param.int(1n << 63n)).toThrow(RangeError);
  });
});
