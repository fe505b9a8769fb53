import { constants, promises as fs } from 'node:fs';
import { throwIfAborted, type OpOptions } from '@hadb/io';
import { ChangesetError, changesetAborted } from './errors.js';
import { verifyChain } from './physical.js';
import type { PhysicalChangeset } from './types.js';

/** Options of {@link applyPhysical}. */
export interface ApplyOptions extends OpOptions {}

/**
 * Applies a physical changeset to a database file and returns the new chain checksum.
 *
 * 1. {@link verifyChain}`(expectedPrev, cs)` first: on `CHAIN_BROKEN` / `CHECKSUM_MISMATCH`
 *    nothing is opened or written.
 * 2. No pages: returns `cs.checksum` without touching the file.
 * 3. Opens `path` for writing (created if missing, never truncated), writes each page at byte
 *    offset `pageId * pageSize` (0-based, no header offset), then fsyncs (`sync_all`).
 *
 * File-system failures are `HADB_CHANGESET_IO` (with the OS error as `cause`). An abort or I/O
 * failure in step 3 can leave some pages written: re-applying the same changeset is idempotent.
 */
export async function applyPhysical(
  path: string,
  cs: PhysicalChangeset,
  expectedPrev: bigint,
  options: ApplyOptions = {},
): Promise<bigint> {
  const { signal } = options;
  throwIfAborted(signal, changesetAborted);
  verifyChain(expectedPrev, cs);
  if (cs.pages.length === 0) return cs.checksum;
  const pageSize = BigInt(cs.header.pageSize);
  for (const page of cs.pages) {
    const end = page.pageId * pageSize + BigInt(page.data.length);
    if (end > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw ChangesetError.io(
        new RangeError('file offset beyond 2^53-1'),
        `page ${page.pageId} ends at byte ${end}, beyond the largest supported file offset`,
      );
    }
  }
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(path, constants.O_WRONLY | constants.O_CREAT, 0o644);
    for (const page of cs.pages) {
      throwIfAborted(signal, changesetAborted);
      const position = Number(page.pageId * pageSize);
      let written = 0;
      while (written < page.data.length) {
        const { bytesWritten } = await handle.write(page.data, written, page.data.length - written, position + written);
        if (bytesWritten === 0) throw ChangesetError.io(new Error('write returned 0 bytes'));
        written += bytesWritten;
      }
    }
    await handle.sync();
  } catch (err) {
    if (err instanceof ChangesetError) throw err;
    throw ChangesetError.io(err);
  } finally {
    await handle?.close().catch(() => undefined);
  }
  return cs.checksum;
}
