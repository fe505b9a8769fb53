import { silentLogger } from '@hadb/io';
import { ManualClock } from '@hadb/testkit';
import { describe, expect, it } from 'vitest';
import { PullWatchdog } from '../src/follower-watchdog.js';

function watchdog(clock: ManualClock, answeredLookMs?: number): PullWatchdog {
  return new PullWatchdog({
    db: 'db',
    clock,
    logger: silentLogger,
    pullTimeoutMs: 1000,
    answeredLookMs,
    onPullFailed: () => {},
    onRecovered: () => {},
    onStalled: () => {},
  });
}

/** A wait that ends only when its signal aborts (a notice that never comes). */
function hangs(signal: AbortSignal): Promise<string> {
  return new Promise((_resolve, reject) =>
    signal.addEventListener('abort', () => reject(new Error('cut')), { once: true }),
  );
}

describe('PullWatchdog.idle', () => {
  it('cuts a wait with no answer from the leader after pullTimeoutMs', async () => {
    const clock = new ManualClock();
    const outcome = watchdog(clock).idle((s) => hangs(s), new AbortController().signal, 'fallback');
    let settled: string | undefined;
    void outcome.then((v) => (settled = v));
    await clock.advance(999);
    expect(settled).toBeUndefined();
    await clock.advance(1);
    expect(await outcome).toBe('fallback');
  });

  it('does not cut while the leader keeps answering, and cuts pullTimeoutMs after its last answer', async () => {
    const clock = new ManualClock();
    let alive: (() => void) | undefined;
    const outcome = watchdog(clock).idle(
      (s, a) => {
        alive = a;
        return hangs(s);
      },
      new AbortController().signal,
      'fallback',
    );
    let settled: string | undefined;
    void outcome.then((v) => (settled = v));
    for (let i = 0; i < 10; i++) {
      await clock.advance(600);
      alive?.();
    }
    expect(settled).toBeUndefined();
    await clock.advance(999);
    expect(settled).toBeUndefined();
    await clock.advance(1);
    expect(await outcome).toBe('fallback');
  });

  it('cuts a wait after answeredLookMs even while the leader keeps answering', async () => {
    const clock = new ManualClock();
    let alive: (() => void) | undefined;
    const outcome = watchdog(clock, 5000).idle(
      (s, a) => {
        alive = a;
        return hangs(s);
      },
      new AbortController().signal,
      'look',
    );
    let settled: string | undefined;
    void outcome.then((v) => (settled = v));
    for (let i = 0; i < 8; i++) {
      await clock.advance(600);
      alive?.();
    }
    expect(settled).toBeUndefined();
    await clock.advance(200);
    expect(await outcome).toBe('look');
  });

  it("passes the caller's abort through as an error", async () => {
    const clock = new ManualClock();
    const caller = new AbortController();
    const outcome = watchdog(clock).idle((s) => hangs(s), caller.signal, 'fallback');
    caller.abort();
    await expect(outcome).rejects.toThrow('cut');
  });
});
