import type { OpOptions } from '@hadb/io';
import { constants as fsConstants, createReadStream } from 'node:fs';
import { open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { PageIdSize, isChangesetError, readPhysicalStream, type PageEntry } from '@hadb/changeset';
import { isStorageError } from '@hadb/storage';
import { DuckblockError } from './errors.js';
import { fsyncParentDir, removeDurably } from './fsutil.js';
import { commitJournal, readJournal, writeAll, writeJournal, type JournalMeta } from './journal.js';
import { HEADER_REGION_SIZE, PAGE_SIZE, parseHeaderRegion } from './layout.js';
import { preadExact, scanFile } from './manifest.js';
import { readPosition, writePosition, type Position } from './position.js';
import { SegmentMarkers, readMarker, type DecodedSegment } from './segment.js';

import { journalPath, restorePath } from './local-files.js';

export { journalPath, restorePath };

/** Removes DuckDB's WAL side files next to `dbPath` (a READ_ONLY open would replay a stale WAL). */
export async function removeWalFiles(dbPath: string): Promise<void> {
  await Promise.all(['.wal', '.wal.checkpoint', '.wal.recovery'].map((s) => rm(dbPath + s, { force: true })));
}

/**
 * Writes `pages` into `fh` at `id × 4096`, coalescing runs of consecutive full pages into one
 * vectored write. Zero-length entries (the epoch marker) write nothing.
 */
export async function writePages(fh: FileHandle, pages: readonly PageEntry[]): Promise<void> {
  let run: Uint8Array[] = [];
  let runStart = 0;
  let runNext = -1;
  const flush = async (): Promise<void> => {
    if (run.length === 0) return;
    let offset = runStart * PAGE_SIZE;
    let bufs = run;
    while (bufs.length > 0) {
      const batch = bufs.slice(0, 512);
      const total = batch.reduce((n, b) => n + b.length, 0);
      const { bytesWritten } = await fh.writev(batch, offset);
      if (bytesWritten !== total) {
        // Short vectored write: fall back to plain writes for this batch.
        let o = offset;
        for (const b of batch) {
          let done = 0;
          while (done < b.length) done += (await fh.write(b, done, b.length - done, o + done)).bytesWritten;
          o += b.length;
        }
      }
      offset += total;
      bufs = bufs.slice(512);
    }
    run = [];
  };
  for (const p of pages) {
    if (p.data.length === 0) continue;
    const id = Number(p.pageId);
    if (!Number.isSafeInteger(id * PAGE_SIZE))
      throw new DuckblockError('HADB_DUCKBLOCK_CORRUPT', 'page id out of range');
    if (run.length > 0 && id === runNext && run[run.length - 1]!.length === PAGE_SIZE) {
      run.push(p.data);
    } else {
      await flush();
      runStart = id;
      run = [p.data];
    }
    runNext = id + 1;
  }
  await flush();
}

/**
 * Sets the file to the exact size its active DuckDB header implies (`12288 + blockCount ×
 * blockAllocSize`), truncating or extending. Returns that size.
 */
export async function truncateToHeader(fh: FileHandle): Promise<number> {
  const region = new Uint8Array(HEADER_REGION_SIZE);
  await preadExact(fh, region, 0);
  const { fileSize } = parseHeaderRegion(region);
  await fh.truncate(fileSize);
  return fileSize;
}

/**
 * Writes a segment's pages into the file and sizes it: to the segment's size marker when it has
 * one, else (a segment from another writer) to its DuckDB header when pages were written; an
 * empty segment without a size marker leaves the file as it is.
 */
async function replayPages(dbPath: string, pages: readonly PageEntry[], fileSize: number | undefined): Promise<void> {
  // O_CREAT without O_TRUNC: an existing file is patched in place.
  const fh = await open(dbPath, fsConstants.O_RDWR | fsConstants.O_CREAT, 0o644);
  try {
    await writePages(fh, pages);
    if (fileSize !== undefined) await fh.truncate(fileSize);
    else if (pages.length > 0) await truncateToHeader(fh);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function positionOfFile(
  dbPath: string,
  seq: bigint,
  checksum: bigint,
  epoch: bigint,
  createdMs: number | undefined,
): Promise<Position> {
  const fh = await open(dbPath, 'r');
  try {
    return {
      seq,
      checksum,
      epoch,
      manifest: scanFile(fh.fd).manifest,
      ...(createdMs === undefined ? {} : { createdMs }),
    };
  } finally {
    await fh.close();
  }
}

/**
 * Writes the pages of the committed journal's segment into the database, streaming them from the
 * journal file (bounded memory for any segment size), and sizes the file. With `verifyFirst` the
 * whole payload is decoded and its checksum checked before anything is written (crash recovery).
 */
async function replayJournalFile(
  dbPath: string,
  payloadLength: number,
  checksum: bigint,
  verifyFirst: boolean,
): Promise<void> {
  const source = () =>
    createReadStream(journalPath(dbPath), { start: 0, end: payloadLength - 1, highWaterMark: 1 << 20 });
  if (verifyFirst) {
    const check = readPhysicalStream(source());
    try {
      for await (const _page of check) {
        // Decoding verifies structure and checksum.
      }
    } catch (cause) {
      throw new DuckblockError('HADB_DUCKBLOCK_BAD_STATE', 'apply journal payload does not verify', { cause });
    }
    if (check.checksum !== checksum)
      throw new DuckblockError('HADB_DUCKBLOCK_BAD_STATE', 'apply journal does not match its segment');
  }
  const reader = readPhysicalStream(source());
  const fh = await open(dbPath, fsConstants.O_RDWR | fsConstants.O_CREAT, 0o644);
  try {
    let fileSize: number | undefined;
    let wrote = false;
    let batch: PageEntry[] = [];
    let writing: Promise<void> = Promise.resolve();
    for await (const page of reader) {
      const marker = readMarker(page);
      if (marker.kind !== 'data') {
        if (marker.kind === 'size') fileSize = marker.fileSize;
        continue;
      }
      wrote = true;
      batch.push(page);
      if (batch.length >= 1024) {
        const out = batch;
        batch = [];
        await writing;
        writing = writePages(fh, out);
        writing.catch(() => undefined);
      }
    }
    await writing;
    await writePages(fh, batch);
    if (reader.checksum !== checksum)
      throw new DuckblockError('HADB_DUCKBLOCK_BAD_STATE', 'apply journal does not match its segment');
    if (fileSize !== undefined) await fh.truncate(fileSize);
    else if (wrote) await truncateToHeader(fh);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Finishes a committed journal: writes the step (from memory when the caller still has the
 * decoded segment, else streamed from the journal file), persists the position, removes the
 * journal.
 */
async function completeJournal(
  dbPath: string,
  meta: JournalMeta,
  payloadLength: number,
  decoded: DecodedSegment | undefined,
  verifyFirst: boolean,
): Promise<Position> {
  const seq = BigInt(meta.seq);
  const checksum = BigInt(`0x${meta.checksum}`);
  const epoch = BigInt(meta.epoch);
  if (meta.kind === 'apply') {
    try {
      if (decoded !== undefined) {
        if (decoded.changeset.checksum !== checksum) {
          throw new DuckblockError('HADB_DUCKBLOCK_BAD_STATE', 'apply journal does not match its segment');
        }
        await replayPages(dbPath, decoded.pages, decoded.fileSize);
      } else {
        await replayJournalFile(dbPath, payloadLength, checksum, verifyFirst);
      }
    } catch (cause) {
      if (!cannotSucceed(cause)) throw cause;
      // Replaying it again would fail again: drop the journal so the pull can go on (the file no
      // longer matches the position, which the next pull reports as DIVERGED and restores).
      await removeDurably(journalPath(dbPath));
      throw new DuckblockError(
        'HADB_DUCKBLOCK_CORRUPT',
        `segment ${meta.seq} cannot be applied; its journal was discarded: ${(cause as Error).message}`,
        {
          cause,
        },
      );
    }
  } else {
    const tmp = restorePath(dbPath);
    if (await exists(tmp)) {
      await rename(tmp, dbPath);
      await fsyncParentDir(dbPath);
    }
  }
  const position = await positionOfFile(dbPath, seq, checksum, epoch, createdMsOf(meta.createdMs));
  await writePosition(dbPath, position);
  // Not fsynced: if the unlink is lost, recovery replays the journal again, which is idempotent.
  await rm(journalPath(dbPath), { force: true });
  return position;
}

/** A header's `created_ms` for the journal (absent when 0: the writer's clock failed). */
export function journalCreatedMs(createdMs: bigint): { createdMs?: string } {
  return createdMs > 0n && createdMs <= BigInt(Number.MAX_SAFE_INTEGER) ? { createdMs: createdMs.toString() } : {};
}

function createdMsOf(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,16}$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/**
 * Whether a failed replay would fail the same way every time (a defect of the segment, or a size
 * the file system refuses), as opposed to a transient I/O failure worth replaying again.
 */
function cannotSucceed(err: unknown): boolean {
  if (err instanceof DuckblockError)
    return err.code === 'HADB_DUCKBLOCK_CORRUPT' || err.code === 'HADB_DUCKBLOCK_BAD_STATE';
  if (err instanceof RangeError) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'EFBIG' || code === 'EINVAL' || code === 'ERR_OUT_OF_RANGE' || code === 'ERR_INVALID_ARG_VALUE';
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/**
 * Brings a follower's file to a consistent state after a crash and prepares it for opening:
 * replays a committed apply journal (idempotent) or discards an uncommitted one, removes leftover
 * temporary files, and deletes stale DuckDB WAL files (unless `removeWal: false`). Returns the persisted position (or `null`
 * when the file was never replicated). Call it before opening the file with DuckDB.
 */
export async function recoverFile(dbPath: string, options: { removeWal?: boolean } = {}): Promise<Position | null> {
  const jpath = journalPath(dbPath);
  const journal = await readJournal(jpath);
  let position: Position | null = null;
  if (journal.meta !== null) {
    position = await completeJournal(dbPath, journal.meta, journal.payloadLength, undefined, true);
  } else if (journal.exists) {
    await removeDurably(jpath);
  }
  await rm(`${jpath}.tmp`, { force: true });
  if (position === null) await rm(restorePath(dbPath), { force: true });
  if (options.removeWal ?? true) await removeWalFiles(dbPath);
  return position ?? (await readPosition(dbPath));
}

/**
 * Applies one verified segment crash-safely: the segment bytes and the target position are first
 * written to `<db>.hadb-journal` (fsynced, renamed into place), then the pages are written, the
 * file is sized to its DuckDB header and fsynced, the position is persisted and the journal
 * removed. A crash at any point leaves the file at the previous state or, after
 * {@link recoverFile}, at the new one — never in between. The file ends up exactly the size the
 * segment's size marker gives. The caller has verified chain and epoch.
 */
export async function applySegmentDurably(
  dbPath: string,
  bytes: Uint8Array,
  segment: DecodedSegment,
): Promise<Position> {
  const meta: JournalMeta = {
    kind: 'apply',
    seq: segment.changeset.header.seq.toString(),
    checksum: segment.changeset.checksum.toString(16).padStart(16, '0'),
    epoch: segment.epoch.toString(),
    ...journalCreatedMs(segment.changeset.header.createdMs),
  };
  await writeJournal(dbPath, meta, bytes);
  return completeJournal(dbPath, meta, bytes.length, segment, false);
}

/**
 * Installs a fully written and fsynced restore file (`<db>.hadb-restore`) as the database,
 * crash-safely: a journal records the target position, then the file is renamed over `dbPath`,
 * the position persisted and the journal removed.
 */
export async function installRestoredFile(
  dbPath: string,
  seq: bigint,
  checksum: bigint,
  epoch: bigint,
  createdMs = 0n,
): Promise<Position> {
  const meta: JournalMeta = {
    kind: 'restore',
    seq: seq.toString(),
    checksum: checksum.toString(16).padStart(16, '0'),
    epoch: epoch.toString(),
    ...journalCreatedMs(createdMs),
  };
  await writeJournal(dbPath, meta, new Uint8Array(0));
  return completeJournal(dbPath, meta, 0, undefined, false);
}

/** Options of {@link applyStreamedSegment}. */
export interface StreamedApplyOptions extends OpOptions {
  /** Sequence the key names; the header must agree. */
  readonly seq: bigint;
  /** The follower's chain checksum: the segment's `prev_checksum` must equal it. */
  readonly expectedPrev: bigint;
  /** Highest epoch accepted; an older segment is refused (`HADB_DUCKBLOCK_FENCED`). */
  readonly acceptedEpoch: bigint;
  /**
   * Admission hook run after verification, before anything is written, with the segment's writer
   * epoch and sequence number (throws to refuse).
   */
  readonly admitEpoch?: ((epoch: bigint, seq: bigint) => void) | undefined;
  /** Largest file accepted (see `SegmentMarkers`). Default `DEFAULT_MAX_FILE_SIZE`. */
  readonly maxFileSize?: number | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** Result of {@link applyStreamedSegment}. */
export type StreamedApplyResult =
  | { readonly kind: 'applied'; readonly position: Position; readonly bytes: number }
  /** The segment does not continue the chain (its `prev_checksum` is `prev`); nothing was written. */
  | { readonly kind: 'chain-broken'; readonly prev: bigint };

/**
 * {@link applySegmentDurably} for a segment of any size with bounded memory: the download is
 * written to the journal's temporary file while it is decoded and verified (structure, checksum,
 * seq, chain, epoch); only a fully verified journal is committed (fsync + rename), and the pages
 * are then streamed from it into the database. A failure before the commit leaves nothing.
 */
export async function applyStreamedSegment(
  dbPath: string,
  body: AsyncIterable<Uint8Array>,
  options: StreamedApplyOptions,
): Promise<StreamedApplyResult> {
  const path = journalPath(dbPath);
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, 'w', 0o644);
  let offset = 0;
  let handed = false;
  async function* tee(): AsyncGenerator<Uint8Array> {
    for await (const chunk of body) {
      offset = await writeAll(fh, [chunk], offset);
      yield chunk;
    }
  }
  const reader = readPhysicalStream(tee(), { signal: options.signal });
  try {
    const header = await reader.header();
    if (header.pageIdSize !== PageIdSize.U64 || header.pageSize !== PAGE_SIZE) {
      throw new DuckblockError('HADB_DUCKBLOCK_CORRUPT', `segment ${options.seq} is not a duckblock segment`);
    }
    if (header.seq !== options.seq) {
      throw new DuckblockError(
        'HADB_DUCKBLOCK_SEQ_MISMATCH',
        `segment header says seq ${header.seq}, key says ${options.seq}`,
      );
    }
    if (header.prevChecksum !== options.expectedPrev) {
      await reader.close();
      return { kind: 'chain-broken', prev: header.prevChecksum };
    }
    const markers = new SegmentMarkers(`segment ${options.seq}`, options.maxFileSize);
    for await (const page of reader) markers.take(page);
    markers.finish();
    const checksum = reader.checksum;
    if (checksum === undefined)
      throw new DuckblockError('HADB_DUCKBLOCK_CORRUPT', `segment ${options.seq} ended early`);
    const segEpoch = markers.epoch;
    if (segEpoch < options.acceptedEpoch) {
      throw new DuckblockError(
        'HADB_DUCKBLOCK_FENCED',
        `segment ${options.seq} was written under epoch ${segEpoch}, below accepted epoch ${options.acceptedEpoch}`,
      );
    }
    options.admitEpoch?.(segEpoch, options.seq);
    const meta: JournalMeta = {
      kind: 'apply',
      seq: options.seq.toString(),
      checksum: checksum.toString(16).padStart(16, '0'),
      epoch: segEpoch.toString(),
      ...journalCreatedMs(header.createdMs),
    };
    handed = true;
    await commitJournal(fh, tmp, path, meta, offset);
    const position = await completeJournal(dbPath, meta, offset, undefined, false);
    return { kind: 'applied', position, bytes: offset };
  } catch (err) {
    if (isChangesetError(err, 'HADB_CHANGESET_IO') && isStorageError(err.cause)) throw err.cause;
    if (isChangesetError(err, 'HADB_CHANGESET_ABORTED'))
      throw new DuckblockError('HADB_DUCKBLOCK_ABORTED', 'apply aborted', { cause: err });
    if (isChangesetError(err)) {
      throw new DuckblockError('HADB_DUCKBLOCK_CORRUPT', `segment ${options.seq} rejected: ${err.message}`, {
        cause: err,
      });
    }
    throw err;
  } finally {
    if (!handed) {
      await reader.close().catch(() => undefined);
      await fh.close().catch(() => undefined);
      await rm(tmp, { force: true });
    }
  }
}
