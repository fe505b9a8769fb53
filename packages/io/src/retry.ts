import { type BackoffOptions, DEFAULT_BACKOFF, backoffDelay } from './backoff.js';
import type { CircuitBreaker, CircuitOutcome } from './circuit-breaker.js';
import { type ErrorClass, classifyError, isRetryableClass } from './classify.js';
import { type Clock, type RandomSource, systemClock } from './clock.js';
import { abortedError } from './errors.js';
import { sleep } from './sleep.js';

/** Defaults of hadb-io's `RetryConfig`: up to 6 attempts, full jitter from 100 ms, capped at 30 s. */
export const DEFAULT_RETRY = { maxRetries: 5, ...DEFAULT_BACKOFF } as const;

/** What {@link RetryOptions.shouldRetry} and {@link RetryOptions.onRetry} are told about a failure. */
export interface RetryFailure {
  /** 0-based number of the attempt that failed. */
  readonly attempt: number;
  readonly error: unknown;
  readonly errorClass: ErrorClass;
}

/** A retry about to happen. */
export interface RetryEvent extends RetryFailure {
  /** How long the backoff sleep before the next attempt lasts. */
  readonly delayMs: number;
}

/** Options of {@link retry}. */
export interface RetryOptions extends BackoffOptions {
  /** Retries after the first attempt (so at most `maxRetries + 1` attempts). Default 5. */
  readonly maxRetries?: number | undefined;
  /**
   * Whether a failed attempt may be retried. Default: its class is `transient` or `throttled`.
   * Non-idempotent operations should pass a stricter predicate.
   */
  readonly shouldRetry?: ((failure: RetryFailure) => boolean) | undefined;
  /**
   * Shared breaker: consulted before every attempt (an open breaker fails the call at once with
   * `HADB_IO_CIRCUIT_OPEN`) and told each attempt's outcome.
   */
  readonly breaker?: CircuitBreaker | undefined;
  /**
   * Which failures count against the breaker. Default: `transient`, `throttled` and `unknown`
   * (a 4xx answer shows the server is up and counts as a success for the breaker).
   */
  readonly breakerOutcome?: ((failure: RetryFailure) => CircuitOutcome) | undefined;
  /** Ends the call: the running attempt receives the signal, a backoff sleep rejects at once. */
  readonly signal?: AbortSignal | undefined;
  readonly clock?: Clock | undefined;
  readonly random?: RandomSource | undefined;
  /** Observes each retry (logging, metrics). Must not throw. */
  readonly onRetry?: ((event: RetryEvent) => void) | undefined;
}

/** What an attempt receives. */
export interface AttemptContext {
  /** 0-based attempt number. */
  readonly attempt: number;
  readonly signal: AbortSignal | undefined;
}

function defaultBreakerOutcome({ errorClass }: RetryFailure): CircuitOutcome {
  if (errorClass === 'aborted') return 'neutral';
  return errorClass === 'transient' || errorClass === 'throttled' || errorClass === 'unknown' ? 'failure' : 'success';
}

/**
 * Runs `operation` until it succeeds, a failure is not retryable, or `maxRetries` retries are used
 * up; then rethrows the last error unchanged. Between attempts it sleeps a full-jitter backoff
 * (see `backoffDelay`). Rejects with `IoError` `HADB_IO_ABORTED` as soon as `signal` fires, and
 * with `HADB_IO_CIRCUIT_OPEN` when the breaker refuses an attempt (the last failure as `cause`).
 */
export async function retry<T>(
  operation: (context: AttemptContext) => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const maxRetries = options.maxRetries ?? DEFAULT_RETRY.maxRetries;
  if (!Number.isInteger(maxRetries) || maxRetries < 0) throw new RangeError('maxRetries must be an integer >= 0');
  const { signal, breaker } = options;
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const shouldRetry = options.shouldRetry ?? ((f: RetryFailure) => isRetryableClass(f.errorClass));
  const breakerOutcome = options.breakerOutcome ?? defaultBreakerOutcome;
  let lastError: unknown;

  for (let attempt = 0; ; attempt++) {
    if (signal?.aborted) throw abortedError(signal);
    const permit = breaker?.tryAcquire();
    if (breaker !== undefined && permit === null) throw breaker.openError(lastError);
    let value: T;
    try {
      value = await operation({ attempt, signal });
    } catch (error) {
      lastError = error;
      const failure: RetryFailure = { attempt, error, errorClass: classifyError(error) };
      if (signal?.aborted) {
        if (permit) breaker?.settle(permit, 'neutral');
        throw abortedError(signal);
      }
      if (permit) breaker?.settle(permit, breakerOutcome(failure));
      if (failure.errorClass === 'aborted' || attempt >= maxRetries || !shouldRetry(failure)) throw error;
      const delayMs = backoffDelay(attempt, options, random);
      options.onRetry?.({ ...failure, delayMs });
      await sleep(delayMs, { signal, clock });
      continue;
    }
    if (permit) breaker?.settle(permit, 'success');
    return value;
  }
}
