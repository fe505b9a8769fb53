import { systemClock, type OpOptions } from '@hadb/io';
import { createHash } from 'node:crypto';
import { ChangesetError } from '../errors.js';
import { allocOutput } from '../physical.js';
import { assertBytes, assertI64, assertU64 } from '../validate.js';
import { zstdCompress, zstdDecompress, type ZstdDecompressOptions } from '../zstd.js';
import {
  CHAIN_HASH_TRAILER_SIZE,
  COMPRESSION_NONE,
  DEFAULT_MAX_JOURNAL_BODY_BYTES,
  ENTRY_HEADER_SIZE,
  COMPRESSION_ZSTD,
  FLAG_COMPRESSED,
  FLAG_HAS_CHAIN_HASH,
  FLAG_SEALED,
  HADBJ_HEADER_SIZE,
} from './constants.js';
import { decodeEntry, encodedEntrySize, entryHash, hashToU64, writeEntry } from './entry.js';
import { decodeJournalHeader, writeJournalHeader } from './header.js';
import type { JournalEntry, JournalHeader, JournalSegment } from './types.js';

function sha256(data: Uint8Array): Uint8Array {
  const d = createHash('sha256').update(data).digest();
  return new Uint8Array(d.buffer, d.byteOffset, 32);
}

function encodeBody(entries: readonly JournalEntry[]): Uint8Array {
  let size = 0;
  for (const entry of entries) {
    assertBytes('entry.payload', entry?.payload);
    size += encodedEntrySize(entry);
  }
  const body = allocOutput(size);
  let pos = 0;
  for (const entry of entries) pos = writeEntry(body, pos, entry);
  return body;
}

/** Options of {@link sealJournal}. */
export interface SealOptions {
  /** Default: the wall clock (`systemClock.wallMs()` of `@hadb/io`); pass it from your own `Clock` to control it. */
  readonly createdMs?: bigint | undefined;
}

/**
 * Seals entries into a segment: first/last seq from the first/last entry, `entry_count`,
 * `body_len` and SHA-256 `body_checksum` of the encoded entries, `chain_hash` = hash of the last
 * entry, flags `SEALED | HAS_CHAIN_HASH` (0x0c), no compression. Like Rust, it does not check
 * the entries' linkage or sequence order. No entries: `HADB_CHANGESET_EMPTY_SEGMENT`.
 */
export function sealJournal(
  entries: readonly JournalEntry[],
  prevSegmentChecksum: bigint,
  options: SealOptions = {},
): JournalSegment {
  if (!Array.isArray(entries) || entries.length === 0) {
    throw new ChangesetError('HADB_CHANGESET_EMPTY_SEGMENT', 'cannot seal an empty journal segment');
  }
  assertU64('prevSegmentChecksum', prevSegmentChecksum);
  const createdMs = assertI64('createdMs', options.createdMs ?? BigInt(systemClock.wallMs()));
  const body = encodeBody(entries);
  const first = entries[0] as JournalEntry;
  const last = entries[entries.length - 1] as JournalEntry;
  const header: JournalHeader = {
    flags: FLAG_SEALED | FLAG_HAS_CHAIN_HASH,
    compression: COMPRESSION_NONE,
    firstSeq: first.sequence,
    lastSeq: last.sequence,
    entryCount: BigInt(entries.length),
    bodyLen: BigInt(body.length),
    bodyChecksum: sha256(body),
    prevSegmentChecksum,
    createdMs,
  };
  return { header, entries: [...entries], chainHash: entryHash(last.prevHash, last.payload) };
}

function assemble(header: JournalHeader, body: Uint8Array, chainHash: Uint8Array): Uint8Array {
  assertBytes('chainHash', chainHash);
  if (chainHash.length !== CHAIN_HASH_TRAILER_SIZE) throw ChangesetError.invalidArgument('chainHash must be 32 bytes');
  const out = allocOutput(HADBJ_HEADER_SIZE + body.length + CHAIN_HASH_TRAILER_SIZE);
  writeJournalHeader(out, header);
  out.set(body, HADBJ_HEADER_SIZE);
  out.set(chainHash, HADBJ_HEADER_SIZE + body.length);
  return out;
}

/**
 * Encodes a sealed segment uncompressed: header (as stored in `seg.header`) || entries ||
 * chain hash. As in Rust the header is written verbatim, so a hand-edited segment encodes to
 * bytes that `decodeJournal` rejects.
 */
export function encodeJournal(seg: JournalSegment): Uint8Array {
  return assemble(seg.header, encodeBody(seg.entries), seg.chainHash);
}

/**
 * Encodes a sealed segment with a zstd body (one standard frame): flags gain
 * `FLAG_COMPRESSED` (0x0d), compression byte 1, and `body_len` / `body_checksum` describe the
 * compressed bytes. graphstream uses level 3. Compressed bytes depend on the zstd build; any
 * standard decoder reads them.
 */
export async function encodeJournalCompressed(
  seg: JournalSegment,
  level = 3,
  options: OpOptions = {},
): Promise<Uint8Array> {
  const compressed = await zstdCompress(encodeBody(seg.entries), { level, signal: options.signal });
  const header: JournalHeader = {
    ...seg.header,
    flags: seg.header.flags | FLAG_COMPRESSED,
    compression: COMPRESSION_ZSTD,
    bodyLen: BigInt(compressed.length),
    bodyChecksum: sha256(compressed),
  };
  return assemble(header, compressed, seg.chainHash);
}

/**
 * Options of {@link decodeJournal}: limits for the body. `maxOutputBytes` caps the decoded body
 * (compressed or not; default {@link DEFAULT_MAX_JOURNAL_BODY_BYTES}), `maxWindowBytes` the zstd
 * window.
 */
export type DecodeJournalOptions = Omit<ZstdDecompressOptions, 'signal'>;

function bodyLimitExceeded(what: string, max: number): ChangesetError {
  return new ChangesetError(
    'HADB_CHANGESET_LIMIT_EXCEEDED',
    `journal segment ${what} exceeds the limit of ${max} bytes`,
  );
}

function u64(hash: Uint8Array): bigint {
  return hashToU64(hash);
}

function equal32(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 32; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Decodes and verifies a sealed segment, in Rust's order: header (`TRUNCATED`, `INVALID_MAGIC`,
 * `UNSUPPORTED_VERSION`), not sealed → `INVALID_FLAGS`, body past the end → `TRUNCATED`,
 * SHA-256 of the stored body → `CHECKSUM_MISMATCH` (first 8 bytes of each), zstd body → `IO`
 * (or `LIMIT_EXCEEDED`), each entry (`TRUNCATED`, CRC `CHECKSUM_MISMATCH`), entry count →
 * `TRUNCATED { needed: entry_count, available: parsed }`, chain linkage from the first entry's
 * own `prev_hash` → `CHAIN_BROKEN`, then the trailer if flagged (`TRUNCATED` /
 * `CHECKSUM_MISMATCH`). Not checked (as in Rust): bytes after the trailer, first/last seq against
 * the entries, sequence contiguity, `prev_segment_checksum`.
 *
 * Entries of an uncompressed body are views into `data`. Throws nothing but
 * {@link ChangesetError}. The decoded body is capped (`options.maxOutputBytes`, default
 * {@link DEFAULT_MAX_JOURNAL_BODY_BYTES}): a header whose entry count cannot fit, an
 * uncompressed body above the cap, a zstd frame declaring more, or a compressed body that
 * inflates past it is `HADB_CHANGESET_LIMIT_EXCEEDED`, raised before the memory is allocated.
 */
export function decodeJournal(data: Uint8Array, options: DecodeJournalOptions = {}): JournalSegment {
  const header = decodeJournalHeader(data);
  if ((header.flags & FLAG_SEALED) === 0) throw ChangesetError.invalidFlags(header.flags);
  const bodyEnd = BigInt(HADBJ_HEADER_SIZE) + header.bodyLen;
  if (bodyEnd > BigInt(data.length)) throw ChangesetError.truncated(bodyEnd, data.length);
  const end = Number(bodyEnd);
  const stored = data.subarray(HADBJ_HEADER_SIZE, end);
  const computed = sha256(stored);
  if (!equal32(computed, header.bodyChecksum)) {
    throw ChangesetError.checksumMismatch(u64(header.bodyChecksum), u64(computed));
  }
  // Bounded before anything is inflated: by the cap, and by what the header's entry count needs.
  const maxBody = options.maxOutputBytes ?? DEFAULT_MAX_JOURNAL_BODY_BYTES;
  if (header.entryCount * BigInt(ENTRY_HEADER_SIZE) > BigInt(maxBody)) {
    throw bodyLimitExceeded(`entry count ${header.entryCount}`, maxBody);
  }
  const compressed = (header.flags & FLAG_COMPRESSED) !== 0;
  if (!compressed && stored.length > maxBody) throw bodyLimitExceeded('body', maxBody);
  const raw = compressed ? zstdDecompress(stored, { ...options, maxOutputBytes: maxBody }) : stored;

  const entries: JournalEntry[] = [];
  for (let offset = 0; offset < raw.length; ) {
    if (BigInt(entries.length) >= header.entryCount) {
      throw ChangesetError.truncated(header.entryCount, entries.length + 1);
    }
    const { entry, consumed } = decodeEntry(raw, offset);
    entries.push(entry);
    offset += consumed;
  }
  if (BigInt(entries.length) !== header.entryCount) throw ChangesetError.truncated(header.entryCount, entries.length);

  let running: Uint8Array = entries.length > 0 ? (entries[0] as JournalEntry).prevHash : new Uint8Array(32);
  for (const entry of entries) {
    if (!equal32(entry.prevHash, running)) throw ChangesetError.chainBroken(u64(running), u64(entry.prevHash));
    running = entryHash(entry.prevHash, entry.payload);
  }

  let chainHash = running;
  if ((header.flags & FLAG_HAS_CHAIN_HASH) !== 0) {
    const trailerEnd = end + CHAIN_HASH_TRAILER_SIZE;
    if (trailerEnd > data.length) throw ChangesetError.truncated(trailerEnd, data.length);
    const trailer = data.subarray(end, trailerEnd);
    if (!equal32(trailer, running)) throw ChangesetError.checksumMismatch(u64(trailer), u64(running));
    chainHash = trailer.slice();
  } else if (entries.length > 0) {
    chainHash = running.slice();
  }
  return { header, entries, chainHash };
}
