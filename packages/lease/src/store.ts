import type { CasResult, OpOptions } from '@hadb/storage';

/**
 * The lease timing a store recommends for its cost model, in ms (see core's `LeaseOptions` for
 * what each value means and the rules they must satisfy). A coordinator uses it for every timing
 * option its user did not set; explicit options always win.
 */
export interface LeaseTimingRecommendation {
  readonly ttlMs: number;
  readonly renewIntervalMs: number;
  readonly pollIntervalMs: number;
  readonly skewMarginMs: number;
}

/** What a lease store's etags are, so callers (and the testkit) know what they may rely on. */
export interface LeaseCapabilities {
  /**
   * `"revision"`: the etag is a decimal u64 that grows with every write to the store (NATS KV
   * revision, etcd mod_revision, mem counter). `"opaque"`: an uninterpreted token (S3 ETag).
   */
  readonly etagKind: 'revision' | 'opaque';
  /** Every successful write yields an etag greater than any earlier one for the key. */
  readonly monotonicEtags: boolean;
  /**
   * Expiry is enforced by the server (a TTL on the key). When `false` (all current backends), a
   * record outlives its holder and expiry is judged by readers from the record and their clocks.
   */
  readonly serverSideExpiry: boolean;
  /**
   * The store replaces the record's `nonce` with a fresh one on every write, so the bytes it
   * stores differ from the ones passed in by that field only (`StorageLeaseStore`: object stores
   * derive ETags from content, and unique bodies rule out ABA). Absent or `false`: bytes are
   * stored verbatim.
   */
  readonly stampsNonce?: boolean | undefined;
  /**
   * The store reports its own clock with every record it reads ({@link LeaseRecord.serverTimeMs}),
   * with this resolution in ms (NATS: 1, the stream's message timestamp; S3: 1000,
   * `Last-Modified`). Absent: the store reports no server time (etcd has none), and a coordinator
   * cannot check its clock rate against it.
   */
  readonly serverTimeResolutionMs?: number | undefined;
  /**
   * The timing that suits this store's cost model. Absent: core's defaults (TTL 5 s, renew 2 s,
   * poll 1 s, margin 1 s), right for stores where a request costs nothing (NATS, etcd, memory).
   * A store that bills every request (S3) recommends longer intervals; `S3LeaseStore` does.
   */
  readonly recommendedTiming?: LeaseTimingRecommendation | undefined;
}

/** A lease record as stored, with the etag that a later `writeIfMatch` must present. */
export interface LeaseRecord {
  readonly data: Uint8Array;
  readonly etag: string;
  /**
   * The store's clock when this version was written, Unix ms (NATS: the KV entry's `created`; S3:
   * the object's `Last-Modified`), for
   * stores with `capabilities.serverTimeResolutionMs`; otherwise absent. A coordinator compares
   * how far it advances with its own monotonic clock to detect a clock running at the wrong rate.
   */
  readonly serverTimeMs?: number | undefined;
}

/**
 * A compare-and-swap register per lease key: the only primitive leader election needs.
 * Implementations must make `writeIfNotExists` and `writeIfMatch` atomic: of N concurrent callers
 * with the same precondition exactly one succeeds. Conflicts return `{ success: false }`; every
 * other failure throws `LeaseError` (`HADB_LEASE_AMBIGUOUS` when a write may have landed).
 *
 * Every write must yield an etag that no earlier write of the key had (a deleted and re-created
 * record included), so a stale etag can never match again. Keys are validated
 * (`HADB_LEASE_INVALID_KEY`); an already-aborted signal rejects with `HADB_LEASE_ABORTED` before
 * anything is sent; after `close()` every operation rejects with `HADB_LEASE_CLOSED`.
 * `@hadb/testkit/lease`'s `leaseStoreSuite` checks all of this against a real server.
 */
export interface LeaseStore extends AsyncDisposable {
  /** Short backend name, e.g. `"nats"`. */
  readonly name: string;
  readonly capabilities: LeaseCapabilities;
  /**
   * Maps a lease scope (the database name) to this store's key. Stores keep the Rust layouts:
   * S3 `{prefix}{scope}/_lease.json`; NATS, etcd and mem use the scope (etcd under its prefix).
   */
  keyFor(scope: string): string;
  /** The current record and its etag, or `null` if there is none (or it was deleted). */
  read(key: string, options?: OpOptions): Promise<LeaseRecord | null>;
  /** Creates the record only if none exists. */
  writeIfNotExists(key: string, data: Uint8Array, options?: OpOptions): Promise<CasResult>;
  /**
   * Replaces the record only if its etag is still `etag`. A missing record is a conflict. Stores
   * with `etagKind: "revision"` reject a non-decimal etag with `HADB_LEASE_INVALID_ETAG`.
   */
  writeIfMatch(key: string, data: Uint8Array, etag: string, options?: OpOptions): Promise<CasResult>;
  /**
   * Removes the record unconditionally; missing is not an error (idempotent). It can remove a
   * successor's record: a holder giving its lease up should use `releaseLease` instead.
   */
  delete(key: string, options?: OpOptions): Promise<void>;
  /** Closes connections and stops any background work the store started. Idempotent. */
  close(): Promise<void>;
}
