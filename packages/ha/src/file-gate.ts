/**
 * Who may touch the local database file: the leader's read-write DuckDB instance, or the
 * follower's replication (which patches the file in place). While a leader engine is open (or
 * about to open, or retiring), {@link hold} keeps the follower side waiting in {@link whenFree}, so
 * a demotion never has replication writing pages under a read-write DuckDB instance.
 */
export class FileGate {
  #held = false;
  #waiters: Array<() => void> = [];

  /** True while the leader side owns the file. */
  get held(): boolean {
    return this.#held;
  }

  /** Marks the file as owned by the leader side. Idempotent. */
  hold(): void {
    this.#held = true;
  }

  /** Hands the file back to the follower side and wakes every waiter. Idempotent. */
  release(): void {
    this.#held = false;
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /**
   * Resolves once the file is free (at once if it is). Resolves `false` instead if `signal` fires
   * first, so the caller can stop quietly.
   */
  async whenFree(signal?: AbortSignal): Promise<boolean> {
    while (this.#held) {
      if (signal?.aborted) return false;
      await new Promise<void>((resolve) => {
        const done = (): void => {
          signal?.removeEventListener('abort', done);
          this.#waiters = this.#waiters.filter((w) => w !== done);
          resolve();
        };
        this.#waiters.push(done);
        signal?.addEventListener('abort', done, { once: true });
      });
    }
    return !signal?.aborted;
  }
}
