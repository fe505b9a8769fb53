// The ground floor every hadb package builds on: errors, abort, options, clock, logger, deadlines.
export {
  HADB_ERROR_BRAND,
  HadbError,
  errorGuard,
  isHadbError,
  type ErrorFactory,
  type HadbErrorOptions,
} from './hadb-error.js';
export { abortReason, abortable, childController, raceAbort, throwIfAborted, type OpOptions } from './abort.js';
export { configChecker, type ConfigChecker, type NumberRule } from './config.js';
export { sleepUnlessAborted, systemClock, wallSeconds, type Clock, type RandomSource, type Timer } from './clock.js';
export { withTimeout, type DeadlineErrors, type WithTimeoutOptions } from './deadline.js';
export { consoleLogger, describeError, silentLogger, type LogLevel, type Logger } from './logger.js';
// Resilience: retry, circuit breaker, limiter, classification.
export { DEFAULT_BACKOFF, backoffCap, backoffDelay, type BackoffOptions } from './backoff.js';
export {
  CircuitBreaker,
  type CircuitBreakerOptions,
  type CircuitOutcome,
  type CircuitPermit,
  type CircuitState,
} from './circuit-breaker.js';
export {
  classifyError,
  classifyHttpStatus,
  httpStatusOf,
  isRequestNotSent,
  isRetryableClass,
  isRetryableError,
  type ErrorClass,
} from './classify.js';
export { IoError, abortedError, isIoError, type IoErrorCode } from './errors.js';
export { ConcurrencyLimiter, type AcquireOptions, type Release } from './limiter.js';
export {
  DEFAULT_RETRY,
  retry,
  type AttemptContext,
  type RetryEvent,
  type RetryFailure,
  type RetryOptions,
} from './retry.js';
export { sleep, type SleepOptions } from './sleep.js';
// Who holds a lock, and whether that process is certainly gone.
export {
  currentProcessOwner,
  isCertainlyDead,
  isProcessOwner,
  parseProcessOwner,
  processStat,
  type ProcessOwner,
} from './process-owner.js';
export {
  OwnedLockFile,
  type LockAttempt,
  type LockFields,
  type LockHolder,
  type OwnedLockFileOptions,
} from './owned-lock-file.js';
