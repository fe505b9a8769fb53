import { mkdir, open, rename, rm } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { type Clock, type Timer, configChecker, systemClock, throwIfAborted, type OpOptions } from '@hadb/io';
import { GraphstreamError, graphstreamAborted, graphstreamInvalidConfig } from './errors.js';
import { ENTRY_HEADER_SIZE, HEADER_SIZE, encodeEntryBytes, encodeUnsealedHeader, hashEntry } from './format.js';
import { fsyncDir, ioError, writeAll } from './fsutil.js';
import { GraphstreamMetrics } from './metrics.js';
import { inDir, segmentFileName } from './naming.js';
import { acquireWriterLock } from './lock.js';
import { encodePayload } from './payload.js';
import type { ParamEntry } from './params.js';
import { type JournalPosition, recoverJournal } from './recovery.js';
import { type SealedSegment, sealLiveSegment, writeRecoveryState } from './seal.js';

/** Options of {@link JournalWriter.open}. */
export interface JournalWriterOptions extends OpOptions {
  /** Directory holding this database's journal; created if missing. One writer per directory. */
  readonly dir: string;
  /** A live segment is sealed and a new one started before it would exceed this. Default 4 MiB. */
  readonly segmentMaxBytes?: number;
  /**
   * Appends are made durable by one fsync at most this many ms after the first unsynced append
   * (group commit). `0` syncs as soon as the previous sync finished. Default 100.
   */
  readonly fsyncMs?: number;
  /** zstd level used when sealing. Default 3 (graphstream's `JOURNAL_ZSTD_LEVEL`). */
  readonly zstdLevel?: number;
  /** Buffered entry bytes that trigger a write (not an fsync) before the timer. Default 1 MiB. */
  readonly writeBufferBytes?: number;
  /** Shared counters. Default: a private instance (see {@link JournalWriter.metrics}). */
  readonly metrics?: GraphstreamMetrics;
  /** Called after each segment is sealed durably (for example to queue its upload). */
  readonly onSealed?: (segment: SealedSegment) => void;
  /**
   * Time source: `wallMs()` stamps entries and headers, `timer()` runs the fsync batching delay.
   * Default `systemClock` of `@hadb/io`.
   */
  readonly clock?: Clock | undefined;
}

/** What an acknowledged append returns. */
export interface AppendResult {
  /** The entry's journal sequence. */
  readonly seq: bigint;
  /** The entry's chain hash: SHA-256(prev_hash || payload). */
  readonly hash: Uint8Array;
}

interface Pending {
  readonly seq: bigint;
  readonly hash: Uint8Array;
  readonly resolve: (r: AppendResult) => void;
  readonly reject: (e: unknown) => void;
}

interface LiveSegment {
  readonly firstSeq: bigint;
  readonly path: string;
  /** Bytes of the segment including buffered entries (what its file will hold). */
  size: number;
  entries: number;
  fh: FileHandle | undefined;
  /** Bytes already written to the file. */
  written: number;
  /** Highest sequence whose bytes are in the file. */
  writtenSeq: bigint;
  /** Encoded entries not yet written to the file. */
  buffer: Uint8Array[];
  bufferBytes: number;
  bufferLastSeq: bigint;
}

/** Checks the writer's options: `HADB_GRAPHSTREAM_INVALID_CONFIG` naming the option, never clamped. */
function checkWriterOptions(options: JournalWriterOptions): void {
  const check = configChecker(graphstreamInvalidConfig);
  check.string('dir', options.dir);
  check.int('segmentMaxBytes', options.segmentMaxBytes, { min: HEADER_SIZE + ENTRY_HEADER_SIZE, default: 0 });
  check.number('fsyncMs', options.fsyncMs, { min: 0, default: 0 });
  check.int('zstdLevel', options.zstdLevel, { min: 1, max: 22, default: 3 });
  check.int('writeBufferBytes', options.writeBufferBytes, { min: 1, default: 1 });
}

/**
 * Appends entries to a local `.hadbj` journal: assigns sequences, chains entry hashes, batches
 * fsyncs, rotates and seals segments (zstd), and recovers after a crash.
 *
 * **Acknowledgement.** The promise of {@link append} resolves only after an fsync (or a durable
 * seal) that covers the entry. A resolved append survives a crash of the process or the machine;
 * an entry whose promise had not resolved may or may not survive, but recovery never produces a
 * gap, a torn entry or a broken chain: the journal after recovery is always a prefix of what was
 * appended, and it contains every acknowledged entry.
 *
 * Sequences are assigned synchronously in call order. After a write or fsync error the writer
 * refuses further appends (`HADB_GRAPHSTREAM_WRITER_FAILED`): open a new writer, whose recovery
 * finds the durable state.
 */
export class JournalWriter implements AsyncDisposable {
  readonly dir: string;
  readonly metrics: GraphstreamMetrics;
  readonly #segmentMaxBytes: number;
  readonly #fsyncMs: number;
  readonly #zstdLevel: number;
  readonly #writeBufferBytes: number;
  readonly #onSealed: ((s: SealedSegment) => void) | undefined;
  readonly #now: () => number;

  #lastSeq: bigint;
  #chainHash: Uint8Array;
  #durableSeq: bigint;
  #live: LiveSegment | undefined;
  #pending: Pending[] = [];
  #timer: Timer | undefined;
  readonly #clock: Clock;
  #syncQueued = false;
  #writeQueued = false;
  #tail: Promise<void> = Promise.resolve();
  #failed: unknown;
  #closed = false;
  readonly #release: () => Promise<void>;

  private constructor(
    options: JournalWriterOptions,
    position: JournalPosition,
    live: LiveSegment | undefined,
    release: () => Promise<void>,
  ) {
    this.#release = release;
    this.dir = options.dir;
    this.metrics = options.metrics ?? new GraphstreamMetrics();
    this.#segmentMaxBytes = options.segmentMaxBytes ?? 4 * 1024 * 1024;
    this.#fsyncMs = options.fsyncMs ?? 100;
    this.#zstdLevel = options.zstdLevel ?? 3;
    this.#writeBufferBytes = options.writeBufferBytes ?? 1024 * 1024;
    this.#onSealed = options.onSealed;
    this.#clock = options.clock ?? systemClock;
    this.#now = () => this.#clock.wallMs();
    this.#lastSeq = position.seq;
    this.#chainHash = position.chainHash;
    this.#durableSeq = position.seq;
    this.#live = live;
  }

  /**
   * Opens (creating if needed) the journal in `options.dir` and recovers its state: the last
   * sequence and chain hash, from one header and trailer when the newest segment is sealed, else
   * by scanning the live segment and truncating a torn tail. Leftover temporary files are removed.
   */
  static async open(options: JournalWriterOptions): Promise<JournalWriter> {
    checkWriterOptions(options);
    throwIfAborted(options.signal, graphstreamAborted);
    await mkdir(options.dir, { recursive: true }).catch((cause: unknown) => {
      throw ioError(`could not create ${options.dir}`, cause, options.dir);
    });
    const release = await acquireWriterLock(options.dir);
    try {
      return await JournalWriter.#recover(options, release);
    } catch (error) {
      await release();
      throw error;
    }
  }

  static async #recover(options: JournalWriterOptions, release: () => Promise<void>): Promise<JournalWriter> {
    const recovered = await recoverJournal(options.dir, { truncateTornTail: true, signal: options.signal });
    let live: LiveSegment | undefined;
    if (recovered.live !== undefined) {
      const fh = await open(recovered.live.path, 'r+').catch((cause: unknown) => {
        throw ioError(`could not open ${recovered.live!.path}`, cause, recovered.live!.path);
      });
      live = {
        firstSeq: recovered.live.firstSeq,
        path: recovered.live.path,
        size: recovered.live.size,
        entries: recovered.live.entries,
        fh,
        written: recovered.live.size,
        writtenSeq: recovered.position.seq,
        buffer: [],
        bufferBytes: 0,
        bufferLastSeq: recovered.position.seq,
      };
    }
    return new JournalWriter(options, recovered.position, live, release);
  }

  /** Sequence and chain hash of the last entry appended (acknowledged or not). */
  get position(): JournalPosition {
    return { seq: this.#lastSeq, chainHash: this.#chainHash };
  }

  /** Highest sequence known durable (acknowledged). */
  get durableSeq(): bigint {
    return this.#durableSeq;
  }

  /**
   * Appends one entry whose payload `build(seq)` returns (called synchronously with the assigned
   * sequence). Resolves once an fsync covers the entry — that is the acknowledgement.
   */
  appendWith(build: (seq: bigint) => Uint8Array): Promise<AppendResult> {
    if (this.#closed)
      return Promise.reject(new GraphstreamError('HADB_GRAPHSTREAM_CLOSED', 'journal writer is closed'));
    if (this.#failed !== undefined) return Promise.reject(this.#failedError());
    const seq = this.#lastSeq + 1n;
    let payload: Uint8Array;
    try {
      payload = build(seq);
    } catch (error) {
      return Promise.reject(error);
    }
    const prevHash = this.#chainHash;
    const hash = hashEntry(prevHash, payload);
    const bytes = encodeEntryBytes(seq, prevHash, payload);
    this.#lastSeq = seq;
    this.#chainHash = hash;

    let live = this.#live;
    if (live !== undefined && live.entries > 0 && live.size + bytes.length > this.#segmentMaxBytes) {
      this.#rotate(live);
      live = undefined;
    }
    if (live === undefined) {
      live = {
        firstSeq: seq,
        path: inDir(this.dir, segmentFileName(seq)),
        size: HEADER_SIZE,
        entries: 0,
        fh: undefined,
        written: 0,
        writtenSeq: seq - 1n,
        buffer: [],
        bufferBytes: 0,
        bufferLastSeq: seq - 1n,
      };
      this.#live = live;
      const created = live;
      this.#enqueue(() => this.#createFile(created));
    }
    live.size += bytes.length;
    live.entries += 1;
    live.buffer.push(bytes);
    live.bufferBytes += bytes.length;
    live.bufferLastSeq = seq;
    this.metrics.inc('entry_bytes_written', bytes.length);

    const promise = new Promise<AppendResult>((resolve, reject) => {
      this.#pending.push({ seq, hash, resolve, reject });
    });
    if (live.bufferBytes >= this.#writeBufferBytes && !this.#writeQueued) {
      this.#writeQueued = true;
      void this.#enqueueWrite(false).catch(() => undefined);
    }
    this.#scheduleSync();
    return promise;
  }

  /** Appends raw payload bytes (any deterministic-replay format). See {@link appendWith}. */
  append(payload: Uint8Array): Promise<AppendResult> {
    return this.appendWith(() => payload);
  }

  /**
   * Appends a query with its parameters as a protobuf `graphd.JournalEntry` (sequence and
   * timestamp stamped by the writer). See {@link appendWith}.
   */
  appendQuery(query: string, params: readonly ParamEntry[] = []): Promise<AppendResult> {
    return this.appendWith((sequence) =>
      encodePayload({ sequence, query, params, timestampMs: BigInt(Math.trunc(this.#now())) }),
    );
  }

  /** Makes every appended entry durable now (skipping the batching delay) and acknowledges it. */
  async flush(options: OpOptions = {}): Promise<void> {
    throwIfAborted(options.signal, graphstreamAborted);
    this.#checkUsable();
    this.#clearTimer();
    await this.#enqueueWrite(true);
  }

  /**
   * Seals the live segment if it holds entries, so it can be uploaded: its entries become durable
   * and acknowledged. Resolves to the sealed segment, or `null` if there was nothing to seal.
   */
  async sealForUpload(options: OpOptions = {}): Promise<SealedSegment | null> {
    throwIfAborted(options.signal, graphstreamAborted);
    this.#checkUsable();
    const live = this.#live;
    if (live === undefined || live.entries === 0) {
      await this.#tail;
      return null;
    }
    this.#clearTimer();
    return this.#rotate(live);
  }

  /**
   * Seals the live segment (acknowledging everything appended) and closes the writer. Idempotent.
   * After a failure it only releases the file handle.
   */
  async close(): Promise<void> {
    if (this.#closed) {
      await this.#tail.catch(() => undefined);
      return;
    }
    this.#closed = true; // appends from now on are refused
    this.#clearTimer();
    const live = this.#live;
    if (this.#failed === undefined && live !== undefined && live.entries > 0) {
      await this.#rotate(live).catch(() => undefined);
    }
    await this.#tail.catch(() => undefined);
    const fh = this.#live?.fh;
    this.#live = undefined;
    await fh?.close().catch(() => undefined);
    if (this.#failed !== undefined) this.#rejectPending(this.#failedError());
    await this.#release();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #checkUsable(): void {
    if (this.#closed) throw new GraphstreamError('HADB_GRAPHSTREAM_CLOSED', 'journal writer is closed');
    if (this.#failed !== undefined) throw this.#failedError();
  }

  #failedError(): GraphstreamError {
    return new GraphstreamError(
      'HADB_GRAPHSTREAM_WRITER_FAILED',
      'journal writer failed earlier; reopen it to recover',
      {
        cause: this.#failed,
      },
    );
  }

  #clearTimer(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  #scheduleSync(): void {
    if (this.#timer !== undefined || this.#syncQueued) return;
    if (this.#fsyncMs === 0) {
      this.#syncQueued = true;
      void this.#enqueueWrite(true).catch(() => undefined);
      return;
    }
    this.#timer = this.#clock.timer(this.#fsyncMs, () => {
      this.#timer = undefined;
      this.#syncQueued = true;
      void this.#enqueueWrite(true).catch(() => undefined);
    });
  }

  /** Runs `op` after every earlier operation; the first failure poisons the writer. */
  #enqueue<T>(op: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(async () => {
      if (this.#failed !== undefined) throw this.#failedError();
      try {
        return await op();
      } catch (cause) {
        this.#fail(cause);
        throw this.#failedError();
      }
    });
    this.#tail = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  #fail(cause: unknown): void {
    if (this.#failed !== undefined) return;
    this.#failed = cause;
    this.metrics.inc('errors');
    this.#clearTimer();
    this.#rejectPending(this.#failedError());
  }

  #rejectPending(error: unknown): void {
    const pending = this.#pending;
    this.#pending = [];
    for (const p of pending) p.reject(error);
  }

  #takeBuffer(live: LiveSegment): { chunks: Uint8Array[]; bytes: number; lastSeq: bigint } {
    const taken = { chunks: live.buffer, bytes: live.bufferBytes, lastSeq: live.bufferLastSeq };
    live.buffer = [];
    live.bufferBytes = 0;
    return taken;
  }

  /** Queues a write of the live segment's buffered entries, followed by an fsync if `sync`. */
  #enqueueWrite(sync: boolean): Promise<void> {
    return this.#enqueue(async () => {
      if (!sync) this.#writeQueued = false;
      try {
        const live = this.#live;
        if (live === undefined || live.fh === undefined) return;
        const taken = this.#takeBuffer(live);
        await this.#writeChunks(live, taken.chunks, taken.bytes, taken.lastSeq);
        if (!sync) return;
        const covered = live.writtenSeq;
        if (covered <= this.#durableSeq) return;
        await live.fh.datasync();
        this.metrics.inc('fsyncs');
        this.#acknowledge(covered);
      } finally {
        if (sync) {
          this.#syncQueued = false;
          if (this.#pending.length > 0 && this.#failed === undefined && !this.#closed) this.#scheduleSync();
        }
      }
    });
  }

  async #writeChunks(live: LiveSegment, chunks: Uint8Array[], bytes: number, lastSeq: bigint): Promise<void> {
    if (bytes === 0) return;
    const data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, bytes);
    await writeAll(live.fh!, data, live.written);
    live.written += bytes;
    live.writtenSeq = lastSeq;
  }

  /** Creates a live segment file with its unsealed header, atomically and durably. */
  async #createFile(live: LiveSegment): Promise<void> {
    const header = encodeUnsealedHeader(live.firstSeq, BigInt(Math.trunc(this.#now())));
    const tmp = `${live.path}.create.tmp`;
    await rm(tmp, { force: true });
    const fh = await open(tmp, 'wx');
    try {
      await writeAll(fh, header, 0);
      await fh.sync();
    } catch (cause) {
      await fh.close().catch(() => undefined);
      throw cause;
    }
    // Renaming an open file keeps the handle valid; the name is the commit point.
    await rename(tmp, live.path);
    await fsyncDir(this.dir);
    live.fh = fh;
    live.written = HEADER_SIZE;
  }

  /** Queues: write the live segment's buffered entries, seal it durably, acknowledge them. */
  #rotate(live: LiveSegment): Promise<SealedSegment> {
    if (this.#live === live) this.#live = undefined;
    return this.#enqueue(async () => {
      const taken = this.#takeBuffer(live);
      await this.#writeChunks(live, taken.chunks, taken.bytes, taken.lastSeq);
      await live.fh!.close();
      live.fh = undefined;
      const sealed = await sealLiveSegment(this.dir, live.path, { zstdLevel: this.#zstdLevel, now: this.#now });
      this.metrics.inc('segments_sealed');
      await writeRecoveryState(this.dir, { seq: sealed.lastSeq, chainHash: sealed.chainHash });
      this.#acknowledge(sealed.lastSeq);
      this.#onSealed?.(sealed);
      return sealed;
    });
  }

  #acknowledge(upTo: bigint): void {
    if (upTo > this.#durableSeq) this.#durableSeq = upTo;
    let n = 0;
    while (n < this.#pending.length && this.#pending[n]!.seq <= upTo) n++;
    if (n === 0) return;
    const done = this.#pending.splice(0, n);
    this.metrics.inc('entries_written', done.length);
    for (const p of done) p.resolve({ seq: p.seq, hash: p.hash });
  }
}
