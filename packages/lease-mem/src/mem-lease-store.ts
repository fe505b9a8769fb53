// TEMPLATE FOR NEW LEASE STORES. To add one (say Redis), copy this package and work through the
// numbered steps below; CONTRIBUTING.md ("Adding a lease store") walks through the same list.
//
// (1) Import only the interface package (@hadb/lease, a peer dependency), the shared foundation
//     (@hadb/io) and your client SDK. Never import @hadb/core: a lease store must not depend on
//     the coordinator.
import { throwIfAborted } from '@hadb/io';
import {
  LeaseError,
  leaseAborted,
  assertLeaseKey,
  assertLeaseScope,
  type CasResult,
  type LeaseCapabilities,
  type LeaseRecord,
  type LeaseStore,
  type OpOptions,
} from '@hadb/lease';

// (2) Declare what your etags are. A server revision that grows with every write (NATS KV
//     revision, etcd mod_revision, Redis INCR counter) is `revision` + monotonic; anything else
//     (S3 ETag, a hash) is `opaque` + not monotonic. Expiry is judged by readers from the record
//     (`claimed_at + ttl_secs`) in every current store, so `serverSideExpiry` stays false.
const CAPABILITIES: LeaseCapabilities = Object.freeze({
  etagKind: 'revision',
  monotonicEtags: true,
  serverSideExpiry: false,
});

/** Options of {@link MemLeaseStore}. */
export interface MemLeaseStoreOptions {
  /** {@link LeaseStore.name}. Default `"mem"`. */
  readonly name?: string | undefined;
}

/**
 * An in-memory {@link LeaseStore} (Rust `hadb-lease-mem`): one process, no persistence. For tests
 * and single-process use. Etags are decimal strings of one counter per store, starting at 1 and
 * growing with every write (`"0"` is never used), so a deleted and re-created record never gets
 * an old etag back.
 */
// (3) `implements LeaseStore` makes the compiler check the contract.
export class MemLeaseStore implements LeaseStore {
  readonly name: string;
  readonly capabilities: LeaseCapabilities = CAPABILITIES;
  readonly #records = new Map<string, { data: Uint8Array; revision: bigint }>();
  #revision = 0n;
  #closed = false;

  /** Creates the store; the same as the constructor, for the `open()` convention every lease store follows. */
  static async open(options: MemLeaseStoreOptions = {}): Promise<MemLeaseStore> {
    return new MemLeaseStore(options);
  }

  constructor(options: MemLeaseStoreOptions = {}) {
    this.name = options.name ?? 'mem';
  }

  // (4) keyFor: validate the scope (assertLeaseScope), then build the key in your backend's
  //     layout. Keep the Rust layout where one exists; mem, NATS and etcd use the scope itself.
  keyFor(scope: string): string {
    return assertLeaseScope(scope);
  }

  // (5) Every I/O method: refuse after close (HADB_LEASE_CLOSED), validate the key
  //     (assertLeaseKey, plus your backend's own rules), honour `options.signal`: io's
  //     `throwIfAborted(signal, leaseAborted)` before sending anything, and io's
  //     `raceAbort(request, signal, leaseAborted)` around a request that can wait (see lease-nats).
  //     Both reject with HADB_LEASE_ABORTED.
  async read(key: string, options: OpOptions = {}): Promise<LeaseRecord | null> {
    this.#check(key, options);
    const record = this.#records.get(key);
    // (6) A missing record is `null`, not an error. Return a copy of the bytes you stored,
    //     unchanged, with the etag a later writeIfMatch must present.
    return record === undefined ? null : { data: record.data.slice(), etag: record.revision.toString() };
  }

  // (7) writeIfNotExists / writeIfMatch must be atomic on the server: of N concurrent callers
  //     with the same precondition exactly one succeeds. A lost race is `{ success: false }`,
  //     never an exception. Here the event loop makes each method atomic; a network store uses
  //     the server's CAS (a transaction, a conditional write, a Lua script).
  async writeIfNotExists(key: string, data: Uint8Array, options: OpOptions = {}): Promise<CasResult> {
    this.#check(key, options);
    if (this.#records.has(key)) return { success: false };
    return { success: true, etag: this.#store(key, data) };
  }

  async writeIfMatch(key: string, data: Uint8Array, etag: string, options: OpOptions = {}): Promise<CasResult> {
    this.#check(key, options);
    // (8) With revision etags, reject a malformed etag with HADB_LEASE_INVALID_ETAG; a
    //     well-formed but stale one, or a missing record, is `{ success: false }`.
    const expected = parseRevision(etag);
    const current = this.#records.get(key);
    if (current === undefined || current.revision !== expected) return { success: false };
    return { success: true, etag: this.#store(key, data) };
  }

  // (9) delete is plain and idempotent: a missing record is fine.
  async delete(key: string, options: OpOptions = {}): Promise<void> {
    this.#check(key, options);
    this.#records.delete(key);
  }

  // (10) close: idempotent; stop everything you started (timers, watches, keepalives) and close
  //      connections you opened (not ones the caller passed in). Alias it as asyncDispose.
  async close(): Promise<void> {
    this.#closed = true;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #check(key: string, options: OpOptions): void {
    if (this.#closed) throw new LeaseError('HADB_LEASE_CLOSED', 'lease store is closed');
    throwIfAborted(options.signal, leaseAborted);
    assertLeaseKey(key);
  }

  #store(key: string, data: Uint8Array): string {
    this.#revision += 1n;
    this.#records.set(key, { data: data.slice(), revision: this.#revision });
    return this.#revision.toString();
  }
}

/** A revision etag: a decimal u64 without sign or leading zeros. */
function parseRevision(etag: string): bigint {
  if (!/^[1-9][0-9]{0,19}$/.test(etag) || BigInt(etag) >= 2n ** 64n) {
    throw new LeaseError('HADB_LEASE_INVALID_ETAG', 'etag must be a decimal revision');
  }
  return BigInt(etag);
}
