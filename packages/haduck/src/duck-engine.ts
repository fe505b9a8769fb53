import { existsSync } from 'node:fs';
import { DuckDBInstance } from '@duckdb/node-api';
import type { FollowerBehavior, Replicator } from '@hadb/core';
import {
  DuckblockFollowerBehavior,
  DuckblockReplicator,
  type DuckblockReplicatorOptions,
  type Position,
  type PullOptions,
  type PullResult,
  type RetentionPolicy,
  type SnapshotPolicy,
  isDuckblockError,
} from '@hadb/duckblock';
import { describeError } from '@hadb/io';
import { wakeOnNotice, type EngineContext, type EngineFactory, type HaEngine } from '@hadb/ha';
import type { StorageBackend } from '@hadb/storage';
import { DuckLeader } from './duck-leader.js';
import { isDuckClientError } from './errors.js';
import { FollowerReader } from './follower-reader.js';
import { reconcileLocalCopy } from './local-copy.js';
import type { DuckSharedInstance } from './shared-instance.js';
import type { DuckLimits, ExecuteResult, QueryResult } from './sql.js';
import { duckWire, type DuckRead, type DuckWrite } from './wire.js';

/** What the DuckDB engine needs besides the node's context. */
export interface DuckEngineOptions {
  readonly storage: StorageBackend;
  /** Storage key prefix, `""` or ending in `/`. */
  readonly prefix: string;
  /** Extra DuckDB settings for both roles. */
  readonly duckdbConfig: Readonly<Record<string, string>>;
  /** Attach to this instance instead of opening instances of its own (see `HaDuckOptions.sharedInstance`). */
  readonly sharedInstance?: DuckSharedInstance | undefined;
  /** duckblock's snapshot policy (default: duckblock's). */
  readonly snapshot?: SnapshotPolicy | undefined;
  /** duckblock's retention policy (default: duckblock's). */
  readonly retention?: RetentionPolicy | undefined;
  /** Set-aside copies of the local file kept (default 2). */
  readonly keepSetAside?: number | undefined;
  /** The leader's per-request limits. Default: `DEFAULT_DUCK_LIMITS`. */
  readonly limits?: DuckLimits | undefined;
  /** The leader's write connections (default 8). */
  readonly writeConnections?: number | undefined;
}

/**
 * DuckDB on the HA layer: duckblock ships and restores the file block by block, the leader side
 * is one read-write instance ({@link DuckLeader}), the follower side a read-only instance swapped
 * after every applied checkpoint ({@link FollowerReader}).
 */
export function duckEngine(options: DuckEngineOptions): EngineFactory<DuckWrite, DuckRead, ExecuteResult, QueryResult> {
  return (ctx: EngineContext): HaEngine<DuckWrite, DuckRead, ExecuteResult, QueryResult> => {
    const { db, path, clock, logger } = ctx;
    // Set while the follower's pull was started by the leader's notice: a segment exists, so the
    // pull lists at once instead of first probing the next key (one request less per segment).
    let noticed = false;
    const replicator = new NoticedReplicator(() => noticed, {
      storage: options.storage,
      prefix: options.prefix,
      snapshot: options.snapshot,
      retention: options.retention,
      logger,
      clock,
    });
    const reconcile = (signal?: AbortSignal, diverged = false): Promise<unknown> =>
      reconcileLocalCopy(path, {
        db,
        signal,
        diverged,
        durableHead: async () => (await followerBehavior.durableHead(db, { signal })).position,
        clock,
        duckdbConfig: options.duckdbConfig,
        logger,
        keepSetAside: options.keepSetAside,
      });
    const followerBehavior: DuckblockFollowerBehavior = new DuckblockFollowerBehavior(replicator, {
      onApplied: (_db, position, kind) => ctx.onApplied({ seq: position.seq, kind, commitMs: position.createdMs }),
      // A bad object in storage halts this follower (nothing past it is applied) and says so.
      onPullError: (_db, err) => ctx.onError?.(err),
      // The file no longer matches its position, or its position was never shipped: set it aside
      // so the next pull restores it.
      onDiverged: async () => {
        await reconcile(undefined, true);
      },
    });
    const onApplied = (position: Position, kind: 'segment' | 'snapshot'): Promise<void> =>
      ctx.onApplied({ seq: position.seq, kind, commitMs: position.createdMs });
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
      // The coordinator's join-time pull: report its steps like the follower loop's. A file found
      // diverged (a checkpoint a killed leader never shipped) is set aside and restored at once.
      async pull(d, p, o) {
        const pull = async (): Promise<bigint> =>
          (await replicator.pullDetailed(d, p, { signal: o?.signal, onApplied })).position?.seq ?? 0n;
        try {
          return await pull();
        } catch (err) {
          if (!isDuckblockError(err, 'HADB_DUCKBLOCK_DIVERGED')) throw err;
          logger.warn({ db, err: describeError(err) }, 'haduck: local copy diverged from storage; restoring');
          await reconcile(o?.signal, true);
          return await pull();
        }
      },
    };
    // Between pulls the loop waits for the leader's notice of a new checkpoint (storage polling only
    // while no leader answers, and to retry a failed pull).
    const waker = ctx.leaderWaker;
    const wokenBehavior: FollowerBehavior =
      waker === undefined
        ? followerBehavior
        : {
            runFollowerLoop: (fctx) =>
              followerBehavior.runFollowerLoop(wakeOnNotice(fctx, waker, (reason) => (noticed = reason === 'notice'))),
            catchupOnPromotion: (c) => followerBehavior.catchupOnPromotion(c),
            durableHead: (d, o) => followerBehavior.durableHead(d, o),
          };
    return {
      replicator: wrapped,
      followerBehavior: wokenBehavior,
      // DuckblockFollowerBehavior reports every pull through `metrics`: watched from the first pull.
      reportsPulls: true,
      wire: duckWire,
      isClientError: isDuckClientError,
      async prepareLocalCopy(o) {
        await reconcile(o?.signal);
      },
      openLeader: (context) =>
        DuckLeader.open({
          path,
          context,
          clock,
          duckdbConfig: options.duckdbConfig,
          sharedInstance: options.sharedInstance,
          limits: options.limits,
          writeConnections: options.writeConnections,
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
      openFollower: () => new FollowerReader(path, options.duckdbConfig, options.sharedInstance),
    };
  };
}

/**
 * duckblock's replicator whose pulls skip the probe of the next key while `noticed()` (the leader
 * announced a new checkpoint, so the listing is needed anyway). Other pulls keep duckblock's rule.
 */
class NoticedReplicator extends DuckblockReplicator {
  readonly #noticed: () => boolean;

  constructor(noticed: () => boolean, options: DuckblockReplicatorOptions) {
    super(options);
    this.#noticed = noticed;
  }

  override pullDetailed(db: string, path: string, options: PullOptions = {}): Promise<PullResult> {
    if (options.probeFirst !== undefined || !this.#noticed()) return super.pullDetailed(db, path, options);
    return super.pullDetailed(db, path, { ...options, probeFirst: false });
  }
}
