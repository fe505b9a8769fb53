import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CircuitBreaker, type RetryEvent, backoffCap, isIoError, retry } from '../src/index.js';

const reset = (): Error => Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
const notFound = (): Error =>
  Object.assign(new Error('gone'), { name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } });

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** Settles a promise's rejection handler at once so fake-timer runs do not report it as unhandled. */
function settle<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

describe('retry', () => {
  it('makes maxRetries + 1 attempts with jittered delays within the bounds, then rethrows', async () => {
    const events: RetryEvent[] = [];
    const error = reset();
    let attempts = 0;
    const start = Date.now();
    const result = settle(
      retry(
        async () => {
          attempts++;
          throw error;
        },
        { onRetry: (e) => events.push(e) },
      ),
    );
    await vi.runAllTimersAsync();
    const r = await result;
    expect(r).toEqual({ ok: false, error });
    expect(attempts).toBe(6);
    expect(events.map((e) => e.attempt)).toEqual([0, 1, 2, 3, 4]);
    for (const e of events) {
      expect(e.errorClass).toBe('transient');
      expect(e.delayMs).toBeGreaterThanOrEqual(0);
      expect(e.delayMs).toBeLessThanOrEqual(backoffCap(e.attempt));
    }
    // The fake clock advanced by exactly the sum of the sleeps.
    expect(Date.now() - start).toBe(events.reduce((sum, e) => sum + e.delayMs, 0));
  });

  it('uses the injected random source for the delays', async () => {
    const delays: number[] = [];
    let attempts = 0;
    const result = settle(
      retry(
        async () => {
          if (++attempts < 4) throw reset();
          return 'ok';
        },
        { random: () => 0.999_999, baseDelayMs: 10, maxDelayMs: 35, onRetry: (e) => delays.push(e.delayMs) },
      ),
    );
    await vi.runAllTimersAsync();
    expect(await result).toEqual({ ok: true, value: 'ok' });
    expect(delays).toEqual([10, 20, 35]);
  });

  it('returns at once on a non-retryable error, without sleeping', async () => {
    let attempts = 0;
    const error = notFound();
    const r = await settle(
      retry(async () => {
        attempts++;
        throw error;
      }),
    );
    expect(r).toEqual({ ok: false, error });
    expect(attempts).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('honours a custom shouldRetry', async () => {
    let attempts = 0;
    const r = settle(
      retry(
        async () => {
          attempts++;
          throw notFound();
        },
        { shouldRetry: (f) => f.errorClass === 'not-found', maxRetries: 2 },
      ),
    );
    await vi.runAllTimersAsync();
    expect((await r).ok).toBe(false);
    expect(attempts).toBe(3);
  });

  it('rejects promptly when aborted during a backoff sleep', async () => {
    const controller = new AbortController();
    let attempts = 0;
    const r = settle(
      retry(
        async () => {
          attempts++;
          throw reset();
        },
        { signal: controller.signal, baseDelayMs: 60_000, random: () => 0.99 },
      ),
    );
    // Let the first attempt fail and the (long) sleep start.
    await vi.advanceTimersByTimeAsync(0);
    expect(attempts).toBe(1);
    expect(vi.getTimerCount()).toBe(1);
    controller.abort(new Error('shutdown'));
    const outcome = await r;
    expect(outcome.ok).toBe(false);
    const error = (outcome as { error: unknown }).error;
    expect(isIoError(error, 'HADB_IO_ABORTED')).toBe(true);
    expect((error as Error).cause).toEqual(new Error('shutdown'));
    expect(attempts).toBe(1);
    // The sleep's timer was cleared: nothing left behind.
    expect(vi.getTimerCount()).toBe(0);
  });

  it('does not start when the signal has already fired', async () => {
    const op = vi.fn(async () => 1);
    const r = await settle(retry(op, { signal: AbortSignal.abort() }));
    expect(r.ok).toBe(false);
    expect(op).not.toHaveBeenCalled();
  });

  it('passes the signal to the attempt and maps an abort during it to HADB_IO_ABORTED', async () => {
    const controller = new AbortController();
    const r = settle(
      retry(
        ({ signal }) =>
          new Promise<never>((_, reject) => {
            signal?.addEventListener('abort', () =>
              reject(Object.assign(new Error('aborted'), { name: 'AbortError' })),
            );
          }),
        { signal: controller.signal },
      ),
    );
    controller.abort();
    const outcome = await r;
    expect(isIoError((outcome as { error: unknown }).error, 'HADB_IO_ABORTED')).toBe(true);
  });
});

describe('CircuitBreaker', () => {
  it('opens after the threshold, refuses, goes half-open after the cooldown, and a success closes it', async () => {
    const onOpen = vi.fn();
    const breaker = new CircuitBreaker({ threshold: 3, cooldownMs: 1000, onOpen });
    const op = vi.fn(async () => {
      throw reset();
    });
    for (let i = 0; i < 3; i++) {
      expect((await settle(retry(op, { breaker, maxRetries: 0 }))).ok).toBe(false);
    }
    expect(breaker.state).toBe('open');
    expect(onOpen).toHaveBeenCalledTimes(1);
    expect(onOpen).toHaveBeenCalledWith(3);

    // Refused without running the operation.
    const refused = await settle(retry(op, { breaker }));
    expect(isIoError((refused as { error: unknown }).error, 'HADB_IO_CIRCUIT_OPEN')).toBe(true);
    expect(op).toHaveBeenCalledTimes(3);

    vi.advanceTimersByTime(999);
    expect(breaker.state).toBe('open');
    vi.advanceTimersByTime(1);
    expect(breaker.state).toBe('half-open');

    // Exactly one trial at a time.
    let finishTrial!: (v: string) => void;
    const trial = retry(() => new Promise<string>((resolve) => (finishTrial = resolve)), { breaker });
    expect(breaker.tryAcquire()).toBeNull();
    finishTrial('ok');
    expect(await trial).toBe('ok');
    expect(breaker.state).toBe('closed');
    expect(breaker.failures).toBe(0);
    expect(onOpen).toHaveBeenCalledTimes(1);
  });

  it('re-opens for a new cooldown when the trial fails, without a second onOpen', async () => {
    const onOpen = vi.fn();
    const breaker = new CircuitBreaker({ threshold: 2, cooldownMs: 500, onOpen });
    breaker.recordFailure();
    breaker.recordFailure();
    expect(breaker.state).toBe('open');
    vi.advanceTimersByTime(500);
    const permit = breaker.tryAcquire();
    expect(permit).toEqual({ trial: true });
    breaker.settle(permit!, 'failure');
    expect(breaker.state).toBe('open');
    expect(breaker.retryAfterMs).toBe(500);
    vi.advanceTimersByTime(500);
    expect(breaker.state).toBe('half-open');
    expect(onOpen).toHaveBeenCalledTimes(1);
  });

  it('frees the trial slot on a neutral outcome (abort)', () => {
    const breaker = new CircuitBreaker({ threshold: 1, cooldownMs: 10 });
    breaker.recordFailure();
    vi.advanceTimersByTime(10);
    const permit = breaker.tryAcquire();
    expect(breaker.tryAcquire()).toBeNull();
    breaker.settle(permit!, 'neutral');
    expect(breaker.tryAcquire()).toEqual({ trial: true });
  });

  it('stops a retry loop once it opens, with the last failure as cause', async () => {
    const breaker = new CircuitBreaker({ threshold: 2, cooldownMs: 60_000 });
    let attempts = 0;
    const last = reset();
    const r = settle(
      retry(
        async () => {
          attempts++;
          throw last;
        },
        { breaker },
      ),
    );
    await vi.runAllTimersAsync();
    const outcome = await r;
    const error = (outcome as { error: unknown }).error;
    expect(isIoError(error, 'HADB_IO_CIRCUIT_OPEN')).toBe(true);
    expect((error as Error).cause).toBe(last);
    expect(attempts).toBe(2);
  });

  it('does not count answers that prove the server is up (4xx) as failures', async () => {
    const breaker = new CircuitBreaker({ threshold: 2 });
    for (let i = 0; i < 5; i++) {
      await settle(
        retry(
          async () => {
            throw notFound();
          },
          { breaker },
        ),
      );
    }
    expect(breaker.state).toBe('closed');
    expect(breaker.failures).toBe(0);
  });

  it('validates its options', () => {
    expect(() => new CircuitBreaker({ threshold: 0 })).toThrow(RangeError);
    expect(() => new CircuitBreaker({ cooldownMs: -1 })).toThrow(RangeError);
  });
});
