import type { RandomSource } from './clock.js';

/** Backoff parameters (milliseconds). */
export interface BackoffOptions {
  /** Delay cap of the first retry; doubles per attempt. Default 100. */
  readonly baseDelayMs?: number | undefined;
  /** Upper bound of any delay. Default 30000. */
  readonly maxDelayMs?: number | undefined;
}

/** Defaults of hadb-io's `RetryConfig`. */
export const DEFAULT_BACKOFF = { baseDelayMs: 100, maxDelayMs: 30_000 } as const;

/** The exponent stops growing here, so `base * 2^attempt` cannot overflow. */
const MAX_EXPONENT = 20;

/** The largest delay {@link backoffDelay} can return for a 0-based retry `attempt`. */
export function backoffCap(attempt: number, options: BackoffOptions = {}): number {
  const base = options.baseDelayMs ?? DEFAULT_BACKOFF.baseDelayMs;
  const max = options.maxDelayMs ?? DEFAULT_BACKOFF.maxDelayMs;
  const exponent = Math.min(Math.max(0, Math.floor(attempt)), MAX_EXPONENT);
  return Math.max(0, Math.min(max, base * 2 ** exponent));
}

/**
 * Full-jitter backoff: a uniform integer in `[0, min(maxDelayMs, baseDelayMs * 2^min(attempt, 20))]`,
 * where `attempt` is 0 for the first retry.
 */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions = {},
  random: RandomSource = Math.random,
): number {
  const cap = backoffCap(attempt, options);
  return Math.min(cap, Math.floor(random() * (cap + 1)));
}
