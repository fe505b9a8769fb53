import {
  describeError,
  silentLogger,
  withTimeout,
  type Clock,
  type Logger,
  type Timer,
  type OpOptions,
} from '@hadb/io';
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
  /**
   * Deadline of one ship, ms: its signal aborts then and it fails with `HADB_HA_SHIP_FAILED`
   * (the next ship starts only once the engine's call has settled). Default: none.
   */
  readonly shipTimeoutMs?: number | undefined;
  /**
   * Unshipped commits with no successful ship for this long (clock time since the oldest of them,
   * or since the last ship that made progress) stall the scheduler: {@link onStalled} is called
   * once with `HADB_HA_SHIP_STALLED`, and writes waiting for `shipped` — now and until a ship
   * succeeds — fail with `HADB_HA_SHIP_FAILED`. Default: never.
   */
  readonly stallTimeoutMs?: number | undefined;
  /** See {@link stallTimeoutMs}. The scheduler keeps running (a later ship may still succeed). */
  readonly onStalled?: ((error: HaError) => void) | undefined;
  /** Where a ship that ignores its deadline is reported. Default: silent. */
  readonly logger?: Logger | undefined;
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
  /** Ships that failed (storage errors and deadlines). */
  readonly shipFailures: number;
  /** How long the oldest unshipped commit has waited without a successful ship, ms (0 when none). */
  readonly unshippedMs: number;
  /** True once the scheduler stalled (see `stallTimeoutMs`) until a ship succeeds. */
  readonly stalled: boolean;
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
  /** Commits covered by a ship started so far (acknowledged or not); reset to `#shippedSeq` after a failure. */
  #capturedSeq = 0;
  #shippedSeq = 0;
  /** Settles once the latest started ship's outcome is recorded. */
  #tail: Promise<void> = Promise.resolve();
  /** Ship failures recorded so far (in ship order). */
  #failuresRecorded = 0;
  #waiters: Waiter[] = [];
  #stopped = false;
  #promptRequested = false;
  #promptAlone = false;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #ships = 0;
  #bytesShipped = 0;
  #lastShipError: string | undefined;
  #shipFailures = 0;
  /** Clock time since which commits wait without a ship that made progress; undefined when clean. */
  #unshippedSince: number | undefined;
  #stallTimer: Timer | undefined;
  #stalled: HaError | undefined;

  constructor(options: ShipSchedulerOptions) {
    this.#o = options;
  }

  /** Counts one commit (called by the leader side under its write lock). */
  committed(): void {
    const wasClean = !this.dirty;
    this.#commitSeq++;
    if (wasClean && this.#unshippedSince === undefined) this.#markUnshipped();
  }

  /** Starts the stall clock at now (first unshipped commit, or a ship that made progress). */
  #markUnshipped(): void {
    this.#unshippedSince = this.#o.clock.now();
    if (this.#stallTimer === undefined) this.#armStall(this.#o.stallTimeoutMs);
  }

  #armStall(ms: number | undefined): void {
    if (ms === undefined || this.#stopped) return;
    const timer = this.#o.clock.timer(ms, () => {
      this.#stallTimer = undefined;
      this.#checkStall();
    });
    timer.unref?.();
    this.#stallTimer = timer;
  }

  #checkStall(): void {
    const limit = this.#o.stallTimeoutMs;
    const since = this.#unshippedSince;
    if (this.#stopped || limit === undefined || since === undefined || !this.dirty) return;
    const waited = this.#o.clock.now() - since;
    if (waited < limit) {
      this.#armStall(limit - waited);
      return;
    }
    if (this.#stalled !== undefined) return;
    const last = this.#lastShipError ?? 'a ship is still running';
    const error = new HaError(
      'HADB_HA_SHIP_STALLED',
      `no ship succeeded for ${Math.round(waited)} ms with ${this.#commitSeq - this.#shippedSeq} unshipped commit(s); last error: ${last}`,
    );
    this.#stalled = error;
    this.#lastShipError = error.message;
    for (const w of this.#waiters.splice(0)) w.reject(stalledBeforeShipped(error));
    this.#o.onStalled?.(error);
  }

  /** Commits counted so far; a write's own commit is included once its call resolved. */
  get commitSeq(): number {
    return this.#commitSeq;
  }

  /** True while counted commits are not shipped. */
  get dirty(): boolean {
    return this.#commitSeq > this.#shippedSeq;
  }

  /**
   * True when the oldest unshipped commit has waited more than `ms` without a successful ship:
   * the leader commits faster than it ships (see the router's backpressure).
   */
  behindBy(ms: number): boolean {
    const since = this.#unshippedSince;
    return since !== undefined && this.#o.clock.now() - since > ms;
  }

  get counters(): ShipCounters {
    return {
      commits: this.#commitSeq,
      ships: this.#ships,
      bytesShipped: this.#bytesShipped,
      lastShipError: this.#lastShipError,
      shipFailures: this.#shipFailures,
      unshippedMs: this.#unshippedSince === undefined ? 0 : Math.max(0, this.#o.clock.now() - this.#unshippedSince),
      stalled: this.#stalled !== undefined,
    };
  }

  /** Starts the periodic loop. */
  start(): void {
    this.#loop ??= this.#run();
  }

  /**
   * Group-commit hook: ship within `groupCommitMs` instead of at the next tick (no effect when
   * off). `alone`: no other write is running on this leader, so none could join the window and
   * the ship starts without waiting for it.
   */
  requestShip(alone = false): void {
    if (this.#o.groupCommitMs === false || this.#stopped) return;
    this.#promptRequested = true;
    if (alone) this.#promptAlone = true;
    this.#wake?.();
  }

  /**
   * Ships once. Resolves once the commits counted before the capture point are durable (and every
   * earlier ship acknowledged). Rejects with the term's error (`HADB_HA_FENCED`, …) or
   * `HADB_HA_SHIP_FAILED` (recorded in `lastShipError`; the next ship retries the changes). Ships
   * start one at a time; the next may start once this one's changes are captured when the engine
   * pipelines (`ShipOptions.captured`), and they are acknowledged in the order they started.
   */
  async shipOnce(options: OpOptions = {}): Promise<void> {
    const { acknowledged } = await this.#start(options);
    // A ship captured before an earlier one's failure acknowledged nothing: ship once more.
    if (!(await acknowledged)) await this.shipOnce(options);
  }

  /**
   * Starts one ship under the start lock and resolves, once the next ship may start, with the
   * promise of this one's acknowledgement.
   */
  #start(options: OpOptions): Promise<{ readonly acknowledged: Promise<boolean> }> {
    return this.#lock.run(async () => {
      if (this.#stopped) throw new HaError('HADB_HA_CLOSED', 'the leader side is closed');
      throwIfAborted(options.signal);
      const previous = this.#tail;
      // Until the engine calls `capturePoint`, this ship covers what was committed when it started.
      let covered = this.#commitSeq;
      if (covered > this.#capturedSeq) this.#capturedSeq = covered;
      let failuresSeen = this.#failuresRecorded;
      let release!: () => void;
      const captured = new Promise<void>((resolve) => {
        release = resolve;
      });
      const run = this.#shipWithDeadline(
        options.signal,
        () => {
          covered = this.#commitSeq;
          failuresSeen = this.#failuresRecorded;
          if (covered > this.#capturedSeq) this.#capturedSeq = covered;
        },
        release,
        previous,
      );
      const acknowledged = this.#acknowledge(
        run,
        previous,
        () => covered,
        () => failuresSeen,
      );
      const settled = acknowledged.then(
        () => {},
        () => {},
      );
      this.#tail = settled;
      // The start lock is held until the engine captured this ship's changes, or the ship settled.
      await Promise.race([captured, settled]);
      return { acknowledged };
    });
  }

  /**
   * Records one ship's outcome once every earlier ship's is recorded; resolves with whether it
   * acknowledged its commits. A ship captured before an earlier ship's failure was recorded stored
   * its bytes but acknowledges no commit: a further ship (captured after the failure, so covering
   * its changes again) does.
   */
  async #acknowledge(
    run: Promise<ShipReport>,
    previous: Promise<void>,
    covered: () => number,
    failuresSeen: () => number,
  ): Promise<boolean> {
    let report: ShipReport;
    try {
      report = await run;
    } catch (cause) {
      await previous;
      this.#failuresRecorded++;
      this.#capturedSeq = this.#shippedSeq;
      if (isHaError(cause) && cause.code !== 'HADB_HA_SHIP_FAILED') throw cause;
      const message = describeError(cause).message;
      this.#shipFailures++;
      if (this.#stalled === undefined) this.#lastShipError = message;
      throw isHaError(cause) ? cause : new HaError('HADB_HA_SHIP_FAILED', `shipping failed: ${message}`, { cause });
    }
    await previous;
    this.#ships++;
    this.#bytesShipped += report.bytes;
    const acknowledged = failuresSeen() === this.#failuresRecorded;
    if (acknowledged) {
      this.#lastShipError = report.warning;
      this.#stalled = undefined;
      if (covered() > this.#shippedSeq) this.#shippedSeq = covered();
    } else {
      // Its commits wait for a further ship, promptly.
      this.#capturedSeq = this.#shippedSeq;
      if (this.dirty) this.requestShip(true);
    }
    if (this.dirty) this.#markUnshipped();
    else this.#unshippedSince = undefined;
    const ready = this.#waiters.filter((w) => w.seq <= this.#shippedSeq);
    this.#waiters = this.#waiters.filter((w) => w.seq > this.#shippedSeq);
    for (const w of ready) w.resolve();
    if (report.bytes > 0) this.#o.onShipped(report);
    return acknowledged;
  }

  /**
   * One ship of the engine under `shipTimeoutMs` (waiting for the engine's call to settle). The
   * deadline runs from when the previous ship settled: a pipelined ship first waits for it.
   */
  #shipWithDeadline(
    signal: AbortSignal | undefined,
    capturePoint: () => void,
    captured: () => void,
    previous: Promise<void>,
  ): Promise<ShipReport> {
    const ms = this.#o.shipTimeoutMs;
    if (ms === undefined) return this.#o.ship({ signal, capturePoint, captured });
    return withTimeout(
      timersAfter(this.#o.clock, previous),
      ms,
      'ship',
      {
        timeout: (message) => new HaError('HADB_HA_SHIP_FAILED', message),
        aborted: (message, cause) => haAborted(message, cause),
      },
      (s) => this.#o.ship({ signal: s, capturePoint, captured }),
      {
        signal,
        settle: {
          onSlowSettle: () =>
            (this.#o.logger ?? silentLogger).error(
              { timeoutMs: ms },
              'hadb: a ship ignores its abort signal; still waiting for it',
            ),
        },
      },
    );
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
    if (this.#stalled !== undefined) return Promise.reject(stalledBeforeShipped(this.#stalled));
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
    this.#stallTimer?.cancel();
    this.#stallTimer = undefined;
    this.#wake?.();
    await this.#loop;
    await this.#lock.run(async () => {
      await this.#tail;
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
        if (!this.#promptAlone && groupCommitMs !== false && groupCommitMs > 0) await this.#nap(groupCommitMs);
        this.#promptRequested = false;
        this.#promptAlone = false;
        due = this.#uncaptured;
      } else {
        last = clock.now();
        tick++;
        due = this.#uncaptured || (idleShipEveryTicks > 0 && tick % idleShipEveryTicks === 0);
      }
      if (this.#stopped || !due) continue;
      // Waits only until the next ship may start (its upload may still be in flight).
      try {
        (await this.#start({})).acknowledged.catch((err: unknown) => this.#loopError(err));
      } catch (err) {
        this.#loopError(err);
      }
    }
  }

  /** Commits no started ship covers. */
  get #uncaptured(): boolean {
    return this.#commitSeq > this.#capturedSeq;
  }

  #loopError(err: unknown): void {
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

/** `clock` whose timers start counting once `start` settled. */
function timersAfter(clock: Clock, start: Promise<void>): Clock {
  return {
    now: () => clock.now(),
    wallMs: () => clock.wallMs(),
    sleep: (ms, signal) => clock.sleep(ms, signal),
    timer(ms, fn) {
      let inner: Timer | undefined;
      let cancelled = false;
      void start.then(() => {
        if (!cancelled) inner = clock.timer(ms, fn);
      });
      return {
        cancel() {
          cancelled = true;
          inner?.cancel();
        },
      };
    },
  };
}

function stalledBeforeShipped(stall: HaError): HaError {
  return new HaError('HADB_HA_SHIP_FAILED', `the write is committed but not shipped: ${stall.message}`, {
    cause: stall,
  });
}

function closedBeforeShipped(): HaError {
  return new HaError('HADB_HA_CLOSED', 'the leader side closed before the write was shipped; it may be lost');
}
