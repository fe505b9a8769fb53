import { describe, expect, it } from 'vitest';
import { systemClock, withTimeout } from '@hadb/io';
import { CORE_DEADLINE, isCoordinatorError } from '../src/errors.js';

describe('systemClock and withTimeout', () => {
  it('sleeps on the monotonic clock and rejects with the reason on abort', async () => {
    const t0 = systemClock.now();
    await systemClock.sleep(20);
    expect(systemClock.now() - t0).toBeGreaterThanOrEqual(19);
    const c = new AbortController();
    const p = systemClock.sleep(10_000, c.signal);
    c.abort(new Error('stop'));
    await expect(p).rejects.toThrow('stop');
  });

  it('times out a call that ignores its signal, and passes results and errors through', async () => {
    await expect(withTimeout(systemClock, 1000, 'fast', CORE_DEADLINE, async () => 7)).resolves.toBe(7);
    await expect(
      withTimeout(systemClock, 1000, 'fails', CORE_DEADLINE, async () => Promise.reject(new Error('x'))),
    ).rejects.toThrow('x');
    let caught: unknown;
    try {
      await withTimeout(systemClock, 20, 'hang', CORE_DEADLINE, () => new Promise(() => {}));
    } catch (err) {
      caught = err;
    }
    expect(isCoordinatorError(caught, 'HADB_CORE_TIMEOUT')).toBe(true);
  });

  it('in settle mode waits for the call to finish after its signal fired', async () => {
    let finished = false;
    const c = new AbortController();
    const p = withTimeout(
      systemClock,
      10_000,
      'slow to stop',
      CORE_DEADLINE,
      (signal) =>
        new Promise<void>((resolve) =>
          signal.addEventListener('abort', () =>
            setTimeout(() => {
              finished = true;
              resolve();
            }, 30),
          ),
        ),
      { signal: c.signal, settle: { onSlowSettle: () => {} } },
    );
    c.abort();
    await expect(p).rejects.toMatchObject({ code: 'HADB_CORE_ABORTED' });
    expect(finished).toBe(true);
  });
});
