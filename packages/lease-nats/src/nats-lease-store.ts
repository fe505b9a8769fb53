import { type Clock, type ConfigChecker, configChecker, systemClock, throwIfAborted, withTimeout } from '@hadb/io';
import {
  LEASE_DEADLINE,
  LeaseError,
  leaseAborted,
  leaseInvalidConfig,
  assertLeaseScope,
  type CasResult,
  type LeaseCapabilities,
  type LeaseRecord,
  type LeaseStore,
  type OpOptions,
} from '@hadb/lease';
import { jetstream } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { connect, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import { isCasConflict, toLeaseError } from './errors.js';
import { assertNatsBucket, assertNatsKey, parseRevision } from './keys.js';

/** Default bucket, as in the Rust crate's README. */
export const DEFAULT_NATS_LEASE_BUCKET = 'hadb-leases';

const CAPABILITIES: LeaseCapabilities = Object.freeze({
  etagKind: 'revision',
  monotonicEtags: true,
  serverSideExpiry: false,
  serverTimeResolutionMs: 1,
});

/** Default deadline of each call ({@link NatsLeaseStoreOptions.requestTimeoutMs}). */
export const DEFAULT_NATS_REQUEST_TIMEOUT_MS = 5000;

/** Options of {@link NatsLeaseStore.open}. */
export interface NatsLeaseStoreOptions {
  /**
   * Server URL(s), e.g. `"nats://127.0.0.1:4222"`. Required unless `connection` is given. The
   * store then owns the connection and closes it on `close()`.
   */
  readonly servers?: string | readonly string[] | undefined;
  /**
   * An open connection to use instead of connecting. The store does not close it. It must stay
   * open for as long as the store is used.
   */
  readonly connection?: NatsConnection | undefined;
  /** Further options for `connect()` (credentials, TLS, reconnect policy). Ignored with `connection`. */
  readonly connectOptions?: Omit<NodeConnectionOptions, 'servers'> | undefined;
  /** KV bucket: `[-_A-Za-z0-9]{1,64}`. Default `"hadb-leases"`. Created with `history: 1` if missing. */
  readonly bucket?: string | undefined;
  /** Replicas of the bucket when this store creates it. Default 1. */
  readonly replicas?: number | undefined;
  /**
   * Deadline of each call in ms: connect, and every `read`, `writeIfNotExists`, `writeIfMatch` and
   * `delete` as a whole (the client's own request timeout is set to it too). A read or delete that
   * runs out of it is `HADB_LEASE_TIMEOUT`; a write `HADB_LEASE_AMBIGUOUS` (it may have landed),
   * with the timeout as its cause. Default 5000.
   */
  readonly requestTimeoutMs?: number | undefined;
  /** Time source of the call deadlines. Default `systemClock`. */
  readonly clock?: Clock | undefined;
  /** {@link LeaseStore.name}. Default `"nats"`. */
  readonly name?: string | undefined;
}

/**
 * A {@link LeaseStore} on a NATS JetStream key-value bucket (Rust `hadb-lease-nats`).
 *
 * - Key: the scope (database name), which must also be a valid NATS KV key.
 * - Etag: the entry's KV revision (the stream sequence) as a decimal string; it grows with every
 *   write to the bucket, so a re-created key never repeats an etag.
 * - `writeIfNotExists`: a put expecting no previous entry (or, after a delete, expecting the
 *   delete marker's revision); `writeIfMatch`: a put expecting `etag` as the key's last revision.
 *   The server checks both atomically; a mismatch is `{ success: false }`.
 * - `delete`: purge (removes the value and its history; idempotent).
 * - Expiry lives in the lease record (NATS 2.9 ignores per-key TTLs); the bucket has no TTL.
 * - Errors: a timeout after a write was sent is `HADB_LEASE_AMBIGUOUS`; connection failures are
 *   `HADB_LEASE_UNAVAILABLE`; refused credentials `HADB_LEASE_AUTH`.
 */
export class NatsLeaseStore implements LeaseStore {
  readonly name: string;
  readonly capabilities: LeaseCapabilities = CAPABILITIES;
  /** The bucket this store uses. */
  readonly bucket: string;
  readonly #connection: NatsConnection;
  readonly #owned: boolean;
  readonly #kv: KV;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  #closed = false;

  private constructor(
    connection: NatsConnection,
    owned: boolean,
    kv: KV,
    bucket: string,
    settings: { readonly timeoutMs: number; readonly name: string; readonly clock: Clock },
  ) {
    this.#connection = connection;
    this.#owned = owned;
    this.#kv = kv;
    this.bucket = bucket;
    this.#timeoutMs = settings.timeoutMs;
    this.name = settings.name;
    this.#clock = settings.clock;
  }

  /**
   * Connects (or takes `options.connection`), then creates or opens the bucket. Throws
   * `HADB_LEASE_UNAVAILABLE` when the server cannot be reached, `HADB_LEASE_AUTH` when
   * credentials are refused, `HADB_LEASE_UNSUPPORTED` when JetStream is not enabled, and
   * `HADB_LEASE_INVALID_KEY` for a bad bucket name, `HADB_LEASE_INVALID_CONFIG` for other bad
   * options (before connecting). Nothing stays open when it throws.
   */
  static async open(options: NatsLeaseStoreOptions): Promise<NatsLeaseStore> {
    const bucket = assertNatsBucket(options.bucket ?? DEFAULT_NATS_LEASE_BUCKET);
    const check: ConfigChecker = configChecker(leaseInvalidConfig);
    const timeout = check.int('requestTimeoutMs', options.requestTimeoutMs, {
      min: 1,
      default: DEFAULT_NATS_REQUEST_TIMEOUT_MS,
    });
    const replicas = check.int('replicas', options.replicas, { min: 1, default: 1 });
    const name = check.string('name', options.name, 'nats');
    check.require(
      options.servers !== undefined || options.connection !== undefined,
      'NatsLeaseStore.open needs `servers` or `connection`',
    );
    let connection = options.connection;
    const owned = connection === undefined;
    if (connection === undefined) {
      if (options.servers === undefined) throw check.fail('NatsLeaseStore.open needs `servers` or `connection`');
      const servers = typeof options.servers === 'string' ? options.servers : [...options.servers];
      try {
        connection = await connect({
          name: 'hadb-lease',
          timeout,
          ...options.connectOptions,
          servers,
        });
      } catch (error) {
        throw toLeaseError(error, 'connect', false);
      }
    }
    try {
      const js = jetstream(connection, { timeout });
      const kv = await new Kvm(js).create(bucket, { history: 1, replicas });
      return new NatsLeaseStore(connection, owned, kv, bucket, {
        timeoutMs: timeout,
        name,
        clock: options.clock ?? systemClock,
      });
    } catch (error) {
      if (owned) await connection.close().catch(() => undefined);
      if (error instanceof Error && error.name === 'JetStreamNotEnabled') {
        throw new LeaseError('HADB_LEASE_UNSUPPORTED', 'JetStream is not enabled on this NATS server', {
          cause: error,
        });
      }
      throw toLeaseError(error, 'open bucket', false);
    }
  }

  /** The scope itself (Rust layout); it must be a safe database name and a valid NATS key. */
  keyFor(scope: string): string {
    return assertNatsKey(assertLeaseScope(scope));
  }

  /** The record, with the server's timestamp of the version as `serverTimeMs`. */
  async read(key: string, options: OpOptions = {}): Promise<LeaseRecord | null> {
    this.#check(key, options);
    return this.#bounded('read', false, options, () => this.#get(key));
  }

  async writeIfNotExists(key: string, data: Uint8Array, options: OpOptions = {}): Promise<CasResult> {
    this.#check(key, options);
    return this.#bounded('writeIfNotExists', true, options, () => this.#create(key, data));
  }

  async writeIfMatch(key: string, data: Uint8Array, etag: string, options: OpOptions = {}): Promise<CasResult> {
    this.#check(key, options);
    const revision = parseRevision(etag);
    return this.#bounded('writeIfMatch', true, options, () => this.#put(key, data, revision));
  }

  /** Purges the key (value and history); a missing key is fine. */
  async delete(key: string, options: OpOptions = {}): Promise<void> {
    this.#check(key, options);
    await this.#bounded('delete', false, options, () => this.#kv.purge(key));
  }

  /** Idempotent. Closes the connection only if this store opened it. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#owned) await this.#connection.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * Runs one call under the store's deadline (the client cannot be aborted; a late reply is
   * discarded) and the caller's signal, mapping failures (see `toLeaseError`).
   */
  async #bounded<T>(op: string, write: boolean, options: OpOptions, fn: () => Promise<T>): Promise<T> {
    try {
      return await withTimeout(this.#clock, this.#timeoutMs, `nats ${op}`, LEASE_DEADLINE, fn, {
        signal: options.signal,
      });
    } catch (error) {
      throw toLeaseError(error, op, write);
    }
  }

  async #get(key: string): Promise<LeaseRecord | null> {
    const entry = await this.#kv.get(key);
    if (entry === null || entry.operation !== 'PUT') return null;
    return { data: entry.value.slice(), etag: String(entry.revision), serverTimeMs: entry.created.getTime() };
  }

  async #create(key: string, data: Uint8Array): Promise<CasResult> {
    const created = await this.#put(key, data, 0);
    if (created.success) return created;
    // The key has history: creating is allowed only over a delete marker, and only if no one
    // wrote after it (a CAS on the marker's revision).
    const entry = await this.#kv.get(key);
    if (entry === null || entry.operation === 'PUT') return { success: false };
    return this.#put(key, data, entry.revision);
  }

  /** A put that the server applies only if the key's last revision is `previous` (0: none). */
  async #put(key: string, data: Uint8Array, previous: number): Promise<CasResult> {
    try {
      const revision = await this.#kv.put(key, data, { previousSeq: previous, timeout: this.#timeoutMs });
      return { success: true, etag: String(revision) };
    } catch (error) {
      if (isCasConflict(error)) return { success: false };
      throw error;
    }
  }

  #check(key: string, options: OpOptions): void {
    if (this.#closed) throw new LeaseError('HADB_LEASE_CLOSED', 'lease store is closed');
    assertNatsKey(key);
    throwIfAborted(options.signal, leaseAborted);
  }
}
