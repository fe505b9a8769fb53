import { createHash } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { open, readFile, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import type { PageEntry } from '@hadb/changeset';
import { DuckblockError } from './errors.js';
import { fsyncDir, removeDurably } from './fsutil.js';
import { HEADER_REGION_SIZE, PAGE_SIZE, parseHeaderRegion } from './layout.js';
import { preadExact, scanFile } from './manifest.js';
import { readPosition, writePosition, type Position } from './position.js';
import { decodeSegment, type DecodedSegment } from './segment.js';

const JOURNAL_MAGIC = Buffer.from('HADBDKJ1', 'ascii');

/** Path of the apply journal of database file `dbPath`. */
export function journalPath(dbPath: string): string {
  return `${dbPath}.hadb-journal`;
}

/** Path of the side file a snapshot restore is built in. */
export function restorePath(dbPath: string): string {
  return `${dbPath}.hadb-restore`;
}

/** Removes DuckDB's WAL side files next to `dbPath` (a READ_ONLY open would replay a stale WAL). */
export async function removeWalFiles(dbPath: string): Promise<void> {
  await Promise.all(['.wal', '.wal.checkpoint', '.wal.recovery'].map((s) => rm(dbPath + s, { force: true })));
}

interface JournalMeta {
  readonly kind: 'apply' | 'restore';
  readonly seq: string;
  readonly checksum: string;
  readonly epoch: string;
}

/**
 * Journal layout: magic (8) | u32 LE json length | json | u64 LE payload length | payload |
 * SHA-256 of the header part (magic through payload length). The payload is a complete `.hadbp`
 * segment, verified by its own checksum when the journal is replayed, so it is not hashed twice;
 * the journal only becomes visible by an atomic rename after it was fsynced.
 */
function journalHead(meta: JournalMeta, payloadLength: number): Buffer {
  const json = Buffer.from(JSON.stringify(meta), 'utf8');
  const head = Buffer.alloc(8 + 4 + json.length + 8);
  JOURNAL_MAGIC.copy(head, 0);
  head.writeUInt32LE(json.length, 8);
  json.copy(head, 12);
  head.writeBigUInt64LE(BigInt(payloadLength), 12 + json.length);
  return Buffer.concat([head, createHash('sha256').update(head).digest()]);
}

/** Parses a journal; `null` when it is incomplete or damaged (then it was never committed). */
function decodeJournal(buf: Buffer): { meta: JournalMeta; payload: Uint8Array } | null {
  if (buf.length < 8 + 4 + 8 + 32 || !buf.subarray(0, 8).equals(JOURNAL_MAGIC)) return null;
  const jsonLen = buf.readUInt32LE(8);
  const headLen = 12 + jsonLen + 8;
  if (headLen + 32 > buf.length) return null;
  const digest = createHash('sha256').update(buf.subarray(0, headLen)).digest();
  if (!digest.equals(buf.subarray(headLen, headLen + 32))) return null;
  const payloadLen = Number(buf.readBigUInt64LE(12 + jsonLen));
  if (headLen + 32 + payloadLen !== buf.length) return null;
  try {
    const meta = JSON.parse(buf.subarray(12, 12 + jsonLen).toString('utf8')) as JournalMeta;
    return { meta, payload: buf.subarray(headLen + 32) };
  } catch {
    return null;
  }
}

/** Writes the journal: temporary file, fsync, atomic rename, directory fsync. */
async function writeJournal(dbPath: string, meta: JournalMeta, payload: Uint8Array): Promise<void> {
  const path = journalPath(dbPath);
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, 'w', 0o644);
  try {
    const head = journalHead(meta, payload.length);
    let parts: Uint8Array[] = [head, payload];
    let total = head.length + payload.length;
    let offset = 0;
    while (total > 0) {
      const { bytesWritten } = await fh.writev(parts, offset);
      offset += bytesWritten;
      total -= bytesWritten;
      if (total > 0) {
        // Short vectored write: continue with the remainder.
        const rest: Uint8Array[] = [];
        let skip = bytesWritten;
        for (const p of parts) {
          if (skip >= p.length) {
            skip -= p.length;
            continue;
          }
          rest.push(p.subarray(skip));
          skip = 0;
        }
        parts = rest;
      }
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  await fsyncDir(path);
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
    if (!Number.isSafeInteger(id * PAGE_SIZE)) throw new DuckblockError('DUCKBLOCK_CORRUPT_SEGMENT', 'page id out of range');
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

async function positionOfFile(dbPath: string, seq: bigint, checksum: bigint, epoch: bigint): Promise<Position> {
  const fh = await open(dbPath, 'r');
  try {
    return { seq, checksum, epoch, manifest: scanFile(fh.fd).manifest };
  } finally {
    await fh.close();
  }
}

async function completeJournal(
  dbPath: string,
  meta: JournalMeta,
  payload: Uint8Array,
  decoded?: DecodedSegment,
): Promise<Position> {
  const seq = BigInt(meta.seq);
  const checksum = BigInt(`0x${meta.checksum}`);
  const epoch = BigInt(meta.epoch);
  if (meta.kind === 'apply') {
    // Replaying after a crash: the payload verifies itself (length, structure, checksum).
    const seg = decoded ?? decodeSegment(payload);
    if (seg.changeset.checksum !== checksum) {
      throw new DuckblockError('DUCKBLOCK_BAD_STATE', 'apply journal does not match its segment');
    }
    await replayPages(dbPath, seg.pages, seg.fileSize);
  } else {
    const tmp = restorePath(dbPath);
    if (await exists(tmp)) {
      await rename(tmp, dbPath);
      await fsyncDir(dbPath);
    }
  }
  const position = await positionOfFile(dbPath, seq, checksum, epoch);
  await writePosition(dbPath, position);
  // Not fsynced: if the unlink is lost, recovery replays the journal again, which is idempotent.
  await rm(journalPath(dbPath), { force: true });
  return position;
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
  let journal: Buffer | null = null;
  try {
    journal = await readFile(jpath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  let position: Position | null = null;
  if (journal !== null) {
    const parsed = decodeJournal(journal);
    if (parsed === null) {
      await removeDurably(jpath);
    } else {
      position = await completeJournal(dbPath, parsed.meta, parsed.payload);
    }
  }
  await rm(`${jpath}.tmp`, { force: true });
  if (journal === null || position === null) await rm(restorePath(dbPath), { force: true });
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
export async function applySegmentDurably(dbPath: string, bytes: Uint8Array, segment: DecodedSegment): Promise<Position> {
  const meta: JournalMeta = {
    kind: 'apply',
    seq: segment.changeset.header.seq.toString(),
    checksum: segment.changeset.checksum.toString(16).padStart(16, '0'),
    epoch: segment.epoch.toString(),
  };
  await writeJournal(dbPath, meta, bytes);
  return completeJournal(dbPath, meta, bytes, segment);
}

/**
 * Installs a fully written and fsynced restore file (`<db>.hadb-restore`) as the database,
 * crash-safely: a journal records the target position, then the file is renamed over `dbPath`,
 * the position persisted and the journal removed.
 */
export async function installRestoredFile(dbPath: string, seq: bigint, checksum: bigint, epoch: bigint): Promise<Position> {
  const meta: JournalMeta = { kind: 'restore', seq: seq.toString(), checksum: checksum.toString(16).padStart(16, '0'), epoch: epoch.toString() };
  await writeJournal(dbPath, meta, new Uint8Array(0));
  return completeJournal(dbPath, meta, new Uint8Array(0));
}

