/**
 * File descriptors to SQLite database files that are never closed.
 *
 * SQLite on Unix locks with POSIX advisory locks, which belong to the process and are all
 * released when the process closes *any* descriptor of the file. Reading a live database with
 * `fs.open`/`fs.close` would therefore silently drop the locks of every SQLite connection in this
 * process (walstream's own and, embedded, the application's): another process could then take an
 * exclusive lock, checkpoint and delete the WAL under us. SQLite itself defers such closes; so do
 * we: a descriptor is opened once per file (device and inode) and kept for the life of the
 * process. The cost is one descriptor per database file ever snapshotted or applied to.
 */
import { fstatSync, openSync, statSync } from 'node:fs';

const pinned = new Map<string, number>();

/** A descriptor for `path` opened `'r'` or `'r+'`, shared and never closed. */
export function pinnedFd(path: string, writable: boolean): number {
  const st = statSync(path);
  const key = `${st.dev}:${st.ino}:${writable ? 'rw' : 'r'}`;
  const existing = pinned.get(key);
  if (existing !== undefined) {
    try {
      const now = fstatSync(existing);
      if (now.ino === st.ino && now.dev === st.dev) return existing;
    } catch {
      // fall through and open again
    }
  }
  const fd = openSync(path, writable ? 'r+' : 'r');
  pinned.set(key, fd);
  return fd;
}
