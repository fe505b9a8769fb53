import type { OpOptions } from '@hadb/io';
import { open, rm, type FileHandle } from 'node:fs/promises';
import {
  PageIdSize,
  PhysicalStreamWriter,
  isChangesetError,
  restorePhysicalRanged,
  type PageEntry,
} from '@hadb/changeset';
import { isStorageError, type StorageBackend } from '@hadb/storage';
import { blockChecksumValid } from './duck-checksum.js';
import { DuckblockError, throwIfAborted } from './errors.js';
import { installRestoredFile, restorePath, truncateToHeader } from './apply.js';
import { HEADER_PAGES, HEADER_REGION_SIZE, PAGE_SIZE, blockOffset } from './layout.js';
import { preadExact, scanFile, type BlockManifest } from './manifest.js';
import { SegmentMarkers, epochMarker, sizeMarker } from './segment.js';
import type { Position } from './position.js';

/** Result of {@link uploadSnapshot}. */
export interface SnapshotUpload {
  readonly key: string;
  /** The snapshot object's own checksum (its trailer). */
  readonly checksum: bigint;
  /** Manifest of the file as streamed. */
  readonly manifest: BlockManifest;
  /** Bytes of the snapshot object. */
  readonly bytes: number;
  /** Size of the database file captured. */
  readonly fileSize: number;
}

/** Options of {@link uploadSnapshot}. */
export interface UploadSnapshotOptions extends OpOptions {
  readonly seq: bigint;
  /** Chain checksum at `seq` (the `prev_checksum` of the next incremental), stored as the snapshot's `prev_checksum`. */
  readonly anchor: bigint;
  /** Writer epoch embedded as the marker entry. */
  readonly epoch: bigint;
  /** The snapshot's `created_ms` (the writer's wall clock, ms). Default: the system clock. */
  readonly createdMs?: bigint | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Bytes read from the file per step (default 4 MiB; rounded down to whole blocks). */
  readonly readSize?: number | undefined;
}

function isHole(buf: Uint8Array): boolean {
  if (buf[0] !== 0 || buf[1] !== 0) return false;
  for (let i = 0; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}

/**
 * Streams the whole database file as a snapshot segment to `key` through `putStream` (bounded
 * memory: one read buffer plus the writer's chunk). Pages 0 … fileSize/4096 − 1 of the file at
 * its active header, plus the epoch marker. Every block is checked against the checksum scanned
 * at the start and against its own DuckDB checksum, and the header region is re-read at the end;
 * a mismatch aborts the upload with `HADB_DUCKBLOCK_TORN_READ` (no object is left behind). The file
 * must be at rest: no checkpoint may run until this resolves.
 *
 * Written with `ifAbsent` when the backend supports conditional streaming writes; an existing
 * object at `key` is `HADB_DUCKBLOCK_SEQ_CONFLICT`.
 */
export async function uploadSnapshot(
  storage: StorageBackend,
  key: string,
  handle: FileHandle,
  options: UploadSnapshotOptions,
): Promise<SnapshotUpload> {
  const { signal, epoch } = options;
  throwIfAborted(signal);
  const scan = scanFile(handle.fd);
  const { fileSize } = scan;
  const size = scan.manifest.blockAllocSize;
  const blockCount = scan.presentBlocks;
  const dataPages = fileSize / PAGE_SIZE;
  // Markers sorted by id; each goes right after the data page with the same id (the order the
  // stable sort of `newSegment` gives), or before the first data page with a larger id.
  const markers = [epochMarker(epoch), sizeMarker(fileSize)].sort((a, b) => (a.pageId < b.pageId ? -1 : 1));
  const pageCount = dataPages + markers.length;
  const blocksPerRead = Math.max(1, Math.floor((options.readSize ?? 4 << 20) / size));
  let nextMarker = 0;
  let nextMarkerId = markers[0]!.pageId;

  async function* pagesOf(): AsyncGenerator<PageEntry> {
    function* upTo(id: bigint, inclusive: boolean): Generator<PageEntry> {
      while (nextMarker < markers.length && (nextMarkerId < id || (inclusive && nextMarkerId === id))) {
        yield markers[nextMarker]!;
        nextMarker++;
        nextMarkerId = markers[nextMarker]?.pageId ?? -1n;
      }
    }
    for (let p = 0; p < HEADER_PAGES && p < dataPages; p++) {
      yield* upTo(BigInt(p), false);
      yield { pageId: BigInt(p), data: scan.headerRegion.slice(p * PAGE_SIZE, (p + 1) * PAGE_SIZE) };
      yield* upTo(BigInt(p), true);
    }
    // One read ahead, so reading the file overlaps with encoding and uploading.
    const readGroup = async (b: number): Promise<Uint8Array> => {
      const n = Math.min(blocksPerRead, blockCount - b);
      const buf = new Uint8Array(n * size);
      await preadExact(handle, buf, blockOffset(b, size));
      return buf;
    };
    let ahead: Promise<Uint8Array> | undefined = blockCount > 0 ? readGroup(0) : undefined;
    ahead?.catch(() => undefined);
    for (let b = 0; b < blockCount; b += blocksPerRead) {
      throwIfAborted(signal);
      const n = Math.min(blocksPerRead, blockCount - b);
      const buf = await ahead!;
      ahead = b + blocksPerRead < blockCount ? readGroup(b + blocksPerRead) : undefined;
      ahead?.catch(() => undefined);
      for (let i = 0; i < n; i++) {
        const blk = buf.subarray(i * size, (i + 1) * size);
        const stored = Buffer.from(blk.buffer, blk.byteOffset, 8).readBigUInt64LE(0);
        const valid = stored === 0n ? isHole(blk) || blockChecksumValid(blk) : blockChecksumValid(blk);
        if (stored !== scan.manifest.blockChecksums[b + i] || !valid) {
          throw new DuckblockError('HADB_DUCKBLOCK_TORN_READ', `block ${b + i} changed while the snapshot was read`);
        }
      }
      const first = HEADER_PAGES + (b * size) / PAGE_SIZE;
      const last = BigInt(first + buf.length / PAGE_SIZE - 1);
      if (nextMarker >= markers.length || nextMarkerId > last) {
        for (let o = 0, id = first; o < buf.length; o += PAGE_SIZE, id++) {
          yield { pageId: BigInt(id), data: buf.subarray(o, o + PAGE_SIZE) };
        }
      } else {
        for (let o = 0, id = first; o < buf.length; o += PAGE_SIZE, id++) {
          const pid = BigInt(id);
          yield* upTo(pid, false);
          yield { pageId: pid, data: buf.subarray(o, o + PAGE_SIZE) };
          yield* upTo(pid, true);
        }
      }
    }
    yield* upTo(1n << 62n, true);
    const after = new Uint8Array(HEADER_REGION_SIZE);
    await preadExact(handle, after, 0);
    if (!Buffer.from(after).equals(Buffer.from(scan.headerRegion))) {
      throw new DuckblockError('HADB_DUCKBLOCK_TORN_READ', 'the database header changed while the snapshot was read');
    }
  }

  const writer = new PhysicalStreamWriter(
    {
      seq: options.seq,
      prevChecksum: options.anchor,
      pageIdSize: PageIdSize.U64,
      pageSize: PAGE_SIZE,
      pageCount,
      createdMs: options.createdMs,
    },
    pagesOf(),
    { signal, chunkSize: 1 << 20 },
  );
  const bytes = 40 + pageCount * 12 + fileSize + 8;
  if (scan.fileSize > HEADER_REGION_SIZE + blockCount * size) {
    throw new DuckblockError('HADB_DUCKBLOCK_NOT_DUCKDB', 'file size does not match its block layout');
  }
  const ifAbsent = storage.capabilities.conditionalStreamingWrites;
  if (!ifAbsent && (await storage.exists(key, { signal }))) {
    throw new DuckblockError('HADB_DUCKBLOCK_SEQ_CONFLICT', `a snapshot already exists at ${key}`);
  }
  const result = await storage.putStream(key, writer, { ifAbsent, contentLength: bytes, signal });
  if (!result.success) throw new DuckblockError('HADB_DUCKBLOCK_SEQ_CONFLICT', `a snapshot already exists at ${key}`);
  const checksum = writer.checksum;
  if (checksum === undefined) throw new DuckblockError('HADB_DUCKBLOCK_TORN_READ', 'snapshot stream did not complete');
  return { key, checksum, manifest: scan.manifest, bytes, fileSize };
}

/** Options of {@link restoreSnapshot}. */
export interface RestoreSnapshotOptions extends OpOptions {
  /** Highest epoch the follower accepted; an older snapshot is refused (`HADB_DUCKBLOCK_FENCED`). */
  readonly acceptedEpoch?: bigint | undefined;
  /** Largest file accepted (see `SegmentMarkers`). Default `DEFAULT_MAX_FILE_SIZE`. */
  readonly maxFileSize?: number | undefined;
  /** Ranged GETs in flight (default 4). */
  readonly concurrency?: number | undefined;
  /** Bytes per ranged GET (default 8 MiB); memory is about `concurrency × rangeBytes`. */
  readonly rangeBytes?: number | undefined;
  /** Snapshots of at least this many bytes are hashed on a worker thread (default 128 MiB; 0 = always). */
  readonly workerMinBytes?: number | undefined;
  readonly signal?: AbortSignal | undefined;
}

/**
 * Restores `dbPath` from the snapshot at `key`: downloads it with parallel ranged GETs (bounded
 * memory) and writes each page once, at its offset, into `<db>.hadb-restore`, while the object
 * is hashed in order (on a worker thread for large snapshots; see `restorePhysicalRanged`). The
 * side file is sized to its size marker (or DuckDB header) and fsynced once, the fsync
 * overlapping the end of the hashing; only after the trailer checksum verified every byte is
 * it installed with a journalled rename (see `installRestoredFile`). On any error (a corrupt
 * byte is `HADB_DUCKBLOCK_CORRUPT`, an abort `HADB_DUCKBLOCK_ABORTED`, a failed hash worker
 * `HADB_CHANGESET_WORKER_FAILED`) the side file is removed and `dbPath` is untouched. Returns
 * the new position: the snapshot's seq, its `prev_checksum` (the chain anchor) and epoch.
 */
export async function restoreSnapshot(
  storage: StorageBackend,
  key: string,
  dbPath: string,
  options: RestoreSnapshotOptions = {},
): Promise<Position> {
  const { signal } = options;
  throwIfAborted(signal);
  const tmp = restorePath(dbPath);
  let fh: FileHandle | undefined;
  let ok = false;
  try {
    fh = await open(tmp, 'w+', 0o644);
    const file = fh;
    const markers = new SegmentMarkers(`snapshot ${key}`, options.maxFileSize);
    const page = PAGE_SIZE;
    const result = await restorePhysicalRanged(
      storage,
      key,
      fh,
      {
        begin(header) {
          if (header.pageIdSize !== PageIdSize.U64 || header.pageSize !== PAGE_SIZE) {
            throw new DuckblockError('HADB_DUCKBLOCK_CORRUPT', `${key} is not a duckblock snapshot`);
          }
        },
        place(pageId, dataLen) {
          if (dataLen === 0) return undefined;
          markers.takeData(pageId, dataLen);
          return Number(pageId) * page;
        },
        entry(marker) {
          markers.take(marker);
        },
        async end() {
          // Sizes the unpublished side file before its one fsync, which overlaps the end of the
          // verification.
          markers.finish();
          if (markers.fileSize !== undefined) {
            await file.truncate(markers.fileSize);
            return;
          }
          const written = (await file.stat()).size;
          if ((await truncateToHeader(file)) < written) {
            throw new DuckblockError(
              'HADB_DUCKBLOCK_CORRUPT',
              `snapshot ${key} has pages past its DuckDB header's size`,
            );
          }
        },
      },
      {
        signal,
        concurrency: options.concurrency,
        rangeBytes: options.rangeBytes,
        workerMinBytes: options.workerMinBytes,
        sync: true,
      },
    );
    if (result === null) throw new DuckblockError('HADB_DUCKBLOCK_NOT_FOUND', `snapshot ${key} not found`);
    const { header } = result;
    const accepted = options.acceptedEpoch ?? 0n;
    const snapEpoch = markers.epoch;
    if (snapEpoch < accepted) {
      throw new DuckblockError(
        'HADB_DUCKBLOCK_FENCED',
        `snapshot ${key} has epoch ${snapEpoch}, below accepted epoch ${accepted}`,
      );
    }
    await fh.close();
    fh = undefined;
    const position = await installRestoredFile(
      dbPath,
      header.seq,
      header.prevChecksum,
      snapEpoch > accepted ? snapEpoch : accepted,
      header.createdMs,
    );
    ok = true;
    return position;
  } catch (err) {
    // A failed download (the source errored) is the storage's error, not a corrupt snapshot.
    if (isChangesetError(err, 'HADB_CHANGESET_IO') && isStorageError(err.cause)) throw err.cause;
    if (isChangesetError(err, 'HADB_CHANGESET_ABORTED') || (signal?.aborted && isStorageError(err))) {
      throw new DuckblockError('HADB_DUCKBLOCK_ABORTED', 'snapshot restore aborted', { cause: err });
    }
    // The hash worker failed: nothing is known about the snapshot's bytes.
    if (isChangesetError(err, 'HADB_CHANGESET_WORKER_FAILED')) throw err;
    if (isChangesetError(err)) {
      throw new DuckblockError('HADB_DUCKBLOCK_CORRUPT', `snapshot ${key} rejected: ${err.message}`, { cause: err });
    }
    throw err;
  } finally {
    await fh?.close().catch(() => undefined);
    if (!ok) await rm(tmp, { force: true });
  }
}
