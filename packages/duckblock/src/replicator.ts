import type { LeaderTerm, Replicator, ReplicatorCallOptions } from '@hadb/core';
import { detectDirtyBlocks } from './capture.js';
import {
  captureNextSegment,
  shipCapturedSegment,
  supersedePending,
  type ShippedSegment,
} from './checkpoint-shipping.js';
import { DuckblockError } from './errors.js';
import { snapshotAndRetain, snapshotDue, type LeaderSnapshot } from './leader-snapshots.js';
import { bodySize, combineSignals, runExclusive, type LeaderState } from './leader-state.js';
import { continueChain, startNewLineage } from './lineage.js';
import { resolveOptions, type DuckblockReplicatorOptions, type ResolvedOptions } from './options.js';
import { pullIncremental, type PullOptions, type PullResult } from './pull.js';
import { applyRetention, type RetentionResult } from './retention.js';

/** Result of {@link DuckblockReplicator.pushCheckpoint}. */
export interface PushResult extends ShippedSegment {
  /** Snapshot written after the segment, if the policy asked for one. */
  readonly snapshot?: { readonly seq: bigint; readonly bytes: number } | undefined;
  /** Retention run after that snapshot, if any. */
  readonly retention?: RetentionResult | undefined;
}

/** Options of {@link DuckblockReplicator.pushCheckpoint}. */
export interface PushOptions extends ReplicatorCallOptions {
  /**
   * Blocks the caller knows changed (for example from its own write tracking). Shipped in
   * addition to those the stored-checksum comparison finds.
   */
  readonly dirtyBlocks?: Iterable<number> | undefined;
  /** Write a snapshot after this segment regardless of the policy. */
  readonly forceSnapshot?: boolean | undefined;
}

/**
 * A checkpoint read from the leader's file and encoded, not yet in storage (see
 * {@link DuckblockReplicator.prepareCheckpoint}).
 */
export interface PreparedCheckpoint {
  /** Sequence the segment will have. */
  readonly seq: bigint;
  /** Bytes of the segment object. */
  readonly bytes: number;
  readonly blocks: number;
  readonly headerPages: number;
  /**
   * Writes the segment (fenced `putIfAbsent`) and advances the leader's shipped state. Does not
   * read the database file, so it can run after the caller released its write lock. Rejects with
   * `HADB_DUCKBLOCK_SUPERSEDED` when a later `prepareCheckpoint` replaced this one before it started
   * (that later one includes these changes). `snapshotDue` in the result tells the caller to run
   * {@link DuckblockReplicator.snapshot} under its lock.
   */
  upload(options?: ReplicatorCallOptions): Promise<PushResult & { readonly snapshotDue: boolean }>;
}

/**
 * DuckDB replication through object storage, the `Replicator` of `@hadb/core`: the leader side
 * (`startLineage`, `continueLineage`, `pushCheckpoint` / `prepareCheckpoint`, `snapshot`, `sync`,
 * `remove`) and the restore/catch-up side (`pull`). Each job lives in its own module: lineage
 * start and chain continuation (`lineage.ts`), checkpoint capture, spill and upload
 * (`checkpoint-shipping.ts`), snapshot policy and retention (`leader-snapshots.ts`), fenced
 * segment writes (`fenced-write.ts`), pulls (`pull.ts`).
 *
 * The application (for example `@hadb/haduck`) owns DuckDB: it sets a high
 * `checkpoint_threshold`, and for each checkpoint takes its write lock, runs `CHECKPOINT`, calls
 * {@link pushCheckpoint} (or {@link prepareCheckpoint}) and releases the lock. A write is durable
 * once the push that covers it resolved.
 */
export class DuckblockReplicator implements Replicator {
  readonly options: ResolvedOptions;
  readonly #leaders = new Map<string, LeaderState>();
  /** When each (db, path) was last listed by a pull (replicator clock). */
  readonly #lastListed = new Map<string, number>();

  constructor(options: DuckblockReplicatorOptions) {
    this.options = resolveOptions(options);
  }

  /** The storage prefix in use. */
  get prefix(): string {
    return this.options.prefix;
  }

  /**
   * Starts a new lineage for `db` from the local file (see `startNewLineage`): claims the next
   * free sequence and uploads the whole file as its snapshot. The file must be at rest.
   */
  async startLineage(db: string, path: string, term: LeaderTerm, options: ReplicatorCallOptions = {}): Promise<void> {
    await this.remove(db);
    this.#leaders.set(
      db,
      await startNewLineage(this.options, db, path, term, combineSignals(options.signal, term.fence.signal)),
    );
  }

  /**
   * Continues the existing chain after a promotion (see `continueChain`): applies late writes of
   * the previous term, then claims the next sequence. A local position that does not match
   * storage starts a new lineage instead. DuckDB must not have the file open read-write.
   */
  async continueLineage(
    db: string,
    path: string,
    term: LeaderTerm,
    options: ReplicatorCallOptions = {},
  ): Promise<void> {
    await this.remove(db);
    const state = await continueChain(this.options, db, path, term, combineSignals(options.signal, term.fence.signal));
    if (state !== 'mismatch') {
      this.#leaders.set(db, state);
      return;
    }
    this.options.logger.warn({ db }, 'duckblock: local position does not match storage; starting a new lineage');
    await this.startLineage(db, path, term, options);
  }

  /**
   * Ships one checkpoint: finds the blocks whose stored DuckDB checksum differs from the last
   * shipped manifest (plus `dirtyBlocks`), reads them and the changed 4 KiB header page(s),
   * verifies every block read, and writes one segment at the next sequence with `putIfAbsent`
   * under the term's fence. Resolves after the segment is durable in storage and the leader's
   * position is persisted. Nothing changed: resolves with `shipped: false` and writes nothing.
   * When the snapshot policy asks (or `forceSnapshot`), a snapshot and retention follow.
   *
   * No other `CHECKPOINT` may run from the caller's `CHECKPOINT` until this resolves (commits
   * meanwhile are fine: they go to DuckDB's WAL; a large transaction writing into free blocks
   * shows as a torn read — retry under the write lock). Errors:
   * `HADB_DUCKBLOCK_TORN_READ` (a checkpoint ran during the read; nothing written, retry),
   * `HADB_CORE_FENCED` / `HADB_DUCKBLOCK_FENCED` (the term ended), `HADB_DUCKBLOCK_SEQ_CONFLICT`,
   * or a `StorageError`. After an error nothing is lost: the next push diffs against the last
   * *shipped* manifest and so includes these blocks again.
   *
   * The second argument is either the options or, as a shorthand, the `dirtyBlocks` iterable.
   */
  pushCheckpoint(db: string, dirtyBlocksOrOptions: Iterable<number> | PushOptions = {}): Promise<PushResult> {
    const options: PushOptions =
      Symbol.iterator in Object(dirtyBlocksOrOptions)
        ? { dirtyBlocks: dirtyBlocksOrOptions as Iterable<number> }
        : (dirtyBlocksOrOptions as PushOptions);
    const state = this.#leader(db);
    return runExclusive(state, () => this.#push(state, options));
  }

  /**
   * The first half of {@link pushCheckpoint}, for callers that upload later: reads and verifies
   * the changed blocks (right after `CHECKPOINT`, before any other checkpoint runs; `@hadb/haduck`
   * does it outside its write lock) and encodes the segment; `upload()` writes it later. Resolves `null` when
   * nothing changed. A new `prepareCheckpoint` supersedes a prepared one whose upload has not
   * started (both diff against the last *uploaded* state, so nothing is lost); it waits for an
   * upload in flight. Snapshots are not taken here (they read the file): see `snapshotDue`.
   */
  prepareCheckpoint(db: string, options: PushOptions = {}): Promise<PreparedCheckpoint | null> {
    const state = this.#leader(db);
    return runExclusive(state, async () => {
      await supersedePending(state);
      state.term.fence.check();
      const captured = await captureNextSegment(
        this.options,
        state,
        extraBlocks(options),
        'ready',
        state.term.fence.signal,
      );
      if (captured === null) return null;
      state.pending = captured;
      const { seq } = captured;
      return {
        seq,
        bytes: bodySize(captured.body),
        blocks: captured.blocks,
        headerPages: captured.headerPages,
        upload: (o: ReplicatorCallOptions = {}) =>
          runExclusive(state, async () => {
            if (captured.status !== 'ready' || state.pending !== captured) {
              throw new DuckblockError(
                'HADB_DUCKBLOCK_SUPERSEDED',
                `${db}: prepared segment ${seq} was replaced by a later checkpoint`,
              );
            }
            captured.status = 'uploading';
            try {
              const result = await shipCapturedSegment(
                this.options,
                state,
                captured,
                combineSignals(o.signal, state.term.fence.signal),
              );
              captured.status = 'done';
              return { ...result, snapshotDue: snapshotDue(this.options, state) };
            } finally {
              if (captured.status !== 'done') captured.status = 'superseded';
              if (state.pending === captured) state.pending = undefined;
            }
          }),
      };
    });
  }

  /** The DuckDB blocks that differ from the last shipped state (a dry run of the detection). */
  dirtyBlocks(db: string): number[] {
    const state = this.#leader(db);
    return detectDirtyBlocks(state.handle.fd, state.manifest).blocks;
  }

  /**
   * Ships pending changes, writes a snapshot of the current file at the head sequence, then
   * applies retention (unless disabled; fenced by the term; a retention failure is logged and
   * retried after the next snapshot). The whole file is read: no `CHECKPOINT` may run meanwhile
   * (writers may commit; a torn read, `HADB_DUCKBLOCK_TORN_READ`, means retry under the lock).
   */
  snapshot(db: string, options: ReplicatorCallOptions = {}): Promise<LeaderSnapshot> {
    const state = this.#leader(db);
    return runExclusive(state, async () => {
      const signal = combineSignals(options.signal, state.term.fence.signal);
      const pushed = await this.#push(state, { signal });
      if (pushed.snapshot !== undefined) return { ...pushed.snapshot, retention: pushed.retention };
      return snapshotAndRetain(this.options, state, signal);
    });
  }

  /**
   * Runs retention now (it also runs after every snapshot), as the leader of `db`: fenced by its
   * term (checked before every delete request; the term's end aborts a delete in flight and
   * rejects with `HADB_CORE_FENCED`). `HADB_DUCKBLOCK_NOT_FOUND` when this replicator does not
   * lead `db`; offline tools call the exported `applyRetention` function instead.
   */
  applyRetention(db: string, options: ReplicatorCallOptions = {}): Promise<RetentionResult> {
    const state = this.#leader(db);
    return runExclusive(state, () =>
      applyRetention(this.options.storage, this.prefix, db, this.options.keepSnapshots, {
        signal: options.signal,
        fence: state.term.fence,
      }),
    );
  }

  /** Restores or catches up the local copy at `path`; returns the sequence reached (`0n` for an empty history). */
  async pull(db: string, path: string, options: ReplicatorCallOptions = {}): Promise<bigint> {
    const result = await this.pullDetailed(db, path, options);
    return result.position?.seq ?? 0n;
  }

  /**
   * {@link pull} with every knob of `pullIncremental` and the detailed result. Unless the caller
   * sets `probeFirst`, a poll within `listIntervalMs` of the last listing of `db` at `path` is
   * one HEAD of the next key when nothing new exists.
   */
  async pullDetailed(db: string, path: string, options: PullOptions = {}): Promise<PullResult> {
    const key = `${db}\u0000${path}`;
    const last = this.#lastListed.get(key);
    const clock = this.options.clock;
    const probeFirst = options.probeFirst ?? (last !== undefined && clock.now() - last < this.options.listIntervalMs);
    const result = await pullIncremental(this.options.storage, this.prefix, db, path, {
      concurrency: this.options.downloadConcurrency,
      streamAboveBytes: this.options.streamAboveBytes,
      maxFileSize: this.options.maxFileSizeBytes,
      ...options,
      probeFirst,
    });
    if (result.listed) this.#lastListed.set(key, clock.now());
    return result;
  }

  /**
   * Forgets `db` as a leader. The file handle stays open (closing it would drop DuckDB's lock in
   * this process; see `releaseLeaderFile`). Waits for an operation in flight. Idempotent.
   */
  async remove(db: string, _options: ReplicatorCallOptions = {}): Promise<void> {
    const state = this.#leaders.get(db);
    if (state === undefined) return;
    this.#leaders.delete(db);
    state.removed = true;
    await state.queue.catch(() => undefined);
    await supersedePending(state);
  }

  /** Resolves when every push accepted so far for `db` is durable; rejects if the last one failed or the term is fenced. */
  async sync(db: string, _options: ReplicatorCallOptions = {}): Promise<void> {
    const state = this.#leaders.get(db);
    if (state === undefined) return;
    await state.queue;
    state.term.fence.check();
  }

  /** Head position of a leader database (seq, checksum, epoch), or `undefined` when not leading it. */
  head(db: string): { seq: bigint; checksum: bigint; epoch: bigint } | undefined {
    const s = this.#leaders.get(db);
    return s === undefined ? undefined : { seq: s.seq, checksum: s.checksum, epoch: s.epoch };
  }

  #leader(db: string): LeaderState {
    const state = this.#leaders.get(db);
    if (state === undefined || state.removed) {
      throw new DuckblockError('HADB_DUCKBLOCK_NOT_FOUND', `${db} is not replicated as leader by this replicator`);
    }
    return state;
  }

  /** One push under the database's queue: capture, ship, then a snapshot if due. */
  async #push(state: LeaderState, options: PushOptions): Promise<PushResult> {
    const signal = combineSignals(options.signal, state.term.fence.signal);
    state.term.fence.check();
    await supersedePending(state);
    let result: PushResult = { seq: state.seq, shipped: false, bytes: 0, blocks: 0, headerPages: 0 };
    const captured = await captureNextSegment(this.options, state, extraBlocks(options), 'uploading', signal);
    if (captured !== null) result = await shipCapturedSegment(this.options, state, captured, signal);
    if (options.forceSnapshot === true || (result.shipped && snapshotDue(this.options, state))) {
      const { retention, ...snapshot } = await snapshotAndRetain(this.options, state, signal);
      result = { ...result, snapshot, retention };
    }
    return result;
  }
}

function extraBlocks(options: PushOptions): number[] | undefined {
  return options.dirtyBlocks === undefined ? undefined : [...options.dirtyBlocks];
}
