import { DuckblockError } from './errors.js';

/**
 * Page size of every duckblock segment: 4 KiB. DuckDB's header region is 3 × 4096 bytes and its
 * blocks (16 KiB – 256 KiB, powers of two) start at `12288 + N × blockAllocSize`, so 4096 is the
 * largest page size at which every DuckDB block and every header slot starts on a page boundary.
 */
export const PAGE_SIZE = 4096;

/** Size of DuckDB's header region: main header + two alternating database headers. */
export const HEADER_REGION_SIZE = 3 * PAGE_SIZE;

/** Number of 4 KiB pages in the header region (page ids 0, 1 and 2). */
export const HEADER_PAGES = 3;

/** DuckDB's default block allocation size (256 KiB). */
export const DEFAULT_BLOCK_ALLOC_SIZE = 262_144;

/** Bytes of the per-block checksum DuckDB stores at the start of each (unencrypted) block. */
export const BLOCK_CHECKSUM_SIZE = 8;

/** One of DuckDB's two database header slots, parsed. */
export interface DatabaseHeader {
  /** Slot 1 (file offset 4096) or slot 2 (offset 8192). */
  readonly slot: 1 | 2;
  readonly checksum: bigint;
  /** Checkpoint iteration; the slot with the higher iteration is the active one. */
  readonly iteration: bigint;
  readonly metaBlock: bigint;
  readonly freeList: bigint;
  /** Number of blocks the file holds at this header. */
  readonly blockCount: number;
  /** Block allocation size in bytes (262144 by default). */
  readonly blockAllocSize: number;
  readonly vectorSize: bigint;
  readonly serializationCompatibility: bigint;
}

/** What a DuckDB file's header region says about the file. */
export interface DuckFileInfo {
  /** The active database header (higher iteration). */
  readonly active: DatabaseHeader;
  /** Exact byte size the file has at the active header: `12288 + blockCount × blockAllocSize`. */
  readonly fileSize: number;
  /** Number of 4 KiB pages one DuckDB block spans. */
  readonly pagesPerBlock: number;
}

const MAGIC = Buffer.from('DUCK', 'ascii');

function parseSlot(region: Uint8Array, slot: 1 | 2): DatabaseHeader {
  const b = Buffer.from(region.buffer, region.byteOffset + slot * PAGE_SIZE, PAGE_SIZE);
  return {
    slot,
    checksum: b.readBigUInt64LE(0),
    iteration: b.readBigUInt64LE(8),
    metaBlock: b.readBigUInt64LE(16),
    freeList: b.readBigUInt64LE(24),
    blockCount: Number(b.readBigUInt64LE(32)),
    blockAllocSize: Number(b.readBigUInt64LE(40)),
    vectorSize: b.readBigUInt64LE(48),
    serializationCompatibility: b.readBigUInt64LE(56),
  };
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

/**
 * Parses the 12 KiB header region of an unencrypted DuckDB file and picks the active database
 * header. Throws `HADB_DUCKBLOCK_NOT_DUCKDB` when the magic is missing, the file is encrypted, or the
 * active header's block size is not a power of two between 16 KiB and 256 KiB (then the 4 KiB
 * page addressing would not line up with the blocks).
 */
export function parseHeaderRegion(region: Uint8Array): DuckFileInfo {
  if (region.length < HEADER_REGION_SIZE) {
    throw new DuckblockError('HADB_DUCKBLOCK_NOT_DUCKDB', `header region too short: ${region.length} bytes`);
  }
  if (!Buffer.from(region.buffer, region.byteOffset + 8, 4).equals(MAGIC)) {
    throw new DuckblockError('HADB_DUCKBLOCK_NOT_DUCKDB', 'missing DUCK magic at offset 8');
  }
  const flags0 = Buffer.from(region.buffer, region.byteOffset, 28).readBigUInt64LE(20);
  if ((flags0 & 2n) !== 0n) {
    throw new DuckblockError('HADB_DUCKBLOCK_NOT_DUCKDB', 'encrypted DuckDB files are not supported');
  }
  const h1 = parseSlot(region, 1);
  const h2 = parseSlot(region, 2);
  const active = h2.iteration > h1.iteration ? h2 : h1;
  if (active.iteration === 0n && active.blockCount === 0) {
    // A file created but never checkpointed: header region only.
    return { active, fileSize: HEADER_REGION_SIZE, pagesPerBlock: DEFAULT_BLOCK_ALLOC_SIZE / PAGE_SIZE };
  }
  const size = active.blockAllocSize;
  if (!isPowerOfTwo(size) || size < 16_384 || size > DEFAULT_BLOCK_ALLOC_SIZE) {
    throw new DuckblockError('HADB_DUCKBLOCK_NOT_DUCKDB', `unsupported block allocation size ${size}`);
  }
  return {
    active,
    fileSize: HEADER_REGION_SIZE + active.blockCount * size,
    pagesPerBlock: size / PAGE_SIZE,
  };
}

/** File offset of DuckDB block `block` (0-based). */
export function blockOffset(block: number, blockAllocSize: number): number {
  return HEADER_REGION_SIZE + block * blockAllocSize;
}

/** First 4 KiB page id of DuckDB block `block`: `3 + block × (blockAllocSize / 4096)`. */
export function firstPageOfBlock(block: number, blockAllocSize: number): number {
  return HEADER_PAGES + block * (blockAllocSize / PAGE_SIZE);
}
