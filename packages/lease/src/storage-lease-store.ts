import { isHadbError, raceAbort, throwIfAborted } from '@hadb/io';
import { isStorageError, keyUnder, type CasResult, type OpOptions, type StorageBackend } from '@hadb/storage';
import { LeaseError, type LeaseErrorCode, leaseAborted } from './errors.js';
import { assertLeaseKey, assertLeasePrefix, assertLeaseScope } from './guards.js';
import { LEASE_LIMITS, decodeLeaseData, newLeaseNonce } from './lease-data.js';
import type { LeaseCapabilities, LeaseRecord, LeaseStore, LeaseTimingRecommendation } from './store.js';

/** Options of {@link StorageLeaseStore}. */
export interface StorageLeaseStoreOptions {
  /**
   * Namespace inside the backend: `""` (default) or a safe path ending in `/`. Keys are
   * `{prefix}{scope}/_lease.json`, the layout of Rust `S3LeaseStore`.
   */
  readonly prefix?: string | undefined;
  /** Close the backend when this store closes. Default `false` (the caller owns it). */
  readonly ownsBackend?: boolean | undefined;
  /** {@link LeaseStore.name}. Default: the backend's name. */
  readonly name?: string | undefined;
  /**
   * The backend reports the server's time of each object's write (`ObjectStream.lastModifiedMs`)
   * with this resolution in ms (S3: 1000); it becomes `LeaseRecord.serverTimeMs` and
   * `capabilities.serverTimeResolutionMs`. Default: not reported.
   */
  readonly serverTimeResolutionMs?: number | undefined;
  /**
   * {@link LeaseCapabilities.recommendedTiming}. Default: none (core's defaults). A lease kept in
   * an object store that bills requests should pass one, as `S3LeaseStore` does with
   * `S3_LEASE_TIMING`.
   */
  readonly recommendedTiming?: LeaseTimingRecommendation | undefined;
}

const CAPABILITIES: LeaseCapabilities = Object.freeze({
  etagKind: 'opaque',
  monotonicEtags: false,
  serverSideExpiry: false,
  stampsNonce: true,
});

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Replaces the record's `nonce` with a fresh one, keeping every other field and the field order.
 * Object stores derive ETags from content, so a body written twice would bring an old etag back
 * (ABA); with a fresh nonce on every write that cannot happen, whatever the caller passes.
 * Rejects a body that is not a lease record with `HADB_LEASE_CORRUPT`.
 */
function stampNonce(data: Uint8Array): Uint8Array {
  decodeLeaseData(data);
  const record = JSON.parse(decoder.decode(data)) as Record<string, unknown>;
  record.nonce = newLeaseNonce();
  return encoder.encode(JSON.stringify(record));
}

/**
 * Maps a backend failure to the lease error a coordinator acts on. A timed-out compare-and-swap
 * (`write`) is `HADB_LEASE_AMBIGUOUS` (its outcome is unknown); a timed-out read or delete is
 * `HADB_LEASE_TIMEOUT`.
 */
function toLeaseError(error: unknown, write: boolean, idempotent = !write): unknown {
  // Lease errors, and hadb errors given as an abort reason (a fence, a deadline), pass through.
  if (isHadbError(error) && !isStorageError(error)) return error;
  if (!isStorageError(error)) {
    // A backend is only supposed to throw StorageError; anything else leaves a write's outcome open.
    const code: LeaseErrorCode = write ? 'HADB_LEASE_AMBIGUOUS' : 'HADB_LEASE_UNAVAILABLE';
    return new LeaseError(code, `storage backend failed: ${(error as Error)?.message ?? String(error)}`, {
      cause: error,
    });
  }
  const map: Partial<Record<string, LeaseErrorCode>> = {
    HADB_STORAGE_INVALID_KEY: 'HADB_LEASE_INVALID_KEY',
    HADB_STORAGE_AMBIGUOUS: 'HADB_LEASE_AMBIGUOUS',
    HADB_STORAGE_TIMEOUT: idempotent ? 'HADB_LEASE_TIMEOUT' : 'HADB_LEASE_AMBIGUOUS',
    HADB_STORAGE_AUTH: 'HADB_LEASE_AUTH',
    HADB_STORAGE_UNSUPPORTED: 'HADB_LEASE_UNSUPPORTED',
    HADB_STORAGE_ABORTED: 'HADB_LEASE_ABORTED',
    HADB_STORAGE_CLOSED: 'HADB_LEASE_CLOSED',
    HADB_STORAGE_PROTOCOL: write ? 'HADB_LEASE_AMBIGUOUS' : 'HADB_LEASE_UNAVAILABLE',
  };
  const code = map[error.code] ?? 'HADB_LEASE_UNAVAILABLE';
  return new LeaseError(code, `storage backend failed (${error.code}): ${error.message}`, { cause: error });
}

/**
 * A {@link LeaseStore} over any {@link StorageBackend} with atomic conditional writes: S3 with
 * conditional PUT (through `@hadb/lease-s3`), or `@hadb/storage-local` for leases between
 * processes on one host.
 *
 * - Key: `{prefix}{scope}/_lease.json` (Rust `S3LeaseStore.key_for`).
 * - Etag: the backend's etag, opaque (`capabilities.etagKind === "opaque"`).
 * - Every write re-stamps the record's `nonce` (`capabilities.stampsNonce`), so no two writes
 *   store identical bytes; bodies must therefore be lease records (`HADB_LEASE_CORRUPT`
 *   otherwise). The stored bytes equal the given ones except for the `nonce` field.
 * - `delete` is the plain, idempotent delete. To give a lease up without touching a successor's
 *   record, use `releaseLease` (a conditional write of a released record).
 * - The constructor refuses a backend whose `capabilities.atomicConditionalWrites` is false
 *   (`HADB_LEASE_UNSUPPORTED`): a lease on non-atomic CAS can have two holders.
 */
export class StorageLeaseStore implements LeaseStore {
  readonly name: string;
  readonly capabilities: LeaseCapabilities;
  readonly #backend: StorageBackend;
  readonly #prefix: string;
  readonly #ownsBackend: boolean;
  readonly #serverTime: boolean;
  #closed = false;

  constructor(backend: StorageBackend, options: StorageLeaseStoreOptions = {}) {
    if (!backend.capabilities.atomicConditionalWrites) {
      throw new LeaseError(
        'HADB_LEASE_UNSUPPORTED',
        `storage backend "${backend.name}" does not provide atomic conditional writes; a lease on it could have two holders`,
      );
    }
    this.#backend = backend;
    this.#prefix = assertLeasePrefix(options.prefix ?? '');
    this.#ownsBackend = options.ownsBackend ?? false;
    this.name = options.name ?? backend.name;
    const resolution = options.serverTimeResolutionMs;
    this.#serverTime = resolution !== undefined;
    const timing = options.recommendedTiming;
    this.capabilities =
      resolution === undefined && timing === undefined
        ? CAPABILITIES
        : Object.freeze({
            ...CAPABILITIES,
            ...(resolution === undefined ? {} : { serverTimeResolutionMs: resolution }),
            ...(timing === undefined ? {} : { recommendedTiming: Object.freeze({ ...timing }) }),
          });
  }

  /** `{prefix}{scope}/_lease.json`; throws `HADB_LEASE_INVALID_KEY` for an unsafe scope. */
  keyFor(scope: string): string {
    assertLeaseScope(scope);
    try {
      return keyUnder(this.#prefix, `${scope}/_lease.json`);
    } catch (error) {
      throw toLeaseError(error, false);
    }
  }

  async read(key: string, options: OpOptions = {}): Promise<LeaseRecord | null> {
    this.#check(key, options);
    try {
      return await raceAbort(this.#readBounded(key, options), options.signal, leaseAborted);
    } catch (error) {
      throw toLeaseError(error, false);
    }
  }

  async writeIfNotExists(key: string, data: Uint8Array, options: OpOptions = {}): Promise<CasResult> {
    this.#check(key, options);
    const body = stampNonce(data);
    try {
      return await raceAbort(this.#backend.putIfAbsent(key, body, options), options.signal, leaseAborted);
    } catch (error) {
      throw toLeaseError(error, true);
    }
  }

  async writeIfMatch(key: string, data: Uint8Array, etag: string, options: OpOptions = {}): Promise<CasResult> {
    this.#check(key, options);
    // eslint-disable-next-line no-control-regex
    if (typeof etag !== 'string' || etag.length === 0 || /[\u0000-\u001f\u007f]/.test(etag)) {
      throw new LeaseError('HADB_LEASE_INVALID_ETAG', 'etag must be a non-empty string without control characters');
    }
    const body = stampNonce(data);
    try {
      return await raceAbort(this.#backend.putIfMatch(key, body, etag, options), options.signal, leaseAborted);
    } catch (error) {
      throw toLeaseError(error, true);
    }
  }

  async delete(key: string, options: OpOptions = {}): Promise<void> {
    this.#check(key, options);
    try {
      await raceAbort(this.#backend.delete(key, options), options.signal, leaseAborted);
    } catch (error) {
      throw toLeaseError(error, true, true);
    }
  }

  /** Idempotent. Closes the backend only if `ownsBackend` was set. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#ownsBackend) await this.#backend.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * Reads the record through `getStream`, refusing one larger than `LEASE_LIMITS.maxRecordBytes`
   * (`HADB_LEASE_CORRUPT`) without reading past the limit.
   */
  async #readBounded(key: string, options: OpOptions): Promise<LeaseRecord | null> {
    const stream = await this.#backend.getStream(key, options);
    if (stream === null) return null;
    const limit = LEASE_LIMITS.maxRecordBytes;
    const tooLarge = (): LeaseError =>
      new LeaseError('HADB_LEASE_CORRUPT', `lease record at ${key} exceeds ${limit} bytes`);
    const chunks: Uint8Array[] = [];
    let total = 0;
    for await (const chunk of stream.body) {
      total += chunk.length;
      // Leaving the loop closes the body, so at most one chunk past the limit is read.
      if (stream.size > limit || total > limit) throw tooLarge();
      chunks.push(chunk);
    }
    const data = new Uint8Array(total);
    let offset = 0;
    for (const chunk of chunks) {
      data.set(chunk, offset);
      offset += chunk.length;
    }
    const serverTimeMs = this.#serverTime ? stream.lastModifiedMs : undefined;
    return serverTimeMs === undefined ? { data, etag: stream.etag } : { data, etag: stream.etag, serverTimeMs };
  }

  #check(key: string, options: OpOptions): void {
    if (this.#closed) throw new LeaseError('HADB_LEASE_CLOSED', 'lease store is closed');
    throwIfAborted(options.signal, leaseAborted);
    assertLeaseKey(key);
    if (!key.startsWith(this.#prefix))
      throw new LeaseError('HADB_LEASE_INVALID_KEY', 'key rejected: outside the store prefix');
  }
}
