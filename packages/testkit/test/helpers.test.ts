import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  ManualClock,
  Prng,
  codeOf,
  eventually,
  freePort,
  rejection,
  seededRandom,
  thrown,
  until,
} from '../src/index.js';

describe('Prng', () => {
  it('repeats its sequence for a seed and differs across seeds', () => {
    const a = new Prng(42);
    const b = new Prng(42);
    const seqA = Array.from({ length: 5 }, () => a.next());
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(seqA);
    expect(new Prng(43).next()).not.toBe(seqA[0]);
    expect(seededRandom(42)()).toBe(seqA[0]);
  });

  it('stays in range', () => {
    const r = new Prng(1);
    for (let i = 0; i < 1000; i++) {
      const f = r.next();
      expect(f >= 0 && f < 1).toBe(true);
      const n = r.int(3, 5);
      expect(n >= 3 && n <= 5 && Number.isInteger(n)).toBe(true);
    }
    expect(r.bytes(16)).toHaveLength(16);
    expect(['x', 'y']).toContain(r.pick(['x', 'y']));
  });
});

describe('rejection, thrown, codeOf', () => {
  const coded = Object.assign(new Error('no'), { code: 'HADB_X_CLOSED' });

  it('return the error or its code', async () => {
    expect(await rejection(Promise.reject(coded))).toBe(coded);
    expect(
      await rejection(async () => {
        throw coded;
      }),
    ).toBe(coded);
    expect(
      await rejection(() => {
        throw coded;
      }),
    ).toBe(coded);
    expect(
      thrown(() => {
        throw coded;
      }),
    ).toBe(coded);
    expect(await codeOf(Promise.reject(coded))).toBe('HADB_X_CLOSED');
    expect(await codeOf(Promise.reject(new Error('plain')))).toBe('uncoded: Error: plain');
    expect(await codeOf(async () => 1)).toBe('resolved');
  });

  it('fail when nothing was thrown', async () => {
    await expect(rejection(Promise.resolve(1))).rejects.toThrow('expected a rejection');
    expect(() => thrown(() => 1)).toThrow('expected a throw');
  });
});

describe('until / eventually', () => {
  it('wait for the condition and return the value', async () => {
    let n = 0;
    const timer = setInterval(() => n++, 5);
    try {
      await until(() => n >= 3);
      expect(n).toBeGreaterThanOrEqual(3);
      expect(await eventually(() => (n >= 5 ? n : undefined))).toBeGreaterThanOrEqual(5);
    } finally {
      clearInterval(timer);
    }
  });

  it('time out with the last error as cause', async () => {
    const boom = new Error('still failing');
    const error = await rejection<Error>(
      eventually(
        () => {
          throw boom;
        },
        { timeoutMs: 30, what: 'replica' },
      ),
    );
    expect(error.message).toBe('replica not met within 30 ms: still failing');
    expect(error.cause).toBe(boom);
    await expect(until(() => false, { timeoutMs: 20 })).rejects.toThrow('condition not met within 20 ms');
  });
});

describe('freePort', () => {
  it('returns a port a listener can bind', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
});

describe('ManualClock', () => {
  it('stands still until advanced; wallMs follows now', async () => {
    const clock = new ManualClock({ startMs: 100, wallOriginMs: 5_000 });
    expect(clock.now()).toBe(100);
    expect(clock.wallMs()).toBe(5_000);
    await clock.advance(250);
    expect(clock.now()).toBe(350);
    expect(clock.wallMs()).toBe(5_250);
  });

  it('fires timers in time order at their own time, ties in creation order, and not cancelled ones', async () => {
    const clock = new ManualClock();
    const log: string[] = [];
    clock.timer(20, () => log.push(`b@${clock.now()}`));
    clock.timer(10, () => log.push(`a@${clock.now()}`));
    clock.timer(20, () => log.push(`c@${clock.now()}`));
    clock.timer(15, () => log.push('cancelled')).cancel();
    await clock.advance(19);
    expect(log).toEqual(['a@10']);
    await clock.advance(1);
    expect(log).toEqual(['a@10', 'b@20', 'c@20']);
    expect(clock.pendingTimers).toBe(0);
  });

  it('resolves sleeps, runs their continuations, and fires timers they set within the window', async () => {
    const clock = new ManualClock();
    const log: number[] = [];
    void (async () => {
      for (let i = 0; i < 3; i++) {
        await clock.sleep(10);
        log.push(clock.now());
      }
    })();
    await clock.advance(25);
    expect(log).toEqual([10, 20]);
    await clock.advance(5);
    expect(log).toEqual([10, 20, 30]);
  });

  it('rejects a sleep with the signal reason and drops its timer', async () => {
    const clock = new ManualClock();
    const c = new AbortController();
    const p = clock.sleep(100, c.signal);
    expect(clock.pendingTimers).toBe(1);
    c.abort('stop');
    await expect(p).rejects.toBe('stop');
    expect(clock.pendingTimers).toBe(0);
    await expect(clock.sleep(1, c.signal)).rejects.toBe('stop');
  });

  it('runNext jumps to the next timer', async () => {
    const clock = new ManualClock();
    let fired = false;
    clock.timer(1000, () => {
      fired = true;
    });
    expect(await clock.runNext()).toBe(true);
    expect(fired).toBe(true);
    expect(clock.now()).toBe(1000);
    expect(await clock.runNext()).toBe(false);
  });
});
