import { LEASE_LIMITS, type LeaseData } from '@hadb/lease';
import type { LeaseTiming } from './options.js';

/**
 * Highest epoch of a record this node acts on: `@hadb/lease`'s `LEASE_LIMITS.maxEpoch` (the one
 * epoch cap) minus its `epochHeadroom`, so a record core accepts can always be succeeded.
 */
const ACCEPTED_EPOCH = LEASE_LIMITS.maxEpoch - LEASE_LIMITS.epochHeadroom;

/** Largest `ttlSecs` a record may carry: ten times this node's TTL, at least 600 s. */
export function maxRecordTtlSecs(timing: LeaseTiming): number {
  return Math.max(600, 10 * timing.ttlSecs);
}

/**
 * Why `data` is not a record this node acts on (`undefined` when it is one): an epoch outside
 * `[0, LEASE_LIMITS.maxEpoch − LEASE_LIMITS.epochHeadroom]`, or a TTL outside `[0, maxRecordTtlSecs]`. Such a record is treated like
 * an unparseable one — held by a stranger, taken over after this node's own `ttl + margin` — and
 * its epoch is not remembered, so a corrected record is honoured at once.
 */
export function leaseRecordProblem(data: LeaseData, timing: LeaseTiming): string | undefined {
  const epoch = data.epoch ?? 0;
  if (!Number.isSafeInteger(epoch) || epoch < 0 || epoch > ACCEPTED_EPOCH)
    return `epoch ${epoch} is outside [0, ${ACCEPTED_EPOCH}]`;
  const cap = maxRecordTtlSecs(timing);
  if (!Number.isFinite(data.ttlSecs) || data.ttlSecs < 0 || data.ttlSecs > cap)
    return `ttl_secs ${data.ttlSecs} is outside [0, ${cap}]`;
  return undefined;
}
