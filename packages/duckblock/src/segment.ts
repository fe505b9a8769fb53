import {
  ChangesetError,
  PageIdSize,
  decodePhysical,
  encodePhysical,
  newPhysical,
  type PageEntry,
  type PhysicalChangeset,
} from '@hadb/changeset';
import type { Clock } from '@hadb/io';
import { DuckblockError } from './errors.js';
import { HEADER_PAGES, PAGE_SIZE, firstPageOfBlock } from './layout.js';

/**
 * A duckblock segment is a plain `.hadbp` physical changeset with u64 page ids and a 4 KiB page
 * size: page `id` lives at file offset `id × 4096`, so any hadb-changeset consumer applying it
 * with the standard rule reproduces DuckDB's file. Header slots are pages 0–2; DuckDB block `N`
 * (256 KiB) is pages `3 + 64N … 3 + 64N + 63`.
 *
 * Two facts the `.hadbp` header has no field for travel inside the checksummed body as
 * zero-length entries ("markers"), which every hadbp consumer applies as no-ops (a write of zero
 * bytes) and which duckblock never uses for data (it never ships an empty page):
 * - **epoch marker**: page id `2 × epoch` (even): the writer's leader epoch;
 * - **size marker**: page id `2 × (fileSize / 4096) + 1` (odd): the exact file size, which the
 *   DuckDB header alone does not give (DuckDB truncates trailing free blocks after writing it).
 * Both ids stay below 2^41 for files under 4 PiB and epochs under 2^40.
 */
export type Segment = PhysicalChangeset;

/**
 * Largest database file a follower accepts from storage by default (64 GiB): a segment or
 * snapshot whose size marker or page ids reach past it is `HADB_DUCKBLOCK_CORRUPT` before
 * anything is journalled or written. Configurable as `maxFileSizeBytes` of the replicator.
 */
export const DEFAULT_MAX_FILE_SIZE = 64 * 1024 ** 3;

/** A decoded segment with its markers split off. */
export interface DecodedSegment {
  readonly changeset: Segment;
  /** Epoch carried by the segment's epoch marker; `0n` when it carries none. */
  readonly epoch: bigint;
  /** Exact file size after applying, from the size marker; `undefined` when absent. */
  readonly fileSize: number | undefined;
  /** Data pages (markers removed), ascending by id. */
  readonly pages: readonly PageEntry[];
}

const EMPTY = new Uint8Array(0);

/** The zero-length entry carrying `epoch` (page id `2 × epoch`). */
export function epochMarker(epoch: bigint): PageEntry {
  if (epoch < 0n || epoch >= 1n << 40n)
    throw new DuckblockError('HADB_DUCKBLOCK_CORRUPT', 'epoch must be in [0, 2^40)');
  return { pageId: 2n * epoch, data: EMPTY };
}

/** The zero-length entry carrying the exact file size (page id `2 × fileSize/4096 + 1`). */
export function sizeMarker(fileSize: number): PageEntry {
  if (!Number.isSafeInteger(fileSize) || fileSize < 0 || fileSize % PAGE_SIZE !== 0 || fileSize >= 2 ** 52) {
    throw new DuckblockError('HADB_DUCKBLOCK_CORRUPT', `file size ${fileSize} is not a whole number of 4 KiB pages`);
  }
  return { pageId: 2n * BigInt(fileSize / PAGE_SIZE) + 1n, data: EMPTY };
}

/** One 4 KiB page entry for a segment: `id` is the page number (offset / 4096). */
export function block(id: bigint | number, data: Uint8Array): PageEntry {
  const pageId = typeof id === 'bigint' ? id : BigInt(id);
  if (pageId < 0n) throw new DuckblockError('HADB_DUCKBLOCK_CORRUPT', 'page id must be non-negative');
  if (data.length === 0 || data.length > PAGE_SIZE) {
    throw new DuckblockError('HADB_DUCKBLOCK_CORRUPT', `page data must be 1..${PAGE_SIZE} bytes, got ${data.length}`);
  }
  return { pageId, data };
}

/** The page entries of one DuckDB block (`blockAllocSize` bytes, default 256 KiB). No copy. */
export function duckdbBlockPages(blockNo: number, data: Uint8Array, blockAllocSize: number): PageEntry[] {
  if (data.length !== blockAllocSize) {
    throw new DuckblockError('HADB_DUCKBLOCK_CORRUPT', `block ${blockNo} must be ${blockAllocSize} bytes`);
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
    throw new DuckblockError('HADB_DUCKBLOCK_CORRUPT', `header slot must be 0..2, got ${slot}`);
  }
  if (data.length !== PAGE_SIZE) throw new DuckblockError('HADB_DUCKBLOCK_CORRUPT', 'header page must be 4096 bytes');
  return { pageId: BigInt(slot), data };
}

/** A segment's or snapshot's `created_ms`: the writer's wall clock, whole ms. */
export function createdMsNow(clock: Clock): bigint {
  return BigInt(Math.floor(clock.wallMs()));
}

/** Options of {@link newSegment}. */
export interface NewSegmentOptions {
  /** Writer epoch to embed (a zero-length marker entry). Omit for a segment without one. */
  readonly epoch?: bigint | undefined;
  /** Exact file size after this segment (a zero-length marker entry). Omit to leave sizing to the DuckDB header. */
  readonly fileSize?: number | undefined;
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
  if (options.epoch !== undefined) all.push(epochMarker(options.epoch));
  if (options.fileSize !== undefined) all.push(sizeMarker(options.fileSize));
  return newPhysical(seq, prevChecksum, PageIdSize.U64, PAGE_SIZE, all, { createdMs: options.createdMs });
}

/** Encodes a segment to `.hadbp` bytes. */
export function encodeSegment(segment: Segment): Uint8Array {
  return encodePhysical(segment);
}

/** What one segment entry is: a data page, or one of the two markers (see {@link Segment}). */
export type MarkerReading =
  | { readonly kind: 'data' }
  | { readonly kind: 'epoch'; readonly epoch: bigint }
  | { readonly kind: 'size'; readonly fileSize: number };

/** The one decoder of duckblock's on-disk markers: reads what `page` carries. */
export function readMarker(page: PageEntry): MarkerReading {
  if (page.data.length > 0) return { kind: 'data' };
  if (page.pageId % 2n === 0n) return { kind: 'epoch', epoch: page.pageId / 2n };
  return { kind: 'size', fileSize: Number((page.pageId - 1n) / 2n) * PAGE_SIZE };
}

/**
 * Collects the markers of one segment or snapshot while its pages stream by. A second marker of
 * the same kind is `HADB_DUCKBLOCK_CORRUPT` (`what` names the object in the message).
 */
export class SegmentMarkers {
  #epoch: bigint | undefined;
  #fileSize: number | undefined;
  readonly #what: string;
  readonly #maxFileSize: bigint;
  /** End (bytes) of the highest data page seen. */
  #dataEnd = 0n;
  /** Data bytes seen (a segment never carries more than a file's worth). */
  #dataBytes = 0n;

  /**
   * `maxFileSize` (default {@link DEFAULT_MAX_FILE_SIZE}) bounds every page: a data page ending
   * past it, a size marker above it, more data bytes than it, a data page past the size marker
   * (checked by {@link finish}) or an epoch at or above 2^40 is `HADB_DUCKBLOCK_CORRUPT`.
   */
  constructor(what = 'segment', maxFileSize: number = DEFAULT_MAX_FILE_SIZE) {
    this.#what = what;
    this.#maxFileSize = BigInt(maxFileSize);
  }

  #corrupt(message: string): DuckblockError {
    return new DuckblockError('HADB_DUCKBLOCK_CORRUPT', `${this.#what} ${message}`);
  }

  /**
   * Checks the whole object once every page was taken: no data page lies past the size marker.
   * Call before the object is journalled or installed.
   */
  finish(): void {
    if (this.#fileSize !== undefined && this.#dataEnd > BigInt(this.#fileSize)) {
      throw this.#corrupt(`writes past its own size marker (${this.#dataEnd} > ${this.#fileSize} bytes)`);
    }
  }

  /** Epoch carried by the epoch marker; `0n` when there was none. */
  get epoch(): bigint {
    return this.#epoch ?? 0n;
  }

  /** Whether an epoch marker was seen. */
  get hasEpoch(): boolean {
    return this.#epoch !== undefined;
  }

  /** Exact file size from the size marker; `undefined` when there was none. */
  get fileSize(): number | undefined {
    return this.#fileSize;
  }

  /** Accounts for a data page of `dataLen` (> 0) bytes at `pageId` without its bytes (same checks as {@link take}). */
  takeData(pageId: bigint, dataLen: number): void {
    const end = (pageId + 1n) * BigInt(PAGE_SIZE);
    if (end > this.#maxFileSize)
      throw this.#corrupt(`has page ${pageId}, past the largest accepted file (${this.#maxFileSize} bytes)`);
    if (end > this.#dataEnd) this.#dataEnd = end;
    this.#dataBytes += BigInt(dataLen);
    if (this.#dataBytes > this.#maxFileSize)
      throw this.#corrupt(`carries more than ${this.#maxFileSize} bytes of pages`);
  }

  /** Takes `page` if it is a marker (returns `true`); data pages return `false`. */
  take(page: PageEntry): boolean {
    const m = readMarker(page);
    if (m.kind === 'data') {
      this.takeData(page.pageId, page.data.length);
      return false;
    }
    if (m.kind === 'epoch') {
      if (m.epoch >= 1n << 40n) throw this.#corrupt(`carries epoch ${m.epoch}, at or above 2^40`);
      if (this.#epoch !== undefined)
        throw new DuckblockError('HADB_DUCKBLOCK_CORRUPT', `${this.#what} carries two epoch markers`);
      this.#epoch = m.epoch;
    } else {
      if (this.#fileSize !== undefined)
        throw new DuckblockError('HADB_DUCKBLOCK_CORRUPT', `${this.#what} carries two size markers`);
      const size = ((page.pageId - 1n) / 2n) * BigInt(PAGE_SIZE);
      if (size > this.#maxFileSize)
        throw this.#corrupt(`says the file is ${size} bytes, above the largest accepted (${this.#maxFileSize})`);
      this.#fileSize = m.fileSize;
    }
    return true;
  }
}

/** Splits a changeset's pages into data pages and the markers. */
export function splitEpoch(changeset: Segment, maxFileSize: number = DEFAULT_MAX_FILE_SIZE): DecodedSegment {
  const markers = new SegmentMarkers('segment', maxFileSize);
  const pages = changeset.pages.filter((p) => !markers.take(p));
  markers.finish();
  return { changeset, epoch: markers.epoch, fileSize: markers.fileSize, pages };
}

/**
 * Decodes and self-verifies a segment (length, structure, checksum), checks it is a duckblock
 * segment (u64 ids, 4 KiB pages), bounds its pages and markers by `maxFileSize` (see
 * {@link SegmentMarkers}) and extracts its epoch. Throws `HADB_DUCKBLOCK_CORRUPT` with
 * the `ChangesetError` as `cause` on any defect. Chain linkage is checked separately.
 */
export function decodeSegment(bytes: Uint8Array, maxFileSize: number = DEFAULT_MAX_FILE_SIZE): DecodedSegment {
  let cs: Segment;
  try {
    cs = decodePhysical(bytes);
  } catch (cause) {
    if (cause instanceof ChangesetError) {
      throw new DuckblockError('HADB_DUCKBLOCK_CORRUPT', `segment rejected: ${cause.message}`, { cause });
    }
    throw cause;
  }
  if (cs.header.pageIdSize !== PageIdSize.U64 || cs.header.pageSize !== PAGE_SIZE) {
    throw new DuckblockError(
      'HADB_DUCKBLOCK_CORRUPT',
      `not a duckblock segment (page id size ${cs.header.pageIdSize}, page size ${cs.header.pageSize})`,
    );
  }
  return splitEpoch(cs, maxFileSize);
}

export { decodeSegment as decode, encodeSegment as encode };
