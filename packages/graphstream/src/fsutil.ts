import { open, rename, rm } from 'node:fs/promises';
import { GraphstreamError } from './errors.js';
import { tmpPath } from './naming.js';

/** fsyncs a directory so that creations, renames and deletions in it are durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Writes `data` to `path` atomically and durably: temporary file, fsync, rename, fsync of the
 * directory. A crash leaves either the old file or the new one, never a mix.
 */
export async function writeFileAtomic(dir: string, path: string, chunks: readonly Uint8Array[]): Promise<void> {
  const tmp = tmpPath(path);
  try {
    const fh = await open(tmp, 'wx');
    try {
      for (const c of chunks) {
        let off = 0;
        while (off < c.length) {
          const { bytesWritten } = await fh.write(c, off, c.length - off);
          off += bytesWritten;
        }
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    await fsyncDir(dir);
  } catch (cause) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw ioError(`could not write ${path}`, cause, path);
  }
}

/** Wraps a file-system failure as `HADB_GRAPHSTREAM_IO` (keeps an existing GraphstreamError). */
export function ioError(message: string, cause: unknown, location?: string): GraphstreamError {
  if (cause instanceof GraphstreamError) return cause;
  return new GraphstreamError('HADB_GRAPHSTREAM_IO', message, {
    cause,
    ...(location === undefined ? {} : { location }),
  });
}

/** Writes all of `data` at `position` through an open handle. */
export async function writeAll(
  fh: import('node:fs/promises').FileHandle,
  data: Uint8Array,
  position: number,
): Promise<void> {
  let off = 0;
  while (off < data.length) {
    const { bytesWritten } = await fh.write(data, off, data.length - off, position + off);
    off += bytesWritten;
  }
}
