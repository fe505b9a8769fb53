import { constants, createReadStream, createWriteStream } from 'node:fs';
import { copyFile, open, rename, rm, stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { DuckDBInstance } from '@duckdb/node-api';
import { HaError } from '@hadb/ha';
import { raceAbort, throwIfAborted, type Clock, type Logger } from '@hadb/io';
import {
  diffManifest,
  recoverFile,
  removeLocalState,
  scanFile,
  type BlockManifest,
  type Position,
} from '@hadb/duckblock';
import { SET_ASIDE_WAL_SUFFIXES, pruneSetAside, setAsidePath } from './set-aside.js';

const aborted = (message: string, cause?: unknown): HaError => new HaError('HADB_HA_ABORTED', message, { cause });

/** What {@link reconcileLocalCopy} did. */
export type LocalCopyOutcome = 'kept' | 'missing' | 'moved' | 'wal-moved' | 'adopted';

const WAL_SUFFIXES = SET_ASIDE_WAL_SUFFIXES;

/** True when `current` is exactly the state `recorded` describes (duckblock's own diff finds nothing to ship). */
function sameManifest(current: BlockManifest, recorded: BlockManifest): boolean {
  const diff = diffManifest(recorded, current);
  return diff.headerPages.length === 0 && diff.blocks.length === 0 && !diff.sizeChanged;
}

/** Bytes in DuckDB's WAL files next to `path` (commits not yet checkpointed into the file). */
async function walBytes(path: string): Promise<number> {
  let total = 0;
  for (const suffix of WAL_SUFFIXES) {
    try {
      total += (await stat(path + suffix)).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return total;
}

/** Moves DuckDB's WAL files of `path` next to `aside`, keeping their suffixes. */
async function moveWal(path: string, aside: string): Promise<void> {
  for (const suffix of WAL_SUFFIXES) {
    await rename(path + suffix, aside + suffix).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }
}

/**
 * Copies `path` to `aside`, complete or not at all: a reflink where the file system has them
 * (instant), otherwise a streamed copy that `signal` cuts. The copy is written as
 * `<aside>.partial` and renamed into place once whole; an aborted or failed copy is removed.
 */
async function copyAside(path: string, aside: string, signal: AbortSignal | undefined): Promise<void> {
  const partial = `${aside}.partial`;
  try {
    try {
      await copyFile(path, partial, constants.COPYFILE_FICLONE_FORCE);
    } catch {
      await pipeline(createReadStream(path), createWriteStream(partial, { mode: 0o600 }), { signal });
    }
    throwIfAborted(signal, aborted);
    await rename(partial, aside);
  } catch (err) {
    await rm(partial, { force: true });
    if (signal?.aborted === true) throw aborted('preparing the local copy was aborted', err);
    throw err;
  }
}

/** Scans the file's manifest; `undefined` when it is missing, `null` when it is not a readable DuckDB file. */
async function scanManifest(path: string): Promise<BlockManifest | null | undefined> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return scanFile(fh.fd).manifest;
  } catch {
    return null;
  } finally {
    await fh.close();
  }
}

/**
 * Makes the local copy safe to replicate from, before DuckDB or replication touch it. Completes
 * an interrupted apply, then:
 * - `moved`: the file is not exactly the state its position file records (a leader killed
 *   between CHECKPOINT and upload, or demoted with unshipped changes), or replication found it
 *   diverged (`diverged`: its position names a checkpoint storage never held), or it was never
 *   replicated while storage already holds history: file and WAL are moved aside
 *   (`<path>.diverged-<ms>`) and the next pull restores from storage;
 * - `wal-moved`: the file matches its position but DuckDB's WAL holds commits no checkpoint
 *   shipped (a leader killed between two checkpoints): a copy of the file (a reflink where the
 *   file system has them) and the WAL go aside together; the file itself is kept;
 * - `adopted`: a file never replicated while storage is empty becomes the first state; its WAL,
 *   if any, is checkpointed into it first;
 * - `kept` / `missing`: nothing to do.
 * After setting a copy aside, only the newest `keepSetAside` copies are kept (see `pruneSetAside`).
 * Never call while DuckDB has the file open. `durableHead` is the storage head's sequence (0 when
 * storage holds no history).
 */
export async function reconcileLocalCopy(
  path: string,
  o: {
    db: string;
    durableHead: () => Promise<bigint>;
    clock: Clock;
    duckdbConfig?: Readonly<Record<string, string>> | undefined;
    logger: Logger;
    /** Set-aside copies kept (newest first); older ones are deleted, each deletion logged. Default 2. */
    keepSetAside?: number | undefined;
    /**
     * Replication found the file diverged (`HADB_DUCKBLOCK_DIVERGED`): it holds a state storage
     * never held, even if it matches its own position file. It is moved aside (`moved`).
     */
    diverged?: boolean | undefined;
    /**
     * Aborts the storage request (`durableHead`), a copy being set aside, and the steps before the
     * first change to the file (`HADB_HA_ABORTED`); the file and its WAL are then as they were.
     */
    signal?: AbortSignal | undefined;
  },
): Promise<LocalCopyOutcome> {
  throwIfAborted(o.signal, aborted);
  // Finish (or drop) an apply a crash interrupted; keep the WAL so it can be judged below.
  let position: Position | null;
  try {
    position = await recoverFile(path, { removeWal: false });
  } catch {
    position = null;
  }
  const manifest = await scanManifest(path);
  if (manifest === undefined) return 'missing';
  const wal = await walBytes(path);
  if (position === null && manifest !== null && (await raceAbort(o.durableHead(), o.signal, aborted)) === 0n) {
    // Adopting an existing database: fold its WAL in rather than let replication drop it.
    if (wal > 0) (await DuckDBInstance.create(path, { ...o.duckdbConfig, access_mode: 'READ_WRITE' })).closeSync();
    return 'adopted';
  }
  throwIfAborted(o.signal, aborted);
  const aside = setAsidePath(path, o.clock.wallMs());
  const prune = (): Promise<unknown> => pruneSetAside(path, o.keepSetAside ?? 2, o);
  if (o.diverged !== true && position !== null && manifest !== null && sameManifest(manifest, position.manifest)) {
    if (wal === 0) return 'kept';
    // Nothing is changed until the copy is whole; from then on the steps run to the end.
    await copyAside(path, aside, o.signal);
    await moveWal(path, aside);
    o.logger.warn(
      { db: o.db, aside },
      'haduck: the WAL held commits that were never shipped; file copy and WAL moved aside',
    );
    await prune();
    return 'wal-moved';
  }
  // Moved aside with its WAL: it may hold commits that were never shipped (kept until newer copies replace it).
  await rename(path, aside);
  await moveWal(path, aside);
  await removeLocalState(path);
  o.logger.warn(
    { db: o.db, aside },
    'haduck: local copy does not match what was shipped; moved aside, restoring from storage',
  );
  await prune();
  return 'moved';
}
