import { MemStorageBackend } from '@hadb/storage-mem';
import { describe, expect, it } from 'vitest';
import type { Clock } from '@hadb/io';
import { isCoordinatorError } from '../src/errors.js';
import { TermFence, fencedPutIfAbsent } from '../src/fence.js';

/** A clock whose monotonic and wall readings the test sets by hand. */
class HandClock implements Clock {
  mono = 1000;
  wall = 1_700_000_000_000;
  now(): number {
    return this.mono;
  }
  wallMs(): number {
    return this.wall;
  }
  sleep(): Promise<void> {
    return new Promise(() => {});
  }
  timer(): { cancel(): void } {
    return { cancel: () => {} };
  }
  advance(ms: number, wallMs = ms): void {
    this.mono += ms;
    this.wall += wallMs;
  }
}

describe('TermFence', () => {
  it('is valid until sentAt + window and moves only with confirmed renewals', () => {
    const clock = new HandClock();
    const fence = new TermFence({ db: 'db', epoch: 4, clock, sentAt: clock.now(), windowMs: 4000 });
    expect(fence.isValid()).toBe(true);
    expect(fence.remainingMs()).toBe(4000);
    clock.advance(1500);
    fence.extend(clock.now() - 100); // a renewal sent 100 ms ago was confirmed
    expect(fence.remainingMs()).toBe(3900);
    fence.extend(clock.now() - 3000); // an older confirmation never shortens it
    expect(fence.remainingMs()).toBe(3900);
    clock.advance(3900);
    expect(fence.isValid()).toBe(false);
    expect(() => fence.check()).toThrow(/fenced/);
  });

  it('a confirmation arriving after the deadline closes the fence instead of reopening it', () => {
    const clock = new HandClock();
    const fence = new TermFence({ db: 'db', epoch: 1, clock, sentAt: clock.now(), windowMs: 1000 });
    const sentAt = clock.now() + 500;
    clock.advance(1200);
    fence.extend(sentAt);
    expect(fence.reason).toBe('deadline');
    expect(fence.isValid()).toBe(false);
    expect(fence.signal.aborted).toBe(true);
  });

  it('closes early when the wall clock jumped further than the monotonic clock (suspended machine)', () => {
    const clock = new HandClock();
    const fence = new TermFence({ db: 'db', epoch: 1, clock, sentAt: clock.now(), windowMs: 4000 });
    clock.advance(100, 60_000); // CLOCK_MONOTONIC stood still during a suspend; the wall clock did not
    expect(fence.isValid()).toBe(false);
    const other = new TermFence({ db: 'db', epoch: 2, clock, sentAt: clock.now(), windowMs: 4000 });
    clock.advance(100, -60_000); // a wall clock stepped back does not extend anything
    expect(other.remainingMs()).toBe(3900);
  });

  it('trip and close end the term once, abort the signal and notify listeners', () => {
    const clock = new HandClock();
    const fence = new TermFence({ db: 'db', epoch: 9, clock, sentAt: clock.now(), windowMs: 4000 });
    const reasons: string[] = [];
    fence.onClose((reason, detail) => reasons.push(`${reason}:${detail}`));
    fence.trip('sequence 7 written by epoch 10');
    fence.close('handoff');
    expect(reasons).toEqual(['deposed:sequence 7 written by epoch 10']);
    expect(fence.signal.aborted).toBe(true);
    let caught: unknown;
    try {
      fence.check();
    } catch (err) {
      caught = err;
    }
    expect(isCoordinatorError(caught, 'HADB_CORE_FENCED')).toBe(true);
    const late: string[] = [];
    fence.onClose((reason) => late.push(reason));
    expect(late).toEqual(['deposed']);
  });

  it('never expires without a lease (window Infinity)', () => {
    const clock = new HandClock();
    const fence = new TermFence({ db: 'db', epoch: 0, clock, sentAt: clock.now(), windowMs: Infinity });
    clock.advance(1e12, 1e12);
    expect(fence.isValid()).toBe(true);
  });
});

describe('fencedPutIfAbsent', () => {
  it('writes each key once and never overwrites, and refuses to write once fenced', async () => {
    await using storage = new MemStorageBackend();
    const clock = new HandClock();
    const fence = new TermFence({ db: 'db', epoch: 1, clock, sentAt: clock.now(), windowMs: 4000 });
    const first = await fencedPutIfAbsent(storage, 'db/seg/1', new Uint8Array([1]), fence);
    expect(first.success).toBe(true);
    const second = await fencedPutIfAbsent(storage, 'db/seg/1', new Uint8Array([2]), fence);
    expect(second.success).toBe(false);
    expect((await storage.get('db/seg/1'))?.data).toEqual(new Uint8Array([1]));
    clock.advance(4000);
    let caught: unknown;
    try {
      await fencedPutIfAbsent(storage, 'db/seg/2', new Uint8Array([3]), fence);
    } catch (err) {
      caught = err;
    }
    expect(isCoordinatorError(caught, 'HADB_CORE_FENCED')).toBe(true);
    expect(await storage.exists('db/seg/2')).toBe(false);
  });

  it('aborts an in-flight write when the term ends', async () => {
    await using storage = new MemStorageBackend();
    const clock = new HandClock();
    const fence = new TermFence({ db: 'db', epoch: 1, clock, sentAt: clock.now(), windowMs: 4000 });
    const seen: AbortSignal[] = [];
    const spy = new Proxy(storage, {
      get(target, prop, receiver) {
        if (prop === 'putIfAbsent') {
          return (key: string, data: Uint8Array, options: { signal: AbortSignal }) => {
            seen.push(options.signal);
            return target.putIfAbsent(key, data, options);
          };
        }
        return Reflect.get(target, prop, receiver) as unknown;
      },
    });
    await fencedPutIfAbsent(spy, 'k', new Uint8Array([1]), fence);
    expect(seen[0]?.aborted).toBe(false);
    const pending = fencedPutIfAbsent(spy, 'k2', new Uint8Array([1]), fence);
    fence.close('lease-lost');
    expect(seen[1]?.aborted).toBe(true);
    await pending.catch(() => {});
  });
});
