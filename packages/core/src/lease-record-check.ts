import type { LeaseData } from '@hadb/lease';
import type { LeaseTiming } from './options.js';

/**
 * Highest epoch a lease record may carry: 2^40 − 2^20. Engines carry the epoch in 40 bits
 * (duckblock's epoch markers), and a million terms stay available above the cap, so a record at
 * the cap can still be succeeded.
 */
export const MAX_LEASE_EPOCH = 2 ** 40 - 2 ** 20;

/** Largest `ttlSecs` a record may carry: ten times this node's TTL, at least 600 s. */
export function maxRecordTtlSecs(timing: LeaseTiming): number {
  return Math.max(600, 10 * timing.ttlSecs);
}

/**
 * Why `data` is not a record this node acts on (`undefined` when it is one): an epoch outside
 * `[0, MAX_LEASE_EPOCH]`, or a TTL outside `[0, maxRecordTtlSecs]`. Such a record is treated like
 * an unparseable one — held by a stranger, taken over after this node's own `ttl + margin` — and
 * its epoch is not remembered, so a corrected record is honoured at once.
 */
export function leaseRecordProblem(data: LeaseData, timing: LeaseTiming): string | undefined {
  const epoch = data.epoch ?? 0;
  if (!Number.isSafeInteger(epoch) || epoch < 0 || epoch > MAX_LEASE_EPOCH)
    return `epoch ${epoch} is outside [0, ${MAX_LEASE_EPOCH}]`;
  const cap = maxRecordTtlSecs(timing);
  if (!Number.isFinite(data.ttlSecs) || data.ttlSecs < 0 || data.ttlSecs > cap)
    return `ttl_secs ${data.ttlSecs} is outside [0, ${cap}]`;
  return undefined;
}
