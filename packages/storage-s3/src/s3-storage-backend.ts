import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { ConcurrencyLimiter, httpStatusOf } from '@hadb/io';
import {
  type CasResult,
  type GetStreamOptions,
  type ListOptions,
  type ListPage,
  type ListPageOptions,
  type ObjectInfo,
  type ObjectStream,
  type OpOptions,
  type PutStreamOptions,
  type PutStreamResult,
  type StorageBackend,
  type StorageCapabilities,
  StorageError,
  type StoredObject,
  assertSafePrefix,
  compareKeys,
  keyUnder,
} from '@hadb/storage';
import { discardBody, readBody, streamBody } from './body.js';
import { boundedClient } from './bounded-client.js';
import { buildClient } from './client.js';
import { conditionalPut } from './conditional.js';
import type { S3Context } from './context.js';
import { abortedError, isMissing, toStorageError } from './errors.js';
import { putStream } from './multipart.js';
import { getObject, headObject, putObject, requireEtag, requireLength } from './ops.js';
import { type S3StorageOpenOptions, verifyOpened } from './open.js';
import { type ResolvedOptions, type S3StorageOptions, resolveOptions } from './options.js';
import { type ConditionalWriteProbe, type ProbeOptions, probeConditionalWrites, unsupportedError } from './probe.js';
import { Requester } from './requester.js';

/** Keys per DeleteObjects request (the S3 maximum). */
const DELETE_BATCH = 1000;

async function* empty(): AsyncGenerator<Uint8Array, void, undefined> {}

function checkRange(start: number, length: number | undefined): void {
  if (!Number.isSafeInteger(start) || start < 0) {
    throw new StorageError('HADB_STORAGE_REJECTED', 'range start must be a non-negative safe integer');
  }
  if (length !== undefined && (!Number.isSafeInteger(length) || length < 0)) {
    throw new StorageError('HADB_STORAGE_REJECTED', 'range length must be a non-negative safe integer');
  }
}

/** The total size from a `Content-Range: bytes a-b/total` header. */
function totalFromContentRange(contentRange: string | undefined, what: string): number {
  const m = /^bytes \d+-\d+\/(\d+)$/.exec(contentRange ?? '');
  if (m === null)
    throw new StorageError('HADB_STORAGE_PROTOCOL', `S3 ${what}: ranged response without a usable Content-Range`);
  return Number(m[1]);
}

/**
 * {@link StorageBackend} on S3 and S3-compatible servers (Ceph RGW, MinIO, R2...), over
 * `@aws-sdk/client-s3`.
 *
 * - Keys live under `prefix` in `bucket`; every key is checked with `keyUnder` before any request.
 * - Reads, lists, deletes and unconditional writes are retried on transient failures (full-jitter
 *   backoff, shared circuit breaker). Conditional writes are repeated only when the failure proves
 *   the write is not in effect, and are otherwise resolved by re-reading or reported as
 *   `HADB_STORAGE_AMBIGUOUS` (see `conditionalPut`).
 * - Etags are S3's quoted ETag headers. Identical bytes give identical etags (MD5), so
 *   `uniqueEtags` is false: put a nonce in objects that are compared by etag (leases).
 * - `capabilities.atomicConditionalWrites` is what the S3 protocol promises until
 *   {@link probeConditionalWrites} has run; after a failed probe it reports `false`. High-availability
 *   use should open it with `S3StorageBackend.open({ requireAtomicConditionalWrites: true })` (or
 *   call {@link assertAtomicConditionalWrites}) at startup: there is no non-atomic fallback.
 */
export class S3StorageBackend implements StorageBackend {
  readonly name = 's3';
  readonly bucket: string;
  /** The namespace prefix inside the bucket (`""` or ending in `/`). */
  readonly prefix: string;
  readonly #options: ResolvedOptions;
  readonly #ctx: S3Context;
  readonly #ownsClient: boolean;
  readonly #client: S3Client;
  #closed = false;
  #probe: ConditionalWriteProbe | undefined;

  /**
   * Creates the backend and checks it before handing it out: the bucket must exist and the
   * credentials must work (HeadBucket), and with `requireAtomicConditionalWrites` the server must
   * pass {@link assertAtomicConditionalWrites}. On failure the backend is closed and the typed error
   * (`HADB_STORAGE_AUTH`, `HADB_STORAGE_REJECTED` for a missing bucket, `HADB_STORAGE_UNAVAILABLE`,
   * `HADB_STORAGE_UNSUPPORTED`) is thrown. This is how applications create the backend.
   */
  static async open(options: S3StorageOpenOptions): Promise<S3StorageBackend> {
    const storage = new S3StorageBackend(options);
    await verifyOpened(storage, options);
    return storage;
  }

  /** Builds the backend without any request (no bucket or credential check); prefer {@link open}. */
  constructor(options: S3StorageOptions) {
    this.#options = resolveOptions(options);
    this.bucket = this.#options.bucket;
    this.prefix = this.#options.prefix;
    this.#ownsClient = options.client === undefined;
    this.#client = options.client ?? buildClient(options, this.#options);
    const requester = new Requester(options.retry, () => this.#closed);
    this.#ctx = {
      client: boundedClient(this.#client, requester.clock, this.#options.requestTimeoutMs),
      bucket: this.bucket,
      requester,
      unquotedIfMatch: this.#options.unquotedIfMatch,
    };
  }

  /**
   * The S3 client in use (the injected one, or the one this backend built and owns), without the
   * backend's per-request deadline (`requestTimeoutMs`).
   */
  get client(): S3Client {
    return this.#client;
  }

  /** The client every request of this backend goes through: {@link client} under `requestTimeoutMs`. */
  get boundedClient(): S3Client {
    return this.#ctx.client;
  }

  /** The per-request deadline in ms ({@link S3StorageOptions.requestTimeoutMs}). */
  get requestTimeoutMs(): number {
    return this.#options.requestTimeoutMs;
  }

  get capabilities(): StorageCapabilities {
    const atomic = this.#probe === undefined || this.#probe.atomic;
    return {
      atomicConditionalWrites: atomic,
      conditionalStreamingWrites: atomic && this.#options.conditionalMultipartWrites,
      uniqueEtags: false,
    };
  }

  /** The last {@link probeConditionalWrites} result, if a probe has run. */
  get lastProbe(): ConditionalWriteProbe | undefined {
    return this.#probe;
  }

  #begin(op: string, signal: AbortSignal | undefined): void {
    if (this.#closed) throw new StorageError('HADB_STORAGE_CLOSED', `S3 ${op}: backend is closed`);
    if (signal?.aborted) throw abortedError(signal, op);
  }

  #full(key: string): string {
    return keyUnder(this.prefix, key);
  }

  #strip(fullKey: string | undefined, what: string): string {
    if (fullKey === undefined || !fullKey.startsWith(this.prefix) || fullKey.length === this.prefix.length) {
      throw new StorageError('HADB_STORAGE_PROTOCOL', `S3 ${what}: the server returned a key outside the prefix`);
    }
    return fullKey.slice(this.prefix.length);
  }

  async get(key: string, options: OpOptions = {}): Promise<StoredObject | null> {
    this.#begin('get', options.signal);
    return getObject(this.#ctx, this.#full(key), key, options.signal);
  }

  async head(key: string, options: OpOptions = {}): Promise<ObjectInfo | null> {
    this.#begin('head', options.signal);
    return headObject(this.#ctx, this.#full(key), key, options.signal);
  }

  async exists(key: string, options: OpOptions = {}): Promise<boolean> {
    this.#begin('exists', options.signal);
    return (await headObject(this.#ctx, this.#full(key), key, options.signal, 'exists')) !== null;
  }

  async put(key: string, data: Uint8Array, options: OpOptions = {}): Promise<{ readonly etag: string }> {
    this.#begin('put', options.signal);
    return { etag: await putObject(this.#ctx, this.#full(key), key, data, options.signal) };
  }

  /**
   * `PUT` with `If-None-Match: *`. `{ success: false }` when the key exists (412), a concurrent
   * request conflicted (409), or a 5xx was confirmed by re-reading to be a lost race.
   * `HADB_STORAGE_AMBIGUOUS` when the outcome cannot be decided (see `conditionalPut`).
   */
  async putIfAbsent(key: string, data: Uint8Array, options: OpOptions = {}): Promise<CasResult> {
    this.#begin('putIfAbsent', options.signal);
    return conditionalPut(this.#ctx, this.#full(key), key, data, { kind: 'absent' }, options.signal);
  }

  /**
   * `PUT` with `If-Match: <etag>` (unquoted when `unquotedIfMatch`). A missing key is a conflict
   * (AWS answers 404, Ceph 412). Outcomes as for {@link putIfAbsent}.
   */
  async putIfMatch(key: string, data: Uint8Array, etag: string, options: OpOptions = {}): Promise<CasResult> {
    this.#begin('putIfMatch', options.signal);
    const fullKey = this.#full(key);
    if (typeof etag !== 'string' || etag.length === 0 || /[\u0000-\u001f\u007f]/.test(etag)) {
      throw new StorageError(
        'HADB_STORAGE_REJECTED',
        'S3 putIfMatch: etag must be a non-empty string without control characters',
      );
    }
    return conditionalPut(this.#ctx, fullKey, key, data, { kind: 'match', etag }, options.signal);
  }

  async delete(key: string, options: OpOptions = {}): Promise<void> {
    this.#begin('delete', options.signal);
    const fullKey = this.#full(key);
    try {
      await this.#ctx.requester.idempotent('delete', options.signal, async (s) => {
        try {
          await this.#ctx.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: fullKey }), {
            abortSignal: s,
          });
        } catch (error) {
          if (!isMissing(error)) throw error;
        }
      });
    } catch (error) {
      throw toStorageError(error, { op: 'delete', key, signal: options.signal });
    }
  }

  async rangeGet(key: string, start: number, length: number, options: OpOptions = {}): Promise<Uint8Array | null> {
    this.#begin('rangeGet', options.signal);
    const fullKey = this.#full(key);
    checkRange(start, length);
    const { signal } = options;
    if (length === 0) {
      return (await headObject(this.#ctx, fullKey, key, signal, 'rangeGet')) === null ? null : new Uint8Array(0);
    }
    try {
      const got = await this.#ctx.requester.idempotent('rangeGet', signal, async (s) => {
        let out;
        try {
          out = await this.#ctx.client.send(
            new GetObjectCommand({ Bucket: this.bucket, Key: fullKey, Range: `bytes=${start}-${start + length - 1}` }),
            { abortSignal: s },
          );
        } catch (error) {
          if (isMissing(error)) return null;
          if (httpStatusOf(error) === 416) return 'past-end' as const;
          throw error;
        }
        let size: number;
        try {
          size = requireLength(out.ContentLength, 'rangeGet');
          if (out.ContentRange === undefined && !(start === 0 && size <= length)) {
            throw new StorageError('HADB_STORAGE_PROTOCOL', 'S3 rangeGet: the server ignored the Range header');
          }
        } catch (error) {
          discardBody(out.Body);
          throw error;
        }
        return readBody(out.Body, size, 'rangeGet', s);
      });
      if (got !== 'past-end') return got;
    } catch (error) {
      throw toStorageError(error, { op: 'rangeGet', key, signal });
    }
    // 416: the start is at or past the end. The object exists unless it was deleted meanwhile.
    return (await headObject(this.#ctx, fullKey, key, signal, 'rangeGet')) === null ? null : new Uint8Array(0);
  }

  async #listRequest(
    op: string,
    input: { Prefix: string; StartAfter?: string | undefined; ContinuationToken?: string | undefined; MaxKeys: number },
    signal: AbortSignal | undefined,
  ): Promise<ListObjectsV2CommandOutput> {
    try {
      return await this.#ctx.requester.idempotent(op, signal, (s) =>
        this.#ctx.client.send(new ListObjectsV2Command({ Bucket: this.bucket, ...input }), { abortSignal: s }),
      );
    } catch (error) {
      throw toStorageError(error, { op, signal });
    }
  }

  #checkListArgs(prefix: string, after: string | undefined): void {
    assertSafePrefix(prefix);
    if (after !== undefined) assertSafePrefix(after);
  }

  /** Appends a page's keys (prefix stripped), checking they are in strictly ascending order. */
  #collect(out: ListObjectsV2CommandOutput, into: string[], what: string): void {
    for (const object of out.Contents ?? []) {
      const key = this.#strip(object.Key, what);
      const previous = into[into.length - 1];
      if (previous !== undefined && compareKeys(previous, key) >= 0) {
        throw new StorageError('HADB_STORAGE_PROTOCOL', `S3 ${what}: the server listed keys out of order`);
      }
      into.push(key);
    }
  }

  /**
   * Every key under `prefix`, ascending (UTF-8 byte order), strictly after `options.after`:
   * ListObjectsV2 from `StartAfter`, then `ContinuationToken` pages of 1,000 keys.
   */
  async list(prefix: string, options: ListOptions = {}): Promise<string[]> {
    this.#begin('list', options.signal);
    this.#checkListArgs(prefix, options.after);
    const keys: string[] = [];
    let token: string | undefined;
    for (;;) {
      const out = await this.#listRequest(
        'list',
        {
          Prefix: this.prefix + prefix,
          ...(token === undefined
            ? { StartAfter: options.after === undefined ? undefined : this.prefix + options.after }
            : { ContinuationToken: token }),
          MaxKeys: 1000,
        },
        options.signal,
      );
      this.#collect(out, keys, 'list');
      if (out.IsTruncated !== true) return keys;
      if (out.NextContinuationToken === undefined || out.NextContinuationToken === token) {
        throw new StorageError('HADB_STORAGE_PROTOCOL', 'S3 list: truncated listing without a new continuation token');
      }
      token = out.NextContinuationToken;
    }
  }

  async listPage(prefix: string, options: ListPageOptions = {}): Promise<ListPage> {
    this.#begin('listPage', options.signal);
    this.#checkListArgs(prefix, options.after);
    const limit = options.limit ?? 1000;
    if (!Number.isInteger(limit) || limit < 1)
      throw new StorageError('HADB_STORAGE_REJECTED', 'listPage limit must be an integer >= 1');
    const keys: string[] = [];
    let token: string | undefined;
    // Some servers return empty truncated pages; keep going until a key or the end.
    for (;;) {
      const out = await this.#listRequest(
        'listPage',
        {
          Prefix: this.prefix + prefix,
          ...(token === undefined
            ? { StartAfter: options.after === undefined ? undefined : this.prefix + options.after }
            : { ContinuationToken: token }),
          MaxKeys: Math.min(limit, 1000),
        },
        options.signal,
      );
      this.#collect(out, keys, 'listPage');
      if (out.IsTruncated !== true) return { keys, nextAfter: undefined };
      if (keys.length > 0) return { keys, nextAfter: keys[keys.length - 1] };
      if (out.NextContinuationToken === undefined || out.NextContinuationToken === token) {
        throw new StorageError(
          'HADB_STORAGE_PROTOCOL',
          'S3 listPage: truncated listing without a new continuation token',
        );
      }
      token = out.NextContinuationToken;
    }
  }

  /**
   * DeleteObjects in batches of 1,000 (quiet mode). Missing keys count as deleted. Keys the server
   * reports as failed are collected over all batches and raised as `HADB_STORAGE_PARTIAL_FAILURE`
   * with `failedKeys`; a batch request that fails as a whole throws its own error (earlier batches
   * stay deleted; deleting again is safe).
   */
  async deleteMany(keys: readonly string[], options: OpOptions = {}): Promise<number> {
    this.#begin('deleteMany', options.signal);
    const full = keys.map((k) => this.#full(k));
    const failed: string[] = [];
    let firstCode: string | undefined;
    for (let i = 0; i < full.length; i += DELETE_BATCH) {
      const batch = full.slice(i, i + DELETE_BATCH);
      let out;
      try {
        out = await this.#ctx.requester.idempotent('deleteMany', options.signal, (s) =>
          this.#ctx.client.send(
            new DeleteObjectsCommand({
              Bucket: this.bucket,
              Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
            }),
            { abortSignal: s },
          ),
        );
      } catch (error) {
        throw toStorageError(error, { op: 'deleteMany', signal: options.signal });
      }
      for (const e of out.Errors ?? []) {
        if (e.Code === 'NoSuchKey') continue;
        firstCode ??= e.Code;
        failed.push(this.#strip(e.Key, 'deleteMany'));
      }
    }
    if (failed.length > 0) {
      throw new StorageError(
        'HADB_STORAGE_PARTIAL_FAILURE',
        `S3 deleteMany: ${failed.length} of ${keys.length} keys failed (first error code ${firstCode ?? 'unknown'})`,
        { failedKeys: failed },
      );
    }
    return keys.length;
  }

  /** Unconditional PUTs, `putManyConcurrency` at a time; the first failure stops the rest. */
  async putMany(
    entries: Iterable<{ readonly key: string; readonly data: Uint8Array }>,
    options: OpOptions = {},
  ): Promise<void> {
    this.#begin('putMany', options.signal);
    const items = Array.from(entries, (e) => ({ key: e.key, data: e.data, full: this.#full(e.key) }));
    if (items.length === 0) return;
    const { signal } = options;
    const internal = new AbortController();
    const onAbort = (): void => internal.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    const limiter = new ConcurrencyLimiter(this.#options.putManyConcurrency);
    let failure: unknown;
    try {
      await Promise.all(
        items.map((item) =>
          limiter
            .run(() => putObject(this.#ctx, item.full, item.key, item.data, internal.signal, 'putMany'), {
              signal: internal.signal,
            })
            .catch((error: unknown) => {
              failure ??= error;
              internal.abort();
            }),
        ),
      );
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    if (signal?.aborted) throw abortedError(signal, 'putMany');
    if (failure !== undefined) throw toStorageError(failure, { op: 'putMany' });
  }

  /**
   * One GET (optionally with `Range`), streamed. `size` is the whole object's size, `lastModifiedMs`
   * the server's `Last-Modified` (whole seconds); the body checks
   * the byte count and ends with `HADB_STORAGE_ABORTED` when the signal fires mid-read. The object
   * is read as one version: an overwrite during the read does not mix versions.
   */
  async getStream(key: string, options: GetStreamOptions = {}): Promise<ObjectStream | null> {
    this.#begin('getStream', options.signal);
    const fullKey = this.#full(key);
    const start = options.start ?? 0;
    const { length, signal } = options;
    checkRange(start, length);
    const emptyStream = async (): Promise<ObjectStream | null> => {
      const info = await headObject(this.#ctx, fullKey, key, signal, 'getStream');
      return info === null ? null : { ...info, body: empty() };
    };
    if (length === 0) return emptyStream();
    const ranged = start !== 0 || length !== undefined;
    let out;
    try {
      out = await this.#ctx.requester.idempotent('getStream', signal, async (s) => {
        try {
          return await this.#ctx.client.send(
            new GetObjectCommand({
              Bucket: this.bucket,
              Key: fullKey,
              ...(ranged ? { Range: `bytes=${start}-${length === undefined ? '' : start + length - 1}` } : {}),
            }),
            { abortSignal: s },
          );
        } catch (error) {
          if (isMissing(error)) return null;
          if (httpStatusOf(error) === 416) return 'past-end' as const;
          throw error;
        }
      });
    } catch (error) {
      throw toStorageError(error, { op: 'getStream', key, signal });
    }
    if (out === null) return null;
    if (out === 'past-end') return emptyStream();
    try {
      const etag = requireEtag(out.ETag, 'getStream');
      const bodyLength = requireLength(out.ContentLength, 'getStream');
      const size = out.ContentRange === undefined ? bodyLength : totalFromContentRange(out.ContentRange, 'getStream');
      if (ranged && out.ContentRange === undefined && start !== 0) {
        throw new StorageError('HADB_STORAGE_PROTOCOL', 'S3 getStream: the server ignored the Range header');
      }
      const lastModifiedMs = out.LastModified?.getTime();
      return {
        size,
        etag,
        body: streamBody(out.Body, bodyLength, 'getStream', signal),
        ...(lastModifiedMs === undefined || Number.isNaN(lastModifiedMs) ? {} : { lastModifiedMs }),
      };
    } catch (error) {
      discardBody(out.Body);
      throw error;
    }
  }

  /**
   * Streams `body` into an object with bounded memory (see `putStream` in `multipart.ts`).
   * `ifAbsent` needs `capabilities.conditionalStreamingWrites` (option `conditionalMultipartWrites`);
   * otherwise it rejects with `HADB_STORAGE_UNSUPPORTED` before reading the body.
   */
  async putStream(
    key: string,
    body: AsyncIterable<Uint8Array>,
    options: PutStreamOptions = {},
  ): Promise<PutStreamResult> {
    this.#begin('putStream', options.signal);
    const fullKey = this.#full(key);
    const ifAbsent = options.ifAbsent === true;
    if (ifAbsent && !this.capabilities.conditionalStreamingWrites) {
      throw new StorageError(
        'HADB_STORAGE_UNSUPPORTED',
        'S3 putStream ifAbsent: needs a server that enforces If-None-Match on CompleteMultipartUpload ' +
          '(option conditionalMultipartWrites; Ceph RGW 16 does not); use putIfAbsent for small objects',
      );
    }
    const { contentLength } = options;
    if (contentLength !== undefined && (!Number.isSafeInteger(contentLength) || contentLength < 0)) {
      throw new StorageError(
        'HADB_STORAGE_REJECTED',
        'S3 putStream: contentLength must be a non-negative safe integer',
      );
    }
    return putStream(this.#ctx, {
      fullKey,
      key,
      body,
      ifAbsent,
      contentLength,
      signal: options.signal,
      partSize: this.#options.partSize,
      queueSize: this.#options.queueSize,
    });
  }

  /**
   * Checks, with real requests under `prefix/.hadb-probe/`, that the server enforces
   * `If-None-Match: *` and `If-Match` on PUT, accepts this backend's `If-Match` etag form, and lets
   * exactly one of several racing conditional writers win. Updates `capabilities` with the result.
   * See {@link ConditionalWriteProbe} for the verdicts.
   */
  async probeConditionalWrites(options: ProbeOptions = {}): Promise<ConditionalWriteProbe> {
    this.#begin('probeConditionalWrites', options.signal);
    const result = await probeConditionalWrites(this.#ctx, {
      prefix: this.prefix,
      conditionalMultipartWrites: this.#options.conditionalMultipartWrites,
      ...options,
    });
    this.#probe = result;
    return result;
  }

  /**
   * Runs {@link probeConditionalWrites} and throws `HADB_STORAGE_UNSUPPORTED` (with the failed
   * checks and advice in the message) unless the verdict is `atomic`. Call it before using this
   * backend for leases or any other compare-and-swap coordination.
   */
  async assertAtomicConditionalWrites(options: ProbeOptions = {}): Promise<ConditionalWriteProbe> {
    const result = await this.probeConditionalWrites(options);
    if (!result.atomic) throw unsupportedError(result);
    return result;
  }

  /** Marks the backend closed and destroys the client if this backend built it. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#ownsClient) this.#client.destroy();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
