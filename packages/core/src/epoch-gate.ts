import { CoordinatorError } from './errors.js';

/**
 * The follower-side half of fencing: remembers the highest writer epoch this node has accepted and
 * refuses segments written under a lower one. Equal epochs are accepted (one term writes many
 * segments). Together with `putIfAbsent` segment writes this guarantees that a deposed leader can
 * never get a segment applied after a newer term's segment.
 *
 * The coordinator owns one gate per joined database, hands it to the `FollowerBehavior` and uses
 * {@link EpochGate.highest} as a floor for the epoch of its next term. Seed it from local state
 * (the epoch of the last applied segment) when restarting.
 */
export class EpochGate {
  #value: number;

  /** @param highest the highest epoch already accepted (0 = none) */
  constructor(highest = 0) {
    EpochGate.#validate(highest);
    this.#value = highest;
  }

  /** The highest epoch accepted so far (0 = none). */
  get highest(): number {
    return this.#value;
  }

  /** Whether a segment of `epoch` may be applied (`epoch >= highest`). Does not change state. */
  accepts(epoch: number): boolean {
    EpochGate.#validate(epoch);
    return epoch >= this.#value;
  }

  /**
   * Records that a segment of `epoch` is being applied. Throws `HADB_CORE_STALE_EPOCH` (and changes
   * nothing) if `epoch` is lower than {@link highest}. Call it after verifying the segment and
   * before applying it.
   */
  admit(epoch: number): void {
    if (!this.accepts(epoch)) {
      throw new CoordinatorError(
        'HADB_CORE_STALE_EPOCH',
        `segment of epoch ${epoch} refused: epoch ${this.#value} was already accepted`,
      );
    }
    this.#value = epoch;
  }

  /** Raises {@link highest} to `epoch` if it is higher (for example from local state or a lease record). */
  observe(epoch: number): void {
    EpochGate.#validate(epoch);
    if (epoch > this.#value) this.#value = epoch;
  }

  static #validate(epoch: number): void {
    if (!Number.isSafeInteger(epoch) || epoch < 0) {
      throw new CoordinatorError('HADB_CORE_INVALID_ARGUMENT', 'epoch must be a non-negative safe integer');
    }
  }
}
