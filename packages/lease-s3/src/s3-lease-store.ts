import type { OpOptions } from '@hadb/io';
import { LeaseError, StorageLeaseStore, assertLeasePrefix, type LeaseTimingRecommendation } from '@hadb/lease';
import { isStorageError } from '@hadb/storage';
import {
  S3StorageBackend,
  type ConditionalWriteProbe,
  type ProbeOptions,
  type S3StorageOptions,
} from '@hadb/storage-s3';

/** Options of {@link S3LeaseStore.open}. */
export interface S3LeaseStoreOptions extends Omit<S3StorageOptions, 'prefix'>, OpOptions {
  /**
   * Prefix of the lease keys in the bucket: `""` (default) or a safe path ending in `/`. The lease
   * of database `db` is the object `{prefix}db/_lease.json` (Rust `S3LeaseStore.key_for`).
   */
  readonly prefix?: string | undefined;
  /**
   * Skip the startup probe of conditional writes. Only for a server you have verified yourself
   * (AWS S3, or a Ceph RGW version you tested) and when the probe's few requests at startup
   * matter. With the probe skipped, a server that ignores `If-None-Match`/`If-Match` goes
   * undetected and two nodes can both believe they lead. Default `false`.
   */
  readonly skipConditionalWriteProbe?: boolean | undefined;
  /** Options of the probe (concurrent racers, multipart check). */
  readonly probe?: Omit<ProbeOptions, 'signal'> | undefined;
  /** {@link LeaseStore.name}. Default `"s3"`. */
  readonly name?: string | undefined;
  /**
   * Deadline of each S3 request in ms (each attempt, see `@hadb/storage-s3`). A read or delete
   * that runs out of it is `HADB_LEASE_TIMEOUT`, a compare-and-swap `HADB_LEASE_AMBIGUOUS`.
   * Default 5000 (a lease request is a few hundred bytes; the coordinator cuts renewals off
   * sooner, at its own deadline).
   */
  readonly requestTimeoutMs?: number | undefined;
}

/** Default per-request deadline of {@link S3LeaseStore} ({@link S3LeaseStoreOptions.requestTimeoutMs}). */
export const DEFAULT_S3_LEASE_REQUEST_TIMEOUT_MS = 5000;

/**
 * The lease timing {@link S3LeaseStore} recommends (`capabilities.recommendedTiming`), used by core
 * for every timing option not set explicitly. S3 bills each request (PUT $0.005, GET $0.0004 per
 * 1,000 at S3 Standard prices): a month of one request every `s` seconds costs $12.96 / s for PUTs
 * and $1.04 / s for GETs. These values keep an idle leader + follower at about $1.95 per
 * database-month with core's safety rules intact:
 *
 * - TTL 20 s, renewed every 8 s: a PUT ($1.62/month) and the clock-rate check's read-back GET
 *   ($0.13) per renewal. The holder's deadline is `TTL − margin = 16 s` after a renewal, two renew
 *   intervals, so one lost renewal never fences a healthy leader.
 * - Skew margin 4 s: the tolerated clock-rate error `margin / TTL` stays 20 %, as at core's defaults.
 * - Followers read the record every 6 s: $0.17/month per follower.
 * - `@hadb/ha` nodes read their instance claim every `4 × TTL` = 80 s: $0.013/month per node.
 *
 * Worst-case failover after the leader dies: `TTL + margin + poll` = 30 s (a follower sees the
 * last renewal up to one poll late, then waits `TTL + margin` on it), plus the claim's own
 * requests. Faster failover costs more: core's 5 s defaults (`{ ttlMs: 5000, renewIntervalMs:
 * 2000, pollIntervalMs: 1000, skewMarginMs: 1000 }`, 7 s) cost about $8.14 per database-month.
 */
export const S3_LEASE_TIMING: LeaseTimingRecommendation = Object.freeze({
  ttlMs: 20_000,
  renewIntervalMs: 8000,
  pollIntervalMs: 6000,
  skewMarginMs: 4000,
});

/**
 * A lease store on S3 conditional writes (Rust `hadb-lease-s3`): `StorageLeaseStore` over
 * `@hadb/storage-s3`.
 *
 * - Key: `{prefix}{db}/_lease.json`, the object key in the bucket.
 * - Etag: the object's ETag, opaque (`capabilities.etagKind === "opaque"`); every write re-stamps
 *   the record's nonce, so two writes never store identical bytes and an old ETag never comes
 *   back.
 * - `writeIfNotExists` is a PUT with `If-None-Match: *`, `writeIfMatch` a PUT with `If-Match`;
 *   412 is `{ success: false }`. There is no non-atomic fallback.
 * - `read` returns the object's `Last-Modified` (the server's clock, whole seconds) as
 *   `serverTimeMs` (`capabilities.serverTimeResolutionMs: 1000`), for the coordinator's clock-rate
 *   check.
 * - `delete` is a plain DELETE; give a lease up with `releaseLease` (Ceph RGW ignores `If-Match` on
 *   DELETE, so a conditional delete is not portable).
 * - `capabilities.recommendedTiming` is {@link S3_LEASE_TIMING} (TTL 20 s, renew 8 s, poll 6 s,
 *   margin 4 s): the timing a coordinator uses unless told otherwise.
 */
export class S3LeaseStore extends StorageLeaseStore {
  /** The probe run by {@link S3LeaseStore.open}, or `undefined` when it was skipped. */
  readonly probe: ConditionalWriteProbe | undefined;

  private constructor(
    storage: S3StorageBackend,
    prefix: string,
    probe: ConditionalWriteProbe | undefined,
    name: string,
  ) {
    super(storage, {
      prefix,
      ownsBackend: true,
      name,
      serverTimeResolutionMs: 1000,
      recommendedTiming: S3_LEASE_TIMING,
    });
    this.probe = probe;
  }

  /**
   * Opens the store: checks that the bucket exists and the credentials work, then, unless `skipConditionalWriteProbe` is set, first checks with real requests
   * under `{prefix}.hadb-probe/` that the server enforces conditional PUTs atomically, and refuses
   * (`HADB_LEASE_UNSUPPORTED`, with the failed checks and advice) a server that does not — for
   * Ceph RGW <= 16 set `unquotedIfMatch: true`. Other failures: `HADB_LEASE_UNAVAILABLE`,
   * `HADB_LEASE_AUTH`, `HADB_LEASE_INVALID_KEY` (prefix). Nothing stays open when it throws.
   */
  static async open(options: S3LeaseStoreOptions): Promise<S3LeaseStore> {
    const prefix = assertLeasePrefix(options.prefix ?? '');
    const { skipConditionalWriteProbe, probe: probeOptions, signal, name, ...rest } = options;
    const s3 = { ...rest, requestTimeoutMs: rest.requestTimeoutMs ?? DEFAULT_S3_LEASE_REQUEST_TIMEOUT_MS };
    let storage: S3StorageBackend;
    try {
      // Checks that the bucket exists and the credentials work (HeadBucket).
      storage = await S3StorageBackend.open({ ...s3, prefix: '', signal });
    } catch (error) {
      throw toLeaseError(error, 'open');
    }
    try {
      let probe: ConditionalWriteProbe | undefined;
      if (skipConditionalWriteProbe !== true) {
        // The probe writes its scratch objects under the lease prefix, with the same client.
        const scratch = new S3StorageBackend({ ...s3, client: storage.client, prefix });
        probe = await scratch.assertAtomicConditionalWrites({ ...probeOptions, signal });
        await scratch.close();
      }
      return new S3LeaseStore(storage, prefix, probe, name ?? 's3');
    } catch (error) {
      await storage.close();
      throw toLeaseError(error, 'open');
    }
  }
}

function toLeaseError(error: unknown, op: string): unknown {
  if (error instanceof LeaseError || !isStorageError(error)) return error;
  const code =
    error.code === 'HADB_STORAGE_UNSUPPORTED'
      ? 'HADB_LEASE_UNSUPPORTED'
      : error.code === 'HADB_STORAGE_AUTH'
        ? 'HADB_LEASE_AUTH'
        : error.code === 'HADB_STORAGE_ABORTED'
          ? 'HADB_LEASE_ABORTED'
          : error.code === 'HADB_STORAGE_TIMEOUT'
            ? 'HADB_LEASE_TIMEOUT'
            : error.code === 'HADB_STORAGE_INVALID_KEY'
              ? 'HADB_LEASE_INVALID_KEY'
              : error.code === 'HADB_STORAGE_INVALID_CONFIG'
                ? 'HADB_LEASE_INVALID_CONFIG'
                : 'HADB_LEASE_UNAVAILABLE';
  return new LeaseError(code, `S3 lease store ${op} failed: ${error.message}`, { cause: error });
}
