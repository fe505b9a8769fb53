import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConcurrencyLimiter, isIoError, sleep } from '../src/index.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('ConcurrencyLimiter', () => {
  it('never exceeds its limit and runs everything', async () => {
    const limiter = new ConcurrencyLimiter(3);
    let running = 0;
    let peak = 0;
    let done = 0;
    const tasks = Array.from({ length: 40 }, (_, i) =>
      limiter.run(async () => {
        running++;
        peak = Math.max(peak, running);
        expect(limiter.active).toBeLessThanOrEqual(3);
        await sleep(((i * 7) % 13) + 1);
        running--;
        done++;
      }),
    );
    await vi.runAllTimersAsync();
    await Promise.all(tasks);
    expect(done).toBe(40);
    expect(peak).toBe(3);
    expect(limiter.active).toBe(0);
    expect(limiter.pending).toBe(0);
  });

  it('serves waiters in FIFO order, without barging', async () => {
    const limiter = new ConcurrencyLimiter(1);
    const first = await limiter.acquire();
    const order: number[] = [];
    const waiters = [1, 2, 3].map((n) =>
      limiter.acquire().then((release) => {
        order.push(n);
        return release;
      }),
    );
    expect(limiter.pending).toBe(3);
    first();
    // A newcomer arriving after the release must queue behind the existing waiters.
    const late = limiter.acquire().then((release) => {
      order.push(4);
      return release;
    });
    for (const w of [...waiters, late]) (await w)();
    expect(order).toEqual([1, 2, 3, 4]);
    expect(limiter.active).toBe(0);
  });

  it('removes an aborted waiter from the queue and rejects it', async () => {
    const limiter = new ConcurrencyLimiter(1);
    const release = await limiter.acquire();
    const controller = new AbortController();
    const aborted = limiter.acquire({ signal: controller.signal }).then(
      () => 'acquired',
      (e: unknown) => e,
    );
    const next = limiter.acquire();
    controller.abort();
    expect(isIoError(await aborted, 'HADB_IO_ABORTED')).toBe(true);
    expect(limiter.pending).toBe(1);
    release();
    (await next)();
    expect(limiter.active).toBe(0);
  });

  it('rejects at once with an already-fired signal', async () => {
    const limiter = new ConcurrencyLimiter(2);
    await expect(limiter.acquire({ signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'HADB_IO_ABORTED' });
    expect(limiter.active).toBe(0);
  });

  it('ignores a second release', async () => {
    const limiter = new ConcurrencyLimiter(1);
    const release = await limiter.acquire();
    release();
    release();
    expect(limiter.active).toBe(0);
    const again = await limiter.acquire();
    expect(limiter.active).toBe(1);
    again();
  });

  it('releases the slot when the task throws', async () => {
    const limiter = new ConcurrencyLimiter(1);
    await expect(limiter.run(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(limiter.active).toBe(0);
  });

  it('validates its limit', () => {
    expect(() => new ConcurrencyLimiter(0)).toThrow(RangeError);
    expect(() => new ConcurrencyLimiter(1.5)).toThrow(RangeError);
  });
});

describe('sleep', () => {
  it('resolves after the delay and rejects at once when aborted', async () => {
    let resolved = false;
    const p = sleep(100).then(() => (resolved = true));
    await vi.advanceTimersByTimeAsync(99);
    expect(resolved).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await p;
    expect(resolved).toBe(true);

    const controller = new AbortController();
    const q = sleep(1_000_000, { signal: controller.signal }).catch((e: unknown) => e);
    controller.abort();
    expect(isIoError(await q, 'HADB_IO_ABORTED')).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });
});
