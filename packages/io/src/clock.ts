/**
 * The one time source of every hadb package. Timing decisions (deadlines, fences, schedules,
 * backoff) read {@link Clock.now}; {@link Clock.wallMs} is only written into records (lease
 * expiry, changeset `created_ms`) and never compared across nodes. Inject a virtual clock to run
 * a package under deterministic simulation; `@hadb/testkit` has one (`ManualClock`).
 */
export interface Clock {
  /** Monotonic milliseconds from an arbitrary origin; never decreases. */
  now(): number;
  /** Wall-clock milliseconds since the Unix epoch (may jump when the system clock is set). */
  wallMs(): number;
  /**
   * Resolves after `ms` milliseconds of {@link now} time (at once for `ms <= 0`). Rejects with
   * `signal.reason` as soon as `signal` aborts (also when it already has).
   */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Calls `fn` after `ms` of {@link now} time unless cancelled first. */
  timer(ms: number, fn: () => void): Timer;
}

/** A cancellable timer from {@link Clock.timer}. */
export interface Timer {
  /** Stops the timer; no effect once it fired. */
  cancel(): void;
  /** Lets the process exit while the timer is pending (real timers; virtual clocks may omit it). */
  unref?(): void;
}

/** A source of uniform random numbers in `[0, 1)`, injectable for tests. */
export type RandomSource = () => number;

/**
 * The real clock: `performance.now()` (CLOCK_MONOTONIC), `Date.now()` and `setTimeout`, looked up
 * on each call so fake timers installed later (`vi.useFakeTimers()`) still apply.
 */
export const systemClock: Clock = Object.freeze({
  now: () => globalThis.performance.now(),
  wallMs: () => Date.now(),
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted === true) {
        reject(signal.reason);
        return;
      }
      const onAbort = (): void => {
        globalThis.clearTimeout(handle);
        reject(signal?.reason);
      };
      const handle = globalThis.setTimeout(
        () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        Math.max(0, ms),
      );
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  },
  timer(ms: number, fn: () => void): Timer {
    const handle = globalThis.setTimeout(fn, Math.max(0, ms));
    return {
      cancel: () => globalThis.clearTimeout(handle),
      unref: () => {
        handle.unref?.();
      },
    };
  },
});

/** Wall-clock Unix seconds of `clock` (lease records store seconds). */
export function wallSeconds(clock: Clock): number {
  return Math.floor(clock.wallMs() / 1000);
}

/** `clock.sleep` that resolves `false` instead of rejecting when `signal` aborts. */
export async function sleepUnlessAborted(clock: Clock, ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false;
  try {
    await clock.sleep(ms, signal);
    return true;
  } catch {
    return false;
  }
}
