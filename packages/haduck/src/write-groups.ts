import type { WriteConnection } from './write-connection.js';
import type { WritePool } from './write-pool.js';

/**
 * Largest number of write requests one group transaction runs. Small enough that a burst of
 * requests spreads over several lanes (groups commit side by side) rather than queueing behind one
 * long transaction; large enough that one `COMMIT` serves several requests.
 */
export const MAX_GROUP = 8;

/** How a request submitted to {@link WriteGroups} ended. */
export type GroupOutcome<T> =
  | { readonly kind: 'committed'; readonly value: T }
  | { readonly kind: 'failed'; readonly error: unknown }
  /** Not run to the end (rolled back with its group): the request runs again in a transaction of its own. */
  | { readonly kind: 'alone' };

/** One submitted request and how to settle it. */
export interface GroupEntry<J, T> {
  readonly job: J;
  settle(outcome: GroupOutcome<T>): void;
}

/**
 * Group commit of write requests. A request that finds no lane running starts one at once (a
 * lone writer waits for nothing). Beside running lanes, a lane forms its group at the end of the
 * current event-loop turn, from the requests waiting then (at most {@link MAX_GROUP}): requests
 * that arrive in the same turn (a burst: many clients answered by one ship, several socket reads)
 * share groups spread over the lanes instead of each taking a lane of its own. A lane that finished
 * a group takes the requests that queued meanwhile. Each group runs as one transaction on one
 * pooled connection — one `BEGIN`, one `COMMIT`, one WAL sync. `lanes` groups run side by side.
 * `run` executes one group and settles every entry of it.
 */
export class WriteGroups<J, T> {
  readonly #pool: WritePool;
  readonly #lanes: number;
  readonly #run: (conn: WriteConnection, entries: GroupEntry<J, T>[]) => Promise<void>;
  readonly #queue: GroupEntry<J, T>[] = [];
  #active = 0;

  constructor(
    pool: WritePool,
    lanes: number,
    run: (conn: WriteConnection, entries: GroupEntry<J, T>[]) => Promise<void>,
  ) {
    this.#pool = pool;
    this.#lanes = lanes;
    this.#run = run;
  }

  /** Queues `job`; resolves with its outcome once its group ended. */
  submit(job: J): Promise<GroupOutcome<T>> {
    return new Promise<GroupOutcome<T>>((resolve) => {
      this.#queue.push({ job, settle: resolve });
      if (this.#active < this.#lanes) {
        this.#active++;
        void this.#lane();
      }
    });
  }

  /** Runs groups while requests wait; a failure to get a connection fails the waiting requests. */
  async #lane(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        // Beside other lanes, the rest of this turn's requests join first (see the class comment).
        if (this.#active > 1) {
          await endOfTurn();
          if (this.#queue.length === 0) break;
        }
        let conn: WriteConnection;
        try {
          conn = await this.#pool.acquire();
        } catch (error) {
          for (const entry of this.#queue.splice(0)) entry.settle({ kind: 'failed', error });
          return;
        }
        // Taken after the connection: requests that arrived meanwhile join this group.
        const entries = this.#queue.splice(0, MAX_GROUP);
        if (entries.length === 0) {
          // Another lane took them while this one waited for its connection.
          this.#pool.release(conn);
          break;
        }
        // Outcomes are handed out once the connection is back in the pool: a request that runs
        // again alone finds the group committed, and `close()` after the last request finds every
        // connection idle.
        const outcomes = new Map<GroupEntry<J, T>, GroupOutcome<T>>();
        const deferred = entries.map((entry) => ({
          job: entry.job,
          settle: (outcome: GroupOutcome<T>) => {
            if (!outcomes.has(entry)) outcomes.set(entry, outcome);
          },
        }));
        try {
          await this.#run(conn, deferred);
        } catch (error) {
          for (const entry of deferred) entry.settle({ kind: 'failed', error });
        } finally {
          this.#pool.release(conn);
        }
        for (const entry of entries) entry.settle(outcomes.get(entry) ?? { kind: 'alone' });
      }
    } finally {
      this.#active--;
    }
  }
}

/** Resolves once the current event-loop turn ran (its I/O callbacks and their microtasks). */
function endOfTurn(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}
