import {
  StorageError,
  assertSafeKey,
  assertSafePrefix,
  listAll,
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
  type StoredObject,
} from '@hadb/storage';
import { abortable, configChecker, throwIfAborted } from '@hadb/io';
import { storageAborted, storageInvalidConfig } from '@hadb/storage';
import { MemBucket, type MemObject } from './mem-bucket.js';

/** Options of {@link MemStorageBackend}. */
export interface MemStorageOptions {
  /**
   * The bucket to use. Pass one bucket to several backends to simulate several clients of one
   * object store. Default: a new, private bucket.
   */
  readonly bucket?: MemBucket | undefined;
  /** Namespace inside the bucket: `""` (default) or a safe prefix ending in `/`. */
  readonly prefix?: string | undefined;
  /** Size of the chunks `getStream` yields. Default 1 MiB. */
  readonly streamChunkBytes?: number | undefined;
}

const DEFAULT_PAGE = 1000;

/**
 * An in-memory {@link StorageBackend}: a sorted map with real compare-and-swap, unique etags
 * (a per-bucket counter from 1, as decimal strings) and listing in UTF-8 byte order. Data is copied
 * in and out, so callers may reuse their buffers. Everything is lost when the process exits: use it
 * for tests and single-process setups.
 */
export class MemStorageBackend implements StorageBackend {
  readonly name = 'mem';
  readonly capabilities: StorageCapabilities = {
    atomicConditionalWrites: true,
    conditionalStreamingWrites: true,
    uniqueEtags: true,
  };
  /** The bucket this backend reads and writes. */
  readonly bucket: MemBucket;
  /** The namespace prefix inside the bucket. */
  readonly prefix: string;
  readonly #chunkBytes: number;
  #closed = false;

  /** Creates the backend; the same as the constructor, for the `open()` convention every backend follows. */
  static async open(options: MemStorageOptions = {}): Promise<MemStorageBackend> {
    return new MemStorageBackend(options);
  }

  constructor(options: MemStorageOptions = {}) {
    const prefix = options.prefix ?? '';
    assertSafePrefix(prefix);
    if (prefix !== '' && !prefix.endsWith('/')) {
      throw new StorageError('HADB_STORAGE_INVALID_KEY', 'prefix rejected: must be empty or end with "/"');
    }
    this.bucket = options.bucket ?? new MemBucket();
    this.prefix = prefix;
    this.#chunkBytes = configChecker(storageInvalidConfig).int('streamChunkBytes', options.streamChunkBytes, {
      min: 1,
      default: 1024 * 1024,
    });
  }

  /** Checks state, key and signal (in that order) and returns the bucket key. */
  #enter(key: string, options: OpOptions | undefined): string {
    this.#checkOpen();
    assertSafeKey(key);
    throwIfAborted(options?.signal, storageAborted);
    return this.prefix + key;
  }

  #checkOpen(): void {
    if (this.#closed) throw new StorageError('HADB_STORAGE_CLOSED', 'mem storage backend is closed');
  }

  #store(full: string, data: Uint8Array): string {
    const etag = this.bucket.nextEtag();
    this.bucket.set(full, { data, etag });
    return etag;
  }

  async get(key: string, options?: OpOptions): Promise<StoredObject | null> {
    const object = this.bucket.get(this.#enter(key, options));
    return object === undefined ? null : { data: object.data.slice(), etag: object.etag };
  }

  async head(key: string, options?: OpOptions): Promise<ObjectInfo | null> {
    const object = this.bucket.get(this.#enter(key, options));
    return object === undefined ? null : { size: object.data.length, etag: object.etag };
  }

  async exists(key: string, options?: OpOptions): Promise<boolean> {
    return this.bucket.get(this.#enter(key, options)) !== undefined;
  }

  async put(key: string, data: Uint8Array, options?: OpOptions): Promise<{ readonly etag: string }> {
    const full = this.#enter(key, options);
    return { etag: this.#store(full, data.slice()) };
  }

  async putIfAbsent(key: string, data: Uint8Array, options?: OpOptions): Promise<CasResult> {
    const full = this.#enter(key, options);
    if (this.bucket.get(full) !== undefined) return { success: false };
    return { success: true, etag: this.#store(full, data.slice()) };
  }

  async putIfMatch(key: string, data: Uint8Array, etag: string, options?: OpOptions): Promise<CasResult> {
    const full = this.#enter(key, options);
    if (this.bucket.get(full)?.etag !== etag) return { success: false };
    return { success: true, etag: this.#store(full, data.slice()) };
  }

  async delete(key: string, options?: OpOptions): Promise<void> {
    this.bucket.delete(this.#enter(key, options));
  }

  async rangeGet(key: string, start: number, length: number, options?: OpOptions): Promise<Uint8Array | null> {
    const full = this.#enter(key, options);
    checkRange(start, length);
    const object = this.bucket.get(full);
    return object === undefined ? null : object.data.slice(start, start + length);
  }

  async list(prefix: string, options?: ListOptions): Promise<string[]> {
    this.#checkList(prefix, options);
    return listAll((p, o) => this.listPage(p, o), prefix, options);
  }

  async listPage(prefix: string, options?: ListPageOptions): Promise<ListPage> {
    this.#checkList(prefix, options);
    const limit = options?.limit ?? DEFAULT_PAGE;
    if (!Number.isInteger(limit) || limit < 1)
      throw new StorageError('HADB_STORAGE_REJECTED', 'limit must be a positive integer');
    const after = options?.after === undefined ? undefined : this.prefix + options.after;
    const page = this.bucket.keys(this.prefix + prefix, after, Math.min(limit, DEFAULT_PAGE));
    const keys = page.keys.map((k) => k.slice(this.prefix.length));
    return { keys, nextAfter: page.more ? keys[keys.length - 1] : undefined };
  }

  #checkList(prefix: string, options: OpOptions | undefined): void {
    this.#checkOpen();
    assertSafePrefix(prefix);
    throwIfAborted(options?.signal, storageAborted);
  }

  async deleteMany(keys: readonly string[], options?: OpOptions): Promise<number> {
    this.#checkOpen();
    const full = keys.map((k) => this.prefix + assertSafeKey(k));
    throwIfAborted(options?.signal, storageAborted);
    for (const k of full) this.bucket.delete(k);
    return keys.length;
  }

  async putMany(
    entries: Iterable<{ readonly key: string; readonly data: Uint8Array }>,
    options?: OpOptions,
  ): Promise<void> {
    this.#checkOpen();
    const list = [...entries].map((e) => ({ full: this.prefix + assertSafeKey(e.key), data: e.data.slice() }));
    throwIfAborted(options?.signal, storageAborted);
    for (const { full, data } of list) this.#store(full, data);
  }

  async getStream(key: string, options?: GetStreamOptions): Promise<ObjectStream | null> {
    const full = this.#enter(key, options);
    const start = options?.start ?? 0;
    const length = options?.length ?? Number.MAX_SAFE_INTEGER;
    checkRange(start, length);
    const object = this.bucket.get(full);
    if (object === undefined) return null;
    return { size: object.data.length, etag: object.etag, body: this.#chunks(object, start, length, options?.signal) };
  }

  async *#chunks(
    object: MemObject,
    start: number,
    length: number,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<Uint8Array> {
    const end = Math.min(object.data.length, start + length);
    for (let at = start; at < end; at += this.#chunkBytes) {
      throwIfAborted(signal, storageAborted);
      yield object.data.slice(at, Math.min(end, at + this.#chunkBytes));
    }
  }

  async putStream(key: string, body: AsyncIterable<Uint8Array>, options?: PutStreamOptions): Promise<PutStreamResult> {
    const full = this.#enter(key, options);
    if (options?.ifAbsent && this.bucket.get(full) !== undefined) return { success: false };
    const parts: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of abortable(body, options?.signal, storageAborted)) {
      this.#checkOpen();
      parts.push(chunk.slice());
      size += chunk.length;
    }
    this.#checkOpen();
    const data = new Uint8Array(size);
    let at = 0;
    for (const part of parts) {
      data.set(part, at);
      at += part.length;
    }
    if (options?.ifAbsent && this.bucket.get(full) !== undefined) return { success: false };
    return { success: true, etag: this.#store(full, data), size };
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function checkRange(start: number, length: number): void {
  if (!Number.isSafeInteger(start) || start < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new StorageError('HADB_STORAGE_REJECTED', 'range start and length must be non-negative integers');
  }
}
