import { type Clock, systemClock } from './clock.js';
import { IoError } from './errors.js';

/** `closed`: requests flow. `open`: refused until the cooldown ends. `half-open`: one trial may run. */
export type CircuitState = 'closed' | 'open' | 'half-open';

/** Options of {@link CircuitBreaker}. */
export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit. Default 10. */
  readonly threshold?: number | undefined;
  /** How long the circuit stays open before a trial request is let through. Default 60000 ms. */
  readonly cooldownMs?: number | undefined;
  readonly clock?: Clock | undefined;
  /** Called once each time the circuit trips from closed to open, with the failure count. */
  readonly onOpen?: ((failures: number) => void) | undefined;
}

/** Permission to send one request, from {@link CircuitBreaker.tryAcquire}. Settle it exactly once. */
export interface CircuitPermit {
  /** This request is the half-open trial: its outcome closes or re-opens the circuit. */
  readonly trial: boolean;
}

/** How a permitted request ended, for {@link CircuitBreaker.settle}. */
export type CircuitOutcome =
  /** The server answered (even with a 4xx): it is healthy. Resets the failure count and closes. */
  | 'success'
  /** The server failed or could not be reached. */
  | 'failure'
  /** No verdict (for example the caller aborted). Frees the trial slot. */
  | 'neutral';

/**
 * Consecutive-failure circuit breaker. After `threshold` consecutive failures it opens and refuses
 * requests for `cooldownMs`; then it is half-open and lets exactly one trial request through at a
 * time. A successful trial (or any success) closes it; a failed trial re-opens it for another
 * cooldown. Not thread-safe across workers; one instance per process and endpoint.
 */
export class CircuitBreaker {
  readonly threshold: number;
  readonly cooldownMs: number;
  readonly #clock: Clock;
  readonly #onOpen: ((failures: number) => void) | undefined;
  #failures = 0;
  #openedAt: number | undefined;
  #trialInFlight = false;

  constructor(options: CircuitBreakerOptions = {}) {
    this.threshold = options.threshold ?? 10;
    this.cooldownMs = options.cooldownMs ?? 60_000;
    if (!Number.isInteger(this.threshold) || this.threshold < 1)
      throw new RangeError('threshold must be an integer >= 1');
    if (!(this.cooldownMs >= 0)) throw new RangeError('cooldownMs must be >= 0');
    this.#clock = options.clock ?? systemClock;
    this.#onOpen = options.onOpen;
  }

  /** Current state (moves from `open` to `half-open` by itself when the cooldown has passed). */
  get state(): CircuitState {
    if (this.#openedAt === undefined) return 'closed';
    return this.#clock.now() - this.#openedAt >= this.cooldownMs ? 'half-open' : 'open';
  }

  /** Consecutive failures so far. */
  get failures(): number {
    return this.#failures;
  }

  /** Milliseconds until a trial will be allowed (0 unless open). */
  get retryAfterMs(): number {
    if (this.#openedAt === undefined) return 0;
    return Math.max(0, this.#openedAt + this.cooldownMs - this.#clock.now());
  }

  /**
   * Asks to send a request: a permit when closed (or the half-open trial slot is free), `null` when
   * the request must not be sent. Every permit must be passed to {@link settle} once.
   */
  tryAcquire(): CircuitPermit | null {
    const state = this.state;
    if (state === 'closed') return { trial: false };
    if (state === 'open' || this.#trialInFlight) return null;
    this.#trialInFlight = true;
    return { trial: true };
  }

  /** Reports how a permitted request ended. */
  settle(permit: CircuitPermit, outcome: CircuitOutcome): void {
    if (outcome === 'success') {
      this.#failures = 0;
      this.#openedAt = undefined;
      this.#trialInFlight = false;
      return;
    }
    if (outcome === 'neutral') {
      if (permit.trial) this.#trialInFlight = false;
      return;
    }
    this.#failures += 1;
    if (permit.trial) {
      this.#trialInFlight = false;
      this.#openedAt = this.#clock.now();
      return;
    }
    if (this.#openedAt === undefined && this.#failures >= this.threshold) {
      this.#openedAt = this.#clock.now();
      this.#onOpen?.(this.#failures);
    }
  }

  /** Records a success outside a permit (for example from a health check). */
  recordSuccess(): void {
    this.settle({ trial: false }, 'success');
  }

  /** Records a failure outside a permit. */
  recordFailure(): void {
    this.settle({ trial: false }, 'failure');
  }

  /** The error to throw when {@link tryAcquire} refused. */
  openError(cause?: unknown): IoError {
    return new IoError(
      'HADB_IO_CIRCUIT_OPEN',
      `circuit breaker open after ${this.#failures} consecutive failures; next trial in ${this.retryAfterMs} ms`,
      { cause },
    );
  }
}
