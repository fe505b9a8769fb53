import type { OpOptions } from '@hadb/io';
import {
  describeError,
  type CatchupContext,
  type DurableHead,
  type FollowerBehavior,
  type FollowerContext,
} from '@hadb/core';
import { readPosition, type Position } from './position.js';
import type { DuckblockReplicator } from './replicator.js';
import { decodeSegment } from './segment.js';
import { isDuckblockError, type DuckblockError } from './errors.js';
import { discoverLatestSnapshotSegment, discoverSegmentsAfter } from './discovery.js';

/** Options of {@link DuckblockFollowerBehavior}. */
export interface DuckblockFollowerOptions {
  /**
   * Called after every applied segment or restored snapshot with the new durable position. A
   * reader with DuckDB open on the file must reopen it before the next step is applied; await
   * the reopen here (the next step waits for the returned promise).
   */
  readonly onApplied?:
    | ((db: string, position: Position, kind: 'segment' | 'snapshot') => void | Promise<void>)
    | undefined;
  /** Largest segment (bytes) `durableHead` downloads to learn the head's epoch (default 1 MiB; larger reports epoch 0). */
  readonly headEpochProbeBytes?: number | undefined;
  /**
   * Called when a pull fails for a reason retrying will not fix by itself — a corrupt or forged
   * object, a broken chain, a gap, a stale epoch, a diverged local file (`DuckblockError`s other
   * than aborts) — once per distinct failure until a pull succeeds again. The follower applies
   * nothing past the bad object; it keeps polling so a repaired storage is picked up.
   */
  readonly onPullError?: ((db: string, error: DuckblockError) => void) | undefined;
  /**
   * Called when a pull finds the local file `HADB_DUCKBLOCK_DIVERGED` (it no longer matches its
   * recorded position): make the local copy safe again (set it aside) so the next pull restores
   * it from storage. Without it, the follower keeps reporting DIVERGED.
   */
  readonly onDiverged?: ((db: string) => Promise<void>) | undefined;
}

/** Failures a follower reports through `onPullError` (not transient storage or abort errors). */
function isPersistentPullError(err: unknown): err is DuckblockError {
  return isDuckblockError(err) && err.code !== 'HADB_DUCKBLOCK_ABORTED' && err.code !== 'HADB_DUCKBLOCK_CLOSED';
}

function toNumberEpoch(epoch: bigint): number {
  return epoch > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(epoch);
}

/**
 * The follower side of duckblock for `@hadb/core`: polls storage, verifies and applies segments
 * in order (admitting each epoch through the coordinator's `EpochGate`), reports progress, and
 * catches up on promotion. Uses the storage and prefix of its {@link DuckblockReplicator}.
 */
export class DuckblockFollowerBehavior implements FollowerBehavior {
  readonly #replicator: DuckblockReplicator;
  readonly #options: DuckblockFollowerOptions;

  constructor(replicator: DuckblockReplicator, options: DuckblockFollowerOptions = {}) {
    this.#replicator = replicator;
    this.#options = options;
  }

  async runFollowerLoop(ctx: FollowerContext): Promise<void> {
    const local = await readPosition(ctx.path).catch(() => null);
    if (local !== null) {
      ctx.epochGate.record(toNumberEpoch(local.epoch), local.seq);
      if (local.seq > ctx.progress.position) ctx.progress.report(local.seq);
    }
    let reported: string | undefined;
    while (!ctx.signal.aborted) {
      try {
        const result = await this.#pullOnce(ctx.db, ctx.path, ctx, ctx.signal);
        if (result.applied === 0 && !result.restored) ctx.metrics.pullNoNewData();
        else ctx.metrics.pullSucceeded();
        ctx.progress.setCaughtUp(true);
        reported = undefined;
      } catch (err) {
        if (ctx.signal.aborted) break;
        ctx.metrics.pullFailed();
        ctx.progress.setCaughtUp(false);
        ctx.logger.warn(
          { db: ctx.db, err: describeError(err) },
          'duckblock: follower pull failed; the file stays at its last applied segment',
        );
        if (isPersistentPullError(err)) {
          const key = `${err.code}: ${err.message}`;
          if (key !== reported) {
            reported = key;
            this.#options.onPullError?.(ctx.db, err);
          }
          if (err.code === 'HADB_DUCKBLOCK_DIVERGED' && this.#options.onDiverged !== undefined) {
            try {
              await this.#options.onDiverged(ctx.db);
            } catch (cause) {
              ctx.logger.error(
                { db: ctx.db, err: describeError(cause) },
                'duckblock: reconciling a diverged follower file failed',
              );
            }
          }
        }
      }
      try {
        await ctx.clock.sleep(ctx.pollIntervalMs, ctx.signal);
      } catch {
        break;
      }
    }
  }

  async catchupOnPromotion(ctx: CatchupContext): Promise<bigint> {
    // Always list here: promotion needs the durable head, not the cheap idle probe.
    const result = await this.#pullOnce(ctx.db, ctx.path, ctx, ctx.signal, false);
    return result.position?.seq ?? 0n;
  }

  async durableHead(db: string, options: OpOptions = {}): Promise<DurableHead> {
    const { storage, prefix } = this.#replicator.options;
    const segments = await discoverSegmentsAfter(storage, prefix, db, 0n, options);
    const last = segments[segments.length - 1];
    // Retention may have deleted every incremental up to the newest snapshot.
    const snapshot = await discoverLatestSnapshotSegment(storage, prefix, db, options);
    if (snapshot !== null && (last === undefined || snapshot.seq > last.seq))
      return { position: snapshot.seq, epoch: 0 };
    if (last === undefined) return { position: 0n, epoch: 0 };
    let epoch = 0;
    const info = await storage.head(last.key, options);
    if (info !== null && info.size <= (this.#options.headEpochProbeBytes ?? 1 << 20)) {
      const obj = await storage.get(last.key, options);
      if (obj !== null) {
        try {
          epoch = toNumberEpoch(decodeSegment(obj.data).epoch);
        } catch {
          epoch = 0;
        }
      }
    }
    return { position: last.seq, epoch };
  }

  #pullOnce(
    db: string,
    path: string,
    ctx: Pick<FollowerContext, 'epochGate'> & { progress?: FollowerContext['progress'] },
    signal: AbortSignal,
    probeFirst?: boolean,
  ) {
    return this.#replicator.pullDetailed(db, path, {
      signal,
      probeFirst,
      admitEpoch: (e, seq) => ctx.epochGate.admit(toNumberEpoch(e), seq),
      onApplied: async (position, kind) => {
        if (kind === 'snapshot') ctx.epochGate.record(toNumberEpoch(position.epoch), position.seq);
        if (ctx.progress !== undefined && position.seq > ctx.progress.position) ctx.progress.report(position.seq);
        await this.#options.onApplied?.(db, position, kind);
      },
    });
  }
}
