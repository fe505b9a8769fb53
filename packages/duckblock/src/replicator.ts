import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, rm, type FileHandle } from 'node:fs/promises';
import { isChangesetError, readPhysicalStream } from '@hadb/changeset';
import { fencedPutIfAbsent, type LeaderTerm, type Replicator, type ReplicatorCallOptions } from '@hadb/core';
import { isStorageError } from '@hadb/storage';
import { captureCheckpoint, captureToFile, detectDirtyBlocks } from './capture.js';
import { discoverLatestSnapshotSegment, discoverSegmentsAfter, incrementalKey, snapshotKey } from './discovery.js';
import { DuckblockError, isDuckblockError, throwIfAborted } from './errors.js';
import { leaderFileHandle } from './file-handles.js';
import type { BlockManifest } from './manifest.js';
import { resolveOptions, type DuckblockReplicatorOptions, type ResolvedOptions } from './options.js';
import { readPosition, writePosition, type Position } from './position.js';
import { pullIncremental, type PullOptions, type PullResult } from './pull.js';
import { applyRetention, type RetentionResult } from './retention.js';
import { encodeSegment, newSegment } from './segment.js';
import { uploadSnapshot } from './snapshot.js';

/** Result of {@link DuckblockReplicator.pushCheckpoint}. */
export interface PushResult {
  /** Sequence of the segment written, or the unchanged head when nothing changed. */
  readonly seq: bigint;
  /** Whether a segment was written (false: the file had no changes since the last push). */
  readonly shipped: boolean;
  /** Bytes of the segment object. */
  readonly bytes: number;
  /** DuckDB blocks shipped. */
  readonly blocks: number;
  /** Header pages shipped (4 KiB each). */
  readonly headerPages: number;
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
   * `DUCKBLOCK_SUPERSEDED` when a later `prepareCheckpoint` replaced this one before it started
   * (that later one includes these changes). `snapshotDue` in the result tells the caller to run
   * {@link DuckblockReplicator.snapshot} under its lock.
   */
  upload(options?: ReplicatorCallOptions): Promise<PushResult & { readonly snapshotDue: boolean }>;
}

/** An encoded segment: in memory, or spilled to a local file (large checkpoints). */
type SegmentBody = { readonly kind: 'memory'; readonly bytes: Uint8Array } | { readonly kind: 'file'; readonly path: string; readonly size: number };

function bodySize(body: SegmentBody): number {
  return body.kind === 'memory' ? body.bytes.length : body.size;
}

interface Pending {
  status: 'ready' | 'uploading' | 'done' | 'superseded';
  readonly seq: bigint;
  readonly checksum: bigint;
  readonly body: SegmentBody;
  readonly manifest: BlockManifest;
  readonly fileSize: number;
  readonly blocks: number;
  readonly headerPages: number;
}

interface LeaderState {
  readonly db: string;
  readonly path: string;
  readonly handle: FileHandle;
  readonly term: LeaderTerm;
  readonly epoch: bigint;
  seq: bigint;
  checksum: bigint;
  manifest: BlockManifest;
  fileSize: number;
  lastSnapshotAt: number;
  segmentsSinceSnapshot: number;
  bytesSinceSnapshot: number;
  /** Serialises operations on this database. */
  queue: Promise<unknown>;
  /** The last prepared, not yet uploaded checkpoint. */
  pending: Pending | undefined;
  removed: boolean;
}

function randomU64(): bigint {
  return randomBytes(8).readBigUInt64BE(0);
}

function combine(a: AbortSignal | undefined, b: AbortSignal): AbortSignal {
  return a === undefined ? b : AbortSignal.any([a, b]);
}

/**
 * DuckDB replication through object storage: the leader side (`add`, `addContinuing`,
 * `pushCheckpoint`, `sync`, `remove`) and the restore/catch-up side (`pull`). Implements the
 * `Replicator` interface of `@hadb/core`.
 *
 * The application (for example `@hadb/haduck`) owns DuckDB: it sets a high
 * `checkpoint_threshold`, and for each checkpoint takes its write lock, runs `CHECKPOINT`, calls
 * {@link pushCheckpoint} and releases the lock after it resolves. A write is durable once the
 * `pushCheckpoint` that covers it resolved.
 */
export class DuckblockReplicator implements Replicator {
  readonly options: ResolvedOptions;
  private readonly leaders = new Map<string, LeaderState>();
  /** When each (db, path) was last listed by a pull. */
  private readonly lastListed = new Map<string, number>();

  constructor(options: DuckblockReplicatorOptions) {
    this.options = resolveOptions(options);
  }

  /** The storage prefix in use. */
  get prefix(): string {
    return this.options.prefix;
  }

  /**
   * Starts a new lineage for `db` from the local file: claims the next free sequence `S` with an
   * empty segment carrying the term's epoch (its `prev_checksum` is random, so followers of an
   * older lineage stop at a chain break and restore the new snapshot), then streams the whole
   * file as the snapshot at `S`. Sequences never go back: `S` is above every existing segment and
   * snapshot. The file must be at rest (no checkpoint may run during the call).
   */
  async add(db: string, path: string, term: LeaderTerm, options: ReplicatorCallOptions = {}): Promise<void> {
    const signal = combine(options.signal, term.fence.signal);
    await this.remove(db);
    await rm(`${path}.hadb-outgoing`, { force: true });
    const handle = await leaderFileHandle(path);
    const epoch = BigInt(term.epoch);
    for (let attempt = 0; ; attempt++) {
      throwIfAborted(signal);
      const head = await this.storageHead(db, signal);
      const seq = head + 1n;
      const claim = newSegment(seq, randomU64(), [], { epoch });
      const outcome = await this.putSegment(db, seq, encodeSegment(claim), claim.checksum, term, signal);
      if (outcome === 'late-write') {
        if (attempt < 5) continue;
        throw new DuckblockError('DUCKBLOCK_SEQ_CONFLICT', `${db}: could not claim a sequence after ${attempt + 1} attempts`);
      }
      let snap;
      for (let tries = 0; ; tries++) {
        try {
          term.fence.check();
          snap = await uploadSnapshot(this.options.storage, snapshotKey(this.prefix, db, seq), handle, {
            seq,
            anchor: claim.checksum,
            epoch,
            signal,
          });
          break;
        } catch (err) {
          if (!isDuckblockError(err, 'DUCKBLOCK_TORN_READ') || tries >= 2) throw err;
        }
      }
      const state: LeaderState = {
        db,
        path,
        handle,
        term,
        epoch,
        seq,
        checksum: claim.checksum,
        manifest: snap.manifest,
        fileSize: snap.fileSize,
        lastSnapshotAt: Date.now(),
        segmentsSinceSnapshot: 0,
        bytesSinceSnapshot: 0,
        queue: Promise.resolve(),
        pending: undefined,
        removed: false,
      };
      await this.persist(state);
      this.leaders.set(db, state);
      this.options.logger?.info({ db, seq, epoch: term.epoch, bytes: snap.bytes }, 'duckblock: new lineage with snapshot');
      return;
    }
  }

  /**
   * Continues the existing chain after a promotion. The local file must be the durable head as
   * applied by this node (its position file beside it matches storage); segments that landed
   * since (a late write of the previous term) are applied first. Then the next sequence is
   * claimed with an empty segment carrying the new epoch, so no older term can append after it.
   * If the local position does not match storage (or there is none), falls back to {@link add}.
   * A local file changed outside replication rejects with `DUCKBLOCK_DIVERGED` (the promotion is
   * refused rather than continuing from an unknown state). DuckDB must not have the file open
   * read-write during this call.
   */
  async addContinuing(db: string, path: string, term: LeaderTerm, options: ReplicatorCallOptions = {}): Promise<void> {
    const signal = combine(options.signal, term.fence.signal);
    await this.remove(db);
    const epoch = BigInt(term.epoch);
    for (let attempt = 0; attempt < 6; attempt++) {
      throwIfAborted(signal);
      // Apply anything newer (late writes of the previous term); refuse segments of newer terms.
      const pulled = await pullIncremental(this.options.storage, this.prefix, db, path, {
        signal,
        concurrency: this.options.downloadConcurrency,
        streamAboveBytes: this.options.streamAboveBytes,
        removeWal: false,
        admitEpoch: (e) => {
          if (e > epoch) {
            term.fence.trip(`segment of epoch ${e} found while starting term ${epoch}`);
            throw new DuckblockError('DUCKBLOCK_FENCED', `${db}: storage holds epoch ${e}, newer than this term (${epoch})`);
          }
        },
      });
      const position = pulled.position ?? (await readPosition(path));
      const match = position === null ? 'mismatch' : await this.matchesStorage(db, position, signal);
      if (match === 'newer') continue; // Another late write landed meanwhile: apply it first.
      if (position === null || match === 'mismatch') {
        this.options.logger?.warn({ db }, 'duckblock: local position does not match storage; starting a new lineage');
        return this.add(db, path, term, options);
      }
      const seq = position.seq + 1n;
      const claim = newSegment(seq, position.checksum, [], { epoch });
      const outcome = await this.putSegment(db, seq, encodeSegment(claim), claim.checksum, term, signal);
      if (outcome === 'late-write') continue;
      const handle = await leaderFileHandle(path);
      const state: LeaderState = {
        db,
        path,
        handle,
        term,
        epoch,
        seq,
        checksum: claim.checksum,
        manifest: position.manifest,
        fileSize: 0,
        lastSnapshotAt: Date.now(),
        segmentsSinceSnapshot: 0,
        bytesSinceSnapshot: 0,
        queue: Promise.resolve(),
        pending: undefined,
        removed: false,
      };
      await this.persist(state);
      this.leaders.set(db, state);
      this.options.logger?.info({ db, seq, epoch: term.epoch }, 'duckblock: continuing chain');
      return;
    }
    throw new DuckblockError('DUCKBLOCK_SEQ_CONFLICT', `${db}: could not claim a sequence (late writes kept arriving)`);
  }

  /**
   * Ships one checkpoint: finds the blocks whose stored DuckDB checksum differs from the last
   * shipped manifest (plus `dirtyBlocks`), reads them and the changed 4 KiB header page(s),
   * verifies every block read, and writes one segment at the next sequence with `putIfAbsent`
   * under the term's fence. Resolves after the segment is durable in storage and the leader's
   * position is persisted. Nothing changed: resolves with `shipped: false` and writes nothing.
   *
   * The caller must hold its write lock from `CHECKPOINT` until this resolves. Errors:
   * `DUCKBLOCK_TORN_READ` (a checkpoint ran during the read; nothing written, retry),
   * `HADB_CORE_FENCED` / `DUCKBLOCK_FENCED` (the term ended), `DUCKBLOCK_SEQ_CONFLICT`, or a
   * `StorageError`. After an error nothing is lost: the next push diffs against the last
   * *shipped* manifest and so includes these blocks again.
   *
   * The second argument is either the options or, as a shorthand, the `dirtyBlocks` iterable.
   */
  pushCheckpoint(db: string, dirtyBlocksOrOptions: Iterable<number> | PushOptions = {}): Promise<PushResult> {
    const options: PushOptions =
      Symbol.iterator in Object(dirtyBlocksOrOptions)
        ? { dirtyBlocks: dirtyBlocksOrOptions as Iterable<number> }
        : (dirtyBlocksOrOptions as PushOptions);
    const state = this.leader(db);
    return this.enqueue(state, () => this.doPush(state, options));
  }

  /**
   * The first half of {@link pushCheckpoint}, for callers that release their write lock before
   * uploading: reads and verifies the changed blocks (under the caller's lock, right after
   * `CHECKPOINT`) and encodes the segment in memory; `upload()` writes it later. Resolves `null`
   * when nothing changed. A new `prepareCheckpoint` supersedes a prepared one whose upload has not
   * started (both diff against the last *uploaded* state, so nothing is lost); it waits for an
   * upload in flight. Snapshots are not taken here (they read the file): see `snapshotDue`.
   */
  prepareCheckpoint(db: string, options: PushOptions = {}): Promise<PreparedCheckpoint | null> {
    const state = this.leader(db);
    return this.enqueue(state, async () => {
      await this.dropPending(state);
      state.term.fence.check();
      const pending = await this.capture(state, options, 'ready', state.term.fence.signal);
      if (pending === null) return null;
      state.pending = pending;
      const { seq } = pending;
      return {
        seq,
        bytes: bodySize(pending.body),
        blocks: pending.blocks,
        headerPages: pending.headerPages,
        upload: (o: ReplicatorCallOptions = {}) =>
          this.enqueue(state, async () => {
            if (pending.status !== 'ready' || state.pending !== pending) {
              throw new DuckblockError('DUCKBLOCK_SUPERSEDED', `${db}: prepared segment ${seq} was replaced by a later checkpoint`);
            }
            pending.status = 'uploading';
            try {
              const result = await this.commitSegment(state, pending, combine(o.signal, state.term.fence.signal));
              pending.status = 'done';
              return { ...result, snapshotDue: this.snapshotDue(state) };
            } finally {
              if (pending.status !== 'done') pending.status = 'superseded';
              if (state.pending === pending) state.pending = undefined;
            }
          }),
      };
    });
  }

  /** The DuckDB blocks that differ from the last shipped state (a dry run of the detection). */
  dirtyBlocks(db: string): number[] {
    const state = this.leader(db);
    return detectDirtyBlocks(state.handle.fd, state.manifest).blocks;
  }

  /**
   * Writes a snapshot of the current file at the current head sequence (caller holds its write
   * lock), then runs retention when `retentionEnabled` (as after every snapshot).
   */
  snapshot(db: string, options: ReplicatorCallOptions = {}): Promise<{ seq: bigint; bytes: number }> {
    const state = this.leader(db);
    return this.enqueue(state, async () => {
      const signal = combine(options.signal, state.term.fence.signal);
      const pushed = await this.doPush(state, { signal });
      if (pushed.snapshot !== undefined) return pushed.snapshot; // retention ran in the push
      const snapshot = await this.doSnapshot(state, signal);
      await this.retainAfterSnapshot(db, signal);
      return snapshot;
    });
  }

  /** Runs retention now (it also runs after every snapshot). */
  async applyRetention(db: string, options: ReplicatorCallOptions = {}): Promise<RetentionResult> {
    return applyRetention(this.options.storage, this.prefix, db, this.options.keepSnapshots, options);
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
    const last = this.lastListed.get(key);
    const probeFirst = options.probeFirst ?? (last !== undefined && Date.now() - last < this.options.listIntervalMs);
    const result = await pullIncremental(this.options.storage, this.prefix, db, path, {
      concurrency: this.options.downloadConcurrency,
      streamAboveBytes: this.options.streamAboveBytes,
      ...options,
      probeFirst,
    });
    if (result.listed) this.lastListed.set(key, Date.now());
    return result;
  }

  /**
   * Forgets `db` as a leader. The file handle stays open (closing it would drop DuckDB's lock in
   * this process; see `releaseLeaderFile`). Waits for an operation in flight. Idempotent.
   */
  async remove(db: string, _options: ReplicatorCallOptions = {}): Promise<void> {
    const state = this.leaders.get(db);
    if (state === undefined) return;
    this.leaders.delete(db);
    state.removed = true;
    await state.queue.catch(() => undefined);
    await this.dropPending(state);
  }

  /** Resolves when every push accepted so far for `db` is durable; rejects if the last one failed or the term is fenced. */
  async sync(db: string, _options: ReplicatorCallOptions = {}): Promise<void> {
    const state = this.leaders.get(db);
    if (state === undefined) return;
    await state.queue;
    state.term.fence.check();
  }

  /** Head position of a leader database (seq, checksum, epoch), or `undefined` when not leading it. */
  head(db: string): { seq: bigint; checksum: bigint; epoch: bigint } | undefined {
    const s = this.leaders.get(db);
    return s === undefined ? undefined : { seq: s.seq, checksum: s.checksum, epoch: s.epoch };
  }

  private leader(db: string): LeaderState {
    const state = this.leaders.get(db);
    if (state === undefined || state.removed) {
      throw new DuckblockError('DUCKBLOCK_NOT_FOUND', `${db} is not replicated as leader by this replicator`);
    }
    return state;
  }

  private enqueue<T>(state: LeaderState, fn: () => Promise<T>): Promise<T> {
    const run = state.queue.catch(() => undefined).then(() => {
      if (state.removed) throw new DuckblockError('DUCKBLOCK_CLOSED', `${state.db} was removed`);
      return fn();
    });
    state.queue = run;
    return run;
  }

  private async doPush(state: LeaderState, options: PushOptions): Promise<PushResult> {
    const { term, db } = state;
    const signal = combine(options.signal, term.fence.signal);
    term.fence.check();
    await this.dropPending(state);
    let result: PushResult = { seq: state.seq, shipped: false, bytes: 0, blocks: 0, headerPages: 0 };
    const pending = await this.capture(state, options, 'uploading', signal);
    if (pending !== null) result = await this.commitSegment(state, pending, signal);
    if (options.forceSnapshot === true || (result.shipped && this.snapshotDue(state))) {
      const snapshot = await this.doSnapshot(state, signal);
      result = { ...result, snapshot, retention: await this.retainAfterSnapshot(db, signal) };
    }
    return result;
  }

  /**
   * Retention after a snapshot, when enabled. A failure is logged, not thrown: the snapshot is
   * already durable, and the next snapshot retries.
   */
  private async retainAfterSnapshot(db: string, signal: AbortSignal): Promise<RetentionResult | undefined> {
    if (!this.options.retentionEnabled) return undefined;
    try {
      return await applyRetention(this.options.storage, this.prefix, db, this.options.keepSnapshots, { signal });
    } catch (err) {
      this.options.logger?.warn({ db, err: String(err) }, 'duckblock: retention failed; will retry after the next snapshot');
      return undefined;
    }
  }

  /** Writes a prepared segment and advances the shipped state (seq, checksum, manifest, position). */
  private async commitSegment(state: LeaderState, p: Pending, signal: AbortSignal): Promise<PushResult> {
    const { db, term } = state;
    if (p.seq !== state.seq + 1n) {
      throw new DuckblockError('DUCKBLOCK_SUPERSEDED', `${db}: segment ${p.seq} no longer follows the head ${state.seq}`);
    }
    let outcome: 'written' | 'late-write';
    try {
      outcome = await this.putSegment(db, p.seq, p.body, p.checksum, term, signal);
    } finally {
      if (p.body.kind === 'file') await rm(p.body.path, { force: true });
    }
    if (outcome === 'late-write') {
      throw new DuckblockError(
        'DUCKBLOCK_SEQ_CONFLICT',
        `${db}: seq ${p.seq} holds a late segment of an older term; this leader cannot continue its chain`,
      );
    }
    state.seq = p.seq;
    state.checksum = p.checksum;
    state.manifest = p.manifest;
    state.fileSize = p.fileSize;
    state.segmentsSinceSnapshot++;
    state.bytesSinceSnapshot += bodySize(p.body);
    await this.persist(state);
    return { seq: p.seq, shipped: true, bytes: bodySize(p.body), blocks: p.blocks, headerPages: p.headerPages };
  }

  /**
   * Reads what changed since the last shipped manifest and encodes it as the next segment: in
   * memory, or (when the changed blocks exceed `spillAboveBytes`) into `<db>.hadb-outgoing`.
   * Resolves `null` when nothing changed.
   */
  private async capture(state: LeaderState, options: PushOptions, status: Pending['status'], signal: AbortSignal): Promise<Pending | null> {
    const seq = state.seq + 1n;
    const extraBlocks = options.dirtyBlocks === undefined ? undefined : [...options.dirtyBlocks];
    const probe = detectDirtyBlocks(state.handle.fd, state.manifest, { extraBlocks });
    const changedBytes = probe.blocks.length * probe.scan.manifest.blockAllocSize;
    if (changedBytes > this.options.spillAboveBytes) {
      const spilled = await captureToFile(state.handle, state.manifest, {
        extraBlocks,
        seq,
        prevChecksum: state.checksum,
        epoch: state.epoch,
        path: `${state.path}.hadb-outgoing`,
        signal,
      });
      if (spilled === null) return null;
      return {
        status,
        seq,
        checksum: spilled.checksum,
        body: { kind: 'file', path: spilled.path, size: spilled.size },
        manifest: spilled.manifest,
        fileSize: spilled.fileSize,
        blocks: spilled.blocks.length,
        headerPages: spilled.headerPages.length,
      };
    }
    const captured = await captureCheckpoint(state.handle, state.manifest, { extraBlocks });
    if (!captured.changed) return null;
    const segment = newSegment(seq, state.checksum, captured.pages, { epoch: state.epoch, fileSize: captured.fileSize });
    return {
      status,
      seq,
      checksum: segment.checksum,
      body: { kind: 'memory', bytes: encodeSegment(segment) },
      manifest: captured.manifest,
      fileSize: captured.fileSize,
      blocks: captured.blocks.length,
      headerPages: captured.headerPages.length,
    };
  }

  /** Supersedes a prepared, not yet started upload (its changes are in the next capture). */
  private async dropPending(state: LeaderState): Promise<void> {
    const p = state.pending;
    state.pending = undefined;
    if (p?.status === 'ready') {
      p.status = 'superseded';
      if (p.body.kind === 'file') await rm(p.body.path, { force: true });
    }
  }

  private snapshotDue(state: LeaderState): boolean {
    const o = this.options;
    if (o.snapshotIntervalMs > 0 && Date.now() - state.lastSnapshotAt >= o.snapshotIntervalMs) return true;
    if (o.snapshotEverySegments > 0 && state.segmentsSinceSnapshot >= o.snapshotEverySegments) return true;
    const size = state.fileSize > 0 ? state.fileSize : 0;
    if (o.snapshotAfterFileSizes > 0 && size > 0 && state.bytesSinceSnapshot >= o.snapshotAfterFileSizes * size) return true;
    return false;
  }

  private async doSnapshot(state: LeaderState, signal: AbortSignal): Promise<{ seq: bigint; bytes: number }> {
    state.term.fence.check();
    const key = snapshotKey(this.prefix, state.db, state.seq);
    try {
      const snap = await uploadSnapshot(this.options.storage, key, state.handle, {
        seq: state.seq,
        anchor: state.checksum,
        epoch: state.epoch,
        signal,
      });
      state.lastSnapshotAt = Date.now();
      state.segmentsSinceSnapshot = 0;
      state.bytesSinceSnapshot = 0;
      state.fileSize = snap.fileSize;
      return { seq: state.seq, bytes: snap.bytes };
    } catch (err) {
      if (isDuckblockError(err, 'DUCKBLOCK_SEQ_CONFLICT')) {
        // A snapshot of this exact head already exists (an earlier attempt landed).
        state.lastSnapshotAt = Date.now();
        return { seq: state.seq, bytes: 0 };
      }
      throw err;
    }
  }

  /**
   * Writes a segment at `seq` with the fenced `putIfAbsent`. Resolves `'written'` when this
   * term's segment is there (including an earlier attempt that landed), `'late-write'` when a
   * lower epoch's segment holds the key; trips the fence and throws for an equal-or-higher epoch
   * segment that is not ours.
   */
  private async putSegment(
    db: string,
    seq: bigint,
    body: SegmentBody | Uint8Array,
    checksum: bigint,
    term: LeaderTerm,
    signal: AbortSignal,
  ): Promise<'written' | 'late-write'> {
    const key = incrementalKey(this.prefix, db, seq);
    const epoch = BigInt(term.epoch);
    const storage = this.options.storage;
    const segment: SegmentBody = body instanceof Uint8Array ? { kind: 'memory', bytes: body } : body;
    for (let attempt = 0; ; attempt++) {
      try {
        if (segment.kind === 'memory') {
          const res = await fencedPutIfAbsent(storage, key, segment.bytes, term.fence, { signal });
          if (res.success) return 'written';
        } else if (storage.capabilities.conditionalStreamingWrites) {
          // The fenced write of core's `fencedPutIfAbsent`, streamed from the spill file.
          term.fence.check();
          const res = await storage.putStream(key, createReadStream(segment.path, { highWaterMark: 1 << 20 }), {
            ifAbsent: true,
            contentLength: segment.size,
            signal: combine(signal, term.fence.signal),
          });
          if (res.success) return 'written';
        } else {
          const bytes = new Uint8Array(await readFile(segment.path));
          const res = await fencedPutIfAbsent(storage, key, bytes, term.fence, { signal });
          if (res.success) return 'written';
        }
      } catch (err) {
        // A transient or ambiguous failure: the write may have landed. Re-read to find out.
        const transient = isStorageError(err, 'HADB_STORAGE_UNAVAILABLE') || isStorageError(err, 'HADB_STORAGE_AMBIGUOUS');
        if (!transient || attempt >= this.options.uploadRetries) throw err;
      }
      const existing = await this.existingSegment(key, signal);
      if (existing === null) {
        if (attempt < this.options.uploadRetries) continue;
        throw new DuckblockError('DUCKBLOCK_SEQ_CONFLICT', `${db}: conditional write of seq ${seq} failed but no object exists`);
      }
      if (existing === 'unreadable') {
        term.fence.trip(`unreadable object at ${key}`);
        throw new DuckblockError('DUCKBLOCK_SEQ_CONFLICT', `${db}: seq ${seq} is taken by an unreadable object`);
      }
      // The checksum covers the epoch marker: an equal checksum is this term's own earlier attempt.
      if (existing.checksum === checksum) return 'written';
      if (existing.epoch < epoch) return 'late-write';
      term.fence.trip(`seq ${seq} of ${db} was written under epoch ${existing.epoch}`);
      throw new DuckblockError('DUCKBLOCK_FENCED', `${db}: seq ${seq} was written under epoch ${existing.epoch} (this term: ${epoch})`);
    }
  }

  /** Checksum and epoch of the segment at `key` (streamed, verified), `null` if missing. */
  private async existingSegment(
    key: string,
    signal: AbortSignal,
  ): Promise<{ checksum: bigint; epoch: bigint } | 'unreadable' | null> {
    const object = await this.options.storage.getStream(key, { signal });
    if (object === null) return null;
    const reader = readPhysicalStream(object.body, { signal });
    let epoch = 0n;
    try {
      for await (const page of reader) {
        if (page.data.length === 0 && page.pageId % 2n === 0n) epoch = page.pageId / 2n;
      }
    } catch (err) {
      if (isChangesetError(err, 'HADB_CHANGESET_IO') && isStorageError(err.cause)) throw err.cause;
      return 'unreadable';
    }
    return reader.checksum === undefined ? 'unreadable' : { checksum: reader.checksum, epoch };
  }

  /** Highest sequence used by any incremental segment or snapshot (0 when none). */
  private async storageHead(db: string, signal: AbortSignal): Promise<bigint> {
    const segments = await discoverSegmentsAfter(this.options.storage, this.prefix, db, 0n, { signal });
    const snap = await discoverLatestSnapshotSegment(this.options.storage, this.prefix, db, { signal });
    let head = segments.length > 0 ? segments[segments.length - 1]!.seq : 0n;
    if (snap !== null && snap.seq > head) head = snap.seq;
    return head;
  }

  /**
   * Whether storage's chain at `position.seq` has `position.checksum` (`'match'`), has segments
   * after it (`'newer'`), or does not contain this position (`'mismatch'`).
   */
  private async matchesStorage(db: string, position: Position, signal: AbortSignal): Promise<'match' | 'newer' | 'mismatch'> {
    const newer = await discoverSegmentsAfter(this.options.storage, this.prefix, db, position.seq, { signal });
    if (newer.length > 0) return 'newer';
    const storage = this.options.storage;
    const key = incrementalKey(this.prefix, db, position.seq);
    const info = await storage.head(key, { signal });
    if (info !== null && info.size >= 48) {
      const trailer = await storage.rangeGet(key, info.size - 8, 8, { signal });
      const same = trailer !== null && trailer.length === 8 && Buffer.from(trailer).readBigUInt64BE(0) === position.checksum;
      return same ? 'match' : 'mismatch';
    }
    const snapKey = snapshotKey(this.prefix, db, position.seq);
    const header = await storage.rangeGet(snapKey, 0, 40, { signal });
    const same = header !== null && header.length === 40 && Buffer.from(header).readBigUInt64BE(20) === position.checksum;
    return same ? 'match' : 'mismatch';
  }

  private async persist(state: LeaderState): Promise<void> {
    await writePosition(state.path, { seq: state.seq, checksum: state.checksum, epoch: state.epoch, manifest: state.manifest });
  }
}
