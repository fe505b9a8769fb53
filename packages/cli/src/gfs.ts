import type { Retention } from './config.js';

/** A snapshot the planner decides on. */
export interface SnapshotPoint {
  readonly seq: bigint;
  readonly createdMs: number;
}

/** What to keep and why. */
export interface GfsPlan<T extends SnapshotPoint> {
  readonly keep: readonly { readonly point: T; readonly reasons: readonly string[] }[];
  readonly drop: readonly T[];
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Start (UTC ms) of the ISO week (Monday) containing `ms`. */
function weekStart(ms: number): number {
  const d = new Date(Math.floor(ms / DAY) * DAY);
  return d.getTime() - ((d.getUTCDay() + 6) % 7) * DAY;
}

function monthStart(ms: number): number {
  const d = new Date(ms);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

const TIERS: readonly { readonly name: keyof Retention; readonly bucket: (ms: number) => number }[] = [
  { name: 'hourly', bucket: (ms) => Math.floor(ms / HOUR) },
  { name: 'daily', bucket: (ms) => Math.floor(ms / DAY) },
  { name: 'weekly', bucket: weekStart },
  { name: 'monthly', bucket: monthStart },
];

/**
 * Grandfather-father-son retention over snapshots (UTC periods): the newest snapshot is always
 * kept; each tier keeps the newest snapshot of each of its `N` most recent periods that hold a
 * snapshot (hours, days, ISO weeks, calendar months). Everything else is dropped.
 */
export function planGfs<T extends SnapshotPoint>(points: readonly T[], retention: Retention): GfsPlan<T> {
  const sorted = [...points].sort((a, b) => (a.seq < b.seq ? 1 : a.seq > b.seq ? -1 : 0)); // newest first
  const reasons = new Map<T, string[]>();
  const mark = (p: T, why: string): void => {
    const r = reasons.get(p) ?? [];
    r.push(why);
    reasons.set(p, r);
  };
  if (sorted[0] !== undefined) mark(sorted[0], 'newest');
  for (const tier of TIERS) {
    const limit = retention[tier.name];
    const seen = new Set<number>();
    for (const p of sorted) {
      if (seen.size >= limit) break;
      const b = tier.bucket(p.createdMs);
      if (seen.has(b)) continue;
      seen.add(b);
      mark(p, tier.name);
    }
  }
  const keep = sorted.filter((p) => reasons.has(p)).map((p) => ({ point: p, reasons: reasons.get(p)! }));
  const drop = sorted.filter((p) => !reasons.has(p));
  return { keep: keep.reverse(), drop: drop.reverse() };
}
