import type { OpOptions } from '@hadb/io';
import { CoordinatorError } from './errors.js';
import type { FollowerProgress } from './follower-behavior.js';

/** Read-only view of a database's replication progress on this node. */
export interface ReplicaProgress {
  /** Last position the follower reported (or reached when promoted). */
  readonly position: bigint;
  /** Whether the node is at the durable head (always `true` while leading). */
  readonly caughtUp: boolean;
  /** Resolves once {@link caughtUp} is `true`; rejects with `HADB_CORE_ABORTED` if `signal` aborts. */
  waitForCaughtUp(options?: OpOptions): Promise<void>;
}

/** The coordinator's {@link FollowerProgress}: monotonic position, caught-up flag, change listeners. */
export class ProgressTracker implements FollowerProgress, ReplicaProgress {
  #pos = 0n;
  #caught = false;
  readonly #waiters = new Set<() => void>();
  readonly #onChange: (caughtUp: boolean, position: bigint) => void;

  constructor(onChange: (caughtUp: boolean, position: bigint) => void = () => {}) {
    this.#onChange = onChange;
  }

  get position(): bigint {
    return this.#pos;
  }

  get caughtUp(): boolean {
    return this.#caught;
  }

  report(position: bigint): void {
    if (typeof position !== 'bigint' || position < 0n) {
      throw new CoordinatorError('HADB_CORE_INVALID_ARGUMENT', 'position must be a non-negative bigint');
    }
    if (position < this.#pos) {
      throw new CoordinatorError('HADB_CORE_INVALID_ARGUMENT', `position went back from ${this.#pos} to ${position}`);
    }
    this.#pos = position;
    this.#onChange(this.#caught, this.#pos);
  }

  setCaughtUp(caughtUp: boolean): void {
    this.#caught = caughtUp;
    this.#onChange(this.#caught, this.#pos);
    if (caughtUp) for (const wake of [...this.#waiters]) wake();
  }

  waitForCaughtUp(options: OpOptions = {}): Promise<void> {
    const { signal } = options;
    if (this.#caught) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const done = (): void => {
        this.#waiters.delete(done);
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        this.#waiters.delete(done);
        reject(new CoordinatorError('HADB_CORE_ABORTED', 'waitForCaughtUp aborted', { cause: signal?.reason }));
      };
      if (signal?.aborted) {
        onAbort();
        return;
      }
      this.#waiters.add(done);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
