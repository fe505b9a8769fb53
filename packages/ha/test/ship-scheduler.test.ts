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
});
