import { describe, expect, it } from 'vitest';
import { DEFAULT_RETENTION_TIERS, planRetention, type RetentionSnapshot } from '../src/index.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const now = Date.UTC(2026, 5, 15, 12, 30); // Monday 2026-06-15 12:30 UTC

function everyHour(hours: number): RetentionSnapshot[] {
  return Array.from({ length: hours }, (_, i) => ({ seq: BigInt(i + 1), createdMs: now - (hours - 1 - i) * HOUR }));
}

describe('planRetention (grandfather-father-son)', () => {
  it('keeps everything when there are fewer snapshots than any tier', () => {
    const plan = planRetention(everyHour(5), DEFAULT_RETENTION_TIERS, now);
    expect(plan.delete).toEqual([]);
    expect(plan.keep.map((k) => k.seq)).toEqual([5n, 4n, 3n, 2n, 1n]);
    expect(plan.keep[0]!.reasons).toContain('newest');
    expect(plan.oldestKept).toBe(1n);
  });

  it('keeps 24 hourly, 7 daily, then weekly and monthly from a year of hourly snapshots', () => {
    const snaps = everyHour(24 * 400);
    const plan = planRetention(snaps, DEFAULT_RETENTION_TIERS, now);
    expect(plan.keep.length + plan.delete.length).toBe(snaps.length);
    const hourly = plan.keep.filter((k) => k.reasons.includes('hourly'));
    const daily = plan.keep.filter((k) => k.reasons.includes('daily'));
    const weekly = plan.keep.filter((k) => k.reasons.includes('weekly'));
    const monthly = plan.keep.filter((k) => k.reasons.includes('monthly'));
    expect([hourly.length, daily.length, weekly.length, monthly.length]).toEqual([24, 7, 12, 12]);
    // Each daily keep is the newest snapshot of its UTC day: 23:xx except today.
    for (const d of daily.slice(1)) expect(new Date(d.createdMs).getUTCHours()).toBe(23);
    // Weekly keeps fall on Sundays 23:xx (the newest of an ISO week), except this week.
    for (const w of weekly.slice(1)) {
      expect(new Date(w.createdMs).getUTCDay()).toBe(0);
      expect(new Date(w.createdMs).getUTCHours()).toBe(23);
    }
    // Monthly keeps are the last hour of their month.
    for (const m of monthly.slice(1)) {
      const next = new Date(m.createdMs + HOUR);
      expect(next.getUTCDate()).toBe(1);
    }
    const kept = new Set(plan.keep.map((k) => k.seq));
    expect(kept.size).toBeLessThanOrEqual(24 + 7 + 12 + 12);
    expect(kept.size).toBeGreaterThan(40);
    expect(plan.oldestKept).toBe(monthly[monthly.length - 1]!.seq);
  });

  it('always keeps the newest and at least two, even with every tier off', () => {
    const plan = planRetention(everyHour(10), { hourly: 0, daily: 0, weekly: 0, monthly: 0, minKeep: 0 }, now);
    expect(plan.keep.map((k) => [k.seq, k.reasons])).toEqual([
      [10n, ['newest']],
      [9n, ['min-keep']],
    ]);
    expect(plan.delete).toHaveLength(8);
  });

  it('keeps snapshots from the future (clock skew) and orders equal times by seq', () => {
    const snaps: RetentionSnapshot[] = [
      { seq: 1n, createdMs: now - 10 * DAY },
      { seq: 2n, createdMs: now - 10 * DAY },
      { seq: 3n, createdMs: now + DAY },
      { seq: 4n, createdMs: now - 20 * DAY },
    ];
    const plan = planRetention(snaps, { hourly: 0, daily: 0, weekly: 0, monthly: 0 }, now);
    expect(plan.keep.map((k) => k.seq)).toEqual([3n, 2n]);
    expect(plan.keep[0]!.reasons).toEqual(['newest', 'future']);
    expect(plan.delete.map((k) => k.seq)).toEqual([1n, 4n]);
  });

  it('rejects bad tier counts', () => {
    expect(() => planRetention([], { hourly: -1, daily: 0, weekly: 0, monthly: 0 }, now)).toThrow(RangeError);
    expect(() => planRetention([], { hourly: 1.5, daily: 0, weekly: 0, monthly: 0 }, now)).toThrow(RangeError);
    expect(planRetention([], DEFAULT_RETENTION_TIERS, now)).toEqual({ keep: [], delete: [], oldestKept: null });
  });
});
