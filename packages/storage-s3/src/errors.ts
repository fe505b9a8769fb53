import { abortReason, classifyError, httpStatusOf, isIoError } from '@hadb/io';
import { StorageError, type StorageErrorCode, isStorageError } from '@hadb/storage';

/** Where a failure happened, for the error message. Keys are already validated (no control bytes). */
export interface FailureContext {
  readonly op: string;
  readonly key?: string | undefined;
  readonly signal?: AbortSignal | undefined;
}

type Fields = Record<string, unknown>;

/** The S3 error code of an SDK service exception (its `name`), if any. */
export function s3ErrorName(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as Fields;
  if (typeof e.Code === 'string') return e.Code;
  return typeof e.name === 'string' ? e.name : undefined;
}

/** A missing key or upload: HTTP 404 with `NoSuchKey`/`NotFound`/`NoSuchUpload` (not `NoSuchBucket`). */
export function isMissing(error: unknown): boolean {
  const name = s3ErrorName(error);
  if (name === 'NoSuchBucket') return false;
  return httpStatusOf(error) === 404 || name === 'NoSuchKey' || name === 'NotFound';
}

/** A failed write precondition: 412, or 409 `ConditionalRequestConflict` (a concurrent change). */
export function isPreconditionFailure(error: unknown): boolean {
  const status = httpStatusOf(error);
  const name = s3ErrorName(error);
  return status === 412 || name === 'PreconditionFailed' || name === 'ConditionalRequestConflict' || status === 409;
}

/**
 * S3 errors of class `client` that are still worth retrying: the body was damaged or cut short on
 * the way (the server checked it against Content-MD5 / Content-Length).
 */
const RETRYABLE_CLIENT_NAMES = new Set(['BadDigest', 'IncompleteBody', 'XAmzContentSHA256Mismatch']);

/** Retry predicate for idempotent S3 requests. */
export function isRetryableS3Error(error: unknown): boolean {
  const cls = classifyError(error);
  if (cls === 'transient' || cls === 'throttled') return true;
  const name = s3ErrorName(error);
  return name !== undefined && RETRYABLE_CLIENT_NAMES.has(name);
}

function describe(error: unknown): string {
  if (typeof error !== 'object' || error === null) return typeof error;
  const e = error as Fields;
  const parts: string[] = [];
  const name = s3ErrorName(error);
  if (name !== undefined) parts.push(name);
  if (typeof e.code === 'string' && e.code !== name) parts.push(e.code);
  const status = httpStatusOf(error);
  if (status !== undefined) parts.push(`HTTP ${status}`);
  const requestId = (e.$metadata as Fields | undefined)?.requestId;
  if (typeof requestId === 'string') parts.push(`request ${requestId}`);
  return parts.join(', ') || 'unknown error';
}

function codeFor(error: unknown): StorageErrorCode {
  if (isIoError(error, 'HADB_IO_CIRCUIT_OPEN')) return 'HADB_STORAGE_UNAVAILABLE';
  const name = s3ErrorName(error);
  const status = httpStatusOf(error);
  if (status === 501 || name === 'NotImplemented') return 'HADB_STORAGE_UNSUPPORTED';
  // The request handler's connection, request and socket timeouts (`@smithy/node-http-handler`):
  // `TimeoutError` without a code, or with ETIMEDOUT. The handler also renames ECONNRESET and
  // EPIPE failures `TimeoutError`; those are connection failures (`UNAVAILABLE`).
  if (name === 'TimeoutError') {
    const code = (error as { code?: unknown }).code;
    if (code === undefined || code === 'ETIMEDOUT') return 'HADB_STORAGE_TIMEOUT';
  }
  switch (classifyError(error)) {
    case 'aborted':
      return 'HADB_STORAGE_ABORTED';
    case 'auth':
      return 'HADB_STORAGE_AUTH';
    case 'transient':
    case 'throttled':
      return 'HADB_STORAGE_UNAVAILABLE';
    case 'client':
    case 'not-found':
    case 'conflict':
      return 'HADB_STORAGE_REJECTED';
    case 'unknown':
      return 'HADB_STORAGE_PROTOCOL';
  }
}

/**
 * Maps any failure of an S3 call to a {@link StorageError}: abort → `ABORTED`, 401/403 and signature
 * errors → `AUTH`, the SDK's timeouts → `TIMEOUT`, 5xx/429/network/open breaker → `UNAVAILABLE`, 501 → `UNSUPPORTED`,
 * other 4xx → `REJECTED`, anything unrecognised → `PROTOCOL`. The message names the operation, the
 * key, the S3 error code, HTTP status and request id; never the server's message text or headers,
 * and never credentials. The original error is the `cause`.
 */
export function toStorageError(error: unknown, context: FailureContext): StorageError {
  if (isStorageError(error)) return error;
  const where = context.key === undefined ? context.op : `${context.op} "${context.key}"`;
  if (context.signal?.aborted) {
    return new StorageError('HADB_STORAGE_ABORTED', `S3 ${where}: aborted`, { cause: context.signal.reason });
  }
  const status = httpStatusOf(error);
  return new StorageError(codeFor(error), `S3 ${where} failed: ${describe(error)}`, {
    cause: error,
    ...(status === undefined ? {} : { status }),
  });
}

/** io's `abortReason` for a fired signal: `HADB_STORAGE_ABORTED` naming the S3 operation, or the hadb error it was aborted with. */
export function abortedError(signal: AbortSignal, what: string): Error {
  return abortReason(
    signal,
    (_message, cause) => new StorageError('HADB_STORAGE_ABORTED', `S3 ${what}: aborted`, { cause }),
  );
}
