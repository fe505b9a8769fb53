import { rm } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';

/** DuckDB's file layout constants (see the storage format: 4 KiB main header, two 4 KiB database headers, 256 KiB blocks). */
export const DUCK_HEADER_SIZE = 4096;
export const DUCK_HEADERS_END = 3 * DUCK_HEADER_SIZE;

/** The active database header: the one of the two slots with the higher iteration. */
export interface DuckHeaderInfo {
  /** Checkpoint iteration; grows by one per checkpoint. 0 for a file never checkpointed. */
  readonly iteration: bigint;
  /** Number of blocks the active header references. */
  readonly blockCount: bigint;
}

/**
 * Reads the active header through an already-open handle. Never open and close a separate fd on a
 * file DuckDB holds in this process: closing any fd drops DuckDB's POSIX lock.
 * Returns iteration 0 for a file shorter than the header region (new, never checkpointed).
 */
export async function readDuckHeader(handle: FileHandle): Promise<DuckHeaderInfo> {
  const buf = Buffer.alloc(2 * DUCK_HEADER_SIZE);
  const { bytesRead } = await handle.read(buf, 0, buf.length, DUCK_HEADER_SIZE);
  if (bytesRead < buf.length) return { iteration: 0n, blockCount: 0n };
  const a = { iteration: buf.readBigUInt64LE(8), blockCount: buf.readBigUInt64LE(32) };
  const b = { iteration: buf.readBigUInt64LE(DUCK_HEADER_SIZE + 8), blockCount: buf.readBigUInt64LE(DUCK_HEADER_SIZE + 32) };
  return b.iteration > a.iteration ? b : a;
}

/**
 * Deletes DuckDB's side files next to `path` (`.wal`, `.wal.checkpoint`, `.wal.recovery`). A
 * follower must do this before every open: a READ_ONLY open silently replays a stale WAL.
 */
export async function removeWalFiles(path: string): Promise<void> {
  await Promise.all(['.wal', '.wal.checkpoint', '.wal.recovery'].map((s) => rm(path + s, { force: true })));
}
