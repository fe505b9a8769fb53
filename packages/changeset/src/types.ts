/**
 * Width of page ids in a `.hadbp` changeset, stored in the header so the format is
 * self-describing: `4` (u32, SQLite) or `8` (u64, DuckDB).
 */
export type PageIdSize = 4 | 8;

/** Named widths, as in the Rust `PageIdSize` enum. */
export const PageIdSize = {
  /** 4-byte (u32) page ids. Used by SQLite. */
  U32: 4,
  /** 8-byte (u64) page ids. Used by DuckDB. */
  U64: 8,
} as const satisfies Record<string, PageIdSize>;

/** One page of a physical changeset. */
export interface PageEntry {
  /** Page number (u64). Must fit the changeset's {@link PageIdSize}. Applied at `pageId * pageSize`. */
  readonly pageId: bigint;
  /**
   * Page bytes; may be shorter than `pageSize` (partial page) or empty. Decoders return views
   * into the input buffer (no copy): copy them if the input buffer is reused.
   */
  readonly data: Uint8Array;
}

/** Header of a `.hadbp` physical changeset (the 40 bytes before the pages). */
export interface PhysicalHeader {
  /** Opaque flag byte: written as 0 by `newPhysical`, passed through by the codec. Not checksummed. */
  readonly flags: number;
  readonly pageIdSize: PageIdSize;
  /** Declared page size (u32): the stride for apply and the upper bound of each entry's length. Not checksummed. */
  readonly pageSize: number;
  /** Sequence number (u64). Not checksummed. */
  readonly seq: bigint;
  /** Checksum of the previous changeset of the chain (u64), 0 for the first. Covered by the checksum. */
  readonly prevChecksum: bigint;
  /** Number of pages (u32); always `pages.length` for a well-formed changeset. */
  readonly pageCount: number;
  /** Creation time, ms since the Unix epoch (i64). Not checksummed. */
  readonly createdMs: bigint;
}

/** A complete physical changeset: header, pages in ascending page-id order, checksum. */
export interface PhysicalChangeset {
  readonly header: PhysicalHeader;
  readonly pages: readonly PageEntry[];
  /** `computeChecksum(header.prevChecksum, header.pageIdSize, pages)`; the next changeset's `prevChecksum`. */
  readonly checksum: bigint;
}

/** Largest u64. */
export const U64_MAX = (1n << 64n) - 1n;
/** Largest u32. */
export const U32_MAX = 0xffff_ffff;
