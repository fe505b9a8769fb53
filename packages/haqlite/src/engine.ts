import { existsSync, renameSync, rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { EpochGate, FollowerBehavior, LeaderTerm, Replicator } from '@hadb/core';
import type { EngineContext, EngineFactory, HaEngine } from '@hadb/ha';
import { sleepUnlessAborted, type OpOptions } from '@hadb/io';
import type { StorageBackend } from '@hadb/storage';
import {
  Follower,
  Walstream,
  WalstreamError,
  claimLineage,
  isWalstreamError,
  readDurableHead,
  type DatabaseReplicator,
  type LineageClaim,
} from '@hadb/walstream';
import { isSqliteClientError } from './errors.js';
import { SqliteFollowerReader } from './follower-reader.js';
import { SqliteLeader } from './leader.js';
import { sqliteWire, type SqliteReadOp, type SqliteReadReply, type SqliteWrite, type WriteResults } from './wire.js';

/** What the SQLite engine needs besides the node's context. */
export interface SqliteEngineOptions {
  readonly storage: StorageBackend;
  /** Storage key prefix, `""` or ending in `/`. */
  readonly prefix: string;
  /** Longest wait for a SQLite lock (readers during an apply, writers during a checkpoint), ms. */
  readonly busyTimeoutMs: number;
  /** Runs a Hrana pipeline body a follower relayed (on the leader side); without it relays are refused. */
  readonly hrana?: ((pipeline: unknown) => Promise<unknown>) | undefined;
}

/** Files walstream and haqlite keep next to the database. */
const followPosition = (path: string): string => `${path}-walstream-follow.json`;
const SIDE_SUFFIXES = ['-wal', '-shm', '-journal', '-walstream.json', '-walstream-follow.json'] as const;
/** Attempts at claiming a new term's first sequence while older terms' late changesets keep landing. */
const CLAIM_ATTEMPTS = 16;

/** A walstream epoch as core's epoch number (walstream stores u64; core's epochs are safe integers). */
function epochNumber(epoch: bigint): number {
  return epoch > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(epoch);
}

/**
 * SQLite on the HA layer. The leader writes its file in WAL mode; walstream ships each ship's
 * commits as one chained changeset (a leader term starts a new lineage with a snapshot above the
 * remote head). A follower keeps a replica in rollback-journal mode with walstream's `Follower`
 * (each changeset verified against the chain and applied crash-safely; a new lineage restores
 * the newest snapshot) and reads it through a read-only connection.
 */
export function sqliteEngine(
  options: SqliteEngineOptions,
): EngineFactory<SqliteWrite, SqliteReadOp, WriteResults, SqliteReadReply> {
  return (ctx: EngineContext): HaEngine<SqliteWrite, SqliteReadOp, WriteResults, SqliteReadReply> => {
    const { db, path, clock, logger } = ctx;
    const { storage, prefix } = options;
    let shipping: { ws: Walstream; replicator: DatabaseReplicator; term: LeaderTerm } | undefined;

    const followerOptions = (
      intervalMs: number,
      onApply?: (info: { seq: bigint; restored: boolean; createdMs?: number | undefined }) => void,
      gate?: EpochGate,
    ) => ({
      // Every changeset's writer epoch passes core's gate: none older than a term started before it.
      admitEpoch: gate === undefined ? undefined : (epoch: bigint, seq: bigint) => gate.admit(epochNumber(epoch), seq),
      storage,
      prefix,
      name: db,
      output: path,
      intervalMs,
      busyTimeoutMs: options.busyTimeoutMs,
      clock,
      logger,
      onApply,
    });

    /** Brings the replica to the durable head once; `0n` when storage holds nothing yet. */
    const catchUp = async (signal: AbortSignal | undefined, gate?: EpochGate): Promise<bigint> => {
      const restoring = !existsSync(followPosition(path));
      let follower: Follower;
      try {
        follower = await Follower.open(
          followerOptions(
            2 ** 31 - 1,
            (info) => void ctx.onApplied({ seq: info.seq, kind: info.restored ? 'snapshot' : 'segment' }),
            gate,
          ),
          { signal },
        );
      } catch (err) {
        if (isWalstreamError(err, 'HADB_WALSTREAM_NOT_FOUND')) return 0n;
        throw err;
      }
      const seq = follower.seq;
      gate?.record(epochNumber(follower.epoch), seq);
      await follower.close();
      // Follower.open's first restore reports nothing itself.
      if (restoring && seq > 0n) await ctx.onApplied({ seq, kind: 'snapshot' });
      return seq;
    };

    /**
     * Claims the term's first sequence right after everything this node has applied (walstream's
     * `claimLineage`: a `putIfAbsent` at the incremental key an older term's next changeset would
     * use), so no older term can append once this one takes writes. A late changeset of an older
     * term that got there first is applied, then the next sequence is claimed; an abandoned claim
     * (no data) is stepped over; an equal or higher epoch trips the fence (`HADB_WALSTREAM_FENCED`).
     */
    const claimTerm = async (term: LeaderTerm, signal: AbortSignal | undefined): Promise<LineageClaim> => {
      let seq = (await catchUp(signal)) + 1n;
      for (let attempt = 1; ; attempt++) {
        const got = await claimLineage({
          storage,
          prefix,
          name: db,
          seq,
          term: term.fence,
          createdMs: clock.wallMs(),
          signal,
        });
        if (got.kind === 'claimed') return got.claim;
        if (attempt >= CLAIM_ATTEMPTS)
          throw new WalstreamError(
            'HADB_WALSTREAM_CONFLICT',
            `${db}: could not claim a sequence after ${attempt} attempts`,
          );
        if (got.claim) {
          seq++;
          continue;
        }
        const reached = await catchUp(signal);
        seq = reached + 1n > seq ? reached + 1n : seq + 1n;
      }
    };

    /** Starts shipping for `term`: the file becomes the leader's (WAL mode), walstream starts a lineage. */
    const startShipping = async (term: LeaderTerm, o: OpOptions = {}): Promise<void> => {
      term.fence.check();
      const claim = await claimTerm(term, o.signal);
      term.fence.check();
      if (!existsSync(path)) new Database(path).close();
      // The file stops being a replica: a later demotion must not follow from it.
      rmSync(followPosition(path), { force: true });
      const ws = await Walstream.open({
        storage,
        prefix,
        autoSync: false,
        clock,
        logger,
        checkpoint: { minPages: 1000, intervalMs: 0, truncatePages: 0 },
        // The leader's writes and its ships share this thread: a checkpoint that runs while they
        // wait paces a writer that outruns the ships (with the router's backpressure), where one
        // on another thread would race it for the write lock and for the WAL's end.
        walThread: false,
      });
      try {
        const replicator = await ws.add(path, { name: db, signal: o.signal, term: term.fence, claim });
        shipping = { ws, replicator, term };
      } catch (err) {
        await ws.close({ final: false }).catch(() => undefined);
        throw err;
      }
    };

    const replicator: Replicator = {
      startLineage: (_d, _p, term, o) => startShipping(term, o),
      continueLineage: (_d, _p, term, o) => startShipping(term, o),
      pull: (_d, _p, o) => catchUp(o?.signal),
      async remove() {
        const s = shipping;
        shipping = undefined;
        await s?.ws.close({ final: false });
      },
      async sync(_d, o) {
        const s = shipping;
        if (s === undefined) return;
        s.term.fence.check();
        await s.replicator.sync({
          signal: o?.signal === undefined ? s.term.fence.signal : AbortSignal.any([o.signal, s.term.fence.signal]),
        });
      },
    };

    const followerBehavior: FollowerBehavior = {
      async runFollowerLoop(fctx) {
        let chain = Promise.resolve();
        for (;;) {
          let follower: Follower;
          try {
            follower = await Follower.open(
              followerOptions(
                2 ** 31 - 1,
                (info) => {
                  if (info.seq > fctx.progress.position) fctx.progress.report(info.seq);
                  chain = chain.then(() =>
                    ctx.onApplied({
                      seq: info.seq,
                      kind: info.restored ? 'snapshot' : 'segment',
                      commitMs: info.createdMs,
                    }),
                  );
                },
                fctx.epochGate,
              ),
              { signal: fctx.signal },
            );
          } catch (err) {
            if (fctx.signal.aborted) return;
            if (!isWalstreamError(err, 'HADB_WALSTREAM_NOT_FOUND')) {
              fctx.metrics.pullFailed();
              throw err;
            }
            fctx.metrics.pullNoNewData();
            fctx.progress.setCaughtUp(true);
            if (!(await sleepUnlessAborted(fctx.clock, fctx.pollIntervalMs, fctx.signal))) return;
            continue;
          }
          fctx.epochGate.record(epochNumber(follower.epoch), follower.seq);
          fctx.metrics.pullSucceeded();
          try {
            if (follower.seq > fctx.progress.position) {
              fctx.progress.report(follower.seq);
              const seq = follower.seq;
              chain = chain.then(() => ctx.onApplied({ seq, kind: 'snapshot' }));
            }
            fctx.progress.setCaughtUp(true);
            // Told by the leader when a changeset is stored (the node's head long poll); storage
            // polling on the interval while no leader answers, and to retry a failed poll.
            let retry = false;
            for (;;) {
              const waker = ctx.leaderWaker;
              if (waker !== undefined && !retry) {
                try {
                  await waker.wait(fctx.signal);
                } catch {
                  break;
                }
              } else if (!(await sleepUnlessAborted(fctx.clock, fctx.pollIntervalMs, fctx.signal))) break;
              retry = false;
              try {
                const before = follower.seq;
                await follower.poll(fctx.signal);
                if (follower.seq > before) fctx.metrics.pullSucceeded();
                else fctx.metrics.pullNoNewData();
                fctx.progress.setCaughtUp(true);
              } catch (err) {
                if (fctx.signal.aborted) break;
                fctx.metrics.pullFailed();
                fctx.progress.setCaughtUp(false);
                logger.warn({ db, err: String(err) }, 'haqlite: follower poll failed; retrying');
                retry = true;
              }
            }
          } finally {
            await follower.close();
            await chain;
          }
          return;
        }
      },
      catchupOnPromotion: (c) => catchUp(c.signal, c.epochGate),
      async durableHead(_d, o) {
        const head = await readDurableHead(storage, prefix, db, o);
        return { position: head.seq, epoch: epochNumber(head.epoch) };
      },
    };

    return {
      replicator,
      followerBehavior,
      // The follower loop reports every pull (restore, poll) through `metrics`.
      reportsPulls: true,
      wire: sqliteWire,
      isClientError: isSqliteClientError,
      async prepareLocalCopy(o) {
        // A file that is not a replica (a former leader's, or one copied in) may hold commits that
        // were never shipped: set it aside (never deleted) unless storage is empty (then it is adopted).
        if (!existsSync(path) || existsSync(followPosition(path))) return;
        // (A claim abandoned before its snapshot holds no data: storage counts as empty.)
        if ((await readDurableHead(storage, prefix, db, o)).seq === 0n) return;
        const aside = `${path}.diverged-${Math.floor(clock.wallMs())}`;
        renameSync(path, aside);
        for (const suffix of SIDE_SUFFIXES) {
          if (existsSync(path + suffix)) renameSync(path + suffix, aside + suffix);
        }
        logger.warn(
          { db, aside },
          'haqlite: the local file is not a replica of what storage holds; moved aside, restoring from storage',
        );
      },
      async openLeader(context) {
        const s = shipping;
        if (s === undefined) throw new Error('haqlite: the leader side opened without a replication term');
        return SqliteLeader.open({
          path,
          context,
          replicator: s.replicator,
          termSignal: s.term.fence.signal,
          clock,
          hrana: options.hrana,
        });
      },
      openFollower: () => new SqliteFollowerReader(path, options.busyTimeoutMs),
    };
  };
}
