import { existsSync } from 'node:fs';
import { DuckDBInstance } from '@duckdb/node-api';
import type { CatchupContext, FollowerBehavior, FollowerContext, Logger, Replicator } from '@hadb/core';
import {
  DuckblockFollowerBehavior,
  DuckblockReplicator,
  releaseLeaderFile,
  type Position,
} from '@hadb/duckblock';
import type { StorageBackend } from '@hadb/storage';
import { FileGate } from './file-gate.js';
import type { CheckpointShipper } from './leader-engine.js';
import { reconcileLocalCopy, type LocalCopyOutcome } from './local-copy.js';

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
  /** See {@link reconcileLocalCopy} (`local-copy.ts`). Never call while DuckDB has the file open. */
  reconcileLocalCopy(path: string, db: string): Promise<LocalCopyOutcome>;
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
    reconcileLocalCopy: (path, db) =>
      reconcileLocalCopy(path, {
        db,
        durableHead: async () => (await inner.durableHead(db)).position,
        duckdbConfig: options.duckdbConfig,
        logger: options.logger,
      }),
  };
}
