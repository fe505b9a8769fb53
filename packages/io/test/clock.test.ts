import { afterEach, describe, expect, it, vi } from 'vitest';
import { sleepUnlessAborted, systemClock, wallSeconds, type Clock } from '../src/index.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('systemClock', () => {
  it('now() is monotonic and advances with real time; wallMs() is Date.now()', async () => {
    const a = systemClock.now();
    await new Promise((r) => setTimeout(r, 20));
    const b = systemClock.now();
    expect(b - a).toBeGreaterThanOrEqual(15);
    const wall = systemClock.wallMs();
    expect(Math.abs(wall - Date.now())).toBeLessThan(50);
  });

  it('sleep resolves after ms of (fake) time, not before', async () => {
    vi.useFakeTimers();
    let done = false;
    const p = systemClock.sleep(100).then(() => {
      done = true;
    });
    await vi.advanceTimersByTimeAsync(99);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await p;
    expect(done).toBe(true);
  });

  it('sleep rejects with the signal reason, at once for a fired signal, and clears its timer', async () => {
    vi.useFakeTimers();
    const fired = new AbortController();
    fired.abort('already');
    await expect(systemClock.sleep(1000, fired.signal)).rejects.toBe('already');
    const c = new AbortController();
    const p = systemClock.sleep(1000, c.signal);
    expect(vi.getTimerCount()).toBe(1);
    c.abort('now');
    await expect(p).rejects.toBe('now');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('timer fires fn after ms unless cancelled', async () => {
    vi.useFakeTimers();
    const calls: string[] = [];
    systemClock.timer(50, () => calls.push('a'));
    const b = systemClock.timer(50, () => calls.push('b'));
    b.cancel();
    await vi.advanceTimersByTimeAsync(49);
    expect(calls).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toEqual(['a']);
    b.cancel(); // no effect after the fact
  });

  it('is frozen', () => {
    expect(Object.isFrozen(systemClock)).toBe(true);
  });
});

describe('wallSeconds', () => {
  it('floors the wall clock to Unix seconds', () => {
    const clock: Clock = { ...systemClock, wallMs: () => 1_700_000_000_999 };
    expect(wallSeconds(clock)).toBe(1_700_000_000);
  });
});

describe('sleepUnlessAborted', () => {
  it('returns true after a full sleep, false when aborted before or during it', async () => {
    vi.useFakeTimers();
    const c = new AbortController();
    const full = sleepUnlessAborted(systemClock, 10, c.signal);
    await vi.advanceTimersByTimeAsync(10);
    expect(await full).toBe(true);
    const during = sleepUnlessAborted(systemClock, 1000, c.signal);
    c.abort();
    expect(await during).toBe(false);
    expect(await sleepUnlessAborted(systemClock, 10, c.signal)).toBe(false);
  });
});
