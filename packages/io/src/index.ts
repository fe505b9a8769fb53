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
export { systemClock, type Clock, type RandomSource } from './clock.js';
export { IoError, abortedError, isHadbError, isIoError, type IoErrorCode } from './errors.js';
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
