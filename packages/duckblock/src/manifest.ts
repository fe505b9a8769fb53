import { createHash } from 'node:crypto';
import { fstatSync, readSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { DuckblockError } from './errors.js';
import {
  BLOCK_CHECKSUM_SIZE,
  HEADER_PAGES,
  HEADER_REGION_SIZE,
  PAGE_SIZE,
  blockOffset,
  parseHeaderRegion,
  type DuckFileInfo,
} from './layout.js';

/**
 * What a shipped (or applied) file state looked like, at the granularity duckblock diffs on: a
 * hash of each 4 KiB header page and the 8-byte checksum DuckDB stores at the start of each block.
 */
export interface BlockManifest {
  /** Active header iteration. */
  readonly iteration: bigint;
  readonly blockAllocSize: number;
  /** SHA-256 (hex) of each of the three header pages. */
  readonly headerHashes: readonly [string, string, string];
  /** Stored DuckDB checksum of each block `0 .. blockCount-1` (0 for a block past the end of the file). */
  readonly blockChecksums: BigUint64Array;
  /** Exact byte size of the file. */
  readonly fileSize: number;
}

/** A scan of a live file: its manifest plus the raw header region and parsed header. */
export interface FileScan {
  readonly manifest: BlockManifest;
  readonly info: DuckFileInfo;
  readonly headerRegion: Uint8Array;
  /**
   * Exact size of the file: the header-implied size, or less when DuckDB truncated trailing free
   * blocks after writing the header (it does: the header's block count still includes them).
   */
  readonly fileSize: number;
  /** Blocks actually present in the file (`blockCount` minus truncated trailing free blocks). */
  readonly presentBlocks: number;
}

function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Reads exactly `length` bytes at `position` synchronously; short reads are an error. */
export function preadExactSync(fd: number, buf: Uint8Array, position: number): void {
  let done = 0;
  while (done < buf.length) {
    const n = readSync(fd, buf, done, buf.length - done, position + done);
    if (n === 0) throw new DuckblockError('HADB_DUCKBLOCK_TORN_READ', `file ended at ${position + done} while reading`);
    done += n;
  }
}

/** Reads exactly `buf.length` bytes at `position`. */
export async function preadExact(handle: FileHandle, buf: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesRead } = await handle.read(buf, done, buf.length - done, position + done);
    if (bytesRead === 0)
      throw new DuckblockError('HADB_DUCKBLOCK_TORN_READ', `file ended at ${position + done} while reading`);
    done += bytesRead;
  }
}

/**
 * Scans a DuckDB file: reads the 12 KiB header region and the 8-byte stored checksum of every
 * block the active header counts (one small pread each: a few ms per GiB on an idle machine).
 * The file must be at rest (no checkpoint running until the caller is done with the scan).
 */
export function scanFile(fd: number): FileScan {
  const headerRegion = new Uint8Array(HEADER_REGION_SIZE);
  preadExactSync(fd, headerRegion, 0);
  const info = parseHeaderRegion(headerRegion);
  const count = info.active.blockCount;
  const size = info.active.blockAllocSize;
  const checksums = new BigUint64Array(count);
  const one = Buffer.alloc(BLOCK_CHECKSUM_SIZE);
  // DuckDB writes the header before truncating trailing free blocks, so the file can be shorter
  // than the header's block count: blocks past the end are free (checksum recorded as 0).
  const fileBytes = fstatSync(fd).size;
  const presentBlocks = Math.max(0, Math.min(count, Math.floor((fileBytes - HEADER_REGION_SIZE) / size)));
  const fileSize = Math.min(info.fileSize, HEADER_REGION_SIZE + presentBlocks * size);
  for (let b = 0; b < presentBlocks; b++) {
    preadExactSync(fd, one, blockOffset(b, size));
    checksums[b] = one.readBigUInt64LE(0);
  }
  return {
    manifest: manifestFrom(headerRegion, info, checksums, fileSize),
    info,
    headerRegion,
    fileSize,
    presentBlocks,
  };
}

/** Builds a manifest from a header region and block checksums. */
export function manifestFrom(
  headerRegion: Uint8Array,
  info: DuckFileInfo,
  checksums: BigUint64Array,
  fileSize: number,
): BlockManifest {
  const hashes: string[] = [];
  for (let p = 0; p < HEADER_PAGES; p++)
    hashes.push(sha256Hex(headerRegion.subarray(p * PAGE_SIZE, (p + 1) * PAGE_SIZE)));
  return {
    iteration: info.active.iteration,
    blockAllocSize: info.active.blockAllocSize,
    headerHashes: hashes as unknown as [string, string, string],
    blockChecksums: checksums,
    fileSize,
  };
}

/** Which parts of a file differ from a previous manifest. */
export interface ManifestDiff {
  /** Header page ids (0, 1, 2) whose bytes changed. */
  readonly headerPages: number[];
  /** DuckDB block numbers whose stored checksum changed or that are new. */
  readonly blocks: number[];
  /** Whether the exact file size changed. */
  readonly sizeChanged: boolean;
}

/**
 * Compares a fresh scan against the manifest of the last shipped state. With no previous
 * manifest (or a different block size) everything is dirty. Blocks past the end of the file are
 * not listed: the follower truncates them away.
 */
export function diffManifest(previous: BlockManifest | undefined, current: BlockManifest): ManifestDiff {
  const present = Math.max(0, Math.floor((current.fileSize - HEADER_REGION_SIZE) / current.blockAllocSize));
  const headerPages: number[] = [];
  for (let p = 0; p < HEADER_PAGES; p++) {
    if (previous === undefined || previous.headerHashes[p] !== current.headerHashes[p]) headerPages.push(p);
  }
  const blocks: number[] = [];
  const same = previous !== undefined && previous.blockAllocSize === current.blockAllocSize;
  for (let b = 0; b < Math.min(present, current.blockChecksums.length); b++) {
    if (!same || b >= previous.blockChecksums.length || previous.blockChecksums[b] !== current.blockChecksums[b])
      blocks.push(b);
  }
  return { headerPages, blocks, sizeChanged: previous === undefined || previous.fileSize !== current.fileSize };
}

/** JSON-safe form of a manifest (checksums as base64 of little-endian u64s). */
export interface ManifestJson {
  readonly iteration: string;
  readonly blockAllocSize: number;
  readonly headerHashes: readonly string[];
  readonly blockChecksums: string;
  readonly fileSize: number;
}

/** Serialises a manifest for the position file. */
export function manifestToJson(m: BlockManifest): ManifestJson {
  const bytes = Buffer.from(m.blockChecksums.buffer, m.blockChecksums.byteOffset, m.blockChecksums.byteLength);
  return {
    iteration: m.iteration.toString(),
    blockAllocSize: m.blockAllocSize,
    headerHashes: [...m.headerHashes],
    blockChecksums: bytes.toString('base64'),
    fileSize: m.fileSize,
  };
}

/** Parses {@link manifestToJson}; throws `HADB_DUCKBLOCK_BAD_STATE` on malformed input. */
export function manifestFromJson(j: ManifestJson): BlockManifest {
  const bytes = Buffer.from(j.blockChecksums, 'base64');
  if (
    bytes.length % 8 !== 0 ||
    !Array.isArray(j.headerHashes) ||
    j.headerHashes.length !== HEADER_PAGES ||
    !Number.isSafeInteger(j.fileSize)
  ) {
    throw new DuckblockError('HADB_DUCKBLOCK_BAD_STATE', 'malformed block manifest');
  }
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return {
    iteration: BigInt(j.iteration),
    blockAllocSize: j.blockAllocSize,
    headerHashes: [...j.headerHashes] as [string, string, string],
    blockChecksums: new BigUint64Array(copy.buffer, 0, bytes.length / 8),
    fileSize: j.fileSize,
  };
}
