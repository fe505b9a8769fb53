import {
  ChangesetError,
  PageIdSize,
  decodePhysical,
  encodePhysical,
  newPhysical,
  type PageEntry,
  type PhysicalChangeset,
} from '@hadb/changeset';
import { DuckblockError } from './errors.js';
import { HEADER_PAGES, PAGE_SIZE, firstPageOfBlock } from './layout.js';

/**
 * A duckblock segment is a plain `.hadbp` physical changeset with u64 page ids and a 4 KiB page
 * size: page `id` lives at file offset `id × 4096`, so any hadb-changeset consumer applying it
 * with the standard rule reproduces DuckDB's file. Header slots are pages 0–2; DuckDB block `N`
 * (256 KiB) is pages `3 + 64N … 3 + 64N + 63`.
 *
 * The writer's epoch travels inside the checksummed body as one zero-length entry whose page id
 * is the epoch (see {@link newSegment}). Applying a zero-length entry writes nothing, so Rust and
 * other consumers apply the segment unchanged; duckblock never ships an empty data page, so the
 * marker is unambiguous.
 */
export type Segment = PhysicalChangeset;

/** A decoded segment with its writer epoch. */
export interface DecodedSegment {
  readonly changeset: Segment;
  /** Epoch carried by the segment's marker entry; `0n` when it carries none. */
  readonly epoch: bigint;
  /** Data pages (the marker removed), ascending by id. */
  readonly pages: readonly PageEntry[];
}

/** One 4 KiB page entry for a segment: `id` is the page number (offset / 4096). */
export function block(id: bigint | number, data: Uint8Array): PageEntry {
  const pageId = typeof id === 'bigint' ? id : BigInt(id);
  if (pageId < 0n) throw new DuckblockError('DUCKBLOCK_CORRUPT_SEGMENT', 'page id must be non-negative');
  if (data.length === 0 || data.length > PAGE_SIZE) {
    throw new DuckblockError('DUCKBLOCK_CORRUPT_SEGMENT', `page data must be 1..${PAGE_SIZE} bytes, got ${data.length}`);
  }
  return { pageId, data };
}

/** The page entries of one DuckDB block (`blockAllocSize` bytes, default 256 KiB). No copy. */
export function duckdbBlockPages(blockNo: number, data: Uint8Array, blockAllocSize: number): PageEntry[] {
  if (data.length !== blockAllocSize) {
    throw new DuckblockError('DUCKBLOCK_CORRUPT_SEGMENT', `block ${blockNo} must be ${blockAllocSize} bytes`);
  }
  const first = firstPageOfBlock(blockNo, blockAllocSize);
  const pages: PageEntry[] = [];
  for (let i = 0; i * PAGE_SIZE < data.length; i++) {
    pages.push({ pageId: BigInt(first + i), data: data.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE) });
  }
  return pages;
}

/** The page entry of header page `slot` (0 = main header, 1 and 2 = database headers). */
export function headerPage(slot: number, data: Uint8Array): PageEntry {
  if (!Number.isInteger(slot) || slot < 0 || slot >= HEADER_PAGES) {
    throw new DuckblockError('DUCKBLOCK_CORRUPT_SEGMENT', `header slot must be 0..2, got ${slot}`);
  }
  if (data.length !== PAGE_SIZE) throw new DuckblockError('DUCKBLOCK_CORRUPT_SEGMENT', 'header page must be 4096 bytes');
  return { pageId: BigInt(slot), data };
}

/** Options of {@link newSegment}. */
export interface NewSegmentOptions {
  /** Writer epoch to embed (a zero-length marker entry). Omit for a segment without one. */
  readonly epoch?: bigint | undefined;
  /** Creation time (ms); defaults to now. Not covered by the checksum. */
  readonly createdMs?: bigint | undefined;
}

/**
 * Builds a segment (a `.hadbp` changeset with u64 ids and 4 KiB pages) from page entries made
 * with {@link block}, {@link duckdbBlockPages} or {@link headerPage}. Pages are sorted by id;
 * `checksum = SHA-256(prevChecksum || pages)[0..8]` as for every hadbp changeset.
 */
export function newSegment(
  seq: bigint,
  prevChecksum: bigint,
  blocks: readonly PageEntry[],
  options: NewSegmentOptions = {},
): Segment {
  const all = [...blocks];
  if (options.epoch !== undefined) all.push({ pageId: options.epoch, data: new Uint8Array(0) });
  return newPhysical(seq, prevChecksum, PageIdSize.U64, PAGE_SIZE, all, { createdMs: options.createdMs });
}

/** Encodes a segment to `.hadbp` bytes. */
export function encodeSegment(segment: Segment): Uint8Array {
  return encodePhysical(segment);
}

/** Splits a changeset's pages into data pages and the epoch marker. */
export function splitEpoch(changeset: Segment): DecodedSegment {
  let epoch = 0n;
  let markers = 0;
  const pages: PageEntry[] = [];
  for (const p of changeset.pages) {
    if (p.data.length === 0) {
      markers++;
      epoch = p.pageId;
    } else {
      pages.push(p);
    }
  }
  if (markers > 1) throw new DuckblockError('DUCKBLOCK_CORRUPT_SEGMENT', 'segment carries more than one epoch marker');
  return { changeset, epoch, pages };
}

/**
 * Decodes and self-verifies a segment (length, structure, checksum), checks it is a duckblock
 * segment (u64 ids, 4 KiB pages) and extracts its epoch. Throws `DUCKBLOCK_CORRUPT_SEGMENT` with
 * the `ChangesetError` as `cause` on any defect. Chain linkage is checked separately.
 */
export function decodeSegment(bytes: Uint8Array): DecodedSegment {
  let cs: Segment;
  try {
    cs = decodePhysical(bytes);
  } catch (cause) {
    if (cause instanceof ChangesetError) {
      throw new DuckblockError('DUCKBLOCK_CORRUPT_SEGMENT', `segment rejected: ${cause.message}`, { cause });
    }
    throw cause;
  }
  if (cs.header.pageIdSize !== PageIdSize.U64 || cs.header.pageSize !== PAGE_SIZE) {
    throw new DuckblockError(
      'DUCKBLOCK_CORRUPT_SEGMENT',
      `not a duckblock segment (page id size ${cs.header.pageIdSize}, page size ${cs.header.pageSize})`,
    );
  }
  return splitEpoch(cs);
}

export { decodeSegment as decode, encodeSegment as encode };
