import { abortable, configChecker, throwIfAborted, type ConfigChecker } from '@hadb/io';
import {
  StorageError,
  assertSafeKey,
  assertSafePrefix,
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
import { Pull, openChunks } from './chunks.js';
import { StorageAgeError, corrupt, invalidConfig, storageAborted } from './errors.js';
import { KeyRing, type SealedHeader } from './keyring.js';
import { CHUNK_BYTES, Layout, MAX_HEADER_BYTES, NONCE_BYTES, SEALED_CHUNK_BYTES, scanHeader } from './layout.js';
import { ChunkAuthError, openPayload, sealPayloadInto, sealStream, sealedPayloadSize } from './payload.js';

/** Options of {@link encryptedStorage}. */
export interface EncryptedStorageOptions {
  /**
   * Age recipients every new object is encrypted to: all X25519 (`age1…`) or all hybrid
   * post-quantum ML-KEM-768 + X25519 (`age1pq1…`). At least one; without recipients the wrapper
   * refuses to open. Several recipients let several key holders read (e.g. the nodes' key and an
   * offline recovery key).
   */
  readonly recipients: readonly string[];
  /**
   * Age identities objects are decrypted with (`AGE-SECRET-KEY-1…`, `AGE-SECRET-KEY-PQ-1…`), tried
   * in order. After a key rotation keep the old identity here until every object written under it
   * is gone. At least one recipient must belong to one of these identities.
   */
  readonly identities: readonly string[];
  /**
   * Read age objects without the key binding stanza (encrypted by another age client, such as
   * `age -r`). Default `false`: such objects are `HADB_STORAGE_AGE_UNBOUND`. Objects bound to a
   * different key are refused either way.
   */
  readonly acceptUnbound?: boolean | undefined;
}

/** Options of {@link EncryptedStorageBackend.open}. */
export interface OpenEncryptedStorageOptions extends EncryptedStorageOptions {
  /** The backend that stores the ciphertext; the wrapper owns it from now on and closes it. */
  readonly inner: StorageBackend;
}

/** Bytes read from the start of an object to find its header (grown when the header is longer). */
const PROBE_BYTES = 8 * 1024;
/** Re-reads when the object changes between the header read and the chunk read of a range. */
const RANGE_ATTEMPTS = 5;

const check: ConfigChecker = configChecker(invalidConfig);

interface Probe {
  readonly etag: string;
  readonly layout: Layout;
  readonly streamKey: Buffer;
  /** The object's first bytes as read (header, nonce, possibly chunks). */
  readonly bytes: Uint8Array;
}

async function collect(body: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const part of body) parts.push(part);
  if (parts.length === 1) return parts[0]!;
  // A fresh buffer (Buffer.concat may hand out a slice of a shared pool).
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  if (bytes.length > 0) yield bytes;
}

/**
 * A `StorageBackend` that stores every object as an age file encrypted to `recipients`, and
 * decrypts with `identities`. Create it with {@link encryptedStorage} or
 * {@link EncryptedStorageBackend.open}.
 *
 * - Object keys, the key layout, listings and object sizes (up to the format's fixed overhead)
 *   stay visible to whoever runs the storage; object contents do not.
 * - Fail-closed: every read authenticates; an object that is not age ciphertext, that none of the
 *   identities opens, that fails authentication, or that is bound to another key rejects with a
 *   {@link StorageAgeError}, never returning bytes.
 * - `head`/`getStream` report plaintext sizes; etags are the inner backend's (of the ciphertext),
 *   so `putIfMatch` keeps its exact semantics, and every write's etag differs from the last since
 *   no two encryptions are alike.
 * - `exists`, `delete`, `deleteMany`, `list` and `listPage` pass through without decrypting.
 */
export class EncryptedStorageBackend implements StorageBackend {
  readonly name: string;
  readonly capabilities: StorageCapabilities;
  /** The backend holding the ciphertext. */
  readonly inner: StorageBackend;
  readonly #keys: KeyRing;
  readonly #acceptUnbound: boolean;
  #closed = false;
  #closing: Promise<void> | undefined;

  private constructor(inner: StorageBackend, keys: KeyRing, acceptUnbound: boolean) {
    this.inner = inner;
    this.#keys = keys;
    this.#acceptUnbound = acceptUnbound;
    this.name = `${inner.name}+age`;
    this.capabilities = { ...inner.capabilities };
  }

  /**
   * Validates the options and wraps `inner`. Rejects with `HADB_STORAGE_AGE_INVALID_CONFIG` for
   * missing or invalid keys (see {@link EncryptedStorageOptions}); nothing is read or written.
   */
  static async open(options: OpenEncryptedStorageOptions): Promise<EncryptedStorageBackend> {
    check.require(typeof options === 'object' && options !== null, 'options are required');
    const { inner } = options;
    check.require(
      typeof inner === 'object' && inner !== null && typeof inner.get === 'function' && typeof inner.putIfMatch === 'function',
      'inner must be a StorageBackend',
    );
    const acceptUnbound = check.bool('acceptUnbound', options.acceptUnbound, false);
    const keys = await KeyRing.create(options.recipients, options.identities);
    return new EncryptedStorageBackend(inner, keys, acceptUnbound);
  }

  // ---- guards ----

  #checkOpen(): void {
    if (this.#closed) throw new StorageError('HADB_STORAGE_CLOSED', 'encrypted storage backend is closed');
  }

  /** Checks state, key and signal, in that order, before any I/O. */
  #enter(key: string, options: OpOptions | undefined): void {
    this.#checkOpen();
    assertSafeKey(key);
    throwIfAborted(options?.signal, storageAborted);
  }

  #enterList(prefix: string, options: OpOptions | undefined): void {
    this.#checkOpen();
    assertSafePrefix(prefix);
    throwIfAborted(options?.signal, storageAborted);
  }

  // ---- encryption ----

  async #seal(key: string, data: Uint8Array): Promise<Uint8Array> {
    const { header, nonce, streamKey } = await this.#keys.seal(key);
    const out = new Uint8Array(header.length + NONCE_BYTES + sealedPayloadSize(data.length));
    out.set(header, 0);
    out.set(nonce, header.length);
    sealPayloadInto(streamKey, data, out, header.length + NONCE_BYTES);
    streamKey.fill(0);
    return out;
  }

  /** Opens the header found at the start of `bytes` (which must hold it and the nonce). */
  #openHeader(key: string, bytes: Uint8Array, headerEnd: number): Promise<Buffer> {
    return this.#keys.open(key, bytes.subarray(0, headerEnd), bytes.subarray(headerEnd, headerEnd + NONCE_BYTES), this.#acceptUnbound);
  }

  #layout(key: string, headerEnd: number, size: number): Layout {
    const layout = Layout.of(headerEnd, size);
    if (layout === null) throw corrupt(key, `stored size ${size} is not a valid age payload size (truncated or extended)`);
    return layout;
  }

  /** Decrypts a whole stored object. */
  async #openWhole(key: string, bytes: Uint8Array): Promise<Uint8Array> {
    const scan = scanHeader(bytes, true);
    if (scan === 'not-age') throw notEncrypted(key);
    if (scan === 'need-more' || bytes.length < scan.end + NONCE_BYTES) throw corrupt(key, 'truncated inside the header');
    const streamKey = await this.#openHeader(key, bytes, scan.end);
    const layout = this.#layout(key, scan.end, bytes.length);
    try {
      return openPayload(streamKey, bytes.subarray(layout.payloadStart), layout.chunks, layout.plaintextSize);
    } catch (error) {
      if (error instanceof ChunkAuthError) throw corrupt(key, error.message, error);
      throw error;
    } finally {
      streamKey.fill(0);
    }
  }

  /**
   * Reads and opens the header of `key` with one ranged read of its first bytes (`extra` more
   * bytes are read along, so a range in the first chunks needs no second read). `null` if missing.
   */
  async #probe(key: string, signal: AbortSignal | undefined, extra: number): Promise<Probe | null> {
    let want = PROBE_BYTES + extra;
    for (;;) {
      const stream = await this.inner.getStream(key, { start: 0, length: want, signal });
      if (stream === null) return null;
      const bytes = await collect(stream.body);
      const complete = bytes.length >= stream.size;
      const scan = scanHeader(bytes, complete);
      if (scan === 'not-age') throw notEncrypted(key);
      if (scan === 'need-more') {
        if (complete) throw corrupt(key, 'truncated inside the header');
        if (want >= MAX_HEADER_BYTES + extra) throw corrupt(key, `no header end within ${MAX_HEADER_BYTES} bytes`);
        want = Math.min(MAX_HEADER_BYTES + extra, want * 4);
        continue;
      }
      if (stream.size < scan.end + NONCE_BYTES) throw corrupt(key, 'truncated after the header');
      if (bytes.length < scan.end + NONCE_BYTES) {
        want = scan.end + NONCE_BYTES + extra;
        continue;
      }
      const streamKey = await this.#openHeader(key, bytes, scan.end);
      return { etag: stream.etag, layout: this.#layout(key, scan.end, stream.size), streamKey, bytes };
    }
  }

  /**
   * The plaintext bytes `start` … `end` (exclusive, clamped to the size) of one version of `key`:
   * only the chunks holding the range are read and opened.
   */
  async #range(key: string, start: number, end: number, signal: AbortSignal | undefined): Promise<ObjectStream | null> {
    const firstChunk = Math.floor(start / CHUNK_BYTES);
    // A range starting in the first chunk rides along with the header read.
    const extra = firstChunk === 0 && Number.isFinite(end) ? NONCE_BYTES + (Math.floor(Math.max(end - 1, 0) / CHUNK_BYTES) + 1) * SEALED_CHUNK_BYTES : 0;
    for (let attempt = 1; ; attempt++) {
      const probe = await this.#probe(key, signal, extra);
      if (probe === null) return null;
      const { layout, etag, streamKey } = probe;
      const size = layout.plaintextSize;
      const to = Math.min(end, size);
      if (start >= to) return { size, etag, body: once(new Uint8Array(0)) };
      const a = layout.chunkOf(start);
      const b = layout.chunkOf(to - 1);
      const from = layout.chunkStart(a);
      const until = layout.chunkEnd(b);
      if (until <= probe.bytes.length) {
        return { size, etag, body: openChunks(streamKey, key, layout, a, b + 1, once(probe.bytes.subarray(from, until)), start, to) };
      }
      const stream = await this.inner.getStream(key, { start: from, length: until - from, signal });
      if (stream === null) return null;
      if (stream.etag === etag && stream.size === layout.size) {
        return { size, etag, body: openChunks(streamKey, key, layout, a, b + 1, stream.body, start, to) };
      }
      // Replaced between the two reads: the chunks belong to another version. Read again.
      void stream.body[Symbol.asyncIterator]().return?.(undefined);
      if (attempt >= RANGE_ATTEMPTS) {
        throw new StorageError('HADB_STORAGE_UNAVAILABLE', `object ${JSON.stringify(key)} changed during each of ${RANGE_ATTEMPTS} ranged reads`);
      }
    }
  }

  /** Streams all of `key` from one read: header first, then chunk by chunk. */
  async #whole(key: string, signal: AbortSignal | undefined): Promise<ObjectStream | null> {
    const stream = await this.inner.getStream(key, { signal });
    if (stream === null) return null;
    const pull = new Pull(stream.body);
    try {
      let want = PROBE_BYTES;
      for (;;) {
        const bytes = await pull.fill(want);
        const complete = bytes.length >= stream.size;
        const scan = scanHeader(bytes, complete);
        if (scan === 'not-age') throw notEncrypted(key);
        if (scan === 'need-more') {
          if (complete) throw corrupt(key, 'truncated inside the header');
          if (bytes.length >= MAX_HEADER_BYTES) throw corrupt(key, `no header end within ${MAX_HEADER_BYTES} bytes`);
          want = bytes.length + PROBE_BYTES;
          continue;
        }
        if (stream.size < scan.end + NONCE_BYTES) throw corrupt(key, 'truncated after the header');
        if (bytes.length < scan.end + NONCE_BYTES) {
          want = scan.end + NONCE_BYTES;
          continue;
        }
        const streamKey = await this.#openHeader(key, bytes, scan.end);
        const layout = this.#layout(key, scan.end, stream.size);
        const size = layout.plaintextSize;
        const body = openChunks(streamKey, key, layout, 0, layout.chunks, pull.from(layout.payloadStart), 0, size);
        return { size, etag: stream.etag, body };
      }
    } catch (error) {
      await pull.close().catch(() => undefined);
      throw error;
    }
  }

  // ---- StorageBackend ----

  async get(key: string, options?: OpOptions): Promise<StoredObject | null> {
    this.#enter(key, options);
    const stored = await this.inner.get(key, options);
    if (stored === null) return null;
    return { data: await this.#openWhole(key, stored.data), etag: stored.etag };
  }

  /** Plaintext size and the stored etag. Reads and authenticates the header (one ranged read). */
  async head(key: string, options?: OpOptions): Promise<ObjectInfo | null> {
    this.#enter(key, options);
    const probe = await this.#probe(key, options?.signal, 0);
    if (probe === null) return null;
    probe.streamKey.fill(0);
    return { size: probe.layout.plaintextSize, etag: probe.etag };
  }

  /** Whether an object is stored at `key` (not whether it decrypts). */
  async exists(key: string, options?: OpOptions): Promise<boolean> {
    this.#enter(key, options);
    return this.inner.exists(key, options);
  }

  async put(key: string, data: Uint8Array, options?: OpOptions): Promise<{ readonly etag: string }> {
    this.#enter(key, options);
    return this.inner.put(key, await this.#seal(key, data), options);
  }

  async putIfAbsent(key: string, data: Uint8Array, options?: OpOptions): Promise<CasResult> {
    this.#enter(key, options);
    return this.inner.putIfAbsent(key, await this.#seal(key, data), options);
  }

  async putIfMatch(key: string, data: Uint8Array, etag: string, options?: OpOptions): Promise<CasResult> {
    this.#enter(key, options);
    return this.inner.putIfMatch(key, await this.#seal(key, data), etag, options);
  }

  async delete(key: string, options?: OpOptions): Promise<void> {
    this.#enter(key, options);
    return this.inner.delete(key, options);
  }

  /**
   * Reads only the 64 KiB chunks that hold the range: one ranged read of the header and, when the
   * range starts in the first chunk, of those chunks too; otherwise a second ranged read of just
   * the chunks (both checked to be the same version by etag).
   */
  async rangeGet(key: string, start: number, length: number, options?: OpOptions): Promise<Uint8Array | null> {
    this.#enter(key, options);
    checkRange(start, length);
    const stream = await this.#range(key, start, start + length, options?.signal);
    if (stream === null) return null;
    return collect(stream.body);
  }

  async list(prefix: string, options?: ListOptions): Promise<string[]> {
    this.#enterList(prefix, options);
    return this.inner.list(prefix, options);
  }

  async listPage(prefix: string, options?: ListPageOptions): Promise<ListPage> {
    this.#enterList(prefix, options);
    return this.inner.listPage(prefix, options);
  }

  async deleteMany(keys: readonly string[], options?: OpOptions): Promise<number> {
    this.#checkOpen();
    for (const key of keys) assertSafeKey(key);
    throwIfAborted(options?.signal, storageAborted);
    return this.inner.deleteMany(keys, options);
  }

  async putMany(entries: Iterable<{ readonly key: string; readonly data: Uint8Array }>, options?: OpOptions): Promise<void> {
    this.#checkOpen();
    const list = Array.from(entries, ({ key, data }) => ({ key, data }));
    for (const { key } of list) assertSafeKey(key);
    throwIfAborted(options?.signal, storageAborted);
    const sealed = await Promise.all(list.map(async ({ key, data }) => ({ key, data: await this.#seal(key, data) })));
    return this.inner.putMany(sealed, options);
  }

  /**
   * Streams plaintext (or a range of it) with one chunk (64 KiB) of memory: a whole read is one
   * streamed read of the stored object; a range reads only its chunks (see {@link rangeGet}).
   */
  async getStream(key: string, options?: GetStreamOptions): Promise<ObjectStream | null> {
    this.#enter(key, options);
    const start = options?.start ?? 0;
    const length = options?.length;
    checkRange(start, length ?? 0);
    const signal = options?.signal;
    const stream =
      start === 0 && length === undefined
        ? await this.#whole(key, signal)
        : await this.#range(key, start, length === undefined ? Number.POSITIVE_INFINITY : start + length, signal);
    if (stream === null) return null;
    return { size: stream.size, etag: stream.etag, body: abortable(stream.body, signal, storageAborted) };
  }

  /** Encrypts while streaming (one 64 KiB chunk buffered); `size` in the result is the plaintext size. */
  async putStream(key: string, body: AsyncIterable<Uint8Array>, options?: PutStreamOptions): Promise<PutStreamResult> {
    this.#enter(key, options);
    if (options?.ifAbsent === true && !this.capabilities.conditionalStreamingWrites) {
      throw new StorageError('HADB_STORAGE_UNSUPPORTED', `${this.inner.name} does not support conditional streaming writes`);
    }
    const sealed: SealedHeader = await this.#keys.seal(key);
    const count = { bytes: 0 };
    async function* stored(): AsyncGenerator<Uint8Array> {
      yield sealed.header;
      yield sealed.nonce;
      try {
        yield* sealStream(sealed.streamKey, body, count);
      } finally {
        sealed.streamKey.fill(0);
      }
    }
    const contentLength =
      options?.contentLength === undefined ? undefined : sealed.header.length + NONCE_BYTES + sealedPayloadSize(options.contentLength);
    const result = await this.inner.putStream(key, stored(), { ifAbsent: options?.ifAbsent, contentLength, signal: options?.signal });
    if (!result.success) return result;
    return { success: true, etag: result.etag, size: count.bytes };
  }

  /** Closes the inner backend. Idempotent. */
  close(): Promise<void> {
    if (this.#closing === undefined) {
      this.#closed = true;
      this.#closing = this.inner.close();
    }
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** A description without key material. */
  toString(): string {
    return `EncryptedStorageBackend(${this.name}, ${this.#keys.toString()})`;
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, keys: this.#keys.toJSON(), acceptUnbound: this.#acceptUnbound };
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }
}

function notEncrypted(key: string): StorageAgeError {
  return new StorageAgeError('HADB_STORAGE_AGE_NOT_ENCRYPTED', `object ${JSON.stringify(key)} is not age ciphertext; refusing to return it`);
}

function checkRange(start: number, length: number): void {
  if (!Number.isSafeInteger(start) || start < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new StorageError('HADB_STORAGE_REJECTED', `invalid range: start ${start}, length ${length}`);
  }
}

/**
 * Wraps `inner` so that everything it stores is age ciphertext:
 *
 * ```js
 * const storage = await encryptedStorage(await LocalStorageBackend.open({ root }), { recipients: [recipient], identities: [identity] });
 * ```
 *
 * The wrapper owns `inner` (its `close()` closes it). See {@link EncryptedStorageBackend}.
 */
export function encryptedStorage(inner: StorageBackend, options: EncryptedStorageOptions): Promise<EncryptedStorageBackend> {
  return EncryptedStorageBackend.open({ ...options, inner });
}
