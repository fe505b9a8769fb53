import { fsyncParentDir } from './fsutil.js';
import { rm } from 'node:fs/promises';

/**
 * The one owner of duckblock's side files next to a database file `<db>`. Nothing else builds
 * their names. All are duckblock's private state; the database file itself is not among them.
 *
 * - `<db>.hadb-position`: where the file stands in its chain (JSON, replaced atomically);
 * - `<db>.hadb-journal`: the apply journal of a segment being applied (crash-safe apply);
 * - `<db>.hadb-restore`: a snapshot being restored, installed by rename once verified;
 * - `<db>.hadb-outgoing`: a leader's encoded checkpoint spilled to disk before its upload.
 */
export const LOCAL_SUFFIXES = Object.freeze({
  position: '.hadb-position',
  journal: '.hadb-journal',
  restore: '.hadb-restore',
  outgoing: '.hadb-outgoing',
});

/** Path of the position file of database file `dbPath`. */
export function positionPath(dbPath: string): string {
  return dbPath + LOCAL_SUFFIXES.position;
}

/** Path of the apply journal of `dbPath`. */
export function journalPath(dbPath: string): string {
  return dbPath + LOCAL_SUFFIXES.journal;
}

/** Path of the restore file of `dbPath` (a snapshot being downloaded). */
export function restorePath(dbPath: string): string {
  return dbPath + LOCAL_SUFFIXES.restore;
}

/** Path of a leader's spilled outgoing segment of `dbPath`. */
export function outgoingPath(dbPath: string): string {
  return dbPath + LOCAL_SUFFIXES.outgoing;
}

/**
 * Removes every duckblock side file of `dbPath` (and the temporary file of an interrupted atomic
 * replace of each), durably: afterwards duckblock treats the file as never replicated and the
 * next pull restores it from storage. Missing files are fine. Call it only while neither a
 * replicator nor a follower works on `dbPath`.
 */
export async function removeLocalState(dbPath: string): Promise<void> {
  const paths = Object.values(LOCAL_SUFFIXES).flatMap((suffix) => [dbPath + suffix, `${dbPath + suffix}.tmp`]);
  await Promise.all(paths.map((p) => rm(p, { force: true })));
  await fsyncParentDir(dbPath);
}
