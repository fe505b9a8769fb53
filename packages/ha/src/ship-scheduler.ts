import { describeError, type Clock, type Timer, type OpOptions } from '@hadb/io';
import type { ShipOptions, ShipReport } from './engine.js';
import { HaError, isHaError, throwIfAborted, haAborted } from './errors.js';
import { Mutex } from './mutex.js';

/** Options of {@link ShipScheduler}. */
export interface ShipSchedulerOptions {
  readonly clock: Clock;
  /** Start-to-start interval of the periodic ship while commits are unshipped, ms. */
  readonly intervalMs: number;
  /**
   * Every this many periodic ticks a ship runs even with no counted commit (it catches changes made
   * outside the counting, such as a failed script that committed part of itself). 0: never.
   */
  readonly idleShipEveryTicks: number;
  /**
   * Group commit: after {@link ShipScheduler.requestShip}, wait this long for more writes to join,
   * then ship at once instead of at the next tick. `false`: requests are ignored (tick only).
   */
  readonly groupCommitMs: number | false;
  /** Ships once (the leader side's `ship`). */
  readonly ship: (options: ShipOptions) => Promise<ShipReport>;
  /** After a ship that sent bytes. */
  readonly onShipped: (report: ShipReport) => void;
  /** A periodic ship failed for a reason other than the term ending. */
  readonly onError: (error: unknown) => void;
}

interface Waiter {
  readonly seq: number;
  resolve(): void;
  reject(error: Error): void;
}

/** Counters of one scheduler (one leader term). */
export interface ShipCounters {
  readonly commits: number;
  readonly ships: number;
  readonly bytesShipped: number;
  readonly lastShipError: string | undefined;
}

/**
 * The leader's checkpoint/ship loop for one term: counts commits, ships on a start-to-start tick
 * while commits are unshipped (or promptly on {@link requestShip}: the group-commit hook for writes
 * that wait for `shipped`), runs one ship at a time, and resolves `shipped` waiters once a ship
 * covered their commit. Waiting is event-driven: no polling.
 */
export class ShipScheduler {
  readonly #o: ShipSchedulerOptions;
  readonly #lock = new Mutex();
  #commitSeq = 0;
  #shippedSeq = 0;
  #waiters: Waiter[] = [];
  #stopped = false;
  #promptRequested = false;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #ships = 0;
  #bytesShipped = 0;
  #lastShipError: string | undefined;

  constructor(options: ShipSchedulerOptions) {
    this.#o = options;
  }

  /** Counts one commit (called by the leader side under its write lock). */
  committed(): void {
    this.#commitSeq++;
  }

  /** Commits counted so far; a write's own commit is included once its call resolved. */
  get commitSeq(): number {
    return this.#commitSeq;
  }

  /** True while counted commits are not shipped. */
  get dirty(): boolean {
    return this.#commitSeq > this.#shippedSeq;
  }

  get counters(): ShipCounters {
    return {
      commits: this.#commitSeq,
      ships: this.#ships,
      bytesShipped: this.#bytesShipped,
      lastShipError: this.#lastShipError,
    };
  }

  /** Starts the periodic loop. */
  start(): void {
    this.#loop ??= this.#run();
  }

  /** Group-commit hook: ship within `groupCommitMs` instead of at the next tick (no effect when off). */
  requestShip(): void {
    if (this.#o.groupCommitMs === false || this.#stopped) return;
    this.#promptRequested = true;
    this.#wake?.();
  }

  /**
   * Ships once, serialised with every other ship. Resolves once the commits counted before the
   * capture point are durable. Rejects with the term's error (`HADB_HA_FENCED`, …) or
   * `HADB_HA_SHIP_FAILED` (recorded in `lastShipError`; the next ship retries the changes).
   */
  shipOnce(options: OpOptions = {}): Promise<void> {
    return this.#lock.run(async () => {
      if (this.#stopped) throw new HaError('HADB_HA_CLOSED', 'the leader side is closed');
      throwIfAborted(options.signal);
      let covered = this.#commitSeq;
      let report: ShipReport;
      try {
        report = await this.#o.ship({ signal: options.signal, capturePoint: () => (covered = this.#commitSeq) });
      } catch (cause) {
        if (isHaError(cause) && cause.code !== 'HADB_HA_SHIP_FAILED') throw cause;
        const message = describeError(cause).message;
        this.#lastShipError = message;
        throw isHaError(cause) ? cause : new HaError('HADB_HA_SHIP_FAILED', `shipping failed: ${message}`, { cause });
      }
      this.#ships++;
      this.#lastShipError = report.warning;
      this.#bytesShipped += report.bytes;
      if (covered > this.#shippedSeq) this.#shippedSeq = covered;
      const ready = this.#waiters.filter((w) => w.seq <= this.#shippedSeq);
      this.#waiters = this.#waiters.filter((w) => w.seq > this.#shippedSeq);
      for (const w of ready) w.resolve();
      if (report.bytes > 0) this.#o.onShipped(report);
    });
  }

  /** Resolves once every commit counted before the call is shipped (shipping as needed). */
  async sync(options: OpOptions = {}): Promise<void> {
    const target = this.#commitSeq;
    while (this.#shippedSeq < target) await this.shipOnce(options);
  }

  /**
   * Resolves once commit number `seq` is shipped by a later ship (the periodic one, or a prompt one
   * after {@link requestShip}: concurrent writes share it). Rejects with `HADB_HA_CLOSED` when the
   * scheduler stops first (for example on demotion).
   */
  waitShipped(seq: number, options: OpOptions = {}): Promise<void> {
    if (seq <= this.#shippedSeq) return Promise.resolve();
    if (this.#stopped) return Promise.reject(closedBeforeShipped());
    const { signal } = options;
    if (signal?.aborted === true) return Promise.reject(haAborted('aborted while waiting for shipping', signal.reason));
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.#waiters = this.#waiters.filter((x) => x !== w);
        reject(haAborted('aborted while waiting for shipping', signal?.reason));
      };
      const w: Waiter = {
        seq,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (err) => {
          signal?.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      this.#waiters.push(w);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Stops the loop, waits for a ship in flight, and rejects every waiter with `HADB_HA_CLOSED`. Idempotent. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    await this.#loop;
    await this.#lock.run(() => {
      for (const w of this.#waiters.splice(0)) w.reject(closedBeforeShipped());
    });
  }

  /** Sleeps `ms` of clock time, or until woken. */
  #nap(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: Timer | undefined;
      const done = (): void => {
        timer?.cancel();
        this.#wake = undefined;
        resolve();
      };
      this.#wake = done;
      timer = this.#o.clock.timer(ms, done);
    });
  }

  async #run(): Promise<void> {
    const { clock, intervalMs, idleShipEveryTicks, groupCommitMs } = this.#o;
    let last = clock.now();
    let tick = 0;
    while (!this.#stopped) {
      // Start-to-start schedule: a slow ship does not stretch the interval.
      if (!this.#promptRequested) await this.#nap(Math.max(0, last + intervalMs - clock.now()));
      if (this.#stopped) break;
      let due: boolean;
      if (this.#promptRequested) {
        if (groupCommitMs !== false && groupCommitMs > 0) await this.#nap(groupCommitMs);
        this.#promptRequested = false;
        due = this.dirty;
      } else {
        last = clock.now();
        tick++;
        due = this.dirty || (idleShipEveryTicks > 0 && tick % idleShipEveryTicks === 0);
      }
      if (this.#stopped || !due) continue;
      try {
        await this.shipOnce();
      } catch (err) {
        // A term that just ended is reported by the role events, not as an error.
        if (
          !isHaError(err, 'HADB_HA_CLOSED') &&
          !isHaError(err, 'HADB_HA_FENCED') &&
          !isHaError(err, 'HADB_HA_NOT_LEADER')
        ) {
          this.#o.onError(err);
        }
      }
    }
  }
}

function closedBeforeShipped(): HaError {
  return new HaError('HADB_HA_CLOSED', 'the leader side closed before the write was shipped; it may be lost');
}
