import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

/** fsyncs the directory containing the file `path`, so a rename or unlink of that file is durable. */
export async function fsyncParentDir(path: string): Promise<void> {
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/**
 * Replaces `path` atomically and durably with `data`: writes `path.tmp`, fsyncs it, renames it
 * over `path`, fsyncs the directory. A crash leaves either the old or the new content.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  await fsyncParentDir(path);
}

/** Removes a file durably (missing is fine). */
export async function removeDurably(path: string): Promise<void> {
  await rm(path, { force: true });
  await fsyncParentDir(path);
}
