import type { CasResult, StorageBackend } from '@hadb/storage';
import { childController, type Clock, type OpOptions } from '@hadb/io';
import { CoordinatorError } from './errors.js';

/**
 * The write permission of one leader term. The coordinator hands it to the {@link Replicator};
 * the replicator must call {@link WriteFence.check} immediately before every durable write
 * (segment, snapshot, manifest) and stamp {@link WriteFence.epoch} into what it writes.
 *
 * A fence is valid from the moment the lease was won until its deadline, `renewedAt + TTL −
 * margin` on this node's monotonic clock, where `renewedAt` is when the last successful lease
 * write was *sent*. Successful renewals move the deadline; nothing else does. Once closed, a fence
 * never reopens: a node that regains the lease gets a new term with a higher epoch.
 */
export interface WriteFence {
  /** The database this term is for. */
  readonly db: string;
  /**
   * The fencing token: strictly greater than every earlier term's epoch for this database. Write
   * it into every segment so followers can refuse older terms (see `EpochGate`).
   */
  readonly epoch: number;
  /** Aborts when the term ends. Pass it (or a signal derived from it) to every storage write. */
  readonly signal: AbortSignal;
  /** True while the term may write: not closed, and the deadline has not passed. */
  isValid(): boolean;
  /** Throws `HADB_CORE_FENCED` unless {@link isValid}. Call right before each durable write. */
  check(): void;
  /** Milliseconds of write permission left (0 once fenced). Use it to bound write timeouts. */
  remainingMs(): number;
  /**
   * Ends the term at once because the caller found evidence of a newer term (for example a
   * `putIfAbsent` conflict with an object of an equal or higher epoch). Idempotent.
   */
  trip(reason: string): void;
}

/**
 * Why a term ended. `deadline`, `lease-lost`, `deposed` and `clock-rate` (this node's clock rate
 * was outside the tolerance) are involuntary (a `fenced` event).
 */
export type FenceReason = 'deadline' | 'lease-lost' | 'deposed' | 'clock-rate' | 'aborted' | 'handoff' | 'leave';

/**
 * The coordinator's implementation of {@link WriteFence}; also usable on its own (for example in
 * a replicator's tests) with a real or virtual {@link Clock}.
 */
export class TermFence implements WriteFence {
  readonly db: string;
  readonly epoch: number;
  readonly #clock: Clock;
  readonly #windowMs: number;
  readonly #controller = new AbortController();
  #deadlineAt: number;
  #anchorWall: number;
  #closedReason: FenceReason | undefined;
  #closedDetail = '';
  readonly #listeners: Array<(reason: FenceReason, detail: string) => void> = [];

  /**
   * @param sentAt monotonic time at which the lease write that started the term was sent
   * @param windowMs `TTL − margin`: how long after a sent-and-confirmed lease write the term may write
   *   (`Infinity` for a node without a lease, which is always the writer)
   */
  constructor(options: { db: string; epoch: number; clock: Clock; sentAt: number; windowMs: number }) {
    this.db = options.db;
    this.epoch = options.epoch;
    this.#clock = options.clock;
    this.#windowMs = options.windowMs;
    this.#deadlineAt = options.sentAt + options.windowMs;
    this.#anchorWall = this.#wallAt(options.sentAt);
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Monotonic time at which the fence closes unless renewed. */
  get deadline(): number {
    return this.#deadlineAt;
  }

  /** Why the fence closed, or `undefined` while open. */
  get reason(): FenceReason | undefined {
    return this.#closedReason;
  }

  /**
   * A confirmed lease write sent at `sentAt` (monotonic) moves the deadline to `sentAt + window`.
   * A confirmation that arrives after the deadline closes the fence instead.
   */
  extend(sentAt: number): void {
    if (this.#closedReason !== undefined) return;
    if (this.remainingMs() <= 0) {
      // The deadline already passed: the term is over even if a late renewal confirms now.
      this.close('deadline');
      return;
    }
    const next = sentAt + this.#windowMs;
    if (next > this.#deadlineAt) {
      this.#deadlineAt = next;
      this.#anchorWall = this.#wallAt(sentAt);
    }
  }

  isValid(): boolean {
    return this.remainingMs() > 0;
  }

  remainingMs(): number {
    if (this.#closedReason !== undefined) return 0;
    const now = this.#clock.now();
    let remaining = this.#deadlineAt - now;
    if (Number.isFinite(remaining)) {
      // A suspended machine's monotonic clock (CLOCK_MONOTONIC) stops; its wall clock does not.
      // If the wall clock advanced further than the monotonic one, trust the larger elapsed time.
      const wallRemaining = this.#anchorWall + this.#windowMs - this.#clock.wallMs();
      if (wallRemaining < remaining) remaining = wallRemaining;
    }
    return remaining > 0 ? remaining : 0;
  }

  check(): void {
    if (this.isValid()) return;
    throw new CoordinatorError(
      'HADB_CORE_FENCED',
      `term ${this.epoch} of ${this.db} is fenced (${this.#closedReason ?? 'deadline'}); refusing write`,
    );
  }

  trip(reason: string): void {
    this.close('deposed', reason);
  }

  /** Closes the fence (idempotent); aborts {@link signal} and notifies listeners once. */
  close(reason: FenceReason, detail = ''): void {
    if (this.#closedReason !== undefined) return;
    this.#closedReason = reason;
    this.#closedDetail = detail;
    this.#controller.abort(
      new CoordinatorError('HADB_CORE_FENCED', `term ${this.epoch} of ${this.db} ended (${reason})`),
    );
    for (const listener of this.#listeners.splice(0)) listener(reason, detail);
  }

  /** Calls `listener` once when the fence closes (at once if it already has). */
  onClose(listener: (reason: FenceReason, detail: string) => void): void {
    if (this.#closedReason !== undefined) listener(this.#closedReason, this.#closedDetail);
    else this.#listeners.push(listener);
  }

  #wallAt(monoTime: number): number {
    return this.#clock.wallMs() - (this.#clock.now() - monoTime);
  }
}

/**
 * The fenced segment write every replicator should use: checks the fence, then writes with
 * `putIfAbsent` under the fence's signal, so a deposed leader can never overwrite a sequence a
 * newer term wrote. A `{ success: false }` result means the key already exists: read it; if it
 * was written under an epoch `>= fence.epoch`, call `fence.trip()`; if under a lower epoch it is a
 * late write of the previous term that must be applied before continuing.
 *
 * Throws `HADB_CORE_FENCED` before writing if the fence is closed; storage errors propagate (an
 * error after sending is ambiguous: re-read the key to learn whether the write landed).
 */
export async function fencedPutIfAbsent(
  storage: StorageBackend,
  key: string,
  data: Uint8Array,
  fence: WriteFence,
  options: OpOptions = {},
): Promise<CasResult> {
  fence.check();
  const { controller, dispose } = childController(options.signal);
  const onFence = (): void => controller.abort(fence.signal.reason);
  fence.signal.addEventListener('abort', onFence, { once: true });
  try {
    fence.check();
    return await storage.putIfAbsent(key, data, { signal: controller.signal });
  } finally {
    fence.signal.removeEventListener('abort', onFence);
    dispose();
  }
}
