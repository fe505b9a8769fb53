/** One journal entry with an opaque payload. */
export interface JournalEntry {
  /** Entry sequence number (u64, 1-indexed, increasing). */
  readonly sequence: bigint;
  /** Chain hash of the previous entry (32 bytes), `ZERO_HASH` for the first entry of a journal. */
  readonly prevHash: Uint8Array;
  /** Opaque payload (graphstream: a protobuf `graphd.JournalEntry`). Decoders return views, not copies. */
  readonly payload: Uint8Array;
}

/** The 128-byte `.hadbj` header. */
export interface JournalHeader {
  /** Bitset of `FLAG_COMPRESSED`, `FLAG_SEALED`, `FLAG_HAS_CHAIN_HASH`. */
  readonly flags: number;
  /** 0 none, 1 zstd (decoders key off `FLAG_COMPRESSED`, not this byte). */
  readonly compression: number;
  readonly firstSeq: bigint;
  /** 0 while unsealed. */
  readonly lastSeq: bigint;
  /** 0 while unsealed. */
  readonly entryCount: bigint;
  /** Length of the stored (possibly compressed) body; 0 while unsealed. */
  readonly bodyLen: bigint;
  /** SHA-256 of the stored body bytes (32 bytes); zeros while unsealed. */
  readonly bodyChecksum: Uint8Array;
  /** graphstream: `hashToU64(chain hash before this segment's first entry)`. */
  readonly prevSegmentChecksum: bigint;
  /** ms since the Unix epoch (i64). */
  readonly createdMs: bigint;
}

/** A sealed journal segment: header, entries and the chain hash of the last entry. */
export interface JournalSegment {
  readonly header: JournalHeader;
  readonly entries: readonly JournalEntry[];
  readonly chainHash: Uint8Array;
}
