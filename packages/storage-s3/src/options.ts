import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import { type CircuitBreakerOptions, type Clock, type RandomSource, type RetryEvent, configChecker } from '@hadb/io';
import { assertSafePrefix, storageInvalidConfig } from '@hadb/storage';

/** Retry policy of the backend (defaults of hadb-io's `RetryConfig`). */
export interface S3RetryOptions {
  /** Retries after the first attempt. Default 5. */
  readonly maxRetries?: number | undefined;
  /** Full-jitter backoff base. Default 100 ms. */
  readonly baseDelayMs?: number | undefined;
  /** Backoff cap. Default 30000 ms. */
  readonly maxDelayMs?: number | undefined;
  /**
   * Circuit breaker shared by every request of this backend: after `threshold` (10) consecutive
   * failures requests fail fast with `HADB_STORAGE_UNAVAILABLE` for `cooldownMs` (60 s), then one
   * trial request decides. `false` disables it.
   */
  readonly circuitBreaker?: CircuitBreakerOptions | false | undefined;
  /** Observes every retry (logging, metrics). */
  readonly onRetry?: ((event: RetryEvent & { readonly op: string }) => void) | undefined;
  /** Injectable time source (tests). */
  readonly clock?: Clock | undefined;
  /** Injectable random source for the jitter (tests). */
  readonly random?: RandomSource | undefined;
}

/** Options of {@link S3StorageBackend}. */
export interface S3StorageOptions {
  /** Bucket holding the objects. It must exist. */
  readonly bucket: string;
  /**
   * Namespace inside the bucket. Normalised to end with `/` (`""` = the whole bucket); keys passed
   * to the backend are relative to it and listed keys come back without it.
   */
  readonly prefix?: string | undefined;
  /**
   * A client you configured yourself; `close()` leaves it open. Configure it with `maxAttempts: 1`
   * (this backend retries through `@hadb/io` and must see every failure of a conditional write)
   * and, for Ceph RGW <= 16, `requestChecksumCalculation: 'WHEN_REQUIRED'`.
   * When omitted, a client is built from the connection options below and destroyed by `close()`.
   */
  readonly client?: S3Client | undefined;
  /** Endpoint URL for S3-compatible servers, e.g. `http://127.0.0.1:7480`. Omit for AWS. */
  readonly endpoint?: string | undefined;
  /** Region. Default `us-east-1`. */
  readonly region?: string | undefined;
  /** Static credentials or a provider; omit to use the SDK's default chain (env, profile, IMDS...). */
  readonly credentials?: S3ClientConfig['credentials'];
  /** Path-style addressing (`endpoint/bucket/key`). Default: `true` when `endpoint` is set. */
  readonly forcePathStyle?: boolean | undefined;
  /**
   * Deadline of every single S3 request (each attempt, up to the response headers), in ms. When
   * it passes the SDK call is aborted and the attempt fails with `HADB_STORAGE_TIMEOUT`
   * (retryable: idempotent requests are retried under the retry policy, a conditional write is
   * resolved by re-reading). Also set as the built client's `requestTimeout`. Applies to injected
   * clients too. Default 30000.
   */
  readonly requestTimeoutMs?: number | undefined;
  /** TCP connect timeout of the built client. Default 10000 ms. */
  readonly connectionTimeoutMs?: number | undefined;
  /** Idle-socket timeout of the built client (no byte in either direction). Default 60000 ms. */
  readonly socketTimeoutMs?: number | undefined;
  /**
   * Send `If-Match` etags without their quotes. Ceph RGW <= 16 (Pacific) compares the header with
   * the bare stored etag and answers 412 to every correctly quoted `If-Match` on PUT; AWS requires
   * the quotes (RFC 9110). `probeConditionalWrites()` tells which one a server needs. Default false.
   */
  readonly unquotedIfMatch?: boolean | undefined;
  /**
   * The server enforces `If-None-Match: *` on CompleteMultipartUpload (AWS S3 does; Ceph RGW 16
   * ignores it). Enables `putStream({ ifAbsent: true })` for streams larger than one part and sets
   * `capabilities.conditionalStreamingWrites`. Default false.
   */
  readonly conditionalMultipartWrites?: boolean | undefined;
  /** Retry policy, or `false` for a single attempt per request. */
  readonly retry?: S3RetryOptions | false | undefined;
  /** Multipart part size for `putStream` (>= 5 MiB). Default 8 MiB. Memory use is about (queueSize + 1) × partSize. */
  readonly partSize?: number | undefined;
  /** Parts uploaded concurrently by `putStream`. Default 4. */
  readonly queueSize?: number | undefined;
  /** Concurrent writes of `putMany`. Default 8. */
  readonly putManyConcurrency?: number | undefined;
}

export const MIB = 1024 * 1024;
/** S3's smallest part size (except the last part). */
export const MIN_PART_SIZE = 5 * MIB;
/** S3's largest part size. */
export const MAX_PART_SIZE = 5 * 1024 * MIB;
/** S3's most parts in one upload. */
export const MAX_PARTS = 10_000;

export interface ResolvedOptions {
  readonly bucket: string;
  readonly prefix: string;
  readonly unquotedIfMatch: boolean;
  readonly conditionalMultipartWrites: boolean;
  readonly partSize: number;
  readonly queueSize: number;
  readonly putManyConcurrency: number;
  readonly requestTimeoutMs: number;
  readonly connectionTimeoutMs: number;
  readonly socketTimeoutMs: number;
}

/** Default per-request deadline ({@link S3StorageOptions.requestTimeoutMs}). */
export const DEFAULT_S3_REQUEST_TIMEOUT_MS = 30_000;

/**
 * Validates the options and normalises the prefix (trailing `/`). Bad options throw
 * `HADB_STORAGE_INVALID_CONFIG` naming the option; nothing is clamped.
 */
export function resolveOptions(options: S3StorageOptions): ResolvedOptions {
  const check = configChecker((message, cause) =>
    storageInvalidConfig(`invalid S3 storage options: ${message}`, cause),
  );
  const bucket = check.string('bucket', options.bucket);
  let prefix = options.prefix ?? '';
  if (prefix !== '' && !prefix.endsWith('/')) prefix += '/';
  assertSafePrefix(prefix);
  const retry = options.retry;
  if (retry !== undefined && retry !== false) {
    check.int('retry.maxRetries', retry.maxRetries, { min: 0, default: 0 });
    check.number('retry.baseDelayMs', retry.baseDelayMs, { min: 0, default: 0 });
    check.number('retry.maxDelayMs', retry.maxDelayMs, { min: 0, default: 0 });
  }
  return {
    bucket,
    prefix,
    unquotedIfMatch: check.bool('unquotedIfMatch', options.unquotedIfMatch, false),
    conditionalMultipartWrites: check.bool('conditionalMultipartWrites', options.conditionalMultipartWrites, false),
    partSize: check.int('partSize', options.partSize, { min: MIN_PART_SIZE, max: MAX_PART_SIZE, default: 8 * MIB }),
    queueSize: check.int('queueSize', options.queueSize, { min: 1, default: 4 }),
    putManyConcurrency: check.int('putManyConcurrency', options.putManyConcurrency, { min: 1, default: 8 }),
    requestTimeoutMs: check.int('requestTimeoutMs', options.requestTimeoutMs, {
      min: 1,
      default: DEFAULT_S3_REQUEST_TIMEOUT_MS,
    }),
    connectionTimeoutMs: check.int('connectionTimeoutMs', options.connectionTimeoutMs, { min: 1, default: 10_000 }),
    socketTimeoutMs: check.int('socketTimeoutMs', options.socketTimeoutMs, { min: 1, default: 60_000 }),
  };
}
