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
import { invalidConfig, storageAborted } from './errors.js';
import { KeyRing, type SealedHeader } from './keyring.js';
import { NONCE_BYTES } from './layout.js';
import { ObjectReader, collect } from './reader.js';
import { sealPayloadInto, sealStream, sealedPayloadSize } from './payload.js';

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

const check: ConfigChecker = configChecker(invalidConfig);

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
  readonly #reader: ObjectReader;
  #closed = false;
  #closing: Promise<void> | undefined;

  private constructor(inner: StorageBackend, keys: KeyRing, acceptUnbound: boolean) {
    this.inner = inner;
    this.#keys = keys;
    this.#acceptUnbound = acceptUnbound;
    this.#reader = new ObjectReader(inner, keys, acceptUnbound);
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
      typeof inner === 'object' &&
        inner !== null &&
        typeof inner.get === 'function' &&
        typeof inner.putIfMatch === 'function',
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

  // ---- StorageBackend ----

  async get(key: string, options?: OpOptions): Promise<StoredObject | null> {
    this.#enter(key, options);
    const stored = await this.inner.get(key, options);
    if (stored === null) return null;
    return { data: await this.#reader.whole(key, stored.data), etag: stored.etag };
  }

  /** Plaintext size and the stored etag. Reads and authenticates the header (one ranged read). */
  async head(key: string, options?: OpOptions): Promise<ObjectInfo | null> {
    this.#enter(key, options);
    const probe = await this.#reader.probe(key, options?.signal, 0);
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
    const stream = await this.#reader.range(key, start, start + length, options?.signal);
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

  async putMany(
    entries: Iterable<{ readonly key: string; readonly data: Uint8Array }>,
    options?: OpOptions,
  ): Promise<void> {
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
        ? await this.#reader.stream(key, signal)
        : await this.#reader.range(
            key,
            start,
            length === undefined ? Number.POSITIVE_INFINITY : start + length,
            signal,
          );
    if (stream === null) return null;
    return { size: stream.size, etag: stream.etag, body: abortable(stream.body, signal, storageAborted) };
  }

  /** Encrypts while streaming (one 64 KiB chunk buffered); `size` in the result is the plaintext size. */
  async putStream(key: string, body: AsyncIterable<Uint8Array>, options?: PutStreamOptions): Promise<PutStreamResult> {
    this.#enter(key, options);
    if (options?.ifAbsent === true && !this.capabilities.conditionalStreamingWrites) {
      throw new StorageError(
        'HADB_STORAGE_UNSUPPORTED',
        `${this.inner.name} does not support conditional streaming writes`,
      );
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
      options?.contentLength === undefined
        ? undefined
        : sealed.header.length + NONCE_BYTES + sealedPayloadSize(options.contentLength);
    const result = await this.inner.putStream(key, stored(), {
      ifAbsent: options?.ifAbsent,
      contentLength,
      signal: options?.signal,
    });
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
export function encryptedStorage(
  inner: StorageBackend,
  options: EncryptedStorageOptions,
): Promise<EncryptedStorageBackend> {
  return EncryptedStorageBackend.open({ ...options, inner });
}
