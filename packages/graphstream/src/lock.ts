import { OwnedLockFile } from '@hadb/io';
import { GraphstreamError } from './errors.js';
import { ioError } from './fsutil.js';
import { inDir } from './naming.js';

/** Lock file of a journal directory: names the writer process (see `OwnedLockFile`). */
export const WRITER_LOCK_FILE = 'writer.lock';

/**
 * Takes the writer lock of `dir` (`writer.lock`, an `OwnedLockFile`). A lock whose writer is
 * certainly dead (a crashed writer), or whose writer in another pid namespace of this host stopped
 * its heartbeat (a restarted container), is taken over; one held by a live process — this one
 * included — is `HADB_GRAPHSTREAM_LOCKED`. Returns the release function. Guards against two
 * writers on one directory of one machine.
 */
export async function acquireWriterLock(dir: string): Promise<() => Promise<void>> {
  const path = inDir(dir, WRITER_LOCK_FILE);
  let got: Awaited<ReturnType<typeof OwnedLockFile.acquire>>;
  try {
    got = await OwnedLockFile.acquire(path);
  } catch (cause) {
    throw ioError(`could not create ${path}`, cause, path);
  }
  const lock = got.lock;
  if (lock === undefined) {
    const holder = got.held === undefined ? 'an unknown process' : `process ${got.held.owner.pid}`;
    throw new GraphstreamError('HADB_GRAPHSTREAM_LOCKED', `journal directory is locked by ${holder}`, {
      location: dir,
    });
  }
  return async () => lock.release();
}
