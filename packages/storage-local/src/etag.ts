import type { BigIntStats } from 'node:fs';

/**
 * The etag of a local object version: inode number, mtime in nanoseconds and size, in hex.
 *
 * Every write creates a new file (temp file, then rename or link), stamps its mtime with a
 * microsecond wall-clock value that strictly increases within the process (`nextStampMicros`), and
 * never modifies it afterwards. So two versions share an etag only if a later file got both the
 * same inode number (reused after the earlier version was deleted) and the same microsecond stamp,
 * which would need the wall clock to step back to exactly that microsecond. Two files that exist
 * at the same time never share an inode, and the kernel's own coarse mtime tick plays no part. A
 * file changed by anything else gets a new kernel mtime, and so a new etag. `open` refuses file
 * systems that do not keep microsecond timestamps.
 */
export function etagOf(stats: BigIntStats): string {
  return `${stats.ino.toString(16)}-${stats.mtimeNs.toString(16)}-${stats.size.toString(16)}`;
}
