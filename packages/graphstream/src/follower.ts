import { mkdir } from 'node:fs/promises';
import { DEFAULT_MAX_JOURNAL_BODY_BYTES } from '@hadb/changeset';
import { type Clock, configChecker, sleepUnlessAborted, systemClock, type OpOptions } from '@hadb/io';
import type { StorageBackend } from '@hadb/storage';
import { GraphstreamError, graphstreamInvalidConfig } from './errors.js';
import { HEADER_SIZE, ZERO_HASH, hashEntry } from './format.js';
import { ioError } from './fsutil.js';
import { type DownloadedSegment, downloadNewSegments } from './downloader.js';
import { checkPrefix, segmentKey } from './keys.js';
import { GraphstreamMetrics } from './metrics.js';
import { type ReplayEntry, replayJournal } from './reader.js';
import { type JournalPosition, recoverJournal } from './recovery.js';

/** Options of {@link JournalFollower.open}. */
export interface JournalFollowerOptions {
  readonly storage: StorageBackend;
  /** Key prefix, `""` or ending in `/`. */
  readonly prefix: string;
  readonly db: string;
  /** Local directory for downloaded segments (usable by a writer after promotion). */
  readonly dir: string;
  /**
   * Position already applied to the follower's database (entry `seq` and its chain hash).
   * Default: nothing applied (`seq` 0): replay starts at entry 1.
   */
  readonly applied?: JournalPosition;
  readonly metrics?: GraphstreamMetrics;
  /** Time source of `follow`'s polling interval. Default `systemClock` of `@hadb/io`. */
  readonly clock?: Clock | undefined;
  /**
   * Cap on one segment's decoded body, checked while downloading and replaying (default 64 MiB).
   * A segment over it — e.g. a small zstd body that inflates to gigabytes — is refused with
   * `HADB_GRAPHSTREAM_INVALID_SEGMENT` (cause `HADB_CHANGESET_LIMIT_EXCEEDED`) before the excess
   * is produced. Must be at least the largest segment your writers seal.
   */
  readonly maxSegmentBodyBytes?: number | undefined;
}

/**
 * A follower's side of a journal: downloads new segments incrementally (verified, contiguous,
 * linked to what it holds) and replays them, in order, into the follower's database through an
 * `apply` callback. It tracks two positions: what is downloaded locally and what was applied.
 */
export class JournalFollower implements AsyncDisposable {
  readonly metrics: GraphstreamMetrics;
  readonly #storage: StorageBackend;
  readonly #prefix: string;
  readonly #db: string;
  readonly #dir: string;
  readonly #clock: Clock;
  readonly #maxBody: number | undefined;
  #downloaded: JournalPosition;
  #applied: JournalPosition;
  #closed = false;
  #busy: Promise<unknown> = Promise.resolve();

  private constructor(options: JournalFollowerOptions, downloaded: JournalPosition) {
    this.#storage = options.storage;
    this.#prefix = options.prefix;
    this.#db = options.db;
    this.#dir = options.dir;
    this.#clock = options.clock ?? systemClock;
    this.#maxBody = options.maxSegmentBodyBytes;
    this.metrics = options.metrics ?? new GraphstreamMetrics();
    this.#downloaded = downloaded;
    this.#applied = options.applied ?? { seq: 0n, chainHash: ZERO_HASH };
  }

  /** Opens the local directory (creating it) and finds what is already downloaded. */
  static async open(options: JournalFollowerOptions): Promise<JournalFollower> {
    checkPrefix(options.prefix);
    segmentKey(options.prefix, options.db, 1n);
    configChecker(graphstreamInvalidConfig).int('maxSegmentBodyBytes', options.maxSegmentBodyBytes, {
      min: HEADER_SIZE,
      default: DEFAULT_MAX_JOURNAL_BODY_BYTES,
    });
    await mkdir(options.dir, { recursive: true }).catch((cause: unknown) => {
      throw ioError(`could not create ${options.dir}`, cause, options.dir);
    });
    const recovered = await recoverJournal(options.dir, { truncateTornTail: true });
    return new JournalFollower(options, recovered.position);
  }

  /** Last entry downloaded and verified locally. */
  get downloaded(): JournalPosition {
    return this.#downloaded;
  }

  /** Last entry handed to `apply` successfully. */
  get applied(): JournalPosition {
    return this.#applied;
  }

  /** Downloads every new segment after the local position. See `downloadNewSegments`. */
  poll(options: OpOptions & { readonly maxSegments?: number } = {}): Promise<DownloadedSegment[]> {
    return this.#exclusive(async () => {
      this.#check();
      const got = await downloadNewSegments({
        storage: this.#storage,
        prefix: this.#prefix,
        db: this.#db,
        dir: this.#dir,
        since: this.#downloaded,
        metrics: this.metrics,
        maxSegmentBodyBytes: this.#maxBody,
        onSegment: (seg) => {
          this.#downloaded = { seq: seg.lastSeq, chainHash: seg.chainHash };
        },
        ...(options.signal === undefined ? {} : { signal: options.signal }),
        ...(options.maxSegments === undefined ? {} : { maxSegments: options.maxSegments }),
      });
      return got;
    });
  }

  /**
   * Replays downloaded entries after the applied position, awaiting `apply` for each in order.
   * If `apply` throws, the position stays at the last entry applied and the error propagates.
   * Resolves to the number of entries applied.
   */
  apply(apply: (entry: ReplayEntry) => unknown, options: OpOptions = {}): Promise<number> {
    return this.#exclusive(async () => {
      this.#check();
      if (this.#applied.seq >= this.#downloaded.seq) return 0;
      let n = 0;
      await replayJournal(
        this.#dir,
        async (e) => {
          await apply(e);
          this.#applied = { seq: e.seq, chainHash: hashEntry(e.prevHash, e.payload) };
          n++;
        },
        {
          fromSeq: this.#applied.seq + 1n,
          ...(this.#applied.seq > 0n ? { expectedPrevHash: this.#applied.chainHash } : {}),
          includeLive: false,
          metrics: this.metrics,
          maxSegmentBodyBytes: this.#maxBody,
          ...(options.signal === undefined ? {} : { signal: options.signal }),
        },
      );
      return n;
    });
  }

  /** {@link poll} then {@link apply}. Resolves to the number of entries applied. */
  async catchUp(apply: (entry: ReplayEntry) => unknown, options: OpOptions = {}): Promise<number> {
    await this.poll(options);
    return this.apply(apply, options);
  }

  /**
   * Polls and applies every `intervalMs` (default 1000) until `signal` fires. Errors go to
   * `onError` and the loop keeps polling: a gap, overlap or chain mismatch stalls the follower
   * (nothing is applied past it) until storage is repaired.
   */
  async run(
    apply: (entry: ReplayEntry) => unknown,
    options: { signal: AbortSignal; intervalMs?: number; onError?: (error: unknown) => void },
  ): Promise<void> {
    const interval = options.intervalMs ?? 1000;
    while (!options.signal.aborted && !this.#closed) {
      try {
        await this.catchUp(apply, { signal: options.signal });
      } catch (error) {
        if (options.signal.aborted) break;
        options.onError?.(error);
      }
      await sleepUnlessAborted(this.#clock, interval, options.signal);
    }
  }

  /** Waits for a running poll/apply and refuses new ones. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#busy.catch(() => undefined);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #check(): void {
    if (this.#closed) throw new GraphstreamError('HADB_GRAPHSTREAM_CLOSED', 'follower is closed');
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#busy.catch(() => undefined).then(fn);
    this.#busy = run.catch(() => undefined);
    return run;
  }
}
