import type { FollowerBehavior, FollowerContext } from '@hadb/core';
import { silentLogger, systemClock } from '@hadb/io';
import { describe, expect, it } from 'vitest';
import type { ShipOptions, ShipReport } from '../src/engine.js';
import { HaError, isHaError } from '../src/errors.js';
import { FileGate } from '../src/file-gate.js';
import { PullWatchdog, watchedFollowerBehavior } from '../src/follower-watchdog.js';
import { withForwardRetries } from '../src/forwarding/client.js';
import { resolveHaNodeOptions } from '../src/options.js';
import { ShipScheduler } from '../src/ship-scheduler.js';

const caught = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => 'resolved',
    (e: unknown) => e,
  );
const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('ship stall', () => {
  it('a leader whose ships keep failing stalls once: HADB_HA_SHIP_STALLED, shipped waiters fail retryably, recovery clears it', async () => {
    let failing = true;
    const stalls: HaError[] = [];
    const s = new ShipScheduler({
      clock: systemClock,
      intervalMs: 20,
      idleShipEveryTicks: 0,
      groupCommitMs: false,
      ship: async (o: ShipOptions): Promise<ShipReport> => {
        o.capturePoint();
        if (failing) throw new Error('storage unreachable');
        return { bytes: 1 };
      },
      onShipped: () => undefined,
      onError: () => undefined,
      stallTimeoutMs: 150,
      onStalled: (e) => stalls.push(e),
    });
    s.start();
    try {
      s.committed();
      const waiting = caught(s.waitShipped(s.commitSeq));
      const err = await waiting;
      expect(isHaError(err, 'HADB_HA_SHIP_FAILED')).toBe(true);
      expect((err as HaError).retryable).toBe(true);
      expect(isHaError((err as HaError).cause, 'HADB_HA_SHIP_STALLED')).toBe(true);
      expect(stalls).toHaveLength(1);
      expect(stalls[0]!.message).toMatch(
        /no ship succeeded for \d+ ms with 1 unshipped commit\(s\); last error: .*storage unreachable/,
      );
      const c = s.counters;
      expect(c.stalled).toBe(true);
      expect(c.shipFailures).toBeGreaterThan(0);
      expect(c.unshippedMs).toBeGreaterThanOrEqual(150);
      expect(c.lastShipError).toBe(stalls[0]!.message);
      // While stalled, a new shipped wait fails at once instead of hanging.
      s.committed();
      expect(isHaError(await caught(s.waitShipped(s.commitSeq)), 'HADB_HA_SHIP_FAILED')).toBe(true);
      await tick(200);
      expect(stalls).toHaveLength(1);
      failing = false;
      await s.sync();
      expect(s.counters.stalled).toBe(false);
      expect(s.counters.unshippedMs).toBe(0);
      expect(s.counters.lastShipError).toBeUndefined();
      s.committed();
      await s.waitShipped(s.commitSeq);
    } finally {
      await s.stop();
    }
  });

  it('cuts a ship that hangs at shipTimeoutMs (HADB_HA_SHIP_FAILED), and a hung ship still stalls the leader', async () => {
    const stalls: HaError[] = [];
    let aborted = 0;
    const s = new ShipScheduler({
      clock: systemClock,
      intervalMs: 10_000,
      idleShipEveryTicks: 0,
      groupCommitMs: false,
      ship: (o: ShipOptions): Promise<ShipReport> => {
        o.capturePoint();
        return new Promise((_resolve, reject) =>
          o.signal?.addEventListener('abort', () => {
            aborted++;
            reject(o.signal?.reason);
          }),
        );
      },
      onShipped: () => undefined,
      onError: () => undefined,
      shipTimeoutMs: 100,
      stallTimeoutMs: 80,
      onStalled: (e) => stalls.push(e),
    });
    try {
      s.committed();
      const err = await caught(s.shipOnce());
      expect(isHaError(err, 'HADB_HA_SHIP_FAILED')).toBe(true);
      expect((err as Error).message).toMatch(/ship timed out after 100 ms/);
      expect(aborted).toBe(1);
      // The stall fired while the ship hung, before its deadline.
      expect(stalls).toHaveLength(1);
      expect(stalls[0]!.message).toMatch(/a ship is still running/);
    } finally {
      await s.stop();
    }
  });
});

describe('forwarding retry budget', () => {
  it('retries with backoff until the budget is spent, re-running the attempt each time', async () => {
    let attempts = 0;
    const retries: number[] = [];
    const started = systemClock.now();
    const err = await caught(
      withForwardRetries(
        async () => {
          attempts++;
          throw new HaError('HADB_HA_NOT_LEADER', 'not yet');
        },
        { budgetMs: 300, initialDelayMs: 10, maxDelayMs: 40, onRetry: (n) => retries.push(n) },
      ),
    );
    expect(isHaError(err, 'HADB_HA_FORWARD_FAILED')).toBe(true);
    expect((err as HaError).retryable).toBe(true);
    expect((err as Error).message).toMatch(/after \d+ attempts in \d+ ms: not yet/);
    // 10 + 20 + 40 + 40 + ... until 300 ms: at least 8 attempts, and the budget was waited out.
    expect(attempts).toBeGreaterThanOrEqual(8);
    expect(systemClock.now() - started).toBeGreaterThanOrEqual(250);
    expect(retries).toEqual(Array.from({ length: attempts - 1 }, (_, i) => i + 1));

    let n = 0;
    expect(
      await withForwardRetries(
        async () => {
          if (++n < 4) throw new HaError('HADB_HA_NO_LEADER', 'none');
          return 'done';
        },
        { budgetMs: 5000, initialDelayMs: 5 },
      ),
    ).toBe('done');
    // A fixed schedule still wins over the budget.
    let fixed = 0;
    await caught(
      withForwardRetries(
        async () => {
          fixed++;
          throw new HaError('HADB_HA_NOT_LEADER', 'x');
        },
        { delaysMs: [0, 1, 1], budgetMs: 60_000 },
      ),
    );
    expect(fixed).toBe(3);
  });

  it('derives its default budget and the stall and pull deadlines from the lease timing, and refuses a budget below a failover', () => {
    const base = {
      engine: () => ({}) as never,
      path: '/tmp/x',
      name: 'db',
      instanceId: 'n1',
      lease: { store: {} as never, ttlMs: 2000, skewMarginMs: 400, pollIntervalMs: 400 },
      shipIntervalMs: 200,
      followerPullIntervalMs: 100,
    };
    const o = resolveHaNodeOptions(base);
    expect(o.forwardRetryBudgetMs).toBe(2000 + 400 + 400 + 2000);
    expect(o.forwardRetryDelaysMs).toBeUndefined();
    expect(o.shipStallTimeoutMs).toBe(200 + 2 * 2000);
    expect(o.shipTimeoutMs).toBe(o.shipStallTimeoutMs);
    expect(o.pullTimeoutMs).toBe(100 + 6 * 2000);
    const defaults = resolveHaNodeOptions({ ...base, lease: { store: {} as never } });
    expect(defaults.forwardRetryBudgetMs).toBe(12_000);
    for (const bad of [
      { forwardRetryBudgetMs: 2799 },
      { shipStallTimeoutMs: 200 },
      { shipTimeoutMs: 0 },
      { pullTimeoutMs: 100 },
    ]) {
      let err: unknown;
      try {
        resolveHaNodeOptions({ ...base, ...bad });
      } catch (e) {
        err = e;
      }
      expect(isHaError(err, 'HADB_HA_INVALID_CONFIG'), JSON.stringify(bad)).toBe(true);
    }
    // A fixed schedule needs no budget check.
    expect(
      resolveHaNodeOptions({ ...base, forwardRetryDelaysMs: [0, 100], forwardRetryBudgetMs: 10 }).forwardRetryDelaysMs,
    ).toEqual([0, 100]);
  });
});

/** A follower context whose pulls are scripted by `pull` (resolves: success, rejects: failure). */
function followerContext(signal: AbortSignal, metrics: string[]): FollowerContext {
  return {
    db: 'db',
    path: '/nowhere',
    prefix: '',
    replicator: {} as never,
    pollIntervalMs: 10,
    clock: systemClock,
    signal,
    progress: { position: 0n, caughtUp: false, report: () => undefined, setCaughtUp: () => undefined },
    epochGate: {} as never,
    metrics: {
      pullSucceeded: () => metrics.push('ok'),
      pullFailed: () => metrics.push('failed'),
      pullNoNewData: () => metrics.push('none'),
    },
    logger: silentLogger,
  };
}

/** An engine follower loop polling every 10 ms through `pull(signal)`. */
function scriptedBehavior(pull: (signal: AbortSignal) => Promise<void>, loops: { started: number }): FollowerBehavior {
  return {
    async runFollowerLoop(ctx) {
      loops.started++;
      while (!ctx.signal.aborted) {
        try {
          await pull(ctx.signal);
          ctx.metrics.pullNoNewData();
        } catch {
          if (ctx.signal.aborted) break;
          ctx.metrics.pullFailed();
        }
        await tick(10);
      }
    },
    catchupOnPromotion: async () => 0n,
    durableHead: async () => ({ position: 0n, epoch: 0 }),
  };
}

describe('follower pull watchdog', () => {
  it('restarts a follower loop whose pull hangs, says so once, and reports the recovery', async () => {
    const events: string[] = [];
    const watchdog = new PullWatchdog({
      db: 'db',
      clock: systemClock,
      logger: silentLogger,
      pullTimeoutMs: 120,
      reportsPulls: true,
      onPullFailed: () => events.push('failed'),
      onRecovered: () => events.push('recovered'),
      onStalled: (e, hung) => events.push(`${e.code}:${hung ? 'hung' : 'failing'}`),
    });
    let hang = true;
    const loops = { started: 0 };
    const behavior = watchedFollowerBehavior(
      scriptedBehavior(
        (signal) =>
          hang
            ? new Promise((_r, reject) => signal.addEventListener('abort', () => reject(signal.reason)))
            : Promise.resolve(),
        loops,
      ),
      new FileGate(),
      watchdog,
    );
    const stop = new AbortController();
    const metrics: string[] = [];
    const running = behavior.runFollowerLoop(followerContext(stop.signal, metrics));
    while (!events.includes('HADB_HA_PULL_STALLED:hung')) await tick(20);
    hang = false;
    while (!events.includes('recovered')) await tick(20);
    expect(loops.started).toBeGreaterThanOrEqual(2);
    expect(metrics).toContain('none');
    stop.abort();
    await running;
    expect(events.filter((e) => e.startsWith('HADB_HA_PULL_STALLED'))).toHaveLength(1);
  });

  it('says so when pulls keep failing for pullTimeoutMs (without restarting), then recovers', async () => {
    const events: string[] = [];
    const watchdog = new PullWatchdog({
      db: 'db',
      clock: systemClock,
      logger: silentLogger,
      pullTimeoutMs: 100,
      onPullFailed: () => events.push('failed'),
      onRecovered: () => events.push('recovered'),
      onStalled: (e, hung) => events.push(`${e.code}:${hung ? 'hung' : 'failing'}`),
    });
    let failing = true;
    const loops = { started: 0 };
    const behavior = watchedFollowerBehavior(
      scriptedBehavior(async () => {
        if (failing) throw new Error('unreachable');
      }, loops),
      new FileGate(),
      watchdog,
    );
    const stop = new AbortController();
    const running = behavior.runFollowerLoop(followerContext(stop.signal, []));
    while (!events.includes('HADB_HA_PULL_STALLED:failing')) await tick(20);
    failing = false;
    while (!events.includes('recovered')) await tick(20);
    stop.abort();
    await running;
    expect(loops.started).toBe(1);
    expect(events.filter((e) => e === 'failed').length).toBeGreaterThan(1);
    expect(events.filter((e) => e.startsWith('HADB_HA_PULL_STALLED'))).toEqual(['HADB_HA_PULL_STALLED:failing']);
  });
});

describe('follower pull watchdog and engines that do not report pulls', () => {
  it('never judges a follower loop that reports no pull outcome', async () => {
    const events: string[] = [];
    const watchdog = new PullWatchdog({
      db: 'db',
      clock: systemClock,
      logger: silentLogger,
      pullTimeoutMs: 40,
      onPullFailed: () => events.push('failed'),
      onRecovered: () => events.push('recovered'),
      onStalled: (e) => events.push(e.code),
    });
    let started = 0;
    const silent: FollowerBehavior = {
      async runFollowerLoop(ctx) {
        started++;
        await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
      },
      catchupOnPromotion: async () => 0n,
      durableHead: async () => ({ position: 0n, epoch: 0 }),
    };
    const stop = new AbortController();
    const running = watchedFollowerBehavior(silent, new FileGate(), watchdog).runFollowerLoop(
      followerContext(stop.signal, []),
    );
    await tick(250);
    stop.abort();
    await running;
    expect(started).toBe(1);
    expect(events).toEqual([]);
  });
});

describe('forwarding retry budget and a stalled leader', () => {
  it('starts the budget again once when the leader answers HADB_HA_SHIP_FAILED (it is handing off)', async () => {
    const seen: string[] = [];
    let shipFailedAt = 0;
    let attempts = 0;
    const result = await withForwardRetries(
      async () => {
        attempts++;
        // The stalled leader answers after most of the budget; then the failover takes 150 ms.
        if (attempts === 1) {
          await tick(150);
          seen.push('SHIP_FAILED');
          shipFailedAt = systemClock.now();
          throw new HaError('HADB_HA_SHIP_FAILED', 'stalled');
        }
        if (attempts <= 3 || systemClock.now() - shipFailedAt < 150) {
          seen.push('NO_LEADER');
          throw new HaError('HADB_HA_NO_LEADER', 'handing off');
        }
        return 'written';
      },
      { budgetMs: 200, initialDelayMs: 10, maxDelayMs: 20 },
    );
    expect(result).toBe('written');
    expect(seen[0]).toBe('SHIP_FAILED');
    expect(seen.length).toBeGreaterThan(2);
    // Only once: a second SHIP_FAILED does not extend the budget again.
    let n = 0;
    const err = await caught(
      withForwardRetries(
        async () => {
          n++;
          await tick(5);
          throw new HaError('HADB_HA_SHIP_FAILED', 'stalled');
        },
        { budgetMs: 100, initialDelayMs: 10, maxDelayMs: 20 },
      ),
    );
    expect(isHaError(err, 'HADB_HA_FORWARD_FAILED')).toBe(true);
    expect(n).toBeLessThan(30);
  });
});
