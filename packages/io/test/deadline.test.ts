import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HadbError, systemClock, withTimeout, type DeadlineErrors } from '../src/index.js';

type Code = 'HADB_PKG_TIMEOUT' | 'HADB_PKG_ABORTED' | 'HADB_PKG_FENCED';
class PkgError extends HadbError<Code> {
  override readonly name = 'PkgError';
}
const errors: DeadlineErrors = {
  timeout: (message, cause) => new PkgError('HADB_PKG_TIMEOUT', message, { cause }),
  aborted: (message, cause) => new PkgError('HADB_PKG_ABORTED', message, { cause }),
};

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

function outcome<T>(p: Promise<T>): { value?: T; error?: unknown; settled: boolean } {
  const state: { value?: T; error?: unknown; settled: boolean } = { settled: false };
  p.then(
    (value) => Object.assign(state, { value, settled: true }),
    (error: unknown) => Object.assign(state, { error, settled: true }),
  );
  return state;
}

describe('withTimeout', () => {
  it('resolves with fn’s value before the deadline and cancels its timer', async () => {
    const result = await withTimeout(systemClock, 1000, 'read', errors, async () => 42);
    expect(result).toBe(42);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('passes fn’s own error through', async () => {
    const boom = new Error('boom');
    await expect(
      withTimeout(systemClock, 1000, 'read', errors, async () => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    const sync = new Error('sync');
    await expect(
      withTimeout(systemClock, 1000, 'read', errors, () => {
        throw sync;
      }),
    ).rejects.toBe(sync);
  });

  it('rejects with the TIMEOUT error at the deadline even if fn ignores its signal, and aborts fn’s signal', async () => {
    let inner: AbortSignal | undefined;
    const state = outcome(
      withTimeout(systemClock, 100, 'lease read', errors, (signal) => {
        inner = signal;
        return new Promise(() => {});
      }),
    );
    await vi.advanceTimersByTimeAsync(99);
    expect(state.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(state.error).toMatchObject({ code: 'HADB_PKG_TIMEOUT', message: 'lease read timed out after 100 ms' });
    expect(inner?.aborted).toBe(true);
    expect(inner?.reason).toBe(state.error);
  });

  it('rejects with the ABORTED error when the caller’s signal fires, and at once when it already has', async () => {
    const c = new AbortController();
    const state = outcome(
      withTimeout(systemClock, 1000, 'x', errors, () => new Promise(() => {}), { signal: c.signal }),
    );
    c.abort('user');
    await vi.advanceTimersByTimeAsync(0);
    expect(state.error).toMatchObject({ code: 'HADB_PKG_ABORTED', cause: 'user' });
    expect(vi.getTimerCount()).toBe(0);
    let called = false;
    await expect(
      withTimeout(
        systemClock,
        1000,
        'x',
        errors,
        async () => {
          called = true;
        },
        { signal: c.signal },
      ),
    ).rejects.toMatchObject({ code: 'HADB_PKG_ABORTED' });
    expect(called).toBe(false);
  });

  it('keeps a hadb error given as abort reason', async () => {
    const fence = new PkgError('HADB_PKG_FENCED', 'fenced');
    const c = new AbortController();
    const state = outcome(
      withTimeout(systemClock, 1000, 'x', errors, () => new Promise(() => {}), { signal: c.signal }),
    );
    c.abort(fence);
    await vi.advanceTimersByTimeAsync(0);
    expect(state.error).toBe(fence);
  });

  describe('with settle', () => {
    it('waits for fn to settle after the timeout, then rejects with TIMEOUT; hooks fire on time', async () => {
      const hooks = { onTimeout: vi.fn(), onSlowSettle: vi.fn() };
      let finish!: () => void;
      const state = outcome(
        withTimeout(
          systemClock,
          100,
          'apply',
          errors,
          (signal) =>
            new Promise<string>((resolve) => {
              finish = () => resolve(signal.aborted ? 'late' : 'ok');
            }),
          { settle: hooks },
        ),
      );
      await vi.advanceTimersByTimeAsync(100);
      expect(hooks.onTimeout).toHaveBeenCalledTimes(1);
      expect(state.settled).toBe(false); // still waiting for fn
      await vi.advanceTimersByTimeAsync(100);
      expect(hooks.onSlowSettle).toHaveBeenCalledTimes(1);
      finish();
      await vi.advanceTimersByTimeAsync(0);
      expect(state.error).toMatchObject({ code: 'HADB_PKG_TIMEOUT', message: 'apply timed out after 100 ms' });
      expect(vi.getTimerCount()).toBe(0);
    });

    it('resolves when fn finishes in time and fires no hook', async () => {
      const hooks = { onTimeout: vi.fn(), onSlowSettle: vi.fn() };
      await expect(withTimeout(systemClock, 100, 'apply', errors, async () => 'ok', { settle: hooks })).resolves.toBe(
        'ok',
      );
      await vi.advanceTimersByTimeAsync(500);
      expect(hooks.onTimeout).not.toHaveBeenCalled();
      expect(hooks.onSlowSettle).not.toHaveBeenCalled();
    });

    it('maps an abort by the caller to ABORTED once fn settles', async () => {
      const c = new AbortController();
      const state = outcome(
        withTimeout(
          systemClock,
          1000,
          'apply',
          errors,
          (signal) =>
            new Promise<never>((_, reject) =>
              signal.addEventListener('abort', () => reject(new Error('inner')), { once: true }),
            ),
          { signal: c.signal, settle: { onSlowSettle: () => {} } },
        ),
      );
      c.abort();
      await vi.advanceTimersByTimeAsync(0);
      expect(state.error).toMatchObject({ code: 'HADB_PKG_ABORTED' });
    });
  });
});
