/**
 * Time source and timers, injectable for tests. The default reads `Date.now()` and
 * `globalThis.setTimeout` at call time, so `vi.useFakeTimers()` controls it.
 */
export interface Clock {
  /** Milliseconds since the epoch (only differences are used). */
  now(): number;
  /** Schedules `callback` after `ms` milliseconds; returns a handle for {@link Clock.clearTimeout}. */
  setTimeout(callback: () => void, ms: number): unknown;
  /** Cancels a timer from {@link Clock.setTimeout}. */
  clearTimeout(handle: unknown): void;
}

/** The real clock (looked up on each call, so fake timers installed later still apply). */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>),
};

/** A source of uniform random numbers in `[0, 1)`, injectable for tests. */
export type RandomSource = () => number;
