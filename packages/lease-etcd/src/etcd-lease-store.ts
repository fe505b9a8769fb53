import { type Clock, configChecker, systemClock, throwIfAborted, withTimeout } from '@hadb/io';
import {
  LEASE_DEADLINE,
  LeaseError,
  leaseAborted,
  leaseInvalidConfig,
  assertLeaseKey,
  assertLeasePrefix,
  assertLeaseScope,
  type CasResult,
  type LeaseCapabilities,
  type LeaseRecord,
  type LeaseStore,
  type OpOptions,
} from '@hadb/lease';
import { noop } from 'cockatiel';
import { Etcd3, type IOptions } from 'etcd3';
import { toLeaseError } from './errors.js';

/** Default key prefix. */
export const DEFAULT_ETCD_LEASE_PREFIX = 'hadb-leases/';

const CAPABILITIES: LeaseCapabilities = Object.freeze({
  etagKind: 'revision',
  monotonicEtags: true,
  serverSideExpiry: false,
});

/** Default deadline of each call ({@link EtcdLeaseStoreOptions.requestTimeoutMs}). */
export const DEFAULT_ETCD_REQUEST_TIMEOUT_MS = 5000;

/** Options of {@link EtcdLeaseStore.open}. */
export interface EtcdLeaseStoreOptions {
  /**
   * Endpoint URL(s), e.g. `"http://127.0.0.1:2379"`. Required unless `client` is given. The store
   * then owns the client (no client-side retries or circuit breaker: the coordinator's renewal
   * loop retries) and closes it on `close()`.
   */
  readonly hosts?: string | readonly string[] | undefined;
  /** An existing client to use instead. The store does not close it. */
  readonly client?: Etcd3 | undefined;
  /** Further `Etcd3` options (credentials, auth, gRPC options). Ignored with `client`. */
  readonly clientOptions?: Omit<IOptions, 'hosts'> | undefined;
  /**
   * Prefix of every etcd key: `""` or a safe path ending in `/`. Default `"hadb-leases/"`. The
   * lease of scope `db` lives at `{prefix}db`.
   */
  readonly prefix?: string | undefined;
  /**
   * Deadline of each call in ms: the gRPC deadline of every request, the dial timeout, and an
   * outer deadline on `clock` that ends the call even if the client does not. A read or delete
   * past it is `HADB_LEASE_TIMEOUT`; a write `HADB_LEASE_AMBIGUOUS` (it may have landed), with
   * the timeout as its cause. Default 5000.
   */
  readonly requestTimeoutMs?: number | undefined;
  /** {@link LeaseStore.name}. Default `"etcd"`. */
  readonly name?: string | undefined;
  /** Time source of call deadlines (gRPC deadlines are wall-clock dates). Default `systemClock`. */
  readonly clock?: Clock | undefined;
}

/** A revision etag as etcd's int64 (decimal). Throws `HADB_LEASE_INVALID_ETAG`. */
function parseRevision(etag: string): string {
  if (!/^[1-9][0-9]{0,18}$/.test(etag) || BigInt(etag) >= 2n ** 63n) {
    throw new LeaseError('HADB_LEASE_INVALID_ETAG', 'etag must be a decimal etcd revision');
  }
  return etag;
}

/**
 * A {@link LeaseStore} on etcd v3 (the Rust `hadb-lease-etcd` layout).
 *
 * - Key: `keyFor(scope)` is the scope; the etcd key is `{prefix}{key}`.
 * - Etag: the key's `mod_revision` on read, the transaction's header revision on write (the
 *   same number); a decimal string that grows with every write to the cluster.
 * - `writeIfNotExists`: a transaction `create_revision(key) == 0 → put`; `writeIfMatch`:
 *   `mod_revision(key) == etag → put`. A failed compare is `{ success: false }`.
 * - `delete`: plain delete (idempotent). No etcd leases, watches or keepalives are used: expiry
 *   lives in the lease record.
 * - Errors: a write whose outcome is unknown (deadline exceeded after sending) is
 *   `HADB_LEASE_AMBIGUOUS`; unreachable servers are `HADB_LEASE_UNAVAILABLE`; refused credentials
 *   `HADB_LEASE_AUTH`.
 */
export class EtcdLeaseStore implements LeaseStore {
  readonly name: string;
  readonly capabilities: LeaseCapabilities = CAPABILITIES;
  /** The prefix of every etcd key of this store. */
  readonly prefix: string;
  readonly #client: Etcd3;
  readonly #owned: boolean;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  #closed = false;

  private constructor(
    client: Etcd3,
    owned: boolean,
    prefix: string,
    settings: { readonly timeoutMs: number; readonly name: string; readonly clock: Clock },
  ) {
    this.#client = client;
    this.#owned = owned;
    this.prefix = prefix;
    this.#timeoutMs = settings.timeoutMs;
    this.name = settings.name;
    this.#clock = settings.clock;
  }

  /**
   * Creates (or takes) the client and checks that the cluster answers a read under the prefix.
   * Throws `HADB_LEASE_UNAVAILABLE` when it does not, `HADB_LEASE_AUTH` when credentials are
   * refused, `HADB_LEASE_INVALID_KEY` for a bad prefix, `HADB_LEASE_INVALID_CONFIG` for other bad
   * options (before connecting). Nothing stays open when it throws.
   */
  static async open(options: EtcdLeaseStoreOptions): Promise<EtcdLeaseStore> {
    const prefix = assertLeasePrefix(options.prefix ?? DEFAULT_ETCD_LEASE_PREFIX);
    const check = configChecker(leaseInvalidConfig);
    const timeoutMs = check.int('requestTimeoutMs', options.requestTimeoutMs, {
      min: 1,
      default: DEFAULT_ETCD_REQUEST_TIMEOUT_MS,
    });
    const name = check.string('name', options.name, 'etcd');
    let client = options.client;
    const owned = client === undefined;
    if (client === undefined) {
      if (options.hosts === undefined) throw check.fail('EtcdLeaseStore.open needs `hosts` or `client`');
      client = new Etcd3({
        dialTimeout: timeoutMs,
        faultHandling: { host: () => noop, global: noop },
        ...options.clientOptions,
        hosts: typeof options.hosts === 'string' ? options.hosts : [...options.hosts],
      });
    }
    const store = new EtcdLeaseStore(client, owned, prefix, { timeoutMs, name, clock: options.clock ?? systemClock });
    try {
      await client
        .get(prefix === '' ? 'hadb-lease-probe' : prefix)
        .options(store.#callOptions())
        .exec();
    } catch (error) {
      if (owned) client.close();
      throw toLeaseError(error, 'connect', false);
    }
    return store;
  }

  /** The scope itself (Rust layout); the etcd key is `{prefix}{scope}`. */
  keyFor(scope: string): string {
    return assertLeaseScope(scope);
  }

  /** The record and its `mod_revision`. etcd reports no server time, so `serverTimeMs` is absent. */
  async read(key: string, options: OpOptions = {}): Promise<LeaseRecord | null> {
    const full = this.#full(key, options);
    return this.#bounded('read', false, options, () => this.#get(full));
  }

  async writeIfNotExists(key: string, data: Uint8Array, options: OpOptions = {}): Promise<CasResult> {
    const full = this.#full(key, options);
    return this.#txn(full, 'Create', 0, data, options, 'writeIfNotExists');
  }

  async writeIfMatch(key: string, data: Uint8Array, etag: string, options: OpOptions = {}): Promise<CasResult> {
    const full = this.#full(key, options);
    return this.#txn(full, 'Mod', parseRevision(etag), data, options, 'writeIfMatch');
  }

  /** Deletes the key; a missing key is fine. */
  async delete(key: string, options: OpOptions = {}): Promise<void> {
    const full = this.#full(key, options);
    await this.#bounded('delete', false, options, () =>
      this.#client.delete().key(full).options(this.#callOptions()).exec(),
    );
  }

  /**
   * Idempotent. The store starts no watches or keepalives; it closes the client only if it
   * created it.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#owned) this.#client.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #txn(
    full: string,
    column: 'Create' | 'Mod',
    expected: number | string,
    data: Uint8Array,
    options: OpOptions,
    op: string,
  ): Promise<CasResult> {
    return this.#bounded(op, true, options, async () => {
      const response = await this.#client
        .if(full, column, '==', expected)
        .then(this.#client.put(full).value(Buffer.from(data.buffer, data.byteOffset, data.byteLength)))
        .options(this.#callOptions())
        .commit();
      if (!response.succeeded) return { success: false };
      return { success: true, etag: response.header.revision };
    });
  }

  /**
   * Runs one call under the store's deadline on `clock` and the caller's signal (a late reply is
   * discarded; the gRPC deadline ends the request itself), mapping failures (see `toLeaseError`).
   */
  async #bounded<T>(op: string, write: boolean, options: OpOptions, fn: () => Promise<T>): Promise<T> {
    try {
      return await withTimeout(this.#clock, this.#timeoutMs, `etcd ${op}`, LEASE_DEADLINE, fn, {
        signal: options.signal,
      });
    } catch (error) {
      throw toLeaseError(error, op, write);
    }
  }

  async #get(full: string): Promise<LeaseRecord | null> {
    const response = await this.#client.get(full).options(this.#callOptions()).exec();
    const kv = response.kvs[0];
    if (kv === undefined) return null;
    return { data: new Uint8Array(kv.value), etag: kv.mod_revision };
  }

  #callOptions(): { deadline: number } {
    return { deadline: this.#clock.wallMs() + this.#timeoutMs };
  }

  /** Checks state, key and signal (in that order) and returns the etcd key. */
  #full(key: string, options: OpOptions): string {
    if (this.#closed) throw new LeaseError('HADB_LEASE_CLOSED', 'lease store is closed');
    const full = this.prefix + assertLeaseKey(key);
    throwIfAborted(options.signal, leaseAborted);
    return full;
  }
}
