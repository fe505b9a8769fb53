import { open, readFile, readdir } from 'node:fs/promises';
import { basename } from 'node:path';
import type { StorageBackend } from '@hadb/storage';
import { throwIfAborted, type OpOptions, configChecker } from '@hadb/io';
import { GraphstreamError, graphstreamAborted, graphstreamInvalidConfig } from './errors.js';
import {
  type DecodedSegment,
  FLAG_SEALED,
  HEADER_SIZE,
  decodeHeader,
  decodeSealed,
  verifySegmentStream,
} from './format.js';
import { ioError } from './fsutil.js';
import { checkPrefix, segmentKey } from './keys.js';
import { UploadManifest } from './manifest.js';
import { GraphstreamMetrics } from './metrics.js';
import { inDir, parseCompactedFileName, parseSegmentFileName } from './naming.js';

/** Options of {@link JournalUploader.open}. */
export interface JournalUploaderOptions {
  readonly storage: StorageBackend;
  /** Key prefix, `""` or ending in `/` (e.g. `"graphs/"`). */
  readonly prefix: string;
  /** Database name (allow-listed: `[A-Za-z0-9][A-Za-z0-9._-]*`). */
  readonly db: string;
  /** The journal directory (the writer's). */
  readonly dir: string;
  /** Uploads running at once. Default 4. */
  readonly concurrency?: number;
  readonly metrics?: GraphstreamMetrics;
  /** Called for failures of fire-and-forget uploads ({@link JournalUploader.enqueue}). */
  readonly onError?: (error: unknown, name: string) => void;
}

/** Outcome of one upload. */
export interface UploadResult {
  readonly name: string;
  readonly key: string;
  readonly firstSeq: bigint;
  readonly lastSeq: bigint;
  readonly bytes: number;
  /**
   * `uploaded`: written now. `present`: storage already held these bytes or a verified superset.
   * `replaced`: storage held a verified prefix of this segment, replaced atomically (compaction).
   */
  readonly outcome: 'uploaded' | 'present' | 'replaced';
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

/** Whether segment `big` holds every entry of `small` (same start, same hash at small's end). */
function covers(big: DecodedSegment, small: DecodedSegment): boolean {
  const bFirst = big.entries[0];
  const sFirst = small.entries[0];
  const sLast = small.entries[small.entries.length - 1];
  if (bFirst === undefined || sFirst === undefined || sLast === undefined) return false;
  if (bFirst.seq !== sFirst.seq || !sameBytes(bFirst.prevHash, sFirst.prevHash)) return false;
  const at = big.entries[Number(sLast.seq - bFirst.seq)];
  return at !== undefined && at.seq === sLast.seq && sameBytes(at.hash, sLast.hash);
}

/**
 * Uploads sealed local segments to `{prefix}{db}/0000/{first_seq:016x}.hadbj`.
 *
 * Every segment is fully verified before upload (streamed: checksum, zstd, CRCs, chain, counts,
 * trailer); live (unsealed) files are never
 * uploaded. Writes use `putIfAbsent`; if the key exists with identical bytes, or with a verified
 * superset (a compacted segment), the upload counts as done; if it holds a verified prefix of this
 * segment, it is replaced with `putIfMatch`; anything else is `HADB_GRAPHSTREAM_UPLOAD_CONFLICT`
 * (a diverged history is never overwritten). Successes are recorded in the crash-safe
 * `upload_manifest.json`; a failed upload leaves the segment pending for the next
 * {@link uploadPending}. Up to `concurrency` uploads run at once; the same name is never uploaded
 * twice concurrently.
 */
export class JournalUploader implements AsyncDisposable {
  readonly manifest: UploadManifest;
  readonly metrics: GraphstreamMetrics;
  readonly #storage: StorageBackend;
  readonly #prefix: string;
  readonly #db: string;
  readonly #dir: string;
  readonly #concurrency: number;
  readonly #onError: ((error: unknown, name: string) => void) | undefined;
  readonly #inflight = new Map<string, Promise<UploadResult>>();
  readonly #waiting: (() => void)[] = [];
  #running = 0;
  #closed = false;

  private constructor(options: JournalUploaderOptions, manifest: UploadManifest) {
    this.#storage = options.storage;
    this.#prefix = checkPrefix(options.prefix);
    this.#db = options.db;
    segmentKey(this.#prefix, this.#db, 1n);
    this.#dir = options.dir;
    this.#concurrency = options.concurrency ?? 4;
    this.#onError = options.onError;
    this.metrics = options.metrics ?? new GraphstreamMetrics();
    this.manifest = manifest;
  }

  /** Loads the upload manifest of `options.dir` and returns a ready uploader. */
  static async open(options: JournalUploaderOptions): Promise<JournalUploader> {
    configChecker(graphstreamInvalidConfig).int('concurrency', options.concurrency, { min: 1, default: 4 });
    checkPrefix(options.prefix);
    segmentKey(options.prefix, options.db, 1n);
    return new JournalUploader(options, await UploadManifest.load(options.dir));
  }

  /** Queues an upload without waiting; a failure goes to `onError` and leaves it pending. */
  enqueue(nameOrPath: string): void {
    const name = basename(nameOrPath);
    this.upload(name).catch((error: unknown) => this.#onError?.(error, name));
  }

  /**
   * Uploads one sealed segment (by file name or path) and resolves once it is in storage and
   * recorded in the manifest — the acknowledgement used for graceful shutdown. Already-recorded
   * segments resolve at once as `present`.
   */
  upload(nameOrPath: string, options: OpOptions = {}): Promise<UploadResult> {
    const name = basename(nameOrPath);
    if (this.#closed) return Promise.reject(new GraphstreamError('HADB_GRAPHSTREAM_CLOSED', 'uploader is closed'));
    const existing = this.#inflight.get(name);
    if (existing !== undefined) return existing;
    const run = this.#withSlot(() => this.#uploadOne(name, options.signal)).finally(() => {
      this.#inflight.delete(name);
    });
    this.#inflight.set(name, run);
    return run;
  }

  /** Names of sealed local segments not yet recorded as uploaded, oldest first. */
  async pendingNames(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.#dir);
    } catch (cause) {
      throw ioError(`could not list ${this.#dir}`, cause, this.#dir);
    }
    const candidates = names
      .filter(
        (n) =>
          (parseSegmentFileName(n) !== undefined || parseCompactedFileName(n) !== undefined) && !this.manifest.has(n),
      )
      .sort();
    const out: string[] = [];
    for (const n of candidates) {
      try {
        const fh = await open(inDir(this.#dir, n), 'r');
        const head = new Uint8Array(HEADER_SIZE);
        try {
          await fh.read(head, 0, HEADER_SIZE, 0);
        } finally {
          await fh.close();
        }
        if ((decodeHeader(head).flags & FLAG_SEALED) !== 0) out.push(n);
      } catch {
        // A vanished or unreadable file is not pending; verification reports real damage on upload.
      }
    }
    return out;
  }

  /**
   * Uploads every pending sealed segment (resuming after a crash or failed uploads) and waits for
   * them. Resolves with the results; rejects with the first error after all attempts finished.
   */
  async uploadPending(options: OpOptions = {}): Promise<UploadResult[]> {
    throwIfAborted(options.signal, graphstreamAborted);
    const names = await this.pendingNames();
    const settled = await Promise.allSettled(names.map((n) => this.upload(n, options)));
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    return settled.map((s) => (s as PromiseFulfilledResult<UploadResult>).value);
  }

  /** Waits until no upload is queued or running. */
  async drain(): Promise<void> {
    while (this.#inflight.size > 0) {
      await Promise.allSettled([...this.#inflight.values()]);
    }
  }

  /** Drains (finishing queued uploads) and refuses new ones. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.drain();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #withSlot<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#running >= this.#concurrency) {
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else {
      this.#running++;
    }
    try {
      return await fn();
    } finally {
      const next = this.#waiting.shift();
      if (next !== undefined) next();
      else this.#running--;
    }
  }

  async #uploadOne(name: string, signal: AbortSignal | undefined): Promise<UploadResult> {
    try {
      throwIfAborted(signal, graphstreamAborted);
      const path = inDir(this.#dir, name);
      let bytes: Uint8Array;
      try {
        bytes = await readFile(path);
      } catch (cause) {
        throw ioError(`could not read ${name}`, cause, name);
      }
      let summary;
      try {
        summary = await verifySegmentStream(
          (async function* () {
            yield bytes;
          })(),
          { signal },
        );
      } catch (cause) {
        if (cause instanceof GraphstreamError && cause.code === 'HADB_GRAPHSTREAM_ABORTED') throw cause;
        throw new GraphstreamError('HADB_GRAPHSTREAM_INVALID_SEGMENT', `local segment ${name} failed verification`, {
          cause,
          location: name,
        });
      }
      const key = segmentKey(this.#prefix, this.#db, summary.header.firstSeq);
      const base = {
        name,
        key,
        firstSeq: summary.header.firstSeq,
        lastSeq: summary.header.lastSeq,
        bytes: bytes.length,
      };
      if (this.manifest.has(name)) return { ...base, outcome: 'present' };
      const outcome = await this.#put(key, bytes, signal);
      await this.manifest.markUploaded(name, bytes.length);
      this.metrics.inc('uploads');
      this.metrics.inc('upload_bytes', bytes.length);
      return { ...base, outcome };
    } catch (error) {
      this.metrics.inc('upload_errors');
      this.metrics.inc('errors');
      throw error;
    }
  }

  async #put(key: string, bytes: Uint8Array, signal: AbortSignal | undefined): Promise<UploadResult['outcome']> {
    let ours: DecodedSegment | undefined;
    for (let attempt = 0; attempt < 3; attempt++) {
      const created = await this.#storage.putIfAbsent(key, bytes, { signal });
      if (created.success) return 'uploaded';
      const existing = await this.#storage.get(key, { signal });
      if (existing === null) continue;
      if (sameBytes(existing.data, bytes)) return 'present';
      // Only a conflict needs both histories in full.
      ours ??= decodeSealed(bytes);
      let theirs;
      try {
        theirs = decodeSealed(existing.data);
      } catch (cause) {
        throw new GraphstreamError('HADB_GRAPHSTREAM_UPLOAD_CONFLICT', `an invalid object occupies ${key}`, {
          cause,
          location: key,
        });
      }
      if (covers(theirs, ours)) return 'present';
      if (covers(ours, theirs)) {
        const replaced = await this.#storage.putIfMatch(key, bytes, existing.etag, { signal });
        if (replaced.success) return 'replaced';
        continue;
      }
      throw new GraphstreamError(
        'HADB_GRAPHSTREAM_UPLOAD_CONFLICT',
        `a different journal segment already exists at ${key}`,
        {
          location: key,
          seq: ours.header.firstSeq,
        },
      );
    }
    throw new GraphstreamError('HADB_GRAPHSTREAM_UPLOAD_CONFLICT', `the object at ${key} kept changing during upload`, {
      location: key,
    });
  }
}
