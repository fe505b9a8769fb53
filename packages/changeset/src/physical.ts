import { systemClock } from '@hadb/io';
import { createHash } from 'node:crypto';
import { checksumOfSorted, comparePageIds, computeChecksum, sortPages } from './checksum.js';
import { ChangesetError } from './errors.js';
import { HashBatch, digestToU64 } from './hash-batch.js';
import type { PageEntry, PageIdSize, PhysicalChangeset, PhysicalHeader } from './types.js';
import {
  assertBytes,
  assertI64,
  assertPageIdFits,
  assertPageIdSize,
  assertU32,
  assertU64,
  assertU8,
} from './validate.js';

/** `HADBP` magic (5 bytes). */
export const HADBP_MAGIC: Uint8Array = Uint8Array.of(0x48, 0x41, 0x44, 0x42, 0x50);
/** The only `.hadbp` version this package reads and writes. */
export const HADBP_VERSION = 1;
/** Fixed header size in bytes. */
export const HADBP_HEADER_SIZE = 40;
/** Trailer (checksum) size in bytes. */
export const HADBP_TRAILER_SIZE = 8;
/** Smallest valid encoding: header plus trailer (an empty changeset). */
export const HADBP_MIN_SIZE = HADBP_HEADER_SIZE + HADBP_TRAILER_SIZE;

/** Options of {@link newPhysical}. */
export interface NewPhysicalOptions {
  /** Creation time in ms (i64). Default: `systemClock.wallMs()` of `@hadb/io`. Not covered by the checksum. */
  readonly createdMs?: bigint | undefined;
}

/**
 * Builds a changeset: checks every page id fits `pageIdSize` (else `HADB_CHANGESET_PAGE_ID_MISMATCH`,
 * Rust's panic), sorts the pages by id (stable: duplicates keep their order) and computes the
 * checksum chained from `prevChecksum`. Page data is not copied. `flags` is 0.
 */
export function newPhysical(
  seq: bigint,
  prevChecksum: bigint,
  pageIdSize: PageIdSize,
  pageSize: number,
  pages: readonly PageEntry[],
  options: NewPhysicalOptions = {},
): PhysicalChangeset {
  assertU64('seq', seq);
  assertU64('prevChecksum', prevChecksum);
  assertPageIdSize(pageIdSize);
  assertU32('pageSize', pageSize);
  if (!Array.isArray(pages)) throw ChangesetError.invalidArgument('pages must be an array');
  const list = pages as readonly PageEntry[];
  if (list.length > 0xffff_ffff) throw ChangesetError.invalidArgument('more than 2^32-1 pages');
  const ascendingChecksum = checkAndHashPages(prevChecksum, pageIdSize, list);
  const createdMs = options.createdMs ?? BigInt(systemClock.wallMs());
  assertI64('createdMs', createdMs);
  const sorted = ascendingChecksum === undefined ? list.slice().sort(comparePageIds) : list.slice();
  const header: PhysicalHeader = {
    flags: 0,
    pageIdSize,
    pageSize,
    seq,
    prevChecksum,
    pageCount: sorted.length,
    createdMs,
  };
  const checksum = ascendingChecksum ?? checksumOfSorted(prevChecksum, pageIdSize, sorted);
  return { header, pages: sorted, checksum };
}

/**
 * Checks every page (id fits `width`, data is bytes) in one pass that also hashes the pages while
 * their ids ascend, the common case. Returns the checksum, or `undefined` if the pages are not in
 * ascending order (they must then be sorted and hashed).
 */
function checkAndHashPages(prevChecksum: bigint, width: PageIdSize, pages: readonly PageEntry[]): bigint | undefined {
  const batch = new HashBatch();
  batch.addU64(prevChecksum);
  let ascending = true;
  let last = -1n;
  for (let i = 0; i < pages.length; i++) {
    const page = pages[i] as PageEntry;
    const pageId = assertPageIdFits(width, page?.pageId);
    const data = assertBytes('page data', page.data);
    if (pageId < last) ascending = false;
    last = pageId;
    if (ascending) {
      batch.addEntryHead(width, pageId, data.length);
      batch.add(data);
    }
  }
  return ascending ? digestToU64(batch.digest()) : undefined;
}

/**
 * Checks everything of `cs` but its pages before it is written: header fields, the checksum, and
 * `header.pageCount === pages.length`.
 */
export function checkEncodableHeader(cs: PhysicalChangeset): void {
  checkHeader(cs.header);
  assertU64('checksum', cs.checksum);
  if (cs.header.pageCount !== cs.pages.length) {
    throw ChangesetError.invalidArgument(
      `header.pageCount (${cs.header.pageCount}) does not match the number of pages (${cs.pages.length})`,
    );
  }
}

function checkHeader(header: PhysicalHeader): void {
  assertU8('flags', header.flags);
  assertPageIdSize(header.pageIdSize);
  assertU32('pageSize', header.pageSize);
  assertU64('seq', header.seq);
  assertU64('prevChecksum', header.prevChecksum);
  assertU32('pageCount', header.pageCount);
  assertI64('createdMs', header.createdMs);
}

/**
 * Reads the 40-byte header at the start of `h` (which must hold at least that many bytes):
 * magic (`INVALID_MAGIC`), version (`UNSUPPORTED_VERSION`), page id width
 * (`INVALID_PAGE_ID_SIZE`); with `expectedPrev`, also the chain link (`CHAIN_BROKEN`).
 */
export function readPhysicalHeader(h: Uint8Array, expectedPrev?: bigint): PhysicalHeader {
  for (let i = 0; i < 5; i++) if (h[i] !== HADBP_MAGIC[i]) throw ChangesetError.invalidMagic();
  const version = h[5] as number;
  if (version !== HADBP_VERSION) throw ChangesetError.unsupportedVersion(version);
  const width = h[7] as number;
  if (width !== 4 && width !== 8) throw ChangesetError.invalidPageIdSize(width);
  const view = new DataView(h.buffer, h.byteOffset, HADBP_HEADER_SIZE);
  const header: PhysicalHeader = {
    flags: h[6] as number,
    pageIdSize: width,
    pageSize: view.getUint32(8, false),
    seq: view.getBigUint64(12, false),
    prevChecksum: view.getBigUint64(20, false),
    pageCount: view.getUint32(28, false),
    createdMs: view.getBigInt64(32, false),
  };
  if (expectedPrev !== undefined && header.prevChecksum !== expectedPrev) {
    throw ChangesetError.chainBroken(expectedPrev, header.prevChecksum);
  }
  return header;
}

/** Writes the 40-byte header into `out` at 0. */
export function writePhysicalHeader(out: Uint8Array, header: PhysicalHeader): void {
  const view = new DataView(out.buffer, out.byteOffset, HADBP_HEADER_SIZE);
  out.set(HADBP_MAGIC, 0);
  out[5] = HADBP_VERSION;
  out[6] = header.flags;
  out[7] = header.pageIdSize;
  view.setUint32(8, header.pageSize, false);
  view.setBigUint64(12, header.seq, false);
  view.setBigUint64(20, header.prevChecksum, false);
  view.setUint32(28, header.pageCount, false);
  view.setBigInt64(32, header.createdMs, false);
}

/**
 * Size in bytes of `encodePhysical(cs)`, after checking `cs` can be encoded: `INVALID_ARGUMENT`
 * if `header.pageCount !== pages.length` or a field is out of range, `PAGE_ID_MISMATCH` if an
 * id does not fit the width.
 */
export function encodedPhysicalSize(cs: PhysicalChangeset): number {
  checkEncodableHeader(cs);
  const width = cs.header.pageIdSize;
  let size = HADBP_MIN_SIZE;
  for (const page of cs.pages) {
    assertPageIdFits(width, page?.pageId);
    assertBytes('page data', page.data);
    size += width + 4 + page.data.length;
  }
  return size;
}

function writeBody(cs: PhysicalChangeset, out: Uint8Array, start: number, size: number): void {
  const width = cs.header.pageIdSize;
  writePhysicalHeader(out.subarray(start, start + HADBP_HEADER_SIZE), cs.header);
  const view = new DataView(out.buffer, out.byteOffset + start, size);
  let pos = HADBP_HEADER_SIZE;
  for (const page of sortPages(cs.pages)) {
    if (width === 8) view.setBigUint64(pos, page.pageId, false);
    else view.setUint32(pos, Number(page.pageId), false);
    pos += width;
    view.setUint32(pos, page.data.length, false);
    pos += 4;
    out.set(page.data, start + pos);
    pos += page.data.length;
  }
  view.setBigUint64(pos, cs.checksum, false);
}

/**
 * Encodes a changeset: header, pages in ascending id order (stable), then `cs.checksum` as
 * stored (it is not recomputed, as in Rust: a hand-edited changeset encodes to bytes that
 * `decodePhysical` rejects). Errors as {@link encodedPhysicalSize}.
 */
export function encodePhysical(cs: PhysicalChangeset): Uint8Array {
  const size = encodedPhysicalSize(cs);
  const out = allocOutput(size);
  writeBody(cs, out, 0, size);
  return out;
}

/**
 * Encodes into a caller-owned buffer at `offset` (reuse one buffer across changesets to skip
 * allocating and faulting in fresh memory). Returns the number of bytes written; throws
 * `INVALID_ARGUMENT` if it does not fit.
 */
export function encodePhysicalInto(cs: PhysicalChangeset, target: Uint8Array, offset = 0): number {
  assertBytes('target', target);
  const size = encodedPhysicalSize(cs);
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + size > target.length) {
    throw ChangesetError.invalidArgument(
      `encoding needs ${size} bytes at offset ${offset}; target has ${target.length}`,
    );
  }
  writeBody(cs, target, offset, size);
  return size;
}

/** An output buffer without zero-fill for large sizes (every byte is written). */
export function allocOutput(size: number): Uint8Array {
  if (size < 4096) return new Uint8Array(size);
  const buf = Buffer.allocUnsafeSlow(size);
  return new Uint8Array(buf.buffer, buf.byteOffset, size);
}

/**
 * Decodes and self-verifies a `.hadbp` changeset, in Rust's order: length >= 48
 * (`TRUNCATED`), magic, version (`UNSUPPORTED_VERSION`), page id width
 * (`INVALID_PAGE_ID_SIZE`), each page (`TRUNCATED`, `PAGE_TOO_LARGE`), trailer, no trailing
 * bytes (`TRUNCATED` with `available > needed`), then the checksum recomputed from the header's
 * own `prev_checksum` (`CHECKSUM_MISMATCH`). Chain linkage is {@link verifyChain}'s job.
 *
 * Zero-copy: page data are views into `data`. Pages are returned in stored order; a checksum
 * over unsorted stored pages is computed in sorted order, as in Rust. Never allocates more than
 * the input justifies and throws nothing but {@link ChangesetError}.
 */
export function decodePhysical(data: Uint8Array): PhysicalChangeset {
  if (!(data instanceof Uint8Array)) throw ChangesetError.invalidArgument('data must be a Uint8Array');
  const len = data.length;
  if (len < HADBP_MIN_SIZE) throw ChangesetError.truncated(HADBP_MIN_SIZE, len);
  const { flags, pageIdSize: width, pageSize, seq, prevChecksum, pageCount, createdMs } = readPhysicalHeader(data);
  const view = new DataView(data.buffer, data.byteOffset, len);

  const pages: PageEntry[] = [];
  let pos = HADBP_HEADER_SIZE;
  let sorted = true;
  let last = -1n;
  for (let i = 0; i < pageCount; i++) {
    if (pos + width + 4 > len) throw ChangesetError.truncated(pos + width + 4, len);
    const pageId = width === 8 ? view.getBigUint64(pos, false) : BigInt(view.getUint32(pos, false));
    pos += width;
    const dataLen = view.getUint32(pos, false);
    pos += 4;
    if (dataLen > pageSize) throw ChangesetError.pageTooLarge(dataLen, pageSize);
    if (pos + dataLen > len) throw ChangesetError.truncated(pos + dataLen, len);
    pages.push({ pageId, data: data.subarray(pos, pos + dataLen) });
    pos += dataLen;
    if (pageId < last) sorted = false;
    last = pageId;
  }
  if (pos + HADBP_TRAILER_SIZE > len) throw ChangesetError.truncated(pos + HADBP_TRAILER_SIZE, len);
  const stored = view.getBigUint64(pos, false);
  pos += HADBP_TRAILER_SIZE;
  if (pos !== len) throw ChangesetError.truncated(pos, len);

  let computed: bigint;
  if (sorted) {
    // The stored body is exactly the checksum input after prev_checksum: hash it in one pass.
    const hash = createHash('sha256');
    hash.update(data.subarray(20, 28));
    hash.update(data.subarray(HADBP_HEADER_SIZE, pos - HADBP_TRAILER_SIZE));
    computed = digestToU64(hash.digest());
  } else {
    computed = computeChecksum(prevChecksum, width, pages);
  }
  if (computed !== stored) throw ChangesetError.checksumMismatch(stored, computed);
  return {
    header: { flags, pageIdSize: width, pageSize, seq, prevChecksum, pageCount, createdMs },
    pages,
    checksum: stored,
  };
}

/**
 * Verifies that `cs` links to `expectedPrev`: `CHAIN_BROKEN` if `cs.header.prevChecksum`
 * differs, then `CHECKSUM_MISMATCH` if the checksum recomputed from `expectedPrev` differs from
 * `cs.checksum`. The next link's expected value is `cs.checksum`. Sequence continuity is not
 * checked here (see `discoverStrictPhysicalChain`).
 */
export function verifyChain(expectedPrev: bigint, cs: PhysicalChangeset): void {
  assertU64('expectedPrev', expectedPrev);
  if (cs.header.prevChecksum !== expectedPrev) {
    throw ChangesetError.chainBroken(expectedPrev, cs.header.prevChecksum);
  }
  const computed = computeChecksum(expectedPrev, cs.header.pageIdSize, cs.pages);
  if (computed !== cs.checksum) throw ChangesetError.checksumMismatch(cs.checksum, computed);
}
