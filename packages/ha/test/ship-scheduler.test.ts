import { systemClock } from '@hadb/io';
import { describe, expect, it } from 'vitest';
import { HaError, isHaError } from '../src/errors.js';
import { ShipScheduler } from '../src/ship-scheduler.js';
import type { ShipOptions, ShipReport } from '../src/engine.js';

/** A leader side's ship stand-in: records each ship and the commit count at its capture point. */
function recorder(scheduler: () => ShipScheduler, fail: () => Error | undefined = () => undefined) {
  const ships: { at: number; covered: number }[] = [];
  const ship = async (o: ShipOptions): Promise<ShipReport> => {
    o.capturePoint();
    const error = fail();
    if (error !== undefined) throw error;
    ships.push({ at: systemClock.now(), covered: scheduler().commitSeq });
    return { bytes: 10 };
  };
  return { ships, ship };
}

function make(options: { intervalMs: number; groupCommitMs: number | false }, fail?: () => Error | undefined) {
  let s!: ShipScheduler;
  const rec = recorder(() => s, fail);
  const shipped: number[] = [];
  const errors: unknown[] = [];
  s = new ShipScheduler({
    clock: systemClock,
    intervalMs: options.intervalMs,
    idleShipEveryTicks: 0,
    groupCommitMs: options.groupCommitMs,
    ship: rec.ship,
    onShipped: (r) => shipped.push(r.bytes),
    onError: (e) => errors.push(e),
  });
  return { s, ships: rec.ships, shipped, errors };
}

describe('ShipScheduler', () => {
  it('resolves a shipped waiter only once a ship covered its commit (periodic tick)', async () => {
    const { s, ships } = make({ intervalMs: 150, groupCommitMs: false });
    s.start();
    try {
      s.committed();
      const started = systemClock.now();
      let done = false;
      const wait = s.waitShipped(s.commitSeq).then(() => (done = true));
      await new Promise((r) => setTimeout(r, 40));
      expect(done).toBe(false);
      await wait;
      expect(systemClock.now() - started).toBeGreaterThanOrEqual(100);
      expect(ships.length).toBe(1);
      expect(s.dirty).toBe(false);
    } finally {
      await s.stop();
    }
  });

  it('group commit: a request ships promptly and writes arriving within the window share one ship', async () => {
    const { s, ships } = make({ intervalMs: 60_000, groupCommitMs: 20 });
    s.start();
    try {
      const started = systemClock.now();
      const waits: Promise<void>[] = [];
      for (let i = 0; i < 8; i++) {
        s.committed();
        waits.push(s.waitShipped(s.commitSeq));
        s.requestShip();
      }
      await Promise.all(waits);
      expect(systemClock.now() - started).toBeLessThan(1000);
      expect(ships.length).toBe(1);
      expect(ships[0]!.covered).toBe(8);
    } finally {
      await s.stop();
    }
  });

  it('records a failed ship as lastShipError (HADB_HA_SHIP_FAILED), clears it on success, and rejects waiters on stop', async () => {
    let failing = true;
    const { s } = make({ intervalMs: 60_000, groupCommitMs: false }, () =>
      failing ? new Error('storage down') : undefined,
    );
    s.committed();
    const err = await s.shipOnce().catch((e: unknown) => e);
    expect(isHaError(err, 'HADB_HA_SHIP_FAILED')).toBe(true);
    expect((err as HaError).retryable).toBe(true);
    expect(s.counters.lastShipError).toContain('storage down');
    failing = false;
    await s.sync();
    expect(s.counters.lastShipError).toBeUndefined();
    s.committed();
    const pending = s.waitShipped(s.commitSeq).catch((e: unknown) => e);
    await s.stop();
    expect(isHaError(await pending, 'HADB_HA_CLOSED')).toBe(true);
    expect(isHaError(await s.shipOnce().catch((e: unknown) => e), 'HADB_HA_CLOSED')).toBe(true);
  });

  it("passes a term's own error through unrecorded", async () => {
    const { s } = make({ intervalMs: 60_000, groupCommitMs: false }, () => new HaError('HADB_HA_FENCED', 'term over'));
    s.committed();
    expect(isHaError(await s.shipOnce().catch((e: unknown) => e), 'HADB_HA_FENCED')).toBe(true);
    expect(s.counters.lastShipError).toBeUndefined();
    await s.stop();
  });

  it('pipelines: the next ship captures while the previous upload is in flight; acknowledgements keep ship order', async () => {
    const p = pipelined();
    const { s } = p;
    s.committed();
    const first = track(s.shipOnce());
    await until(() => p.ships.length === 1);
    s.committed();
    const second = track(s.shipOnce());
    // Captured while the first upload is still in flight.
    await until(() => p.ships.length === 2);
    expect(p.ships.map((x) => x.covered)).toEqual([1, 2]);
    const waiter = track(s.waitShipped(2));
    p.ships[1]!.upload.resolve();
    await settle();
    expect(second.state).toBe('pending');
    expect(waiter.state).toBe('pending');
    p.ships[0]!.upload.resolve();
    await until(() => second.state === 'resolved' && first.state === 'resolved' && waiter.state === 'resolved');
    expect(s.dirty).toBe(false);
    await s.stop();
  });

  it('a failed upload: a later ship captured before the failure acknowledges nothing; a further ship does', async () => {
    const p = pipelined();
    const { s } = p;
    s.committed();
    const first = track(s.shipOnce());
    await until(() => p.ships.length === 1);
    s.committed();
    const second = track(s.shipOnce());
    await until(() => p.ships.length === 2);
    const waiter = track(s.waitShipped(2));
    p.ships[1]!.upload.resolve();
    p.ships[0]!.upload.reject(new Error('storage down'));
    await until(() => first.state === 'rejected');
    expect(isHaError(first.error, 'HADB_HA_SHIP_FAILED')).toBe(true);
    // The second ship stored its bytes but acknowledges nothing: its caller ships once more.
    await until(() => p.ships.length === 3);
    await settle();
    expect(second.state).toBe('pending');
    expect(waiter.state).toBe('pending');
    expect(s.dirty).toBe(true);
    p.ships[2]!.upload.resolve();
    await until(() => second.state === 'resolved' && waiter.state === 'resolved');
    expect(s.dirty).toBe(false);
    await s.stop();
  });
});

interface Deferred {
  readonly promise: Promise<void>;
  resolve(): void;
  reject(error: Error): void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A scheduler over an engine that pipelines: each ship captures, calls `captured`, then waits for its upload. */
function pipelined() {
  const ships: { covered: number; upload: Deferred }[] = [];
  let s!: ShipScheduler;
  s = new ShipScheduler({
    clock: systemClock,
    intervalMs: 60_000,
    idleShipEveryTicks: 0,
    groupCommitMs: false,
    ship: async (o) => {
      o.capturePoint();
      const upload = deferred();
      ships.push({ covered: s.commitSeq, upload });
      o.captured?.();
      await upload.promise;
      return { bytes: 1 };
    },
    onShipped: () => {},
    onError: () => {},
  });
  return { s, ships };
}

function track(p: Promise<unknown>): { state: 'pending' | 'resolved' | 'rejected'; error?: unknown } {
  const t: { state: 'pending' | 'resolved' | 'rejected'; error?: unknown } = { state: 'pending' };
  p.then(
    () => {
      t.state = 'resolved';
    },
    (e: unknown) => {
      t.state = 'rejected';
      t.error = e;
    },
  );
  return t;
}

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 20));

async function until(predicate: () => boolean): Promise<void> {
  const end = performance.now() + 5000;
  while (!predicate()) {
    if (performance.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 2));
  }
}
