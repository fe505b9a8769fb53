import type { OpOptions } from '@hadb/io';
/**
 * The `.hadbj` primitives graphstream uses, all delegated to `@hadb/changeset` (the one
 * implementation of the format). This module only adapts shapes: entries carry their chain hash,
 * and entry scanning can stop at a torn tail instead of throwing.
 */
import { createHash } from 'node:crypto';
import {
  CHAIN_HASH_TRAILER_SIZE,
  ChangesetError,
  DEFAULT_MAX_JOURNAL_BODY_BYTES,
  ENTRY_HEADER_SIZE as CHANGESET_ENTRY_HEADER_SIZE,
  FLAG_COMPRESSED as CHANGESET_FLAG_COMPRESSED,
  FLAG_HAS_CHAIN_HASH as CHANGESET_FLAG_HAS_CHAIN_HASH,
  FLAG_SEALED as CHANGESET_FLAG_SEALED,
  HADBJ_HEADER_SIZE,
  type JournalHeader as ChangesetJournalHeader,
  ZERO_HASH as CHANGESET_ZERO_HASH,
  decodeEntry,
  decodeJournal,
  decodeJournalHeader,
  encodeEntry,
  encodeJournalCompressed,
  encodeUnsealedHeader as changesetEncodeUnsealedHeader,
  entryHash,
  hashToU64 as changesetHashToU64,
  readLiveJournal,
  sealJournal,
  zstdDecompressStream,
} from '@hadb/changeset';
import { GraphstreamError } from './errors.js';

export const HEADER_SIZE: number = HADBJ_HEADER_SIZE;
export const ENTRY_HEADER_SIZE: number = CHANGESET_ENTRY_HEADER_SIZE;
export const TRAILER_SIZE: number = CHAIN_HASH_TRAILER_SIZE;
export const FLAG_COMPRESSED: number = CHANGESET_FLAG_COMPRESSED;
export const FLAG_SEALED: number = CHANGESET_FLAG_SEALED;
export const FLAG_HAS_CHAIN_HASH: number = CHANGESET_FLAG_HAS_CHAIN_HASH;
/** The `prev_hash` of the very first entry of a journal. */
export const ZERO_HASH: Uint8Array = CHANGESET_ZERO_HASH;

export type JournalHeader = ChangesetJournalHeader;

/** One decoded entry with its own chain hash. */
export interface JournalEntry {
  readonly seq: bigint;
  readonly prevHash: Uint8Array;
  readonly payload: Uint8Array;
  /** SHA-256(prevHash || payload): the next entry's `prevHash`. */
  readonly hash: Uint8Array;
}

/** Parses a 128-byte `.hadbj` header (sealed or not). Throws `ChangesetError`. */
export function decodeHeader(bytes: Uint8Array): JournalHeader {
  return decodeJournalHeader(bytes);
}

/** The unsealed header a live segment starts with. */
export function encodeUnsealedHeader(firstSeq: bigint, createdMs: bigint): Uint8Array {
  return changesetEncodeUnsealedHeader({ firstSeq, createdMs });
}

/** `SHA-256(prevHash || payload)`. */
export function hashEntry(prevHash: Uint8Array, payload: Uint8Array): Uint8Array {
  return entryHash(prevHash, payload);
}

/** First 8 bytes of a chain hash as u64 (`prev_segment_checksum`). */
export function hashToU64(hash: Uint8Array): bigint {
  return changesetHashToU64(hash);
}

/** Encodes one entry (48-byte fixed part with CRC-32C, then the payload). */
export function encodeEntryBytes(seq: bigint, prevHash: Uint8Array, payload: Uint8Array): Uint8Array {
  return encodeEntry({ sequence: seq, prevHash, payload });
}

/** Options of {@link readEntries}. */
export interface ReadEntriesOptions {
  /** Expected sequence of the first entry. */
  readonly firstSeq?: bigint;
  /** Expected `prev_hash` of the first entry. */
  readonly prevHash?: Uint8Array;
  /**
   * Stop quietly at the first entry that is cut short or fails its CRC (a live file's torn tail)
   * instead of throwing. A CRC-valid entry with the wrong sequence or `prev_hash` always throws.
   */
  readonly stopAtInvalid?: boolean;
}

function sameHash(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Parses raw entries from `offset` to the end of `bytes`, checking CRCs, chain linkage and
 * sequence contiguity. Returns the entries and the offset after the last valid one.
 */
export function readEntries(
  bytes: Uint8Array,
  offset: number,
  options: ReadEntriesOptions = {},
): { entries: JournalEntry[]; end: number } {
  const entries: JournalEntry[] = [];
  let pos = offset;
  let expectedSeq = options.firstSeq;
  let expectedPrev = options.prevHash;
  while (pos < bytes.length) {
    let decoded;
    try {
      decoded = decodeEntry(bytes, pos);
    } catch (cause) {
      if (options.stopAtInvalid === true) break;
      throw new GraphstreamError('HADB_GRAPHSTREAM_CORRUPT', 'invalid journal entry', { cause });
    }
    const { entry, consumed: size } = decoded;
    const bad =
      (expectedSeq !== undefined && entry.sequence !== expectedSeq) ||
      (expectedPrev !== undefined && !sameHash(entry.prevHash, expectedPrev));
    if (bad) {
      // A CRC-valid entry that does not link is damage or divergence, never a torn write.
      throw new GraphstreamError('HADB_GRAPHSTREAM_CHAIN_MISMATCH', `chain hash mismatch at seq ${entry.sequence}`, {
        seq: entry.sequence,
      });
    }
    const hash = entryHash(entry.prevHash, entry.payload);
    entries.push({ seq: entry.sequence, prevHash: entry.prevHash, payload: entry.payload, hash });
    expectedSeq = entry.sequence + 1n;
    expectedPrev = hash;
    pos += size;
  }
  return { entries, end: pos };
}

/** Seals entries into a zstd-compressed segment (flags 0x0d) and returns its bytes and chain hash. */
export async function sealSegmentBytes(
  entries: readonly JournalEntry[],
  prevSegmentChecksum: bigint,
  createdMs: bigint,
  zstdLevel: number,
): Promise<{ bytes: Uint8Array; chainHash: Uint8Array }> {
  const seg = sealJournal(
    entries.map((e) => ({ sequence: e.seq, prevHash: e.prevHash, payload: e.payload })),
    prevSegmentChecksum,
    { createdMs },
  );
  const bytes = await encodeJournalCompressed(seg, zstdLevel);
  return { bytes, chainHash: seg.chainHash };
}

/** A decoded, verified sealed segment. */
export interface DecodedSegment {
  readonly header: JournalHeader;
  /** At least one entry, contiguous from `header.firstSeq` to `header.lastSeq`. */
  readonly entries: JournalEntry[];
  readonly chainHash: Uint8Array;
}

/**
 * Fully decodes and verifies a sealed segment (checksum, CRCs, chain, trailer — by
 * `@hadb/changeset`), then what the format decoder leaves to its users: at least one entry,
 * contiguous sequences, and header `first_seq`/`last_seq`/`entry_count` equal to the entries'.
 * Throws `ChangesetError` or `HADB_GRAPHSTREAM_INVALID_SEGMENT`.
 */
export function decodeSealed(bytes: Uint8Array, maxBodyBytes?: number): DecodedSegment {
  const seg = decodeJournal(bytes, { maxOutputBytes: maxBodyBytes });
  // decodeJournal verified the chain, so entry i's hash is entry i+1's prev_hash (the trailer for the last).
  const entries = seg.entries.map((e, i) => ({
    seq: e.sequence,
    prevHash: e.prevHash,
    payload: e.payload,
    hash: seg.entries[i + 1]?.prevHash ?? seg.chainHash,
  }));
  const first = entries[0];
  const last = entries[entries.length - 1];
  if (first === undefined || last === undefined) {
    throw new GraphstreamError('HADB_GRAPHSTREAM_INVALID_SEGMENT', 'sealed segment has no entries');
  }
  if (
    seg.header.firstSeq !== first.seq ||
    seg.header.lastSeq !== last.seq ||
    seg.header.entryCount !== BigInt(entries.length)
  ) {
    throw new GraphstreamError('HADB_GRAPHSTREAM_INVALID_SEGMENT', 'segment header does not match its entries', {
      seq: first.seq,
    });
  }
  for (let i = 1; i < entries.length; i++) {
    if (entries[i]!.seq !== entries[i - 1]!.seq + 1n) {
      throw new GraphstreamError(
        'HADB_GRAPHSTREAM_INVALID_SEGMENT',
        `segment sequences are not contiguous at ${entries[i]!.seq}`,
        {
          seq: entries[i]!.seq,
        },
      );
    }
  }
  return { header: seg.header, entries, chainHash: seg.chainHash };
}

export { ChangesetError };

/** What {@link verifySegmentStream} learned about a segment it verified end to end. */
export interface SegmentSummary {
  readonly header: JournalHeader;
  readonly entryCount: number;
  /** Hash of the last entry (equal to the trailer). */
  readonly chainHash: Uint8Array;
  /** `prev_hash` of the first entry. */
  readonly firstPrevHash: Uint8Array;
  /** Bytes consumed (header + body + trailer). */
  readonly bytes: number;
}

/** Options of {@link verifySegmentStream}. */
export interface VerifySegmentStreamOptions extends OpOptions {
  /**
   * Called for each entry, in order, after its CRC and its link to the previous entry were
   * checked; may be async (it is awaited, which bounds memory). Throwing aborts verification.
   * The segment-wide checks (body checksum, count, trailer) complete only after the last entry.
   */
  readonly onEntry?: (entry: {
    readonly seq: bigint;
    readonly prevHash: Uint8Array;
    readonly payload: Uint8Array;
  }) => unknown;
  /**
   * Cap on the segment's decoded body (default 64 MiB, `DEFAULT_MAX_JOURNAL_BODY_BYTES` of
   * `@hadb/changeset`). A body that is, or inflates to, more — a decompression bomb — is refused
   * before the bytes past the cap are produced or any entry past it reaches `onEntry`.
   */
  readonly maxBodyBytes?: number | undefined;
}

function invalid(message: string, cause?: unknown): GraphstreamError {
  return new GraphstreamError('HADB_GRAPHSTREAM_INVALID_SEGMENT', message, cause === undefined ? {} : { cause });
}

/** Pulls exact byte counts from an async chunk iterator. */
class Pull {
  readonly #it: AsyncIterator<Uint8Array>;
  #buf: Uint8Array = new Uint8Array(0);
  #done = false;
  consumed = 0;
  constructor(source: AsyncIterable<Uint8Array>) {
    this.#it = source[Symbol.asyncIterator]();
  }
  async #more(): Promise<boolean> {
    if (this.#done) return false;
    const r = await this.#it.next();
    if (r.done === true) {
      this.#done = true;
      return false;
    }
    this.#buf = this.#buf.length === 0 ? r.value : Buffer.concat([this.#buf, r.value]);
    return true;
  }
  /** Exactly `n` bytes, or fewer at the end of the source. */
  async exact(n: number): Promise<Uint8Array> {
    while (this.#buf.length < n && (await this.#more()));
    const out = this.#buf.subarray(0, Math.min(n, this.#buf.length));
    this.#buf = this.#buf.subarray(out.length);
    this.consumed += out.length;
    return out;
  }
  /** Up to `max` bytes as they arrive (empty at the end). */
  async some(max: number): Promise<Uint8Array> {
    if (this.#buf.length === 0 && !(await this.#more())) return new Uint8Array(0);
    const out = this.#buf.subarray(0, Math.min(max, this.#buf.length));
    this.#buf = this.#buf.subarray(out.length);
    this.consumed += out.length;
    return out;
  }
  async return(): Promise<void> {
    await this.#it.return?.();
  }
}

/**
 * Verifies a sealed segment read as a stream, with bounded memory: header, SHA-256 of the stored
 * body, streaming zstd decompression, every entry's CRC and chain link (through
 * `@hadb/changeset`'s streaming entry reader), contiguous sequences, header `first_seq` /
 * `last_seq` / `entry_count` against the entries, the chain-hash trailer, and no trailing bytes.
 * Throws `HADB_GRAPHSTREAM_INVALID_SEGMENT` (cause: the `ChangesetError`), or whatever `onEntry`
 * throws.
 */
export async function verifySegmentStream(
  source: AsyncIterable<Uint8Array>,
  options: VerifySegmentStreamOptions = {},
): Promise<SegmentSummary> {
  const pull = new Pull(source);
  try {
    const headBytes = await pull.exact(HEADER_SIZE);
    let header: JournalHeader;
    try {
      header = decodeJournalHeader(headBytes);
    } catch (cause) {
      throw invalid('segment header is invalid', cause);
    }
    if ((header.flags & FLAG_SEALED) === 0) throw invalid('segment is not sealed');
    if ((header.flags & FLAG_HAS_CHAIN_HASH) === 0) throw invalid('segment has no chain-hash trailer');
    if ((header.compression === 1) !== ((header.flags & FLAG_COMPRESSED) !== 0) || header.compression > 1) {
      throw invalid('segment compression byte disagrees with its flags');
    }
    if (header.entryCount === 0n || header.lastSeq < header.firstSeq)
      throw invalid('segment header counts are inconsistent');
    const bodyLen = Number(header.bodyLen);
    if (!Number.isSafeInteger(bodyLen)) throw invalid('segment body length is out of range');
    const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_JOURNAL_BODY_BYTES;
    const limit = (what: string): GraphstreamError =>
      invalid(
        `segment ${what} exceeds the limit of ${maxBody} bytes`,
        new ChangesetError('HADB_CHANGESET_LIMIT_EXCEEDED', `journal segment ${what} exceeds ${maxBody} bytes`),
      );
    if (header.entryCount * BigInt(ENTRY_HEADER_SIZE) > BigInt(maxBody))
      throw limit(`entry count ${header.entryCount}`);
    if ((header.flags & FLAG_COMPRESSED) === 0 && bodyLen > maxBody) throw limit('body');
    const sha = createHash('sha256');
    let remaining = bodyLen;
    async function* body(): AsyncGenerator<Uint8Array> {
      while (remaining > 0) {
        const chunk = await pull.some(Math.min(remaining, 1 << 20));
        if (chunk.length === 0) throw invalid(`segment body truncated: ${remaining} bytes missing`);
        remaining -= chunk.length;
        sha.update(chunk);
        yield chunk;
      }
    }
    const raw =
      (header.flags & FLAG_COMPRESSED) !== 0
        ? zstdDecompressStream(body(), { signal: options.signal, maxOutputBytes: maxBody })
        : body();
    async function* asLive(): AsyncGenerator<Uint8Array> {
      yield changesetEncodeUnsealedHeader({ firstSeq: header.firstSeq, createdMs: header.createdMs });
      yield* raw;
    }
    const reader = readLiveJournal(asLive(), { signal: options.signal, maxPayloadBytes: maxBody });
    let count = 0;
    let expectedSeq = header.firstSeq;
    let firstPrevHash: Uint8Array | undefined;
    try {
      for await (const entry of reader) {
        if (entry.sequence !== expectedSeq) {
          throw invalid(`segment sequence ${entry.sequence} where ${expectedSeq} was expected`);
        }
        if (BigInt(count) >= header.entryCount || entry.sequence > header.lastSeq) {
          throw invalid('segment holds more entries than its header declares');
        }
        firstPrevHash ??= Uint8Array.from(entry.prevHash);
        count++;
        expectedSeq++;
        await options.onEntry?.({ seq: entry.sequence, prevHash: entry.prevHash, payload: entry.payload });
      }
    } catch (cause) {
      if (cause instanceof GraphstreamError) throw cause;
      if (cause instanceof ChangesetError) throw invalid('segment entries failed verification', cause);
      throw cause;
    } finally {
      await reader.close();
    }
    const end = reader.end;
    if (end === undefined || end.torn) throw invalid('segment body ends inside an entry');
    if (remaining !== 0) throw invalid('segment body was not fully consumed');
    const digest = sha.digest();
    if (Buffer.compare(digest, header.bodyChecksum) !== 0) throw invalid('segment body checksum mismatch');
    if (BigInt(count) !== header.entryCount || expectedSeq - 1n !== header.lastSeq) {
      throw invalid('segment header counts do not match its entries');
    }
    const trailer = await pull.exact(TRAILER_SIZE);
    if (trailer.length !== TRAILER_SIZE) throw invalid('segment chain-hash trailer is truncated');
    if (Buffer.compare(trailer, end.chainHash) !== 0) throw invalid('segment chain-hash trailer mismatch');
    if ((await pull.some(1)).length !== 0) throw invalid('trailing bytes after the segment trailer');
    return {
      header,
      entryCount: count,
      chainHash: Uint8Array.from(trailer),
      firstPrevHash: firstPrevHash ?? ZERO_HASH,
      bytes: pull.consumed,
    };
  } finally {
    await pull.return();
  }
}
