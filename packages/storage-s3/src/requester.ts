import {
  CircuitBreaker,
  type CircuitOutcome,
  type CircuitPermit,
  type Clock,
  DEFAULT_RETRY,
  type RandomSource,
  backoffDelay,
  classifyError,
  retry,
  sleep,
  systemClock,
} from '@hadb/io';
import { StorageError } from '@hadb/storage';
import { isRetryableS3Error } from './errors.js';
import type { S3RetryOptions } from './options.js';

/**
 * Sends S3 requests with the backend's retry policy and circuit breaker. Idempotent requests go
 * through {@link idempotent}; conditional writes drive their own loop with {@link permit} and
 * {@link backoff}, because whether they may be repeated depends on how they failed.
 */
export class Requester {
  readonly maxRetries: number;
  readonly #options: S3RetryOptions;
  readonly #breaker: CircuitBreaker | undefined;
  readonly #clock: Clock;
  readonly #random: RandomSource;

  readonly #isClosed: () => boolean;

  /** `isClosed` stops retries once the backend is closed (its client is gone). */
  constructor(options: S3RetryOptions | false | undefined, isClosed: () => boolean = () => false) {
    this.#isClosed = isClosed;
    const o = options === false ? { maxRetries: 0, circuitBreaker: false as const } : (options ?? {});
    this.#options = o;
    this.maxRetries = o.maxRetries ?? DEFAULT_RETRY.maxRetries;
    if (!Number.isInteger(this.maxRetries) || this.maxRetries < 0)
      throw new RangeError('retry.maxRetries must be an integer >= 0');
    this.#clock = o.clock ?? systemClock;
    this.#random = o.random ?? Math.random;
    this.#breaker =
      o.circuitBreaker === false ? undefined : new CircuitBreaker({ clock: this.#clock, ...(o.circuitBreaker ?? {}) });
  }

  /** The time source of backoff, breaker and request deadlines. */
  get clock(): Clock {
    return this.#clock;
  }

  /** The shared breaker, if enabled. */
  get breaker(): CircuitBreaker | undefined {
    return this.#breaker;
  }

  /**
   * Runs an idempotent request (GET, HEAD, LIST, DELETE, unconditional PUT, UploadPart) with
   * retries on transient failures. Throws the last failure unchanged (or an `IoError` for an abort
   * or an open breaker); map it with `toStorageError`.
   */
  idempotent<T>(
    op: string,
    signal: AbortSignal | undefined,
    fn: (signal: AbortSignal | undefined) => Promise<T>,
  ): Promise<T> {
    return retry(({ signal: s }) => fn(s), {
      maxRetries: this.maxRetries,
      baseDelayMs: this.#options.baseDelayMs,
      maxDelayMs: this.#options.maxDelayMs,
      breaker: this.#breaker,
      signal,
      clock: this.#clock,
      random: this.#random,
      shouldRetry: ({ error }) => !this.#isClosed() && isRetryableS3Error(error),
      onRetry: this.#options.onRetry === undefined ? undefined : (event) => this.#options.onRetry?.({ ...event, op }),
    });
  }

  /** Asks the breaker for permission; `null` means refused. */
  permit(): CircuitPermit | null {
    return this.#breaker === undefined ? { trial: false } : this.#breaker.tryAcquire();
  }

  settle(permit: CircuitPermit, outcome: CircuitOutcome): void {
    this.#breaker?.settle(permit, outcome);
  }

  /** The error for a refused permit. */
  openError(cause?: unknown): Error {
    return this.#breaker?.openError(cause) ?? new Error('circuit breaker refused');
  }

  /** Sleeps the backoff before retry number `attempt` (0-based); rejects when `signal` fires. */
  async backoff(op: string, attempt: number, error: unknown, signal: AbortSignal | undefined): Promise<void> {
    if (this.#isClosed())
      throw new StorageError('HADB_STORAGE_CLOSED', `S3 ${op}: backend closed while retrying`, { cause: error });
    const delayMs = backoffDelay(attempt, this.#options, this.#random);
    this.#options.onRetry?.({ op, attempt, error, errorClass: classifyError(error), delayMs });
    await sleep(delayMs, { signal, clock: this.#clock });
  }
}
