import { rename, rm } from 'node:fs/promises';
import type { FollowerBehavior, Logger, Replicator } from '@hadb/core';
import {
  DuckblockFollowerBehavior,
  DuckblockReplicator,
  readPosition,
  releaseLeaderFile,
  journalPath,
  positionPath,
  restorePath,
  scanFile,
  type Position,
} from '@hadb/duckblock';
import { open } from 'node:fs/promises';
import { removeWalFiles } from './duck-file.js';
import type { CheckpointShipper } from './leader-engine.js';
import type { StorageBackend } from '@hadb/storage';

/** What a follower just applied. */
export interface AppliedInfo {
  /** Position (sequence) reached. */
  readonly seq: bigint;
  readonly kind: 'segment' | 'snapshot';
}

/** The replication engine haduck runs on (duckblock), behind the few calls haduck makes. */
export interface HaDuckReplication {
  readonly replicator: Replicator & { head(db: string): { seq: bigint } | undefined };
  readonly followerBehavior: FollowerBehavior;
  /** The leader's checkpoint shipper for `db` (capture under the write lock, upload outside). */
  shipper(db: string): CheckpointShipper;
  /** Releases the long-lived handle duckblock keeps on a leader's file; call after DuckDB closed it. */
  afterLeaderClose(path: string): Promise<void>;
  /**
   * Moves the local copy aside (`<path>.diverged-<ms>`) when it is not exactly the state its position file records (a leader
   * that checkpointed but never shipped, or closed while fenced), so the next pull restores it
   * from storage. Returns whether it deleted. Never call while DuckDB has the file open.
   */
  discardIfDiverged(path: string, db: string): Promise<boolean>;
}

function sameManifest(a: Position['manifest'], b: Position['manifest']): boolean {
  if (a.iteration !== b.iteration || a.blockAllocSize !== b.blockAllocSize) return false;
  if (a.headerHashes.some((h, i) => h !== b.headerHashes[i])) return false;
  if (a.blockChecksums.length !== b.blockChecksums.length) return false;
  for (let i = 0; i < a.blockChecksums.length; i++) if (a.blockChecksums[i] !== b.blockChecksums[i]) return false;
  return true;
}

/** Builds haduck's replication over duckblock. */
export function duckblockReplication(options: {
  storage: StorageBackend;
  prefix: string;
  onApplied: (info: AppliedInfo) => Promise<void>;
  logger?: Logger | undefined;
}): HaDuckReplication {
  const replicator = new DuckblockReplicator({ storage: options.storage, prefix: options.prefix, logger: options.logger });
  const followerBehavior = new DuckblockFollowerBehavior(replicator, {
    onApplied: (_db: string, position: Position, kind: 'segment' | 'snapshot') => options.onApplied({ seq: position.seq, kind }),
  });
  const onApplied = (position: Position, kind: 'segment' | 'snapshot'): Promise<void> => options.onApplied({ seq: position.seq, kind });
  // The coordinator's join-time pull goes through here: report its steps like the follower loop's.
  const wrapped: HaDuckReplication['replicator'] = {
    add: (db, path, term, o) => replicator.add(db, path, term, o),
    addContinuing: (db, path, term, o) => replicator.addContinuing(db, path, term, o),
    remove: (db, o) => replicator.remove(db, o),
    sync: (db, o) => replicator.sync(db, o),
    head: (db) => replicator.head(db),
    pull: async (db, path, o) => (await replicator.pullDetailed(db, path, { signal: o?.signal, onApplied })).position?.seq ?? 0n,
  };
  return {
    replicator: wrapped,
    followerBehavior,
    shipper(db) {
      return {
        // duckblock reads and uploads in one call, which must run under the write lock; the
        // upload therefore happens here and the returned capture has nothing left to do.
        async capture(o) {
          const pushed = await replicator.pushCheckpoint(db, { signal: o?.signal });
          if (!pushed.shipped) return null;
          return { bytes: pushed.bytes, seq: pushed.seq, upload: async () => undefined };
        },
      };
    },
    afterLeaderClose: (path) => releaseLeaderFile(path),
    async discardIfDiverged(path, db) {
      let position: Position | null;
      try {
        position = await readPosition(path);
      } catch {
        position = null;
      }
      let diverged: boolean;
      try {
        const fh = await open(path, 'r');
        try {
          const scan = scanFile(fh.fd);
          diverged = position !== null && !sameManifest(scan.manifest, position.manifest);
        } finally {
          await fh.close();
        }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
        // Unreadable or not a DuckDB file.
        diverged = true;
      }
      // A file that was never replicated is the database's initial state while storage is empty
      // (adopting an existing DuckDB file); once storage holds history it cannot be followed from.
      if (position === null && !diverged) diverged = (await followerBehavior.durableHead(db)).position > 0n;
      if (!diverged) return false;
      // Moved aside, never deleted: it may hold commits that were never shipped.
      await rename(path, `${path}.diverged-${Date.now()}`);
      await removeWalFiles(path);
      await Promise.all([positionPath(path), journalPath(path), restorePath(path)].map((f) => rm(f, { force: true })));
      return true;
    },
  };
}
