import type { OpOptions } from '@hadb/io';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { PageIdSize, PhysicalStreamWriter, type PageEntry } from '@hadb/changeset';
import { blockChecksumValid } from './duck-checksum.js';
import { DuckblockError } from './errors.js';
import { HEADER_REGION_SIZE, PAGE_SIZE, blockOffset } from './layout.js';
import { diffManifest, preadExact, scanFile, type BlockManifest, type FileScan } from './manifest.js';
import { writeAll } from './journal.js';
import { duckdbBlockPages, epochMarker, headerPage, sizeMarker } from './segment.js';

/** A block DuckDB allocated but never wrote reads as zeros with a zero stored checksum. */
function isHole(buf: Uint8Array, stored: bigint): boolean {
  if (stored !== 0n) return false;
  for (let i = 0; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}

/** What one checkpoint changed, read from the leader's file and ready to encode. */
export interface CapturedCheckpoint {
  /** Page entries: changed header pages and every page of every changed block. */
  readonly pages: PageEntry[];
  /** Manifest of the file as captured; becomes the "last shipped" manifest after upload. */
  readonly manifest: BlockManifest;
  /** DuckDB block numbers shipped. */
  readonly blocks: readonly number[];
  /** Header page ids shipped (0–2). */
  readonly headerPages: readonly number[];
  /** Exact size of the captured file. */
  readonly fileSize: number;
  /** Whether anything differs from the previous manifest (pages or the file size). */
  readonly changed: boolean;
}

/** Options of {@link detectDirtyBlocks} and {@link captureCheckpoint}. */
export interface DetectOptions {
  /**
   * Blocks the caller knows it changed (for example from a write-tracking file system). They are
   * shipped in addition to what the checksum comparison finds; never instead of it.
   */
  readonly extraBlocks?: Iterable<number> | undefined;
  /**
   * A detection already made on this file at rest ({@link detectDirtyBlocks} with the same
   * `previous`): used instead of scanning the file again.
   */
  readonly detected?: DirtyBlocks | undefined;
}

/** What {@link detectDirtyBlocks} found. */
export interface DirtyBlocks {
  readonly scan: FileScan;
  readonly blocks: number[];
  readonly headerPages: number[];
  readonly sizeChanged: boolean;
}

/**
 * Finds the DuckDB blocks and header pages that differ from `previous` (the manifest of the last
 * shipped state) by comparing the 8-byte checksums DuckDB stores at the start of each block; with
 * no previous manifest every block is dirty (full scan). Cost: one 8-byte pread per block.
 */
export function detectDirtyBlocks(
  fd: number,
  previous: BlockManifest | undefined,
  options: DetectOptions = {},
): DirtyBlocks {
  if (options.detected !== undefined) return options.detected;
  const scan = scanFile(fd);
  const diff = diffManifest(previous, scan.manifest);
  const set = new Set(diff.blocks);
  const count = scan.presentBlocks;
  for (const b of options.extraBlocks ?? []) {
    if (Number.isInteger(b) && b >= 0 && b < count) set.add(b);
  }
  const blocks = [...set].sort((a, b) => a - b);
  return { scan, blocks, headerPages: diff.headerPages, sizeChanged: diff.sizeChanged };
}

/**
 * Reads what changed since `previous` from a DuckDB file at rest (the caller ran CHECKPOINT and
 * no other checkpoint can start until this resolves). Every block read is checked against its
 * own stored DuckDB checksum and against the scanned one, and the header region is re-read at the
 * end; any difference means a checkpoint ran during the read and raises `HADB_DUCKBLOCK_TORN_READ`
 * (nothing is shipped; retry under the lock).
 */
export async function captureCheckpoint(
  handle: FileHandle,
  previous: BlockManifest | undefined,
  options: DetectOptions = {},
): Promise<CapturedCheckpoint> {
  const { scan, blocks, headerPages, sizeChanged } = detectDirtyBlocks(handle.fd, previous, options);
  const size = scan.manifest.blockAllocSize;
  const pages: PageEntry[] = [];
  for (const p of headerPages) {
    pages.push(headerPage(p, scan.headerRegion.slice(p * PAGE_SIZE, (p + 1) * PAGE_SIZE)));
  }
  // Read changed blocks with a few reads in flight.
  const datas = new Array<Uint8Array>(blocks.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < blocks.length) {
      const i = next++;
      const b = blocks[i]!;
      const buf = new Uint8Array(size);
      await preadExact(handle, buf, blockOffset(b, size));
      const stored = Buffer.from(buf.buffer, buf.byteOffset, 8).readBigUInt64LE(0);
      if (stored !== scan.manifest.blockChecksums[b] || !(blockChecksumValid(buf) || isHole(buf, stored))) {
        throw new DuckblockError('HADB_DUCKBLOCK_TORN_READ', `block ${b} changed or was torn while it was read`);
      }
      datas[i] = buf;
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  const after = new Uint8Array(HEADER_REGION_SIZE);
  await preadExact(handle, after, 0);
  if (!Buffer.from(after).equals(Buffer.from(scan.headerRegion))) {
    throw new DuckblockError('HADB_DUCKBLOCK_TORN_READ', 'the database header changed while blocks were read');
  }
  for (let i = 0; i < blocks.length; i++) pages.push(...duckdbBlockPages(blocks[i]!, datas[i]!, size));
  return {
    pages,
    manifest: scan.manifest,
    blocks,
    headerPages,
    fileSize: scan.fileSize,
    changed: pages.length > 0 || sizeChanged,
  };
}

/** A captured checkpoint encoded into a local file (see {@link captureToFile}). */
export interface SpilledCheckpoint {
  /** The encoded segment's file (delete it after the upload). */
  readonly path: string;
  /** Bytes of the encoded segment. */
  readonly size: number;
  /** The segment's checksum. */
  readonly checksum: bigint;
  readonly manifest: BlockManifest;
  readonly blocks: readonly number[];
  readonly headerPages: readonly number[];
  readonly fileSize: number;
}

/** Options of {@link captureToFile}. */
export interface CaptureToFileOptions extends DetectOptions, OpOptions {
  readonly seq: bigint;
  readonly prevChecksum: bigint;
  readonly epoch: bigint;
  /** The segment's `created_ms` (the writer's wall clock, ms). Default: the system clock. */
  readonly createdMs?: bigint | undefined;
  /** Where the encoded segment goes (created or replaced). */
  readonly path: string;
  readonly signal?: AbortSignal | undefined;
}

/**
 * {@link captureCheckpoint} for large checkpoints: instead of holding the changed blocks in
 * memory, streams the encoded segment (same bytes as `encodeSegment(newSegment(...))` apart from
 * `created_ms`) into a local file, one block read ahead. The same read verification applies
 * (`HADB_DUCKBLOCK_TORN_READ`). Resolves `null` when nothing changed. Runs between two checkpoints; the
 * upload from the file does not touch the database.
 */
export async function captureToFile(
  handle: FileHandle,
  previous: BlockManifest | undefined,
  options: CaptureToFileOptions,
): Promise<SpilledCheckpoint | null> {
  const { scan, blocks, headerPages, sizeChanged } = detectDirtyBlocks(handle.fd, previous, options);
  if (blocks.length === 0 && headerPages.length === 0 && !sizeChanged) return null;
  const size = scan.manifest.blockAllocSize;
  const pagesPerBlock = size / PAGE_SIZE;
  const markers = [epochMarker(options.epoch), sizeMarker(scan.fileSize)].sort((a, b) =>
    a.pageId < b.pageId ? -1 : 1,
  );
  const pageCount = headerPages.length + blocks.length * pagesPerBlock + markers.length;

  async function* dataPages(): AsyncGenerator<PageEntry> {
    for (const p of headerPages) yield headerPage(p, scan.headerRegion.slice(p * PAGE_SIZE, (p + 1) * PAGE_SIZE));
    const read = async (b: number): Promise<Uint8Array> => {
      const buf = new Uint8Array(size);
      await preadExact(handle, buf, blockOffset(b, size));
      const stored = Buffer.from(buf.buffer, buf.byteOffset, 8).readBigUInt64LE(0);
      if (stored !== scan.manifest.blockChecksums[b] || !(blockChecksumValid(buf) || isHole(buf, stored))) {
        throw new DuckblockError('HADB_DUCKBLOCK_TORN_READ', `block ${b} changed or was torn while it was read`);
      }
      return buf;
    };
    let ahead = blocks.length > 0 ? read(blocks[0]!) : undefined;
    ahead?.catch(() => undefined);
    for (let i = 0; i < blocks.length; i++) {
      const buf = await ahead!;
      ahead = i + 1 < blocks.length ? read(blocks[i + 1]!) : undefined;
      ahead?.catch(() => undefined);
      yield* duckdbBlockPages(blocks[i]!, buf, size);
    }
    const after = new Uint8Array(HEADER_REGION_SIZE);
    await preadExact(handle, after, 0);
    if (!Buffer.from(after).equals(Buffer.from(scan.headerRegion))) {
      throw new DuckblockError('HADB_DUCKBLOCK_TORN_READ', 'the database header changed while blocks were read');
    }
  }

  // Markers go right after a data page with the same id, before any larger id (stable sort order).
  async function* withMarkers(): AsyncGenerator<PageEntry> {
    let m = 0;
    for await (const page of dataPages()) {
      while (m < markers.length && markers[m]!.pageId < page.pageId) yield markers[m++]!;
      yield page;
      while (m < markers.length && markers[m]!.pageId === page.pageId) yield markers[m++]!;
    }
    while (m < markers.length) yield markers[m++]!;
  }

  const writer = new PhysicalStreamWriter(
    {
      seq: options.seq,
      prevChecksum: options.prevChecksum,
      pageIdSize: PageIdSize.U64,
      pageSize: PAGE_SIZE,
      pageCount,
      createdMs: options.createdMs,
    },
    withMarkers(),
    { signal: options.signal, chunkSize: 1 << 20 },
  );
  const fh = await open(options.path, 'w', 0o600);
  let offset = 0;
  try {
    for await (const chunk of writer) offset = await writeAll(fh, [chunk], offset);
  } catch (err) {
    await fh.close();
    await rm(options.path, { force: true });
    throw err;
  }
  await fh.close();
  const checksum = writer.checksum;
  if (checksum === undefined) throw new DuckblockError('HADB_DUCKBLOCK_TORN_READ', 'segment encoding did not complete');
  return {
    path: options.path,
    size: offset,
    checksum,
    manifest: scan.manifest,
    blocks,
    headerPages,
    fileSize: scan.fileSize,
  };
}
