import type { CatchupContext, FollowerBehavior, FollowerContext, FollowerMetrics } from '@hadb/core';
import { childController, type Clock, type Logger, type Timer } from '@hadb/io';
import { HaError } from './errors.js';
import type { FileGate } from './file-gate.js';

/** What {@link PullWatchdog} reports to its node. */
export interface PullWatchdogOptions {
  readonly db: string;
  readonly clock: Clock;
  readonly logger: Logger;
  /** No pull outcome (or applied step) for this long: the follower loop is restarted; ms. */
  readonly pullTimeoutMs: number;
  /**
   * An idle wait is cut after this long even while the leader keeps answering, ms: a slow look at
   * storage for objects no leader announced (written by another process, forged, corrupt).
   * Default: never (only a silent leader's wait is cut, after `pullTimeoutMs`).
   */
  readonly answeredLookMs?: number | undefined;
  /** The engine's loop reports every pull (`HaEngine.reportsPulls`): watched from the start. */
  readonly reportsPulls?: boolean | undefined;
  /** A pull failed (counted). */
  onPullFailed(): void;
  /** A pull finished after a problem was reported: the follower recovered after `downMs`. */
  onRecovered(downMs: number): void;
  /**
   * No pull succeeded for `pullTimeoutMs` (`HADB_HA_PULL_STALLED`), reported once per outage.
   * `hung`: no pull even finished, so the loop is being restarted.
   */
  onStalled(error: HaError, hung: boolean): void;
}

/**
 * Watches a follower's pulls through the follower context's metrics hooks: it says so when pulls
 * keep failing for `pullTimeoutMs`, and restarts the engine's follower loop (aborting the request
 * that hangs) when no pull finishes within `pullTimeoutMs` — so a follower resumes within one
 * deadline after the network heals. Every applied step counts as progress ({@link progress}).
 * An engine whose loop never reports a pull outcome (`FollowerContext.metrics`) is not watched.
 */
export class PullWatchdog {
  readonly #o: PullWatchdogOptions;
  #lastOutcome = 0;
  #lastSuccess = 0;
  #problemSince: number | undefined;
  #reported = false;
  /** Set by the first pull outcome: a loop that never reports its pulls is not judged. */
  #reporting = false;
  /** Waits for a leader notice in progress: no pull is in flight, so nothing is judged. */
  #idle = 0;

  constructor(options: PullWatchdogOptions) {
    this.#o = options;
    this.#reporting = options.reportsPulls === true;
  }

  /** Marks progress of the pull in flight (an applied step). */
  progress(): void {
    this.#lastOutcome = this.#o.clock.now();
  }

  /**
   * Runs `wait` (a follower waiting for the leader's notice between pulls, which may last as long
   * as the leader has nothing new) without judging it: no pull is in flight. `wait` calls `alive`
   * whenever the leader answered that it has nothing new. The wait is cut (resolving with
   * `timedOut`) once `pullTimeoutMs` passed with no such answer, so a follower never goes longer
   * than `pullTimeoutMs` without either the leader's word or a look at storage — a safety net for
   * changes no notice announced (a leader that stopped answering but is still named by the lease,
   * a notice channel that hangs) — and after `answeredLookMs` in any case. The deadlines start
   * again when it ends.
   */
  async idle<T>(
    wait: (signal: AbortSignal, alive: () => void) => Promise<T>,
    signal: AbortSignal,
    timedOut: T,
  ): Promise<T> {
    const { clock, pullTimeoutMs } = this.#o;
    this.#idle++;
    const child = childController(signal);
    let cut = false;
    const since = clock.now();
    let heard = since;
    let timer: Timer;
    const check = (): void => {
      const now = clock.now();
      const left = Math.min(
        pullTimeoutMs - (now - heard),
        (this.#o.answeredLookMs ?? Number.POSITIVE_INFINITY) - (now - since),
      );
      if (left > 0) {
        timer = clock.timer(left, check);
        timer.unref?.();
        return;
      }
      cut = true;
      child.controller.abort();
    };
    timer = clock.timer(pullTimeoutMs, check);
    timer.unref?.();
    try {
      return await wait(child.controller.signal, () => {
        heard = clock.now();
      });
    } catch (err) {
      if (cut && !signal.aborted) return timedOut;
      throw err;
    } finally {
      timer.cancel();
      child.dispose();
      this.#idle--;
      const now = clock.now();
      this.#lastOutcome = now;
      if (this.#problemSince === undefined) this.#lastSuccess = now;
    }
  }

  #succeeded(): void {
    const now = this.#o.clock.now();
    this.#reporting = true;
    this.#lastOutcome = now;
    this.#lastSuccess = now;
    if (this.#problemSince !== undefined) {
      const down = now - this.#problemSince;
      this.#problemSince = undefined;
      if (this.#reported) this.#o.onRecovered(down);
      this.#reported = false;
    }
  }

  #failed(): void {
    const now = this.#o.clock.now();
    this.#reporting = true;
    this.#lastOutcome = now;
    this.#problemSince ??= now;
    this.#o.onPullFailed();
  }

  #report(now: number, hung: boolean): void {
    this.#problemSince ??= this.#lastSuccess;
    if (this.#reported) return;
    this.#reported = true;
    const waited = Math.round(now - this.#lastSuccess);
    const error = new HaError(
      'HADB_HA_PULL_STALLED',
      hung
        ? `a follower pull has not finished after ${waited} ms; restarting the follower loop`
        : `no follower pull succeeded for ${waited} ms (storage unreachable?)`,
    );
    this.#o.onStalled(error, hung);
  }

  /**
   * Runs `inner`'s follower loop, restarting it with a fresh signal whenever no pull finished for
   * `pullTimeoutMs`. Resolves when `ctx.signal` aborts (or the loop ends on its own).
   */
  async run(inner: FollowerBehavior, ctx: FollowerContext): Promise<void> {
    const { clock, pullTimeoutMs } = this.#o;
    const metrics: FollowerMetrics = {
      pullSucceeded: () => {
        this.#succeeded();
        ctx.metrics.pullSucceeded();
      },
      pullNoNewData: () => {
        this.#succeeded();
        ctx.metrics.pullNoNewData();
      },
      pullFailed: () => {
        this.#failed();
        ctx.metrics.pullFailed();
      },
    };
    this.#lastOutcome = clock.now();
    // Kept across restarts of the loop (core restarts a loop that rejected): a failing streak goes on.
    if (this.#lastSuccess === 0) this.#lastSuccess = this.#lastOutcome;
    while (!ctx.signal.aborted) {
      const child = childController(ctx.signal);
      let hung = false;
      let timer: Timer | undefined;
      const check = (): void => {
        const now = clock.now();
        if (!this.#reporting || this.#idle > 0) {
          timer = clock.timer(pullTimeoutMs, check);
          timer.unref?.();
          return;
        }
        if (now - this.#lastOutcome >= pullTimeoutMs) {
          hung = true;
          this.#report(now, true);
          child.controller.abort(
            new HaError('HADB_HA_PULL_STALLED', `no follower pull finished within ${pullTimeoutMs} ms`),
          );
          return;
        }
        if (now - this.#lastSuccess >= pullTimeoutMs) this.#report(now, false);
        const next = Math.min(this.#lastOutcome, this.#reported ? Number.POSITIVE_INFINITY : this.#lastSuccess);
        timer = clock.timer(Math.max(1, next + pullTimeoutMs - now), check);
        timer.unref?.();
      };
      timer = clock.timer(pullTimeoutMs, check);
      timer.unref?.();
      try {
        await inner.runFollowerLoop({ ...ctx, signal: child.controller.signal, metrics });
      } finally {
        timer?.cancel();
        child.dispose();
      }
      if (!hung) return;
      this.#o.logger.warn({ db: this.#o.db }, 'hadb: follower loop restarted after a pull hung');
      this.#lastOutcome = clock.now();
    }
  }
}

/**
 * The engine's follower behavior, kept off the file while the leader side owns it (`gate`), its
 * follower loop run under `watchdog`.
 */
export function watchedFollowerBehavior(
  inner: FollowerBehavior,
  gate: FileGate,
  watchdog: PullWatchdog,
  onLoopError: (err: unknown) => void = () => {},
): FollowerBehavior {
  return {
    async runFollowerLoop(ctx: FollowerContext) {
      if (!(await gate.whenFree(ctx.signal))) return;
      try {
        return await watchdog.run(inner, ctx);
      } catch (err) {
        if (!ctx.signal.aborted) onLoopError(err);
        throw err;
      }
    },
    async catchupOnPromotion(ctx: CatchupContext) {
      await gate.whenFree(ctx.signal);
      ctx.signal.throwIfAborted();
      return inner.catchupOnPromotion(ctx);
    },
    durableHead: (db, o) => inner.durableHead(db, o),
  };
}
