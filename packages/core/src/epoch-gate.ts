import { CoordinatorError } from './errors.js';

/** How many term starts a gate remembers; the oldest is forgotten first. */
const MAX_TERM_STARTS = 256;

/**
 * The follower-side half of fencing: refuses a segment written by a deposed leader after a newer
 * term's segment in the chain. Together with `putIfAbsent` segment writes this guarantees that a
 * deposed leader can never get a segment applied after a newer term's segment.
 *
 * The gate judges segments by their place in the chain, not by the order this node happened to see
 * epochs in: it remembers the first sequence number at which it saw each epoch (a "term start") and
 * refuses a segment of epoch `e` at sequence `s` only if some newer epoch started at or before `s`.
 * A segment of an older epoch that precedes the newer term's first segment is legitimate history
 * and is admitted, even after the gate saw the newer epoch (a read-ahead that was not applied, a
 * local copy rebuilt from an older snapshot, a lease record). Equal epochs are always accepted (one
 * term writes many segments).
 *
 * The coordinator owns one gate per joined database, hands it to the `FollowerBehavior` and uses
 * {@link EpochGate.highest} as a floor for the epoch of its next term. Seed it from local state
 * with {@link EpochGate.record} when restarting.
 */
export class EpochGate {
  #floor: number;
  /** Highest epoch admitted without a sequence number (legacy callers); compared as before. */
  #unplaced = 0;
  /** epoch → the lowest sequence number at which the chain was seen holding it. */
  readonly #starts = new Map<number, bigint>();

  /** @param highest the highest epoch already known (0 = none); raises {@link highest} only */
  constructor(highest = 0) {
    EpochGate.#validate(highest);
    this.#floor = highest;
  }

  /** The highest epoch seen so far (0 = none): the floor for this node's next term. */
  get highest(): number {
    return this.#floor;
  }

  /**
   * Whether a segment of `epoch` may be applied. With `seq`: unless a newer epoch is known to start
   * at or before `seq` in the chain. Without `seq`: unless a newer epoch was admitted without one.
   * Does not change state.
   */
  accepts(epoch: number, seq?: bigint): boolean {
    EpochGate.#validate(epoch);
    return this.#refusal(epoch, seq) === undefined;
  }

  /**
   * Records that a segment of `epoch` at chain position `seq` is being applied. Throws
   * `HADB_CORE_STALE_EPOCH` (and changes nothing) if a newer epoch already started at or before
   * `seq`. Call it after verifying the segment and before applying it. Pass `seq` whenever it is
   * known; without it the segment is judged only against epochs admitted without one.
   */
  admit(epoch: number, seq?: bigint): void {
    EpochGate.#validate(epoch);
    const refusal = this.#refusal(epoch, seq);
    if (refusal !== undefined) throw new CoordinatorError('HADB_CORE_STALE_EPOCH', refusal);
    if (seq === undefined) this.#unplaced = Math.max(this.#unplaced, epoch);
    else this.#place(epoch, seq);
    this.observe(epoch);
  }

  /**
   * Notes, without checking, that the chain holds `epoch` at `seq` (the local copy's last applied
   * segment, a restored snapshot). Later segments of older epochs after `seq` are refused.
   */
  record(epoch: number, seq: bigint): void {
    EpochGate.#validate(epoch);
    this.#place(epoch, seq);
    this.observe(epoch);
  }

  /**
   * Raises {@link highest} to `epoch` if it is higher (for example from a lease record). Refuses
   * nothing by itself: an epoch seen outside the chain says nothing about where its term starts.
   */
  observe(epoch: number): void {
    EpochGate.#validate(epoch);
    if (epoch > this.#floor) this.#floor = epoch;
  }

  #refusal(epoch: number, seq: bigint | undefined): string | undefined {
    if (seq === undefined) {
      return epoch < this.#unplaced
        ? `segment of epoch ${epoch} refused: epoch ${this.#unplaced} was already accepted`
        : undefined;
    }
    for (const [newer, start] of this.#starts) {
      if (newer > epoch && start <= seq) {
        return `segment ${seq} of epoch ${epoch} refused: epoch ${newer} started at segment ${start}`;
      }
    }
    return undefined;
  }

  #place(epoch: number, seq: bigint): void {
    const known = this.#starts.get(epoch);
    if (known !== undefined && known <= seq) return;
    this.#starts.set(epoch, seq);
    if (this.#starts.size > MAX_TERM_STARTS) {
      const oldest = Math.min(...this.#starts.keys());
      this.#starts.delete(oldest);
    }
  }

  static #validate(epoch: number): void {
    if (!Number.isSafeInteger(epoch) || epoch < 0) {
      throw new CoordinatorError('HADB_CORE_INVALID_ARGUMENT', 'epoch must be a non-negative safe integer');
    }
  }
}
