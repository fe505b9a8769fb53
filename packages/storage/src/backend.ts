import type { ChunkPool } from './chunk-pool.js';
import type { OpOptions } from '@hadb/io';

/** Per-call options of every I/O method (`{ signal? }`; an abort rejects with `HADB_STORAGE_ABORTED`). */
export type { OpOptions };

/**
 * Result of a conditional write. A lost race is a value, not an exception.
 * `etag` is the new object's entity tag, usable for the next `putIfMatch`.
 */
export type CasResult = { readonly success: true; readonly etag: string } | { readonly success: false };

/** An object read with {@link StorageBackend.get}. */
export interface StoredObject {
  readonly data: Uint8Array;
  /** Opaque entity tag of this exact version; pass it to `putIfMatch`. */
  readonly etag: string;
}

/** Metadata of an object, from {@link StorageBackend.head}. */
export interface ObjectInfo {
  readonly size: number;
  readonly etag: string;
}

/**
 * A streamed read from {@link StorageBackend.getStream}. `size` and `etag` describe the whole
 * object, also when only a range is streamed.
 */
export interface ObjectStream extends ObjectInfo {
  /** The object's bytes (or the requested range) in chunks; consume it once. */
  readonly body: AsyncIterable<Uint8Array>;
  /**
   * The server's time of the object's last write, Unix ms, when the backend reports it (S3:
   * `Last-Modified`, whole seconds). Absent otherwise.
   */
  readonly lastModifiedMs?: number | undefined;
}

/** Options of {@link StorageBackend.list}. */
export interface ListOptions extends OpOptions {
  /** Exclusive lower bound: only keys strictly greater than this are returned. */
  readonly after?: string | undefined;
}

/** Options of {@link StorageBackend.listPage}. */
export interface ListPageOptions extends ListOptions {
  /** Most keys in the page (backends may return fewer). Default 1000. */
  readonly limit?: number | undefined;
}

/** One page of a listing. */
export interface ListPage {
  /** Keys in lexicographic (UTF-8 byte) order. */
  readonly keys: readonly string[];
  /** Pass as `after` to get the next page; `undefined` when the listing is complete. */
  readonly nextAfter: string | undefined;
}

/** Options of {@link StorageBackend.getStream}. */
export interface GetStreamOptions extends OpOptions {
  /** First byte to read (default 0). */
  readonly start?: number | undefined;
  /** Number of bytes to read from `start` (default: to the end). */
  readonly length?: number | undefined;
  /**
   * Buffers to read the body into. A backend may ignore it (then every chunk is freshly
   * allocated, as without it); one that uses it yields views of buffers taken from the pool, each
   * then owned by the consumer, which may give it back with `pool.give(chunk)` once it no longer
   * needs it. Chunks are at most `pool.chunkBytes` long.
   */
  readonly pool?: ChunkPool | undefined;
}

/** Options of {@link StorageBackend.putStream}. */
export interface PutStreamOptions extends OpOptions {
  /**
   * Create only if no object exists at the key. Requires
   * `capabilities.conditionalStreamingWrites`; otherwise the call rejects with
   * `HADB_STORAGE_UNSUPPORTED` rather than writing unconditionally.
   */
  readonly ifAbsent?: boolean | undefined;
  /** Total size, when known in advance (lets backends pick an upload strategy). */
  readonly contentLength?: number | undefined;
}

/** Result of {@link StorageBackend.putStream}. `success: false` only when `ifAbsent` lost. */
export type PutStreamResult =
  | { readonly success: true; readonly etag: string; readonly size: number }
  | { readonly success: false };

/** What a backend guarantees; the testkit and the coordinator read this instead of guessing. */
export interface StorageCapabilities {
  /**
   * `putIfAbsent` and `putIfMatch` are atomic under concurrency: of N racing writers with the same
   * precondition exactly one succeeds and the stored object is the winner's. High-availability use
   * refuses a backend without it.
   */
  readonly atomicConditionalWrites: boolean;
  /** `putStream({ ifAbsent: true })` is supported and atomic. */
  readonly conditionalStreamingWrites: boolean;
  /** Every write produces an etag never seen before for that key (no ABA). */
  readonly uniqueEtags: boolean;
}

/**
 * Object storage as hadb uses it: flat keys, whole-object writes, conditional writes by etag.
 *
 * Contract for every implementation:
 * - Keys are relative to the backend's own root/prefix and are validated with `assertSafeKey`.
 * - A missing key is `null` from `get`/`head`/`rangeGet`/`getStream`, `false` from `exists`, and a
 *   no-op for `delete`.
 * - Real failures throw {@link StorageError} with a stable `code`; CAS conflicts return
 *   `{ success: false }`.
 * - Writes are all-or-nothing: a reader sees the old object or the new one, never a partial one.
 */
export interface StorageBackend extends AsyncDisposable {
  /** Short backend name for logs and metrics, e.g. `"s3"`, `"local"`, `"mem"`. */
  readonly name: string;
  readonly capabilities: StorageCapabilities;

  /** Reads a whole object with its etag, or `null` if missing. */
  get(key: string, options?: OpOptions): Promise<StoredObject | null>;
  /** Size and etag without the body, or `null` if missing. */
  head(key: string, options?: OpOptions): Promise<ObjectInfo | null>;
  /** Whether the key exists. */
  exists(key: string, options?: OpOptions): Promise<boolean>;
  /** Writes unconditionally (atomic replace). Returns the new etag. */
  put(key: string, data: Uint8Array, options?: OpOptions): Promise<{ readonly etag: string }>;
  /** Writes only if the key does not exist. */
  putIfAbsent(key: string, data: Uint8Array, options?: OpOptions): Promise<CasResult>;
  /** Writes only if the current etag equals `etag`. A missing key is a conflict. */
  putIfMatch(key: string, data: Uint8Array, etag: string, options?: OpOptions): Promise<CasResult>;
  /** Deletes; a missing key is not an error. */
  delete(key: string, options?: OpOptions): Promise<void>;
  /**
   * Reads `length` bytes from `start`. Past the end returns what exists (possibly empty);
   * `null` if the object is missing.
   */
  rangeGet(key: string, start: number, length: number, options?: OpOptions): Promise<Uint8Array | null>;
  /**
   * Every key starting with `prefix`, in lexicographic order, strictly after `options.after`.
   * Backends paginate internally.
   */
  list(prefix: string, options?: ListOptions): Promise<string[]>;
  /** One page of {@link list}. */
  listPage(prefix: string, options?: ListPageOptions): Promise<ListPage>;
  /**
   * Deletes many keys. Returns how many were requested and not failed (missing keys count as
   * deleted). If any key fails, throws `HADB_STORAGE_PARTIAL_FAILURE` listing `failedKeys`.
   */
  deleteMany(keys: readonly string[], options?: OpOptions): Promise<number>;
  /** Unconditional writes of many objects (each atomic; the batch is not). */
  putMany(entries: Iterable<{ readonly key: string; readonly data: Uint8Array }>, options?: OpOptions): Promise<void>;
  /** Streams an object (or a range of it) without buffering it whole; `null` if missing. */
  getStream(key: string, options?: GetStreamOptions): Promise<ObjectStream | null>;
  /**
   * Writes an object from a stream of chunks with bounded memory. The object becomes visible only
   * once complete; an aborted or failed upload leaves no object behind.
   */
  putStream(key: string, body: AsyncIterable<Uint8Array>, options?: PutStreamOptions): Promise<PutStreamResult>;
  /** Releases connections and handles. Idempotent. Also available as `Symbol.asyncDispose`. */
  close(): Promise<void>;
}
