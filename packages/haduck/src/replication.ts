import { existsSync } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
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
   * Makes sure the local copy can be followed from: completes an interrupted apply, then moves
   * the copy aside (`<path>.diverged-<ms>`, with its WAL files; never deleted) when it is not
   * exactly the state its position file records — a leader that checkpointed but never shipped,
   * committed into its WAL without a checkpoint, or was demoted with unshipped commits — or when
   * it was never replicated while storage already holds history. The next pull then restores it
   * from storage. Returns whether it moved the file. Never call while DuckDB has the file open.
   */
  discardIfDiverged(path: string, db: string): Promise<boolean>;
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

  const wrapped: Replicator = {
    async add(db, path, term, o) {
      // A new lineage starts with a snapshot of the local file: give a brand-new node an empty database to snapshot.
      if (!existsSync(path)) (await DuckDBInstance.create(path, { ...options.duckdbConfig })).closeSync();
      return replicator.add(db, path, term, o);
    },
    addContinuing: (db, path, term, o) => replicator.addContinuing(db, path, term, o),
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
    async discardIfDiverged(path, db) {
      // Finish (or drop) an apply a crash interrupted; keep the WAL so its size can be judged below.
      let position: Position | null;
      try {
        position = await recoverFile(path, { removeWal: false });
      } catch {
        position = null;
      }
      const manifest = await scanManifest(path);
      if (manifest === undefined) return false;
      let diverged = manifest === null || (await walBytes(path)) > 0;
      if (!diverged && position !== null) diverged = !sameManifest(manifest!, position.manifest);
      // A file that was never replicated is the database's initial state while storage is empty
      // (adopting an existing DuckDB file); once storage holds history it cannot be followed from.
      if (!diverged && position === null) diverged = (await inner.durableHead(db)).position > 0n;
      if (!diverged) return false;
      // Moved aside with its WAL, never deleted: it may hold commits that were never shipped.
      const aside = `${path}.diverged-${Date.now()}`;
      await rename(path, aside);
      for (const suffix of WAL_SUFFIXES) {
        await rename(path + suffix, aside + suffix).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') throw err;
        });
      }
      await Promise.all([positionPath(path), journalPath(path), restorePath(path)].map((f) => rm(f, { force: true })));
      options.logger?.warn({ db, aside }, 'haduck: local copy does not match what was shipped; moved aside, restoring from storage');
      return true;
    },
  };
}
