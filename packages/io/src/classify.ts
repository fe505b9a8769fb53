import { isHadbError } from './hadb-error.js';

/**
 * What kind of failure an error is, decided from typed fields only (hadb error codes, HTTP status,
 * Node system error codes, AWS SDK error shapes) and never from message text.
 *
 * - `transient`: the server or network failed in a way that may pass (5xx, connection reset, timeout).
 * - `throttled`: the server asked the client to slow down (429, 503 SlowDown, SDK throttling errors).
 * - `client`: the request is wrong and retrying will not help (400, 411, 416, 501, misuse).
 * - `auth`: credentials were refused (401, 403, signature errors).
 * - `not-found`: the target does not exist (404, 410, NoSuchKey).
 * - `conflict`: a precondition or concurrent change rejected the request (409, 412).
 * - `aborted`: the caller's `AbortSignal` (or an `AbortError`) ended the operation.
 * - `unknown`: none of the above could be established (including an ambiguous write outcome).
 */
export type ErrorClass =
  | 'transient'
  | 'throttled'
  | 'client'
  | 'auth'
  | 'not-found'
  | 'conflict'
  | 'aborted'
  | 'unknown';

/** Node (libuv, undici, streams) error codes of transport failures that may pass on retry. */
const TRANSIENT_SYSTEM_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENETRESET',
  'EADDRNOTAVAIL',
  'ESOCKETTIMEDOUT',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
  'ERR_STREAM_PREMATURE_CLOSE',
  'ERR_HTTP2_STREAM_ERROR',
  'ERR_HTTP2_SESSION_ERROR',
  'ERR_HTTP2_GOAWAY_SESSION',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
]);

/**
 * Codes of failures that happen before any byte of the request can have reached the server
 * (connection refused, name resolution, no route). Only these prove a request was not sent.
 */
const NOT_SENT_SYSTEM_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
]);

/** AWS error names (service error codes) that mean "slow down". */
const THROTTLING_NAMES = new Set([
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'ProvisionedThroughputExceededException',
  'TransactionInProgressException',
  'RequestLimitExceeded',
  'BandwidthLimitExceeded',
  'LimitExceededException',
  'SlowDown',
  'PriorRequestNotComplete',
  'EC2ThrottledException',
]);

/** AWS error names that mean a timeout or a transient server-side failure. */
const TRANSIENT_NAMES = new Set([
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'InternalError',
  'ServiceUnavailable',
  'ServiceUnavailableException',
]);

const AUTH_NAMES = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'ExpiredTokenException',
  'InvalidToken',
  'TokenRefreshRequired',
  'UnrecognizedClientException',
  'CredentialsProviderError',
]);

const NOT_FOUND_NAMES = new Set(['NoSuchKey', 'NotFound', 'NoSuchUpload', 'NoSuchBucket', 'NoSuchVersion']);

const CONFLICT_NAMES = new Set(['PreconditionFailed', 'ConditionalRequestConflict', 'OperationAborted']);

/** Suffixes of hadb error codes (`HADB_<PACKAGE>_<KIND>`) and what they mean. First match wins. */
const HADB_CODE_SUFFIXES: ReadonlyArray<readonly [string, ErrorClass]> = [
  ['_ABORTED', 'aborted'],
  ['_UNAVAILABLE', 'transient'],
  ['_CIRCUIT_OPEN', 'transient'],
  ['_TIMEOUT', 'transient'],
  ['_THROTTLED', 'throttled'],
  ['_AUTH', 'auth'],
  ['_NOT_FOUND', 'not-found'],
  ['_CONFLICT', 'conflict'],
  ['_AMBIGUOUS', 'unknown'],
  ['_REJECTED', 'client'],
  ['_UNSUPPORTED', 'client'],
  ['_CLOSED', 'client'],
];

type Fields = Record<string | symbol, unknown>;

function asFields(value: unknown): Fields | undefined {
  return typeof value === 'object' && value !== null ? (value as Fields) : undefined;
}

/**
 * The HTTP status carried by an error, if any: AWS SDK `$metadata.httpStatusCode`, a `status` or
 * `statusCode` field, or the SDK's raw `$response.statusCode`.
 */
export function httpStatusOf(error: unknown): number | undefined {
  const e = asFields(error);
  if (e === undefined) return undefined;
  const metadata = asFields(e.$metadata);
  const candidates = [metadata?.httpStatusCode, e.status, e.statusCode, asFields(e.$response)?.statusCode];
  for (const c of candidates) {
    if (typeof c === 'number' && Number.isInteger(c) && c >= 100 && c <= 599) return c;
  }
  return undefined;
}

function classifyHadbCode(code: string): ErrorClass | undefined {
  if (code.includes('_INVALID')) return 'client';
  for (const [suffix, cls] of HADB_CODE_SUFFIXES) {
    if (code.endsWith(suffix)) return cls;
  }
  return undefined;
}

/** Classifies an HTTP status. */
export function classifyHttpStatus(status: number): ErrorClass {
  if (status === 401 || status === 403) return 'auth';
  if (status === 404 || status === 410) return 'not-found';
  if (status === 409 || status === 412) return 'conflict';
  if (status === 408) return 'transient';
  if (status === 429) return 'throttled';
  if (status === 499) return 'aborted';
  if (status === 501 || status === 505) return 'client';
  if (status >= 500) return 'transient';
  if (status >= 400) return 'client';
  return 'unknown';
}

function classifyOne(e: Fields): ErrorClass | undefined {
  const name = typeof e.name === 'string' ? e.name : undefined;
  const code = typeof e.code === 'string' ? e.code : undefined;

  if (name === 'AbortError' || code === 'ABORT_ERR') return 'aborted';

  if (isHadbError(e)) {
    const cls = classifyHadbCode(e.code);
    if (cls !== undefined) return cls;
  }

  if (code !== undefined && TRANSIENT_SYSTEM_CODES.has(code)) return 'transient';

  // AWS SDK v3 service exceptions: `name` is the service's error code.
  const awsCode = name ?? (typeof e.Code === 'string' ? e.Code : undefined);
  if (awsCode !== undefined && THROTTLING_NAMES.has(awsCode)) return 'throttled';
  const retryable = asFields(e.$retryable);
  if (retryable?.throttling === true) return 'throttled';

  const status = httpStatusOf(e);
  if (status !== undefined) {
    // A 503 is "slow down" on S3; other services use it for overload as well.
    if (status === 503) return 'throttled';
    return classifyHttpStatus(status);
  }

  if (awsCode !== undefined) {
    if (TRANSIENT_NAMES.has(awsCode)) return 'transient';
    if (AUTH_NAMES.has(awsCode)) return 'auth';
    if (NOT_FOUND_NAMES.has(awsCode)) return 'not-found';
    if (CONFLICT_NAMES.has(awsCode)) return 'conflict';
  }
  if (retryable !== undefined) return 'transient';
  if (e.$fault === 'server') return 'transient';
  return undefined;
}

/**
 * Classifies an error from its typed fields, following `cause` chains (and `AggregateError.errors`)
 * when the outer error says nothing. Never inspects message text.
 */
export function classifyError(error: unknown): ErrorClass {
  const seen = new Set<unknown>();
  let current: unknown = error;
  for (let depth = 0; depth < 8; depth++) {
    const e = asFields(current);
    if (e === undefined || seen.has(e)) return 'unknown';
    seen.add(e);
    const cls = classifyOne(e);
    if (cls !== undefined) return cls;
    if (Array.isArray(e.errors) && e.errors.length > 0) {
      const inner = classifyError(e.errors[0]);
      if (inner !== 'unknown') return inner;
    }
    current = e.cause;
  }
  return 'unknown';
}

/** Classes that the default retry policy retries: `transient` and `throttled`. */
export function isRetryableClass(cls: ErrorClass): boolean {
  return cls === 'transient' || cls === 'throttled';
}

/** Shorthand for `isRetryableClass(classifyError(error))`. */
export function isRetryableError(error: unknown): boolean {
  return isRetryableClass(classifyError(error));
}

/**
 * True only when the error proves the request never reached the server (connection refused, DNS
 * failure, no route, connect timeout), so even a non-idempotent request may be sent again. A reset,
 * a read timeout or any HTTP response is not proof: the server may have acted on the request.
 */
export function isRequestNotSent(error: unknown): boolean {
  const seen = new Set<unknown>();
  let current: unknown = error;
  for (let depth = 0; depth < 8; depth++) {
    const e = asFields(current);
    if (e === undefined || seen.has(e)) return false;
    seen.add(e);
    if (httpStatusOf(e) !== undefined) return false;
    if (typeof e.code === 'string' && NOT_SENT_SYSTEM_CODES.has(e.code)) return true;
    if (Array.isArray(e.errors) && e.errors.length > 0 && e.errors.every((inner) => isRequestNotSent(inner))) {
      return true;
    }
    current = e.cause;
  }
  return false;
}
