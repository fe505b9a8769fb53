import { randomBytes } from 'node:crypto';
import { link, open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { StorageError } from '@hadb/storage';
import { errno } from './fs-errors.js';
import { RESERVED, nextStampMicros, stampFile } from './fs-write.js';

/**
 * Checks, in `root`, the file-system features the backend's guarantees rest on: modification
 * times kept to the microsecond (etags), and hard links with no-clobber semantics (create-only
 * writes). Rejects with `HADB_STORAGE_UNSUPPORTED` when one is missing.
 */
export async function probeFileSystem(root: string): Promise<void> {
  const a = join(root, `${RESERVED}probe-${randomBytes(8).toString('hex')}`);
  const b = `${a}-link`;
  try {
    const fh = await open(a, 'wx');
    try {
      for (let i = 0; i < 2; i++) {
        const micros = nextStampMicros();
        await stampFile(fh, micros);
        const st = await fh.stat({ bigint: true });
        if (st.mtimeNs !== BigInt(micros) * 1000n) {
          throw new StorageError(
            'HADB_STORAGE_UNSUPPORTED',
            'the file system does not keep microsecond modification times, which local etags rely on',
          );
        }
      }
    } finally {
      await fh.close();
    }
    try {
      await link(a, b);
    } catch (error) {
      throw new StorageError(
        'HADB_STORAGE_UNSUPPORTED',
        `the file system does not support hard links (${errno(error) ?? 'error'}), which create-only writes rely on`,
        { cause: error },
      );
    }
    let clobbered = true;
    await link(a, b).catch((error: unknown) => {
      if (errno(error) === 'EEXIST') clobbered = false;
    });
    if (clobbered) throw new StorageError('HADB_STORAGE_UNSUPPORTED', 'link() does not fail on an existing name');
  } catch (error) {
    if (error instanceof StorageError) throw error;
    throw new StorageError('HADB_STORAGE_IO', `probing the storage root failed: ${errno(error) ?? String(error)}`, {
      cause: error,
    });
  } finally {
    await unlink(b).catch(() => {});
    await unlink(a).catch(() => {});
  }
}
