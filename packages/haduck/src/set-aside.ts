import { readdir, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { describeError, type Logger } from '@hadb/io';

/** DuckDB's WAL files that travel with a set-aside copy (same suffixes as the live file's). */
export const SET_ASIDE_WAL_SUFFIXES = ['.wal', '.wal.checkpoint', '.wal.recovery'] as const;

const MARKER = '.diverged-';

/** Path of a copy of `path` set aside at wall time `ms` (`<path>.diverged-<ms>`). */
export function setAsidePath(path: string, ms: number): string {
  return `${path}${MARKER}${Math.floor(ms)}`;
}

/** One set-aside copy of a database file: its path, when it was set aside, and its WAL files. */
export interface SetAsideCopy {
  readonly path: string;
  readonly ms: number;
  /** The copy itself plus whichever of its WAL files exist. */
  readonly files: readonly string[];
}

/** The set-aside copies of `path` (`<path>.diverged-<ms>` and their WAL files), newest first. */
export async function listSetAside(path: string): Promise<SetAsideCopy[]> {
  const dir = dirname(path);
  const prefix = basename(path) + MARKER;
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const present = new Set(names);
  const copies: SetAsideCopy[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const stamp = name.slice(prefix.length);
    if (!/^\d{1,16}$/.test(stamp)) continue; // a WAL file of a copy, or not ours
    const files = [join(dir, name)];
    for (const suffix of SET_ASIDE_WAL_SUFFIXES) if (present.has(name + suffix)) files.push(join(dir, name + suffix));
    copies.push({ path: join(dir, name), ms: Number(stamp), files });
  }
  return copies.sort((a, b) => b.ms - a.ms || (a.path < b.path ? 1 : -1));
}

/**
 * Keeps the newest `keep` set-aside copies of `path` and deletes the older ones (each with its
 * WAL files), logging each deletion. A copy that cannot be deleted is logged and left for the
 * next run. Resolves with the copies deleted.
 */
export async function pruneSetAside(
  path: string,
  keep: number,
  o: { readonly db: string; readonly logger: Logger },
): Promise<SetAsideCopy[]> {
  const copies = await listSetAside(path);
  const deleted: SetAsideCopy[] = [];
  for (const copy of copies.slice(keep)) {
    try {
      for (const file of copy.files) await rm(file, { force: true });
      deleted.push(copy);
      o.logger.info(
        { db: o.db, aside: copy.path, files: copy.files.length, keep },
        'haduck: deleted an old set-aside copy (keeping the newest ones)',
      );
    } catch (err) {
      o.logger.warn(
        { db: o.db, aside: copy.path, err: describeError(err) },
        'haduck: could not delete a set-aside copy',
      );
    }
  }
  return deleted;
}
