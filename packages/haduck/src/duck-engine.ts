import { existsSync } from 'node:fs';
import { DuckDBInstance } from '@duckdb/node-api';
import type { Replicator } from '@hadb/core';
import {
  DuckblockFollowerBehavior,
  DuckblockReplicator,
  type Position,
  type RetentionPolicy,
  type SnapshotPolicy,
} from '@hadb/duckblock';
import type { EngineContext, EngineFactory, HaEngine } from '@hadb/ha';
import type { StorageBackend } from '@hadb/storage';
import { DuckLeader } from './duck-leader.js';
import { isDuckClientError } from './errors.js';
import { FollowerReader } from './follower-reader.js';
import { reconcileLocalCopy } from './local-copy.js';
import type { DuckLimits, ExecuteResult, QueryResult } from './sql.js';
import { duckWire, type DuckRead, type DuckWrite } from './wire.js';

/** What the DuckDB engine needs besides the node's context. */
export interface DuckEngineOptions {
  readonly storage: StorageBackend;
  /** Storage key prefix, `""` or ending in `/`. */
  readonly prefix: string;
  /** Extra DuckDB settings for both roles. */
  readonly duckdbConfig: Readonly<Record<string, string>>;
  /** duckblock's snapshot policy (default: duckblock's). */
  readonly snapshot?: SnapshotPolicy | undefined;
  /** duckblock's retention policy (default: duckblock's). */
  readonly retention?: RetentionPolicy | undefined;
  /** Set-aside copies of the local file kept (default 2). */
  readonly keepSetAside?: number | undefined;
  /** The leader's per-request limits. Default: `DEFAULT_DUCK_LIMITS`. */
  readonly limits?: DuckLimits | undefined;
}

/**
 * DuckDB on the HA layer: duckblock ships and restores the file block by block, the leader side
 * is one read-write instance ({@link DuckLeader}), the follower side a read-only instance swapped
 * after every applied checkpoint ({@link FollowerReader}).
 */
export function duckEngine(options: DuckEngineOptions): EngineFactory<DuckWrite, DuckRead, ExecuteResult, QueryResult> {
  return (ctx: EngineContext): HaEngine<DuckWrite, DuckRead, ExecuteResult, QueryResult> => {
    const { db, path, clock, logger } = ctx;
    const replicator = new DuckblockReplicator({
      storage: options.storage,
      prefix: options.prefix,
      snapshot: options.snapshot,
      retention: options.retention,
      logger,
      clock,
    });
    const reconcile = (): Promise<unknown> =>
      reconcileLocalCopy(path, {
        db,
        durableHead: async () => (await followerBehavior.durableHead(db)).position,
        clock,
        duckdbConfig: options.duckdbConfig,
        logger,
        keepSetAside: options.keepSetAside,
      });
    const followerBehavior: DuckblockFollowerBehavior = new DuckblockFollowerBehavior(replicator, {
      onApplied: (_db, position, kind) => ctx.onApplied({ seq: position.seq, kind }),
      // A bad object in storage halts this follower (nothing past it is applied) and says so.
      onPullError: (_db, err) => ctx.onError?.(err),
      // The file no longer matches its position: set it aside so the next pull restores it.
      onDiverged: async () => {
        await reconcile();
      },
    });
    const onApplied = (position: Position, kind: 'segment' | 'snapshot'): Promise<void> =>
      ctx.onApplied({ seq: position.seq, kind });
    // A new lineage starts with a snapshot of the local file. A node that never received one (it
    // joins first, or is promoted over a holder that never shipped) starts from an empty database.
    const ensureFile = async (): Promise<void> => {
      if (!existsSync(path)) (await DuckDBInstance.create(path, { ...options.duckdbConfig })).closeSync();
    };
    const wrapped: Replicator = {
      async startLineage(d, p, term, o) {
        await ensureFile();
        return replicator.startLineage(d, p, term, o);
      },
      async continueLineage(d, p, term, o) {
        // Only reached after the catch-up restored everything in storage: a missing file means storage is empty.
        await ensureFile();
        return replicator.continueLineage(d, p, term, o);
      },
      remove: (d, o) => replicator.remove(d, o),
      sync: (d, o) => replicator.sync(d, o),
      // The coordinator's join-time pull: report its steps like the follower loop's.
      pull: async (d, p, o) =>
        (await replicator.pullDetailed(d, p, { signal: o?.signal, onApplied })).position?.seq ?? 0n,
    };
    return {
      replicator: wrapped,
      followerBehavior,
      wire: duckWire,
      isClientError: isDuckClientError,
      async prepareLocalCopy() {
        await reconcile();
      },
      openLeader: (context) =>
        DuckLeader.open({
          path,
          context,
          clock,
          duckdbConfig: options.duckdbConfig,
          limits: options.limits,
          shipper: {
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
          },
        }),
      openFollower: () => new FollowerReader(path, options.duckdbConfig),
    };
  };
}
