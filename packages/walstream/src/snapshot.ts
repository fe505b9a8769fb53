/**
 * Snapshots: the whole database as one `.hadbp` under generation 1, streamed page by page
 * (bounded memory: one read buffer and the encoder's chunk). The image is the database file
 * overlaid with the WAL's committed frames up to the replicator's position, read while the
 * replicator holds its read transaction, so no checkpoint can move frames the image needs.
 */
import { closeSync, fstatSync, openSync } from 'node:fs';
import { PageIdSize, PhysicalStreamWriter, type PageEntry } from '@hadb/changeset';
import type { StorageBackend } from '@hadb/storage';
import { WalstreamError } from './errors.js';
import { headerDbPages, headerPageSize, metaEntry } from './meta.js';
import { overlayIndex } from './capture.js';
import { pinnedFd } from './pinned-files.js';
import { frameOffset, preadSome, WAL_FRAME_HEADER_SIZE } from './wal.js';
import type { WalPosition } from './state.js';

/** Result of {@link uploadSnapshot}. */
export interface SnapshotResult {
  readonly key: string;
  readonly seq: bigint;
  readonly dbPages: number;
  readonly pageSize: number;
  readonly bytes: number;
}

/** Inputs of {@link uploadSnapshot}. */
export interface SnapshotInput {
  readonly storage: StorageBackend;
  readonly key: string;
  readonly seq: bigint;
  /** Chain checksum at `seq`, stored as the snapshot's `prev_checksum`. */
  readonly anchor: bigint;
  readonly dbPath: string;
  readonly walPath: string;
  /** The replicator's WAL position (every committed frame before it is part of the image). */
  readonly position: WalPosition | null;
  readonly createdMs: number;
  /** Writer epoch stamped into the metadata entry (the 4-byte form without one). */
  readonly epoch?: bigint | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** Streams a snapshot of the database to `key`. */
export async function uploadSnapshot(input: SnapshotInput): Promise<SnapshotResult> {
  const dbFd = pinnedFd(input.dbPath, false);
  let walFd: number | null = null;
  try {
    const fileSize = fstatSync(dbFd).size;
    const page1 = preadSome(dbFd, 100, 0);
    let pageSize = page1.byteLength === 100 ? headerPageSize(page1) : null;
    let overlay: Map<number, number> = new Map();
    let dbPages = 0;
    if (input.position !== null && input.position.index > 0) {
      const found = overlayIndex(input.walPath, input.position);
      if (found === null) {
        throw new WalstreamError('HADB_WALSTREAM_UNAVAILABLE', `${input.dbPath}: WAL changed during snapshot; retry`);
      }
      overlay = found.frames;
      dbPages = found.dbPages;
      pageSize = found.header.pageSize;
      walFd = openSync(input.walPath, 'r');
    }
    if (pageSize === null) {
      if (fileSize === 0) pageSize = 4096;
      else throw new WalstreamError('HADB_WALSTREAM_NOT_WAL', `${input.dbPath} is not a SQLite database`);
    }
    if (dbPages === 0 && fileSize > 0) {
      const declared = page1.byteLength === 100 ? headerDbPages(page1) : 0;
      dbPages = declared > 0 ? declared : Math.floor(fileSize / pageSize);
    }
    const ps = pageSize;
    const wfd = walFd;
    const perRead = Math.max(1, Math.floor((4 << 20) / ps));
    const pages = function* (): Generator<PageEntry> {
      yield metaEntry(dbPages, input.epoch);
      let block: Uint8Array = new Uint8Array(0);
      let blockFirst = 0;
      for (let pgno = 1; pgno <= dbPages; pgno++) {
        const frame = overlay.get(pgno);
        let data: Uint8Array;
        if (frame !== undefined && wfd !== null) {
          data = preadSome(wfd, ps, frameOffset(ps, frame) + WAL_FRAME_HEADER_SIZE);
        } else {
          // Database-file pages are read in blocks of up to 4 MiB.
          if (pgno < blockFirst || pgno >= blockFirst + block.byteLength / ps) {
            blockFirst = pgno;
            block = preadSome(dbFd, Math.min(perRead, dbPages - pgno + 1) * ps, (pgno - 1) * ps);
          }
          const at = (pgno - blockFirst) * ps;
          data = block.subarray(at, at + ps);
        }
        if (data.byteLength !== ps) {
          throw new WalstreamError(
            'HADB_WALSTREAM_UNAVAILABLE',
            `${input.dbPath}: page ${pgno} short read during snapshot; retry`,
          );
        }
        yield { pageId: BigInt(pgno), data };
      }
    };
    const writer = new PhysicalStreamWriter(
      {
        seq: input.seq,
        prevChecksum: input.anchor,
        pageIdSize: PageIdSize.U32,
        pageSize: ps,
        pageCount: dbPages + 1,
        createdMs: BigInt(input.createdMs),
      },
      pages(),
      { signal: input.signal, chunkSize: 1 << 20 },
    );
    const result = await input.storage.putStream(input.key, writer, { signal: input.signal });
    if (!result.success) throw new WalstreamError('HADB_WALSTREAM_CONFLICT', `snapshot ${input.key} already exists`);
    return { key: input.key, seq: input.seq, dbPages, pageSize: ps, bytes: result.size };
  } finally {
    if (walFd !== null) closeSync(walFd);
  }
}
