/** Waiting for a condition in tests, for what cannot be awaited directly (another process, a server). */

/** Options of {@link until} and {@link eventually}. */
export interface PollOptions {
  /** Give up after this long. Default 5000 ms. */
  readonly timeoutMs?: number | undefined;
  /** Pause between tries. Default 10 ms. */
  readonly intervalMs?: number | undefined;
  /** Named in the timeout error. Default `"condition"`. */
  readonly what?: string | undefined;
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves once `predicate` returns true; throws after `timeoutMs`. */
export async function until(predicate: () => boolean | Promise<boolean>, options: PollOptions = {}): Promise<void> {
  await eventually(async () => (await predicate()) || undefined, options);
}

/**
 * Calls `fn` until it returns a value other than `undefined`, `null` or `false` without throwing,
 * and returns that value; throws after `timeoutMs`, with the last error as `cause`.
 */
export async function eventually<T>(
  fn: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  options: PollOptions = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const intervalMs = options.intervalMs ?? 10;
  const end = performance.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined && value !== null && value !== false) return value;
      last = undefined;
    } catch (error) {
      last = error;
    }
    if (performance.now() >= end) {
      const detail = last === undefined ? '' : `: ${last instanceof Error ? last.message : String(last)}`;
      throw new Error(`${options.what ?? 'condition'} not met within ${timeoutMs} ms${detail}`, { cause: last });
    }
    await pause(intervalMs);
  }
}
