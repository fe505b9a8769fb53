import { abortedError } from './errors.js';

/** Options of {@link ConcurrencyLimiter.acquire} and {@link ConcurrencyLimiter.run}. */
export interface AcquireOptions {
  /** Gives up waiting: the wait rejects with `HADB_IO_ABORTED` and leaves the queue. */
  readonly signal?: AbortSignal | undefined;
}

/** Gives a slot back. Calling it more than once has no further effect. */
export type Release = () => void;

interface Waiter {
  readonly grant: () => void;
}

/**
 * A counting semaphore with FIFO fairness: at most `limit` holders at once, and waiters are served
 * strictly in arrival order (a released slot goes to the oldest waiter, never to a newcomer).
 * Waits honour an `AbortSignal`.
 */
export class ConcurrencyLimiter {
  readonly limit: number;
  #active = 0;
  readonly #queue: Waiter[] = [];

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError('limit must be an integer >= 1');
    this.limit = limit;
  }

  /** Slots currently held. Never exceeds {@link limit}. */
  get active(): number {
    return this.#active;
  }

  /** Callers waiting for a slot. */
  get pending(): number {
    return this.#queue.length;
  }

  /** Waits for a slot (FIFO) and returns its release function. */
  acquire(options: AcquireOptions = {}): Promise<Release> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(abortedError(signal));
    if (this.#active < this.limit && this.#queue.length === 0) {
      this.#active += 1;
      return Promise.resolve(this.#releaser());
    }
    return new Promise<Release>((resolve, reject) => {
      const onAbort = (): void => {
        const i = this.#queue.indexOf(waiter);
        if (i >= 0) this.#queue.splice(i, 1);
        reject(abortedError(signal as AbortSignal));
      };
      const waiter: Waiter = {
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(this.#releaser());
        },
      };
      this.#queue.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Runs `fn` while holding a slot; the slot is released however `fn` ends. */
  async run<T>(fn: () => Promise<T>, options: AcquireOptions = {}): Promise<T> {
    const release = await this.acquire(options);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  #releaser(): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#queue.shift();
      // The slot passes straight to the oldest waiter, so `active` stays the same.
      if (next !== undefined) next.grant();
      else this.#active -= 1;
    };
  }
}
