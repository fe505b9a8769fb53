import { open, stat, type FileHandle } from 'node:fs/promises';
import { resolve } from 'node:path';

interface Entry {
  readonly handle: FileHandle;
  readonly ino: number;
  readonly dev: number;
}

const handles = new Map<string, Entry>();

/**
 * A read-only handle on a leader's database file that stays open for the life of the process.
 *
 * DuckDB holds a POSIX `fcntl` lock on its file, and POSIX drops every lock a process holds on a
 * file as soon as the process closes *any* descriptor of that file. Reading the file with a
 * short-lived descriptor (`readFile`, `open` + `close`) inside the leader process would silently
 * let another process open the database read-write. So duckblock opens each leader file once and
 * reuses the descriptor; it is closed only by {@link releaseLeaderFile}, which the application
 * calls after it closed its DuckDB instance.
 *
 * If the path now names a different file (same path, new inode), a new handle is opened; the old
 * one is kept open because its inode may still be locked by DuckDB.
 */
export async function leaderFileHandle(path: string): Promise<FileHandle> {
  const key = resolve(path);
  const st = await stat(key);
  const existing = handles.get(key);
  if (existing !== undefined && existing.ino === st.ino && existing.dev === st.dev) return existing.handle;
  const handle = await open(key, 'r');
  const fst = await handle.stat();
  if (existing !== undefined) retired.push(existing.handle);
  handles.set(key, { handle, ino: fst.ino, dev: fst.dev });
  return handle;
}

const retired: FileHandle[] = [];

/**
 * Closes the long-lived handle(s) duckblock keeps on `path`. Call it only after the DuckDB
 * instance that had the file open in this process was closed (see {@link leaderFileHandle}).
 * Idempotent.
 */
export async function releaseLeaderFile(path: string): Promise<void> {
  const key = resolve(path);
  const existing = handles.get(key);
  handles.delete(key);
  if (existing !== undefined) await existing.handle.close();
}
