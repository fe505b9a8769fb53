import { constants, existsSync } from 'node:fs';
import { copyFile, open, rename, rm, stat } from 'node:fs/promises';
import { DuckDBInstance } from '@duckdb/node-api';
import type { CatchupContext, FollowerBehavior, FollowerContext, Logger, Replicator } from '@hadb/core';
import {
  DuckblockFollowerBehavior,
  DuckblockReplicator,
  journalPath,
  positionPath,
  recoverFile,
  releaseLeaderFile,
  restorePath,
  scanFile,
  type BlockManifest,
  type Position,
} from '@hadb/duckblock';
import type { StorageBackend } from '@hadb/storage';
import { FileGate } from './file-gate.js';
import type { CheckpointShipper } from './leader-engine.js';

/** What a follower just applied. */
export interface AppliedInfo {
  /** Position (sequence) reached. */
  readonly seq: bigint;
  readonly kind: 'segment' | 'snapshot';
}

/** The replication engine haduck runs on (duckblock), behind the few calls haduck makes. */
export interface HaDuckReplication {
  readonly replicator: Replicator;
  /** The follower side; it waits while {@link fileGate} is held. */
  readonly followerBehavior: FollowerBehavior;
  /** Held while the leader side owns the local file (see {@link FileGate}). */
  readonly fileGate: FileGate;
  /** The leader's checkpoint shipper for `db` (capture under the write lock, upload outside it). */
  shipper(db: string): CheckpointShipper;
  /** Releases the long-lived handle duckblock keeps on a leader's file; call after DuckDB closed it. */
  afterLeaderClose(path: string): Promise<void>;
  /**
   * Makes the local copy safe to replicate from, before DuckDB or replication touch it. Completes
   * an interrupted apply, then:
   * - `moved`: the file is not exactly the state its position file records (a leader killed
   *   between CHECKPOINT and upload, or demoted with unshipped changes), or it was never
   *   replicated while storage already holds history: file and WAL are moved aside
   *   (`<path>.diverged-<ms>`, never deleted) and the next pull restores from storage;
   * - `wal-moved`: the file matches its position but DuckDB's WAL holds commits no checkpoint
   *   shipped (a leader killed between two checkpoints): a copy of the file (a reflink where the
   *   file system has them) and the WAL go aside together, the file itself is kept;
   * - `adopted`: a file never replicated while storage is empty becomes the first state; its WAL,
   *   if any, is checkpointed into it first;
   * - `kept` / `missing`: nothing to do.
   * Never call while DuckDB has the file open.
   */
  reconcileLocalCopy(path: string, db: string): Promise<'kept' | 'missing' | 'moved' | 'wal-moved' | 'adopted'>;
}

const WAL_SUFFIXES = ['.wal', '.wal.checkpoint', '.wal.recovery'] as const;

function sameManifest(a: BlockManifest, b: BlockManifest): boolean {
  if (a.iteration !== b.iteration || a.blockAllocSize !== b.blockAllocSize || a.fileSize !== b.fileSize) return false;
  if (a.headerHashes.some((h, i) => h !== b.headerHashes[i])) return false;
  if (a.blockChecksums.length !== b.blockChecksums.length) return false;
  for (let i = 0; i < a.blockChecksums.length; i++) if (a.blockChecksums[i] !== b.blockChecksums[i]) return false;
  return true;
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

/** Builds haduck's replication over duckblock. */
export function duckblockReplication(options: {
  storage: StorageBackend;
  prefix: string;
  onApplied: (info: AppliedInfo) => Promise<void>;
  duckdbConfig?: Readonly<Record<string, string>> | undefined;
  logger?: Logger | undefined;
}): HaDuckReplication {
  const replicator = new DuckblockReplicator({ storage: options.storage, prefix: options.prefix, logger: options.logger });
  const inner = new DuckblockFollowerBehavior(replicator, {
    onApplied: (_db, position, kind) => options.onApplied({ seq: position.seq, kind }),
  });
  const fileGate = new FileGate();
  const onApplied = (position: Position, kind: 'segment' | 'snapshot'): Promise<void> => options.onApplied({ seq: position.seq, kind });

  const followerBehavior: FollowerBehavior = {
    async runFollowerLoop(ctx: FollowerContext) {
      if (!(await fileGate.whenFree(ctx.signal))) return;
      return inner.runFollowerLoop(ctx);
    },
    async catchupOnPromotion(ctx: CatchupContext) {
      await fileGate.whenFree(ctx.signal);
      ctx.signal.throwIfAborted();
      return inner.catchupOnPromotion(ctx);
    },
    durableHead: (db, o) => inner.durableHead(db, o),
  };

  // A new lineage starts with a snapshot of the local file. A node that never received one (it
  // joins first, or is promoted over a holder that never shipped) starts from an empty database.
  const ensureFile = async (path: string): Promise<void> => {
    if (!existsSync(path)) (await DuckDBInstance.create(path, { ...options.duckdbConfig })).closeSync();
  };
  const wrapped: Replicator = {
    async add(db, path, term, o) {
      await ensureFile(path);
      return replicator.add(db, path, term, o);
    },
    async addContinuing(db, path, term, o) {
      // Only reached after the catch-up restored everything in storage: a missing file means storage is empty.
      await ensureFile(path);
      return replicator.addContinuing(db, path, term, o);
    },
    remove: (db, o) => replicator.remove(db, o),
    sync: (db, o) => replicator.sync(db, o),
    // The coordinator's join-time pull goes through here: report its steps like the follower loop's.
    pull: async (db, path, o) => (await replicator.pullDetailed(db, path, { signal: o?.signal, onApplied })).position?.seq ?? 0n,
  };

  return {
    replicator: wrapped,
    followerBehavior,
    fileGate,
    shipper(db) {
      return {
        async capture() {
          const prepared = await replicator.prepareCheckpoint(db);
          if (prepared === null) return null;
          return {
            bytes: prepared.bytes,
            seq: prepared.seq,
            upload: async (o) => ({ snapshotDue: (await prepared.upload(o)).snapshotDue }),
          };
        },
        async snapshot(o) {
          await replicator.snapshot(db, o);
        },
        async retention(o) {
          await replicator.applyRetention(db, o);
        },
      };
    },
    afterLeaderClose: (path) => releaseLeaderFile(path),
    async reconcileLocalCopy(path, db) {
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
      if (position === null && manifest !== null && (await inner.durableHead(db)).position === 0n) {
        // Adopting an existing database: fold its WAL in rather than let replication drop it.
        if (wal > 0) (await DuckDBInstance.create(path, { ...options.duckdbConfig, access_mode: 'READ_WRITE' })).closeSync();
        return 'adopted';
      }
      const aside = `${path}.diverged-${Date.now()}`;
      if (position !== null && manifest !== null && sameManifest(manifest, position.manifest)) {
        if (wal === 0) return 'kept';
        await copyFile(path, aside, constants.COPYFILE_FICLONE);
        await moveWal(path, aside);
        options.logger?.warn({ db, aside }, 'haduck: the WAL held commits that were never shipped; file copy and WAL moved aside');
        return 'wal-moved';
      }
      // Moved aside with its WAL, never deleted: it may hold commits that were never shipped.
      await rename(path, aside);
      await moveWal(path, aside);
      await Promise.all([positionPath(path), journalPath(path), restorePath(path)].map((f) => rm(f, { force: true })));
      options.logger?.warn({ db, aside }, 'haduck: local copy does not match what was shipped; moved aside, restoring from storage');
      return 'moved';
    },
  };
}
