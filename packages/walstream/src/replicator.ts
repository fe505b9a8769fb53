/**
 * The engine for one database: captures committed WAL frames, ships them as chained `.hadbp`
 * incrementals, takes snapshots, and owns checkpointing. Embedded mode and the sidecar both run
 * it; it touches the database only through SQLite connections and by reading the WAL file.
 */
import { existsSync, statSync } from 'node:fs';
import { encodePhysical, newPhysical, PageIdSize, type PageEntry, type PhysicalChangeset } from '@hadb/changeset';
import {
  type ConcurrencyLimiter,
  throwIfAborted,
  withTimeout,
  type Clock,
  type Logger,
  type OpOptions,
  type Timer,
} from '@hadb/io';
import type { StorageBackend } from '@hadb/storage';
import { captureCommitted, type CapturedBatch, type CaptureResult } from './capture.js';
import { abortedError, timeoutError, WalstreamError } from './errors.js';
import type { WalstreamEvent } from './events.js';
import { claimLineage, putChangesetFenced, refuseNewerWriter, type LineageClaim, type WriterTerm } from './fencing.js';
import { metaEntry } from './meta.js';
import type { ResolvedDatabaseOptions } from './options.js';
import { incrementalKey, listRemote, remoteChainAt, snapshotKey } from './remote.js';
import { uploadSnapshot } from './snapshot.js';
import { RecordFile } from './record-file.js';
import {
  fileUnchanged,
  loadState,
  samePosition,
  saveState,
  statePath,
  type LocalState,
  type WalPosition,
} from './state.js';
import { framesInFile, readWalExtent } from './wal.js';
import type { WalDb, WalHost } from './wal-thread.js';

/** Result of {@link DatabaseReplicator.sync}. */
export interface SyncResult {
  /** Sequence of the last changeset in storage for this database after the call. */
  readonly seq: bigint;
  /** Changesets stored by this call. */
  readonly shipped: number;
  /** Pages and bytes (encoded) stored by this call. */
  readonly pages: number;
  readonly bytes: number;
}

/** A point-in-time view of a replicator. */
export interface ReplicatorStatus {
  readonly name: string;
  readonly path: string;
  readonly seq: bigint;
  readonly pageSize: number;
  /** Frames in the current WAL that are already shipped. */
  readonly walIndex: number;
  readonly changesetsSinceSnapshot: number;
  readonly lastSnapshotSeq: bigint | null;
  readonly closed: boolean;
}

/** What the engine needs from its owner. */
export interface EngineContext {
  readonly storage: StorageBackend;
  readonly prefix: string;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly limiter: ConcurrencyLimiter;
  /** Where the database's connections live and its WAL is read and checkpointed. */
  readonly wal: WalHost;
  readonly emit: (event: WalstreamEvent) => void;
  /** Called after each successful sync (also one that found nothing to ship). */
  readonly synced?: ((db: string) => void) | undefined;
  /** Called when a requested `sync()` fails (background failures are `error` events). */
  readonly syncFailed?: ((db: string, error: unknown) => void) | undefined;
}

const deadline = { timeout: timeoutError, aborted: abortedError };

/** Attempts at claiming a lineage sequence while other writers' claims or late changesets keep appearing. */
const CLAIM_ATTEMPTS = 16;

/** Fencing options of {@link DatabaseReplicator.open} (see `fencing.ts`). */
export interface FencingOptions {
  /**
   * The writer term: its epoch is stamped into every changeset and snapshot, it is checked before
   * every write, and it is tripped when storage shows a newer writer. With a term the replicator
   * always starts a new lineage (it never resumes a chain an earlier term wrote).
   */
  readonly term?: WriterTerm | undefined;
  /** A sequence already claimed with `claimLineage` under `term`: the new lineage starts there. */
  readonly claim?: LineageClaim | undefined;
}

/** Replicates one SQLite database. Create it through `Walstream.add` (or `DatabaseReplicator.open`). */
export class DatabaseReplicator {
  #state: LocalState = { seq: 0n, checksum: 0n, pageSize: 0, wal: null };
  #restartSafe = false;
  /** Captured, not yet stored changesets, oldest first. */
  #pending: Array<{ readonly cs: PhysicalChangeset; readonly batch: CapturedBatch; readonly capturedAt: number }> = [];
  /** Position after the last captured frame (ahead of `state.wal` by `pending`). */
  #cursor: WalPosition | null = null;
  #queue: Promise<unknown> = Promise.resolve();
  #timer: Timer | null = null;
  #closed = false;
  #needsSnapshot: string | null = null;
  #changesetsSinceSnapshot = 0;
  #lastSnapshotAt: number;
  #lastShipAt: number;
  #lastCheckpointAt: number;
  #lastSnapshotSeq: bigint | null = null;
  readonly #term: WriterTerm | undefined;
  readonly #epoch: bigint | undefined;
  #claim: LineageClaim | undefined;
  readonly #walPath: string;
  readonly #wal: WalDb;
  /** `<db>-walstream.json`, rewritten after every shipped changeset. */
  readonly #stateFile: RecordFile;

  readonly #options: ResolvedDatabaseOptions;
  readonly #ctx: EngineContext;

  private constructor(
    readonly name: string,
    readonly path: string,
    options: ResolvedDatabaseOptions,
    ctx: EngineContext,
    fencing: FencingOptions,
    wal: WalDb,
  ) {
    this.#wal = wal;
    this.#term = fencing.term;
    this.#epoch = fencing.term === undefined ? undefined : BigInt(fencing.term.epoch);
    this.#claim = fencing.claim;
    this.#options = options;
    this.#ctx = ctx;
    this.#walPath = `${path}-wal`;
    this.#stateFile = new RecordFile(statePath(path));
    const now = ctx.clock.now();
    this.#lastSnapshotAt = now;
    this.#lastShipAt = now;
    this.#lastCheckpointAt = now;
  }

  /**
   * Opens the database, takes the read lock and catches up with storage: resumes the chain when
   * the local position, the WAL and the remote head agree, otherwise starts a new lineage with a
   * snapshot above the remote head (a restored or changed file never overwrites history).
   */
  static async open(
    name: string,
    path: string,
    options: ResolvedDatabaseOptions,
    ctx: EngineContext,
    op: OpOptions & FencingOptions = {},
  ): Promise<DatabaseReplicator> {
    if (!existsSync(path)) throw new WalstreamError('HADB_WALSTREAM_NOT_FOUND', `${path} does not exist`);
    const wal = await ctx.wal.open(path);
    const r = new DatabaseReplicator(name, path, options, ctx, op, wal);
    try {
      await r.#start(op.signal);
    } catch (err) {
      r.#closed = true;
      await wal.close();
      r.#stateFile.close();
      throw err;
    }
    if (options.autoSync) r.#schedule();
    return r;
  }

  async #start(signal: AbortSignal | undefined): Promise<void> {
    await this.#wal.holdRead();
    const { storage, prefix } = this.#ctx;
    const saved = loadState(this.path);
    const remote = await listRemote(storage, prefix, this.name, { signal });
    let resume = false;
    if (this.#term === undefined && saved !== null && saved.seq === remote.headSeq && saved.seq > 0n) {
      const snap = remote.snapshots.find((s) => s.seq === saved.seq);
      const inc = remote.incrementals.find((s) => s.seq === saved.seq);
      const chain =
        inc !== undefined
          ? await remoteChainAt(storage, inc.key, false, { signal })
          : snap !== undefined
            ? await remoteChainAt(storage, snap.key, true, { signal })
            : null;
      resume = chain === saved.checksum && this.#walStillAt(saved);
    }
    if (resume && saved !== null) {
      this.#state = { ...saved, closedFile: undefined };
      this.#cursor = saved.wal;
      this.#restartSafe = saved.wal === null;
      this.#lastSnapshotSeq = remote.snapshots[remote.snapshots.length - 1]?.seq ?? null;
      this.#ctx.logger.info({ db: this.name, seq: saved.seq }, 'walstream: resuming');
      return;
    }
    const base = saved !== null && saved.seq > remote.headSeq ? saved.seq : remote.headSeq;
    this.#state = { seq: base, checksum: 0n, pageSize: saved?.pageSize ?? 0, wal: null };
    await this.#newLineage(saved === null ? 'first start' : 'local state does not match storage or WAL', signal);
  }

  /** True if the WAL still holds the frames the saved position describes (or, closed cleanly, the file is unchanged). */
  #walStillAt(saved: LocalState): boolean {
    const pos = saved.wal;
    if (pos === null || pos.index === 0) {
      const header = captureCommitted(this.#walPath, null, true, 1);
      if (header.kind === 'idle' && header.position === null) return fileUnchanged(this.path, saved.closedFile);
      if (pos === null) return false;
    }
    const probe = captureCommitted(this.#walPath, pos, false, 1);
    if (probe.kind === 'reset') return false;
    if (probe.kind === 'idle' && probe.position === null) return false;
    if (pos.index === 0) return true;
    // A scan from frame 0 must stop at `pos` (a commit boundary) with the same running checksum.
    let cursor: WalPosition | null = null;
    for (;;) {
      const step = captureCommitted(this.#walPath, cursor, true, 1);
      if (step.kind !== 'batch') return false;
      cursor = step.batch.end;
      if (cursor.index === pos.index) return cursor.cksum1 === pos.cksum1 && cursor.cksum2 === pos.cksum2;
      if (cursor.index > pos.index) return false;
    }
  }

  /** Runs `fn` after every earlier operation of this replicator (one at a time). */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  #ensureOpen(): void {
    if (this.#closed) throw new WalstreamError('HADB_WALSTREAM_CLOSED', `${this.name}: replicator is closed`);
  }

  /**
   * Ships every commit made so far; resolves once it is stored (durable in storage). A commit
   * that returned before `sync()` was called is covered. Safe to call concurrently.
   */
  async sync(options: OpOptions = {}): Promise<SyncResult> {
    this.#ensureOpen();
    try {
      return await this.#serial(() => this.#doSync(options.signal));
    } catch (err) {
      this.#ctx.syncFailed?.(this.name, err);
      throw err;
    }
  }

  /** Ships pending commits, then runs a checkpoint now (`PASSIVE` unless `mode` says `TRUNCATE`). */
  async checkpoint(mode: 'PASSIVE' | 'TRUNCATE' = 'PASSIVE', options: OpOptions = {}): Promise<boolean> {
    this.#ensureOpen();
    return this.#serial(async () => {
      await this.#doSync(options.signal);
      return this.#doCheckpoint(mode, options.signal);
    });
  }

  /** Ships pending commits, then stores a snapshot at the current sequence. */
  async snapshot(options: OpOptions = {}): Promise<{ readonly seq: bigint; readonly bytes: number }> {
    this.#ensureOpen();
    return this.#serial(async () => {
      await this.#doSync(options.signal);
      return this.#doSnapshot(false, 'requested', options.signal);
    });
  }

  /** Current position and counters. */
  status(): ReplicatorStatus {
    return {
      name: this.name,
      path: this.path,
      seq: this.#state.seq,
      pageSize: this.#state.pageSize,
      walIndex: this.#state.wal?.index ?? 0,
      changesetsSinceSnapshot: this.#changesetsSinceSnapshot,
      lastSnapshotSeq: this.#lastSnapshotSeq,
      closed: this.#closed,
    };
  }

  /**
   * Captures the next committed batch (on the WAL thread) into `pending`: `'end'` when it reached
   * the last commit in the WAL, `'more'` when it stopped at `maxChangesetBytes`, false when there
   * is nothing new.
   */
  async #captureOne(): Promise<false | 'more' | 'end'> {
    const capturedAt = this.#ctx.clock.now();
    const args = [this.#walPath, this.#cursor, this.#restartSafe, this.#options.maxChangesetBytes] as const;
    // A few frames are read here, quicker than a round trip to the WAL thread; more go there.
    const limit = this.#ctx.wal.inlineCaptureFrames;
    const inline = limit === Number.POSITIVE_INFINITY || this.#backlogFrames() <= limit;
    const got = inline ? captureCommitted(...args) : await this.#wal.capture(...args);
    if (this.#lostRead() || !this.#takeCapture(got, capturedAt) || got.kind !== 'batch') return false;
    return got.batch.more ? 'more' : 'end';
  }

  /**
   * Whether a cursor has passed every frame the WAL file holds now (by its size, in the log its
   * header names): it is then past every commit made so far. Once seen in that log, a cursor in
   * another one has passed it too (the log restarted after everything in it was read).
   */
  #coverage(): (cursor: WalPosition | null) => boolean {
    const extent = readWalExtent(this.#walPath);
    if (extent === null) return () => false;
    const { header, frames } = extent;
    let seen = false;
    return (cursor) => {
      if (cursor === null) return false;
      const inLog = cursor.salt1 === header.salt1 && cursor.salt2 === header.salt2;
      if (inLog) seen = true;
      return inLog ? cursor.index >= frames : seen;
    };
  }

  /**
   * Frames in the WAL file after the cursor, by its size (an upper bound of what a capture reads);
   * `Infinity` before the page size is known.
   */
  #backlogFrames(): number {
    const pageSize = this.#state.pageSize;
    if (pageSize === 0) return Number.POSITIVE_INFINITY;
    let size: number;
    try {
      size = statSync(this.#walPath).size;
    } catch {
      return 0;
    }
    return framesInFile(size, pageSize) - (this.#cursor?.index ?? 0);
  }

  /** The WAL thread stopped and reopened the connections: frames may have gone unread. */
  #lostRead(): boolean {
    if (!this.#wal.takeLost()) return false;
    this.#needsSnapshot = 'the WAL thread restarted';
    return true;
  }

  /** Adds a capture's batch to `pending`, or records what it found; false when there is no batch. */
  #takeCapture(got: CaptureResult, capturedAt: number): boolean {
    if (got.kind === 'reset') {
      this.#needsSnapshot = 'WAL restarted outside walstream';
      return false;
    }
    if (got.kind === 'idle') {
      if (got.position !== null && !samePosition(got.position, this.#cursor)) this.#moveToNewLog(got.position);
      return false;
    }
    const batch = got.batch;
    if (this.#cursor !== null && batch.end.salt1 !== this.#cursor.salt1) this.#moveToNewLog(null);
    const pageSize = this.#state.pageSize;
    if (pageSize !== 0 && batch.pageSize !== pageSize) {
      this.#needsSnapshot = `page size changed from ${pageSize} to ${batch.pageSize}`;
      return false;
    }
    const last = this.#pending[this.#pending.length - 1]?.cs;
    const entries: PageEntry[] = [metaEntry(batch.dbPages, this.#epoch)];
    for (const pgno of [...batch.pages.keys()].sort((a, b) => a - b))
      entries.push({ pageId: BigInt(pgno), data: batch.pages.get(pgno)! });
    const cs = newPhysical(
      (last?.header.seq ?? this.#state.seq) + 1n,
      last?.checksum ?? this.#state.checksum,
      PageIdSize.U32,
      batch.pageSize,
      entries,
      { createdMs: BigInt(this.#ctx.clock.wallMs()) },
    );
    this.#pending.push({ cs, batch, capturedAt });
    this.#cursor = batch.end;
    return true;
  }

  /** The WAL was restarted after everything in it was read: continue at frame 0 of the new log. */
  #moveToNewLog(position: WalPosition | null): void {
    this.#restartSafe = false;
    if (position === null) return;
    this.#cursor = position;
    if (this.#pending.length === 0) {
      this.#state = { ...this.#state, wal: position };
      saveState(this.#stateFile, this.#state);
    }
  }

  /**
   * Ships what is pending, then captures and ships until every commit made before the call is
   * shipped: until a capture reached the last commit in the WAL, or the captures passed the frames
   * the WAL file held when the call began. A writer that never pauses cannot keep the call going.
   */
  async #doSync(signal: AbortSignal | undefined): Promise<SyncResult> {
    let shipped = 0;
    let pages = 0;
    let bytes = 0;
    const covered = this.#coverage();
    let done = false;
    for (;;) {
      throwIfAborted(signal, abortedError);
      if (this.#needsSnapshot !== null) {
        // The snapshot holds every commit made so far.
        await this.#newLineage(this.#needsSnapshot, signal);
        done = true;
        continue;
      }
      if (this.#pending.length === 0) {
        if (done) break;
        const got = await this.#captureOne();
        if (got === false) {
          if (this.#needsSnapshot !== null) continue;
          break;
        }
        done = got === 'end' || covered(this.#cursor);
      }
      const { cs, batch, capturedAt } = this.#pending[0]!;
      const size = await this.#upload(cs, signal);
      this.#pending.shift();
      this.#state = { seq: cs.header.seq, checksum: cs.checksum, pageSize: batch.pageSize, wal: batch.end };
      saveState(this.#stateFile, this.#state);
      this.#changesetsSinceSnapshot++;
      this.#lastShipAt = this.#ctx.clock.now();
      shipped++;
      pages += batch.pages.size;
      bytes += size;
      this.#ctx.emit({
        type: 'shipped',
        db: this.name,
        seq: cs.header.seq,
        pages: batch.pages.size,
        bytes: size,
        walBytes: batch.walBytes,
        capturedAt,
      });
    }
    this.#ctx.synced?.(this.name);
    return { seq: this.#state.seq, shipped, pages, bytes };
  }

  /**
   * Stores `cs` with a fenced `putIfAbsent`. When another writer holds the sequence: one of an
   * equal or higher epoch deposes this writer (`HADB_WALSTREAM_FENCED`, the term is tripped);
   * otherwise (a lower epoch, or no term) the next sync starts a new lineage above the remote head
   * and this one rejects with `HADB_WALSTREAM_CONFLICT`.
   */
  async #upload(cs: PhysicalChangeset, signal: AbortSignal | undefined): Promise<number> {
    const release = await this.#ctx.limiter.acquire({ signal });
    const seq = cs.header.seq;
    try {
      const data = encodePhysical(cs);
      const put = await withTimeout(
        this.#ctx.clock,
        this.#options.uploadTimeoutMs,
        `${this.name}: upload of seq ${seq}`,
        deadline,
        (s) =>
          putChangesetFenced(
            this.#ctx.storage,
            incrementalKey(this.#ctx.prefix, this.name, seq),
            data,
            cs.checksum,
            this.#term,
            { signal: s },
          ),
        { signal },
      );
      if (put.kind === 'written') return data.byteLength;
      refuseNewerWriter(this.name, seq, put, this.#term);
      this.#needsSnapshot = `another writer stored seq ${seq}`;
      throw new WalstreamError(
        'HADB_WALSTREAM_CONFLICT',
        `${this.name}: seq ${seq} already exists in storage with other content (epoch ${put.epoch}); continuing above the remote head`,
      );
    } finally {
      release();
    }
  }

  /**
   * The sequence and anchor of a new lineage: the claim handed in at open (once), or a claim of
   * the next free sequence above storage's head (see `fencing.ts`).
   */
  async #claimLineage(signal: AbortSignal | undefined): Promise<LineageClaim> {
    const given = this.#claim;
    this.#claim = undefined;
    if (given !== undefined) return given;
    let floor = this.#state.seq;
    for (let attempt = 1; ; attempt++) {
      const remote = await listRemote(this.#ctx.storage, this.#ctx.prefix, this.name, { signal });
      const seq = (remote.headSeq > floor ? remote.headSeq : floor) + 1n;
      const got = await claimLineage({
        storage: this.#ctx.storage,
        prefix: this.#ctx.prefix,
        name: this.name,
        seq,
        term: this.#term,
        createdMs: this.#ctx.clock.wallMs(),
        signal,
      });
      if (got.kind === 'claimed') return got.claim;
      if (attempt >= CLAIM_ATTEMPTS)
        throw new WalstreamError(
          'HADB_WALSTREAM_CONFLICT',
          `${this.name}: could not claim a sequence for a new lineage after ${attempt} attempts`,
        );
      floor = seq;
    }
  }

  /**
   * Stores a snapshot. With `lineage`, at a newly claimed sequence above everything in storage,
   * anchored at the claim's checksum (a new lineage, see `fencing.ts`); otherwise at the current
   * sequence, anchored at the current chain checksum.
   */
  async #doSnapshot(
    lineage: boolean,
    reason: string,
    signal: AbortSignal | undefined,
  ): Promise<{ seq: bigint; bytes: number }> {
    let seq = this.#state.seq;
    let anchor = this.#state.checksum;
    if (lineage || seq === 0n) {
      lineage = true;
      ({ seq, checksum: anchor } = await this.#claimLineage(signal));
    }
    const release = await this.#ctx.limiter.acquire({ signal });
    let result;
    try {
      this.#term?.check?.();
      const fence = this.#term?.signal;
      result = await uploadSnapshot({
        epoch: this.#epoch,
        storage: this.#ctx.storage,
        key: snapshotKey(this.#ctx.prefix, this.name, seq),
        seq,
        anchor,
        dbPath: this.path,
        walPath: this.#walPath,
        position: this.#state.wal,
        createdMs: this.#ctx.clock.wallMs(),
        signal: fence === undefined ? signal : signal === undefined ? fence : AbortSignal.any([signal, fence]),
      });
    } finally {
      release();
    }
    this.#state = { seq, checksum: anchor, pageSize: result.pageSize, wal: this.#state.wal };
    saveState(this.#stateFile, this.#state);
    this.#changesetsSinceSnapshot = 0;
    this.#lastSnapshotAt = this.#ctx.clock.now();
    this.#lastSnapshotSeq = seq;
    this.#ctx.emit({
      type: 'snapshot',
      db: this.name,
      seq,
      pages: result.dbPages,
      bytes: result.bytes,
      lineage,
      reason,
    });
    this.#ctx.logger.info({ db: this.name, seq, lineage, reason, bytes: result.bytes }, 'walstream: snapshot stored');
    return { seq, bytes: result.bytes };
  }

  /**
   * A new lineage: the read lock is re-taken, the position moves to the end of the current WAL's
   * committed frames (they are part of the snapshot image) and a snapshot is stored above the
   * remote head.
   */
  async #newLineage(reason: string, signal: AbortSignal | undefined): Promise<void> {
    this.#pending = [];
    this.#wal.takeLost();
    await this.#wal.rehold();
    // Everything committed before the lock is in the image: the WAL's frames up to its last
    // commit, or the database file alone. A restart of the log after this loses nothing.
    let pos: WalPosition | null = null;
    for (;;) {
      const got = captureCommitted(this.#walPath, pos, true, Number.MAX_SAFE_INTEGER);
      if (got.kind === 'batch') {
        pos = got.batch.end;
        continue;
      }
      if (got.kind === 'idle') pos = got.position;
      break;
    }
    this.#state = { ...this.#state, wal: pos };
    this.#cursor = pos;
    this.#restartSafe = true;
    await this.#doSnapshot(true, reason, signal);
    this.#needsSnapshot = null;
  }

  /**
   * Checkpoint under walstream's control, on the WAL thread (see `checkpoint-cycle.ts`): every
   * frame it moves was read first, writers are locked out only for the last part (and not
   * waited for: a busy database skips this round). Frames read meanwhile are shipped after it; a
   * commit that slipped in before a `TRUNCATE` is covered by a snapshot.
   */
  async #doCheckpoint(mode: 'PASSIVE' | 'TRUNCATE', signal: AbortSignal | undefined): Promise<boolean> {
    throwIfAborted(signal, abortedError);
    if (this.#needsSnapshot !== null) return false;
    const capturedAt = this.#ctx.clock.now();
    const cycle = await this.#wal.checkpoint({
      mode,
      walPath: this.#walPath,
      cursor: this.#cursor,
      restartSafe: this.#restartSafe,
      maxBytes: this.#options.maxChangesetBytes,
      pageSize: this.#state.pageSize,
      bulkRounds: this.#ctx.wal.bulkRounds,
    });
    if (this.#lostRead()) return false;
    for (const got of cycle.captures) {
      this.#takeCapture(got, capturedAt);
      if (this.#needsSnapshot !== null) return false;
    }
    this.#restartSafe = cycle.restartSafe;
    if (!cycle.ran) return false;
    if (cycle.raced) this.#needsSnapshot = 'a commit raced the TRUNCATE checkpoint';
    this.#lastCheckpointAt = this.#ctx.clock.now();
    this.#ctx.emit({
      type: 'checkpoint',
      db: this.name,
      mode,
      walFrames: this.#cursor?.index ?? 0,
      complete: cycle.complete,
    });
    await this.#doSync(signal);
    return cycle.complete;
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = this.#ctx.clock.timer(this.#options.syncIntervalMs, () => {
      this.#timer = null;
      void this.#serial(() => this.#tick()).finally(() => this.#schedule());
    });
  }

  /** One background step: sync, then checkpoint and snapshot by policy. Errors are reported, not thrown. */
  async #tick(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#doSync(undefined);
      const o = this.#options;
      const now = this.#ctx.clock.now();
      const frames = this.#cursor?.index ?? 0;
      if (o.checkpoint.truncatePages > 0 && frames >= o.checkpoint.truncatePages) {
        await this.#doCheckpoint('TRUNCATE', undefined);
      } else if (
        frames >= o.checkpoint.minPages ||
        (o.checkpoint.intervalMs > 0 && frames > 0 && now - this.#lastCheckpointAt >= o.checkpoint.intervalMs)
      ) {
        await this.#doCheckpoint('PASSIVE', undefined);
      }
      const s = o.snapshot;
      const due =
        this.#changesetsSinceSnapshot > 0 &&
        ((s.intervalMs > 0 && now - this.#lastSnapshotAt >= s.intervalMs) ||
          (s.everyChangesets > 0 && this.#changesetsSinceSnapshot >= s.everyChangesets) ||
          (s.idleMs > 0 && now - this.#lastShipAt >= s.idleMs));
      if (due) await this.#doSnapshot(false, 'policy', undefined);
    } catch (error) {
      this.#ctx.logger.warn({ db: this.name, err: String(error) }, 'walstream: background step failed; retrying');
      this.#ctx.emit({ type: 'error', db: this.name, error });
    }
  }

  /**
   * Stops the loop, ships what is committed (unless `final: false`) and releases the database.
   * Idempotent. The database is left in WAL mode with every frame still in the WAL.
   */
  async close(options: OpOptions & { readonly final?: boolean } = {}): Promise<void> {
    if (this.#closed) return;
    this.#timer?.cancel();
    this.#timer = null;
    try {
      if (options.final !== false) await this.#serial(() => this.#doSync(options.signal));
      else await this.#queue;
    } finally {
      this.#closed = true;
      try {
        await this.#wal.close();
        this.#recordCleanClose();
      } finally {
        this.#stateFile.close();
      }
    }
  }

  /** After the last connection closed, SQLite checkpointed and removed the WAL: remember the file. */
  #recordCleanClose(): void {
    try {
      if (this.#pending.length > 0 || this.#needsSnapshot !== null || existsSync(this.#walPath)) return;
      const st = statSync(this.path);
      saveState(this.#stateFile, { ...this.#state, wal: null, closedFile: { size: st.size, mtimeMs: st.mtimeMs } });
    } catch {
      // Best effort: without the record the next start takes a snapshot.
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
