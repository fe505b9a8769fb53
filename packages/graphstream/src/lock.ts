import { open, readFile, rm } from 'node:fs/promises';
import { GraphstreamError } from './errors.js';
import { ioError } from './fsutil.js';
import { inDir } from './naming.js';

/** Lock file of a journal directory: holds the writer's process id. */
export const WRITER_LOCK_FILE = 'writer.lock';

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the writer lock of `dir`: creates `writer.lock` with this process id. A lock whose process
 * is gone (a crashed writer) is taken over; one held by a live process is `HADB_GRAPHSTREAM_LOCKED`.
 * Returns the release function. Guards against two writers on one directory of one machine only.
 */
export async function acquireWriterLock(dir: string): Promise<() => Promise<void>> {
  const path = inDir(dir, WRITER_LOCK_FILE);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(path, 'wx');
      try {
        await fh.writeFile(`${process.pid}\n`);
        await fh.sync();
      } finally {
        await fh.close();
      }
      let released = false;
      return async () => {
        if (released) return;
        released = true;
        await rm(path, { force: true });
      };
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code !== 'EEXIST') throw ioError(`could not create ${path}`, cause, path);
    }
    const holder = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
    if (holder === process.pid || alive(holder)) {
      throw new GraphstreamError('HADB_GRAPHSTREAM_LOCKED', `journal directory is locked by process ${holder}`, {
        location: dir,
      });
    }
    await rm(path, { force: true });
  }
  throw new GraphstreamError('HADB_GRAPHSTREAM_LOCKED', 'could not take the journal writer lock', { location: dir });
}
