import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { GraphstreamError } from './errors.js';
import {
  type GraphValue,
  GraphValueSchema,
  JournalEntrySchema,
  ListValueSchema,
  type MapEntry,
  MapEntrySchema,
  MapValueSchema,
  NullValueSchema,
  PointValueSchema,
  type TemporalKind,
  TemporalValueSchema,
} from './gen/graphd_pb.js';
import { type ParamEntry, type ParamValue, TEMPORAL_TYPES, type TemporalType } from './params.js';

/** The decoded payload of one journal entry: a query, its parameters and when it was written. */
export interface JournalPayload {
  /** Journal sequence of the entry (the writer stamps it; 1-based). */
  readonly sequence: bigint;
  /** The statement to replay, e.g. a Cypher `CREATE`. */
  readonly query: string;
  /** Named parameters in their original order. */
  readonly params: readonly ParamEntry[];
  /** Wall-clock time of the write, ms since the Unix epoch. */
  readonly timestampMs: bigint;
}

const UINT32_MAX = 0xffff_ffff;

function toGraphValue(value: ParamValue): GraphValue {
  const v = ((): GraphValue['value'] => {
    switch (value.type) {
      case 'null':
        return { case: 'nullValue', value: create(NullValueSchema) };
      case 'bool':
        return { case: 'boolValue', value: value.value };
      case 'int':
        return { case: 'intValue', value: value.value };
      case 'float':
        return { case: 'floatValue', value: value.value };
      case 'string':
        return { case: 'stringValue', value: value.value };
      case 'bytes':
        return { case: 'bytesValue', value: value.value };
      case 'list':
        return { case: 'listValue', value: create(ListValueSchema, { values: value.value.map(toGraphValue) }) };
      case 'map':
        return { case: 'mapValue', value: create(MapValueSchema, { entries: value.value.map(toMapEntry) }) };
      case 'point':
        if (!Number.isInteger(value.srid) || value.srid < 0 || value.srid > UINT32_MAX) {
          throw new GraphstreamError(
            'HADB_GRAPHSTREAM_INVALID_ARGUMENT',
            'point srid must be an unsigned 32-bit integer',
          );
        }
        return {
          case: 'pointValue',
          value: create(
            PointValueSchema,
            value.z === undefined
              ? { srid: value.srid, x: value.x, y: value.y }
              : { srid: value.srid, x: value.x, y: value.y, z: value.z },
          ),
        };
      default: {
        const index = TEMPORAL_TYPES.indexOf(value.type);
        if (index < 0) {
          throw new GraphstreamError('HADB_GRAPHSTREAM_INVALID_ARGUMENT', 'unknown parameter type');
        }
        return {
          case: 'temporalValue',
          value: create(TemporalValueSchema, { kind: (index + 1) as TemporalKind, iso: value.value }),
        };
      }
    }
  })();
  return create(GraphValueSchema, { value: v });
}

function toMapEntry([key, value]: ParamEntry): MapEntry {
  return create(MapEntrySchema, { key, value: toGraphValue(value) });
}

function fromGraphValue(g: GraphValue | undefined): ParamValue {
  const v = g?.value;
  switch (v?.case) {
    case undefined:
    case 'nullValue':
      return { type: 'null' };
    case 'boolValue':
      return { type: 'bool', value: v.value };
    case 'intValue':
      return { type: 'int', value: v.value };
    case 'floatValue':
      return { type: 'float', value: v.value };
    case 'stringValue':
      return { type: 'string', value: v.value };
    case 'bytesValue':
      return { type: 'bytes', value: v.value };
    case 'listValue':
      return { type: 'list', value: v.value.values.map(fromGraphValue) };
    case 'mapValue':
      return { type: 'map', value: v.value.entries.map(fromMapEntry) };
    case 'temporalValue': {
      // TEMPORAL_UNSPECIFIED (and kinds newer than this schema) decode as a plain string.
      const type: TemporalType | undefined = TEMPORAL_TYPES[v.value.kind - 1];
      return type === undefined || v.value.kind <= 0
        ? { type: 'string', value: v.value.iso }
        : { type, value: v.value.iso };
    }
    case 'pointValue': {
      const p = v.value;
      return p.z === undefined
        ? { type: 'point', srid: p.srid, x: p.x, y: p.y }
        : { type: 'point', srid: p.srid, x: p.x, y: p.y, z: p.z };
    }
  }
}

function fromMapEntry(e: MapEntry): ParamEntry {
  return [e.key, fromGraphValue(e.value)];
}

/** Encodes a payload as protobuf `graphd.JournalEntry` bytes (wire-compatible with graphstream). */
export function encodePayload(payload: JournalPayload): Uint8Array {
  return toBinary(
    JournalEntrySchema,
    create(JournalEntrySchema, {
      sequence: payload.sequence,
      query: payload.query,
      params: payload.params.map(toMapEntry),
      timestampMs: payload.timestampMs,
    }),
  );
}

/**
 * Decodes protobuf `graphd.JournalEntry` bytes. An unset value decodes as null and
 * `TEMPORAL_UNSPECIFIED` as a string, as in graphstream. Throws `HADB_GRAPHSTREAM_INVALID_PAYLOAD`
 * for bytes that are not valid protobuf for the schema.
 */
export function decodePayload(bytes: Uint8Array): JournalPayload {
  let msg;
  try {
    msg = fromBinary(JournalEntrySchema, bytes);
  } catch (cause) {
    throw new GraphstreamError(
      'HADB_GRAPHSTREAM_INVALID_PAYLOAD',
      'journal entry payload is not a valid graphd.JournalEntry',
      { cause },
    );
  }
  return {
    sequence: msg.sequence,
    query: msg.query,
    params: msg.params.map(fromMapEntry),
    timestampMs: msg.timestampMs,
  };
}
