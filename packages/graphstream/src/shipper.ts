import { type OpOptions, type Timer, configChecker, systemClock } from '@hadb/io';
import type { StorageBackend } from '@hadb/storage';
import { graphstreamInvalidConfig } from './errors.js';
import { type CompactionResult, compactJournal } from './compaction.js';
import { GraphstreamMetrics } from './metrics.js';
import type { CacheCleanupOptions } from './manifest.js';
import type { ParamEntry } from './params.js';
import { listSegmentFiles } from './recovery.js';
import { JournalUploader } from './uploader.js';
import { type AppendResult, JournalWriter, type JournalWriterOptions } from './writer.js';

/** Options of {@link JournalShipper.open}. */
export interface JournalShipperOptions extends Omit<JournalWriterOptions, 'onSealed' | 'metrics'> {
  readonly storage: StorageBackend;
  /** Key prefix, `""` or ending in `/`. */
  readonly prefix: string;
  readonly db: string;
  /** Seal the live segment and upload every this many ms (0 disables the timer). Default 1000. */
  readonly uploadIntervalMs?: number;
  /** Concurrent uploads. Default 4. */
  readonly uploadConcurrency?: number;
  /** Compact after this many uploaded segments (0 disables). Default 10. */
  readonly compactionThreshold?: number;
  /** Local cache cleanup of uploaded segments, run after uploads. Default: retention 1 h, 256 MiB. */
  readonly cache?: Omit<CacheCleanupOptions, 'keep'> | false;
  readonly metrics?: GraphstreamMetrics;
  /** Background failures (uploads, compaction, cleanup); they are retried on the next tick. */
  readonly onError?: (error: unknown) => void;
}

/**
 * The leader's side: a {@link JournalWriter} whose sealed segments are uploaded by a
 * {@link JournalUploader}, with a timer that seals and uploads every `uploadIntervalMs`,
 * background compaction and local cache cleanup. `sync()` waits until everything appended is
 * in storage; `close()` does the same, then stops (graceful shutdown).
 */
export class JournalShipper implements AsyncDisposable {
  readonly writer: JournalWriter;
  readonly uploader: JournalUploader;
  readonly metrics: GraphstreamMetrics;
  readonly #options: JournalShipperOptions;
  #timer: Timer | undefined;
  #tick: Promise<void> = Promise.resolve();
  #closed = false;

  private constructor(
    options: JournalShipperOptions,
    writer: JournalWriter,
    uploader: JournalUploader,
    metrics: GraphstreamMetrics,
  ) {
    this.#options = options;
    this.writer = writer;
    this.uploader = uploader;
    this.metrics = metrics;
  }

  /** Opens the writer (recovering), then uploads whatever a previous run left pending. */
  static async open(options: JournalShipperOptions): Promise<JournalShipper> {
    const check = configChecker(graphstreamInvalidConfig);
    check.int('uploadIntervalMs', options.uploadIntervalMs, { min: 0, default: 1000 });
    check.int('compactionThreshold', options.compactionThreshold, { min: 0, default: 10 });
    check.int('uploadConcurrency', options.uploadConcurrency, { min: 1, default: 4 });
    const metrics = options.metrics ?? new GraphstreamMetrics();
    const uploader = await JournalUploader.open({
      storage: options.storage,
      prefix: options.prefix,
      db: options.db,
      dir: options.dir,
      metrics,
      ...(options.uploadConcurrency === undefined ? {} : { concurrency: options.uploadConcurrency }),
      onError: (e) => options.onError?.(e),
    });
    const writer = await JournalWriter.open({ ...options, metrics, onSealed: (s) => uploader.enqueue(s.name) });
    const shipper = new JournalShipper(options, writer, uploader, metrics);
    await uploader.uploadPending().catch((e: unknown) => options.onError?.(e));
    const interval = options.uploadIntervalMs ?? 1000;
    if (interval > 0) {
      const clock = options.clock ?? systemClock;
      // One background pass every `interval` ms, each started after the previous one finished.
      const arm = (): void => {
        shipper.#timer = clock.timer(interval, () => {
          shipper.#tick = shipper.#tick
            .then(() => shipper.#background())
            .catch((e: unknown) => options.onError?.(e))
            .finally(() => {
              if (!shipper.#closed) arm();
            });
        });
        shipper.#timer.unref?.();
      };
      arm();
    }
    return shipper;
  }

  /** See {@link JournalWriter.appendQuery}: resolves when the entry is durable locally. */
  appendQuery(query: string, params: readonly ParamEntry[] = []): Promise<AppendResult> {
    return this.writer.appendQuery(query, params);
  }

  /** See {@link JournalWriter.append}. */
  append(payload: Uint8Array): Promise<AppendResult> {
    return this.writer.append(payload);
  }

  /**
   * Seals the live segment and uploads every pending segment, resolving once all entries
   * appended before the call are in storage (upload with acknowledgement).
   */
  async sync(options: OpOptions = {}): Promise<void> {
    const sealed = await this.writer.sealForUpload(options);
    if (sealed !== null) await this.uploader.upload(sealed.name, options);
    await this.uploader.uploadPending(options);
  }

  /** Runs compaction now if enough uploaded segments exist. */
  compact(options: OpOptions = {}): Promise<CompactionResult | null> {
    return compactJournal({
      dir: this.writer.dir,
      uploader: this.uploader,
      metrics: this.metrics,
      ...(this.#options.clock === undefined ? {} : { clock: this.#options.clock }),
      ...(this.#options.compactionThreshold ? { threshold: this.#options.compactionThreshold } : {}),
      ...(this.#options.zstdLevel === undefined ? {} : { zstdLevel: this.#options.zstdLevel }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
  }

  async #background(): Promise<void> {
    if (this.#closed) return;
    await this.sync();
    if ((this.#options.compactionThreshold ?? 10) > 0) await this.compact();
    if (this.#options.cache !== false) {
      // Keep the newest sealed segment (and the live one) so that writer recovery stays O(1).
      const files = await listSegmentFiles(this.writer.dir);
      const keep = new Set(files.slice(-2).map((f) => f.name));
      const deleted = await this.uploader.manifest.cleanup({
        ...(this.#options.cache ?? {}),
        keep,
        ...(this.#options.clock === undefined ? {} : { clock: this.#options.clock }),
      });
      this.metrics.inc('cache_files_deleted', deleted.length);
    }
  }

  /** Stops the timer, seals, uploads everything pending (waiting for it), and closes. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#timer?.cancel();
    await this.#tick.catch(() => undefined);
    await this.writer.close();
    try {
      await this.uploader.uploadPending();
    } finally {
      await this.uploader.close();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
