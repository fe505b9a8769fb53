import { systemClock } from '@hadb/io';
import { ChangesetError } from '../errors.js';
import { assertBytes, assertI64, assertU64, assertU8 } from '../validate.js';
import { HADBJ_HEADER_SIZE, HADBJ_MAGIC, HADBJ_VERSION } from './constants.js';
import type { JournalHeader } from './types.js';

/** Encodes the 128-byte header (reserved bytes zero). */
export function encodeJournalHeader(header: JournalHeader): Uint8Array {
  const out = new Uint8Array(HADBJ_HEADER_SIZE);
  writeJournalHeader(out, header);
  return out;
}

/** Writes the 128-byte header at `out[0..128]`. */
export function writeJournalHeader(out: Uint8Array, header: JournalHeader): void {
  assertU8('flags', header.flags);
  assertU8('compression', header.compression);
  assertU64('firstSeq', header.firstSeq);
  assertU64('lastSeq', header.lastSeq);
  assertU64('entryCount', header.entryCount);
  assertU64('bodyLen', header.bodyLen);
  assertBytes('bodyChecksum', header.bodyChecksum);
  if (header.bodyChecksum.length !== 32) throw ChangesetError.invalidArgument('bodyChecksum must be 32 bytes');
  assertU64('prevSegmentChecksum', header.prevSegmentChecksum);
  assertI64('createdMs', header.createdMs);
  const view = new DataView(out.buffer, out.byteOffset, HADBJ_HEADER_SIZE);
  out.fill(0, 0, HADBJ_HEADER_SIZE);
  out.set(HADBJ_MAGIC, 0);
  out[5] = HADBJ_VERSION;
  out[6] = header.flags;
  out[7] = header.compression;
  view.setBigUint64(12, header.firstSeq, false);
  view.setBigUint64(20, header.lastSeq, false);
  view.setBigUint64(28, header.entryCount, false);
  view.setBigUint64(36, header.bodyLen, false);
  out.set(header.bodyChecksum, 44);
  view.setBigUint64(76, header.prevSegmentChecksum, false);
  view.setBigInt64(84, header.createdMs, false);
}

/**
 * Decodes a header: `TRUNCATED` below 128 bytes, then `INVALID_MAGIC`, then
 * `UNSUPPORTED_VERSION`. Flags are not interpreted here. `bodyChecksum` is a copy.
 */
export function decodeJournalHeader(data: Uint8Array): JournalHeader {
  if (!(data instanceof Uint8Array)) throw ChangesetError.invalidArgument('data must be a Uint8Array');
  if (data.length < HADBJ_HEADER_SIZE) throw ChangesetError.truncated(HADBJ_HEADER_SIZE, data.length);
  for (let i = 0; i < 5; i++) if (data[i] !== HADBJ_MAGIC[i]) throw ChangesetError.invalidMagic();
  if (data[5] !== HADBJ_VERSION) throw ChangesetError.unsupportedVersion(data[5] as number);
  const view = new DataView(data.buffer, data.byteOffset, HADBJ_HEADER_SIZE);
  return {
    flags: data[6] as number,
    compression: data[7] as number,
    firstSeq: view.getBigUint64(12, false),
    lastSeq: view.getBigUint64(20, false),
    entryCount: view.getBigUint64(28, false),
    bodyLen: view.getBigUint64(36, false),
    bodyChecksum: data.slice(44, 76),
    prevSegmentChecksum: view.getBigUint64(76, false),
    createdMs: view.getBigInt64(84, false),
  };
}

/** Fields of a live (unsealed) segment header. */
export interface UnsealedHeaderInit {
  readonly firstSeq: bigint;
  /** Default: the wall clock (`systemClock.wallMs()` of `@hadb/io`); pass it from your own `Clock` to control it. */
  readonly createdMs?: bigint | undefined;
}

/**
 * The header a writer puts at the start of a live segment file: flags 0, `first_seq` and
 * `created_ms` set, everything else zero. Entries are then appended after byte 128.
 */
export function encodeUnsealedHeader(init: UnsealedHeaderInit): Uint8Array {
  return encodeJournalHeader({
    flags: 0,
    compression: 0,
    firstSeq: init.firstSeq,
    lastSeq: 0n,
    entryCount: 0n,
    bodyLen: 0n,
    bodyChecksum: new Uint8Array(32),
    prevSegmentChecksum: 0n,
    createdMs: init.createdMs ?? BigInt(systemClock.wallMs()),
  });
}
