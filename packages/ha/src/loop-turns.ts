/**
 * Keeps a node's background work alive under a caller that never yields to the event loop. A
 * leader whose engine answers without I/O (SQLite, a read served from memory) resolves each call
 * within microtasks, so `for (;;) await db.execute(…)` would never let the event loop turn: the
 * lease renewal and the ship (chains of I/O steps, each needing a turn) would starve, and the
 * leader would fence itself or hand its lease off. {@link starved} reports a loop that has not
 * turned for {@link TURN_BUDGET_MS}; the router then {@link yieldTurns | yields} for
 * {@link TURN_SHARE_MS}, turning the loop as often as it can (so each completed I/O step of the
 * background work is followed at once by its next) — at most 1/(1 + budget/share) of such a
 * caller's time.
 *
 * Cost: one `performance.now()` per call and at most one `setImmediate` per loop turn; nothing
 * runs while the node is idle or its caller awaits real I/O.
 */
export const TURN_BUDGET_MS = 20;
/** How long a starved caller gives the event loop (see {@link LoopTurns}). */
export const TURN_SHARE_MS = 2;

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class LoopTurns {
  /** A probe `setImmediate` is scheduled and has not run yet. */
  #probing = false;
  /** When the pending probe was scheduled. */
  #since = 0;
  readonly #turned = (): void => {
    this.#probing = false;
  };

  /**
   * True when the event loop has not turned for {@link TURN_BUDGET_MS} while calls kept coming:
   * the caller should {@link yieldTurns} first. Otherwise schedules a probe (if none is pending)
   * and returns false.
   */
  starved(): boolean {
    const now = performance.now();
    if (!this.#probing) {
      this.#probing = true;
      this.#since = now;
      setImmediate(this.#turned);
      return false;
    }
    return now - this.#since > TURN_BUDGET_MS;
  }

  /** Turns the event loop for {@link TURN_SHARE_MS}: timers and I/O callbacks run meanwhile. */
  async yieldTurns(): Promise<void> {
    const until = performance.now() + TURN_SHARE_MS;
    do await nextTurn();
    while (performance.now() < until);
  }
}
