import { randomBytes } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import { mkdir, open, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { isStorageError } from '@hadb/storage';
import { abortable, throwIfAborted } from '@hadb/io';
import { storageAborted } from '@hadb/storage';
import { errno, keyConflict } from './fs-errors.js';

/** Names of every file and directory the backend creates for itself start with this. */
export const RESERVED = '.hadb-';
/** Temp files: `.hadb-tmp-<pid>-<owner nonce>-<random>`. */
export const TEMP_PREFIX = `${RESERVED}tmp-`;

let lastStamp = 0;

/**
 * A wall-clock time in whole microseconds, strictly increasing within this process. Stamped as the
 * mtime of every object version; see `etag.ts`.
 */
export function nextStampMicros(): number {
  const now = Math.floor((performance.timeOrigin + performance.now()) * 1000);
  lastStamp = Math.max(now, lastStamp + 1);
  return lastStamp;
}

/** Sets atime and mtime to `micros` exactly (the half microsecond keeps float truncation on the right value). */
export async function stampFile(fh: FileHandle, micros: number): Promise<void> {
  const seconds = (micros + 0.5) / 1e6;
  await fh.utimes(seconds, seconds);
}

/**
 * fsyncs a directory (or, with `dataOnly`, fdatasyncs a file) by path: both apply to the inode,
 * whatever descriptor is used.
 */
export async function syncPath(path: string, dataOnly = false): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await (dataOnly ? fh.datasync() : fh.sync());
  } finally {
    await fh.close();
  }
}

/**
 * `mkdir -p dir`, then (if `durable`) fsyncs the parents of every directory it created, so the new
 * entries survive a crash. A file where a directory is needed is a key conflict.
 */
export async function ensureDir(dir: string, durable: boolean): Promise<void> {
  let first: string | undefined;
  try {
    first = await mkdir(dir, { recursive: true });
  } catch (error) {
    if (errno(error) === 'ENOTDIR' || errno(error) === 'EEXIST') throw keyConflict('mkdir', error);
    throw error;
  }
  if (first === undefined || !durable) return;
  const chain = [dirname(first), first];
  let at = first;
  for (const segment of relative(first, dir).split(sep).filter(Boolean)) {
    at = join(at, segment);
    chain.push(at);
  }
  chain.pop(); // `dir` itself is fsynced by whoever adds an entry to it
  for (const d of chain) {
    // A concurrent delete may already have pruned a new, still empty directory; the caller retries.
    await syncPath(d).catch((error: unknown) => {
      if (errno(error) !== 'ENOENT') throw error;
    });
  }
}

/** Wraps an error thrown by a caller's stream body, so it reaches the caller unchanged. */
export class SourceError extends Error {
  constructor(override readonly cause: unknown) {
    super('stream body failed');
  }
}

/** A complete, synced temporary file in the target directory, ready to be renamed or linked into place. */
export interface TempFile {
  readonly path: string;
  /** Stat of the temp file after stamping (same inode, mtime and size as the published object). */
  readonly stats: BigIntStats;
}

export interface WriteTempOptions {
  /** fsync the file before returning (else call {@link syncFile} before publishing it). */
  readonly sync: boolean;
  /** fsync the parents of directories created on the way. */
  readonly durable: boolean;
  readonly signal: AbortSignal | undefined;
  /** Identifies the writing process in the temp name (`<pid>-<nonce>`), so orphans can be told apart. */
  readonly ownerTag: string;
}

async function writeAll(fh: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}

/**
 * Writes `source` to a new temp file (`.hadb-tmp-<pid>-<nonce>-<random>`) in `dir`, stamps its mtime and
 * (with `sync`) fsyncs it. On any failure, abort included, the temp file is removed.
 */
export async function writeTemp(
  dir: string,
  source: Uint8Array | AsyncIterable<Uint8Array>,
  options: WriteTempOptions,
): Promise<TempFile> {
  const path = join(dir, `${TEMP_PREFIX}${options.ownerTag}-${randomBytes(8).toString('hex')}`);
  let fh: FileHandle | undefined;
  for (let attempt = 0; fh === undefined; attempt++) {
    try {
      fh = await open(path, 'wx');
    } catch (error) {
      // A concurrent delete may prune the (empty) directory between ensureDir and open.
      if (errno(error) !== 'ENOENT' || attempt >= 5) throw error;
      await ensureDir(dir, options.durable);
    }
  }
  try {
    if (source instanceof Uint8Array) {
      await writeAll(fh, source, 0);
    } else {
      const chunks = abortable(source, options.signal, storageAborted);
      let position = 0;
      try {
        for (;;) {
          let next: IteratorResult<Uint8Array>;
          try {
            next = await chunks.next();
          } catch (error) {
            throw isStorageError(error, 'HADB_STORAGE_ABORTED') ? error : new SourceError(error);
          }
          if (next.done) break;
          await writeAll(fh, next.value, position);
          position += next.value.length;
        }
      } finally {
        await chunks.return(undefined);
      }
    }
    throwIfAborted(options.signal, storageAborted);
    await stampFile(fh, nextStampMicros());
    if (options.sync) await fh.datasync();
    const stats = await fh.stat({ bigint: true });
    await fh.close();
    fh = undefined;
    return { path, stats };
  } catch (error) {
    await fh?.close().catch(() => {});
    await unlink(path).catch(() => {});
    throw error;
  }
}
