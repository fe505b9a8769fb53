import { randomUUID } from 'node:crypto';
import type { Clock } from '@hadb/io';

/**
 * The leader's shipped head as followers see it: an opaque token that changes after every ship
 * that stored bytes (never repeats for one node), and the followers' long polls waiting for it to
 * change. Followers learn of new segments from it instead of polling storage.
 */
export class HeadBoard {
  readonly #clock: Clock;
  readonly #node = randomUUID().slice(0, 8);
  #ships = 0;
  #closed = false;
  readonly #waiters = new Set<() => void>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** The current token: `<node>.<ships>`. */
  get head(): string {
    return `${this.#node}.${this.#ships}`;
  }

  /** Long polls held now. */
  get waiting(): number {
    return this.#waiters.size;
  }

  /** A ship stored bytes: the head changes and every waiter is answered. */
  advance(): void {
    this.#ships++;
    this.#wakeAll();
  }

  /** Answers every waiter with the current head (a role change: followers re-resolve the leader). */
  poke(): void {
    this.#wakeAll();
  }

  /** Answers every waiter now and every later wait at once. Idempotent. */
  close(): void {
    this.#closed = true;
    this.#wakeAll();
  }

  /**
   * Resolves with the head once it differs from `after` (at once when it already does, or when
   * `after` is `null`), after `holdMs`, on {@link poke}/{@link close}, or when `signal` fires
   * (the follower hung up, or the server is closing).
   */
  async wait(after: string | null, holdMs: number, signal?: AbortSignal): Promise<string> {
    if (after === null || after !== this.head || this.#closed || holdMs <= 0 || signal?.aborted === true)
      return this.head;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        timer.cancel();
        this.#waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = this.#clock.timer(holdMs, done);
      this.#waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
    return this.head;
  }

  #wakeAll(): void {
    for (const wake of [...this.#waiters]) wake();
  }
}
