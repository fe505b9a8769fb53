import { describe, expect, it } from 'vitest';
import { planGfs } from '../src/gfs.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const t0 = Date.UTC(2026, 11, 4, 12, 30); // Friday 2026-12-04 12:30 UTC

/** A snapshot every `stepMs` going back `count` steps from t0 (seq grows with time). */
function series(count: number, stepMs: number) {
  return Array.from({ length: count }, (_, i) => ({ seq: BigInt(i + 1), createdMs: t0 - (count - 1 - i) * stepMs }));
}

describe('planGfs', () => {
  it('keeps the newest snapshot of each of the N most recent periods per tier', () => {
    const points = series(24 * 40, HOUR); // hourly snapshots over 40 days
    const plan = planGfs(points, { hourly: 6, daily: 3, weekly: 2, monthly: 2 });
    const kept = new Map(plan.keep.map((k) => [new Date(k.point.createdMs).toISOString(), k.reasons]));
    expect(kept.get('2026-12-04T12:30:00.000Z')).toEqual(['newest', 'hourly', 'daily', 'weekly', 'monthly']);
    expect([...kept].filter(([, r]) => r.includes('hourly'))).toHaveLength(6);
    // Daily: today (newest), then the last snapshot of 12-03 and 12-02.
    expect([...kept].filter(([, r]) => r.includes('daily')).map(([t]) => t)).toEqual([
      '2026-12-02T23:30:00.000Z',
      '2026-12-03T23:30:00.000Z',
      '2026-12-04T12:30:00.000Z',
    ]);
    // Weekly (ISO weeks start Monday 2026-11-30): this week, then Sunday 2026-11-29.
    expect([...kept].filter(([, r]) => r.includes('weekly')).map(([t]) => t)).toEqual(['2026-11-29T23:30:00.000Z', '2026-12-04T12:30:00.000Z']);
    expect([...kept].filter(([, r]) => r.includes('monthly')).map(([t]) => t)).toEqual(['2026-11-30T23:30:00.000Z', '2026-12-04T12:30:00.000Z']);
    expect(plan.keep.length + plan.drop.length).toBe(points.length);
    expect(plan.keep.length).toBe(6 + 2 + 1 + 1); // hourly 6 (incl. newest), 2 more days, 1 more week, 1 more month
  });

  it('always keeps the newest snapshot, even with every tier at zero', () => {
    const plan = planGfs(series(5, DAY), { hourly: 0, daily: 0, weekly: 0, monthly: 0 });
    expect(plan.keep.map((k) => k.point.seq)).toEqual([5n]);
    expect(plan.drop.map((p) => p.seq)).toEqual([1n, 2n, 3n, 4n]);
  });

  it('keeps nothing extra when there is nothing to choose from', () => {
    expect(planGfs([], { hourly: 5, daily: 5, weekly: 5, monthly: 5 })).toEqual({ keep: [], drop: [] });
  });
});
