/**
 * Grandfather-father-son retention, as a pure planner shared by every hadb replicator: given the
 * snapshots that exist, which to keep and why. Nothing here touches storage; callers delete what
 * the plan says (and what only the deleted snapshots needed).
 */

/** A snapshot as the planner sees it. */
export interface RetentionSnapshot {
  readonly seq: bigint;
  /** Creation time, ms since the epoch (the `.hadbp` header's `created_ms`). */
  readonly createdMs: number;
}

/**
 * How many periods of each tier keep one snapshot: the newest snapshot of each of the most
 * recent `n` hours / days / ISO weeks / months (UTC) that have snapshots. 0 disables a tier.
 */
export interface RetentionTiers {
  readonly hourly: number;
  readonly daily: number;
  readonly weekly: number;
  readonly monthly: number;
  /** The newest this many snapshots are always kept (at least 2 is enforced). */
  readonly minKeep?: number | undefined;
}

/** Default tiers: 24 hourly, 7 daily, 12 weekly, 12 monthly. */
export const DEFAULT_RETENTION_TIERS: RetentionTiers = Object.freeze({
  hourly: 24,
  daily: 7,
  weekly: 12,
  monthly: 12,
  minKeep: 2,
});

/** Why a snapshot is kept. */
export type RetentionReason = 'newest' | 'min-keep' | 'future' | 'hourly' | 'daily' | 'weekly' | 'monthly';

/** One decision of the plan. */
export interface RetentionDecision {
  readonly seq: bigint;
  readonly createdMs: number;
  /** Empty for a snapshot to delete. */
  readonly reasons: readonly RetentionReason[];
}

/** The plan: every input snapshot lands in exactly one list, each sorted newest first. */
export interface RetentionPlan {
  readonly keep: readonly RetentionDecision[];
  readonly delete: readonly RetentionDecision[];
  /** Seq of the oldest snapshot kept (`null` for no snapshots). */
  readonly oldestKept: bigint | null;
}

const HOUR = 3_600_000;
const DAY = 86_400_000;

function bucket(tier: 'hourly' | 'daily' | 'weekly' | 'monthly', ms: number): number {
  switch (tier) {
    case 'hourly':
      return Math.floor(ms / HOUR);
    case 'daily':
      return Math.floor(ms / DAY);
    case 'weekly':
      // 1970-01-01 was a Thursday; shifting by 3 days makes weeks start on Monday (ISO).
      return Math.floor((Math.floor(ms / DAY) + 3) / 7);
    case 'monthly': {
      const d = new Date(ms);
      return d.getUTCFullYear() * 12 + d.getUTCMonth();
    }
  }
}

function checkCount(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new RangeError(`retention tier ${name} must be an integer >= 0, got ${String(value)}`);
  }
  return value;
}

/**
 * Plans retention. The newest snapshot and the newest `max(2, minKeep)` are always kept, and so
 * is any snapshot created after `nowMs` (a clock ahead of this one must not lose data). For each
 * tier, snapshots are walked newest first and the newest of each period is kept until the tier
 * has `n` periods. Everything else is deleted. Equal `createdMs` are ordered by seq.
 */
export function planRetention(
  snapshots: readonly RetentionSnapshot[],
  tiers: RetentionTiers,
  nowMs: number,
): RetentionPlan {
  const counts = {
    hourly: checkCount('hourly', tiers.hourly),
    daily: checkCount('daily', tiers.daily),
    weekly: checkCount('weekly', tiers.weekly),
    monthly: checkCount('monthly', tiers.monthly),
  };
  const minKeep = Math.max(2, checkCount('minKeep', tiers.minKeep ?? 2));
  const sorted = [...snapshots].sort((a, b) =>
    b.createdMs !== a.createdMs ? b.createdMs - a.createdMs : a.seq < b.seq ? 1 : a.seq > b.seq ? -1 : 0,
  );
  const reasons = sorted.map(() => [] as RetentionReason[]);
  sorted.forEach((s, i) => {
    if (i === 0) reasons[i]!.push('newest');
    else if (i < minKeep) reasons[i]!.push('min-keep');
    if (s.createdMs > nowMs) reasons[i]!.push('future');
  });
  for (const tier of ['hourly', 'daily', 'weekly', 'monthly'] as const) {
    const n = counts[tier];
    if (n === 0) continue;
    let last: number | null = null;
    let taken = 0;
    for (let i = 0; i < sorted.length && taken < n; i++) {
      const b = bucket(tier, sorted[i]!.createdMs);
      if (b === last) continue;
      last = b;
      taken++;
      reasons[i]!.push(tier);
    }
  }
  const keep: RetentionDecision[] = [];
  const del: RetentionDecision[] = [];
  sorted.forEach((s, i) => {
    const d = { seq: s.seq, createdMs: s.createdMs, reasons: reasons[i]! };
    (d.reasons.length > 0 ? keep : del).push(d);
  });
  let oldestKept: bigint | null = null;
  for (const k of keep) if (oldestKept === null || k.seq < oldestKept) oldestKept = k.seq;
  return { keep, delete: del, oldestKept };
}
