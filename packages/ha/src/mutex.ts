/**
 * A FIFO async mutex. `run(fn)` executes `fn` alone; callers queue in arrival order.
 */
export class Mutex {
  #tail: Promise<void> = Promise.resolve();
  #held = false;

  /** True while some `run` holds the lock. */
  get held(): boolean {
    return this.#held;
  }

  async run<T>(fn: () => Promise<T> | T): Promise<T> {
    const previous = this.#tail;
    let release!: () => void;
    this.#tail = new Promise<void>((resolve) => {
      release = resolve;
    });
    await previous;
    this.#held = true;
    try {
      return await fn();
    } finally {
      this.#held = false;
      release();
    }
  }
}

/**
 * A readers–writer gate: many `shared` holders at once, or one `exclusive` holder. A waiting
 * exclusive holder blocks new shared holders, so a swap is never starved by a stream of reads.
 */
export class RwGate {
  #readers = 0;
  #writer = false;
  #writersWaiting = 0;
  #waiters: Array<() => void> = [];

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }

  async #acquireShared(): Promise<void> {
    while (this.#writer || this.#writersWaiting > 0) {
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
    this.#readers++;
  }

  async #acquireExclusive(): Promise<void> {
    this.#writersWaiting++;
    try {
      while (this.#writer || this.#readers > 0) {
        await new Promise<void>((resolve) => this.#waiters.push(resolve));
      }
    } finally {
      this.#writersWaiting--;
    }
    this.#writer = true;
  }

  async shared<T>(fn: () => Promise<T> | T): Promise<T> {
    await this.#acquireShared();
    try {
      return await fn();
    } finally {
      this.#readers--;
      this.#wake();
    }
  }

  async exclusive<T>(fn: () => Promise<T> | T): Promise<T> {
    await this.#acquireExclusive();
    try {
      return await fn();
    } finally {
      this.#writer = false;
      this.#wake();
    }
  }
}
