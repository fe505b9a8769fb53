import { sleepUnlessAborted, type Clock } from '@hadb/io';
import { ClockRateMonitor, type ClockRateVerdict } from './clock-rate.js';
import type { DbLease, RenewOutcome } from './db-lease.js';
import type { FenceReason, TermFence } from './fence.js';
import { describeError, type Logger } from '@hadb/io';
import type { CoordinatorMetrics } from './metrics.js';
import type { LeaseTiming } from './options.js';

/** Shortest pause between renewal attempts after an unconfirmed one. */
const MIN_RETRY_MS = 50;

/**
 * Clock-rate windows in TTLs: a verdict needs samples spanning at least one TTL of store time and
 * uses at most the last four.
 */
const CLOCK_RATE_MIN_WINDOW_TTLS = 1;
const CLOCK_RATE_MAX_WINDOW_TTLS = 4;
/** After a clock-rate step-down, the node does not claim for this many TTLs. */
export const CLOCK_RATE_HOLD_OFF_TTLS = 10;

/**
 * Keeps a leader term alive until its fence closes, and closes it on time. Two loops run side by
 * side:
 * - the deadline watcher sleeps until the fence deadline and closes the fence (`deadline`) if no
 *   renewal moved it — independently of whether renewals are failing, hanging or in flight;
 * - the renewal loop renews every `renewIntervalMs` after the last confirmed send (sooner after an
 *   unconfirmed attempt), cutting each attempt off at the deadline; a confirmed loss closes the
 *   fence (`lease-lost`).
 * After each confirmed renewal, with a store that reports server time and `clockRateCheck`, the
 * renewal's store timestamp is read back and fed to a {@link ClockRateMonitor}; a rate provably
 * outside `1 ± clockRateTolerance` closes the fence (`clock-rate`), logs an error, counts
 * `demotionsClockRate` and keeps the node from claiming for {@link CLOCK_RATE_HOLD_OFF_TTLS} TTLs.
 * The lease is not released (writes of the term may still be in flight): it expires.
 * Resolves with the reason the fence closed.
 */
export async function runLeaderTerm(deps: {
  readonly db: string;
  readonly lease: DbLease;
  readonly fence: TermFence;
  readonly timing: LeaseTiming;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: CoordinatorMetrics;
}): Promise<FenceReason> {
  const { fence } = deps;
  await Promise.all([watchDeadline(deps), renewLoop(deps)]);
  return fence.reason ?? 'aborted';
}

async function watchDeadline(deps: { fence: TermFence; clock: Clock; metrics: CoordinatorMetrics }): Promise<void> {
  const { fence, clock } = deps;
  while (fence.reason === undefined) {
    const remaining = fence.remainingMs();
    if (remaining <= 0) {
      deps.metrics.inc('demotionsSustainedErrors');
      fence.close('deadline');
      return;
    }
    await sleepUnlessAborted(clock, remaining, fence.signal);
  }
}

async function renewLoop(deps: {
  readonly db: string;
  readonly lease: DbLease;
  readonly fence: TermFence;
  readonly timing: LeaseTiming;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: CoordinatorMetrics;
}): Promise<void> {
  const { lease, fence, timing, clock } = deps;
  const resolution = lease.serverTimeResolutionMs;
  const monitor =
    timing.clockRateCheck && resolution !== undefined
      ? new ClockRateMonitor({
          tolerance: timing.clockRateTolerance,
          minWindowMs: CLOCK_RATE_MIN_WINDOW_TTLS * timing.ttlMs,
          maxWindowMs: CLOCK_RATE_MAX_WINDOW_TTLS * timing.ttlMs,
        })
      : undefined;
  const claimed = lease.grant;
  if (monitor !== undefined && resolution !== undefined && claimed !== undefined) {
    // The claim is the first sample, so a verdict can come one renewal sooner.
    const { sentAt, confirmedAt, etag } = claimed;
    await checkClockRate(deps, monitor, { kind: 'renewed', sentAt, confirmedAt, etag }, resolution);
  }
  let next = (lease.grant?.sentAt ?? clock.now()) + timing.renewIntervalMs;
  while (fence.reason === undefined) {
    if (!(await sleepUnlessAborted(clock, next - clock.now(), fence.signal))) return;
    const budget = Math.min(timing.requestTimeoutMs, fence.remainingMs());
    if (budget <= 0) return;
    const started = clock.now();
    const outcome = await lease.renew(fence.signal, budget).catch((err: unknown) => {
      deps.logger.warn({ db: deps.db, err: describeError(err) }, 'lease renewal failed');
      return { kind: 'unknown' } as const;
    });
    if (fence.reason !== undefined) return;
    deps.metrics.duration('lastRenewalDurationUs', clock.now() - started);
    if (outcome.kind === 'renewed') {
      fence.extend(outcome.sentAt);
      next = outcome.sentAt + timing.renewIntervalMs;
      if (monitor !== undefined && resolution !== undefined) {
        const verdict = await checkClockRate(deps, monitor, outcome, resolution);
        if (fence.reason !== undefined) return;
        if (verdict !== undefined) {
          stepDownForClockRate(deps, verdict);
          return;
        }
      }
    } else if (outcome.kind === 'lost') {
      deps.metrics.inc('demotionsCasConflict');
      deps.logger.warn({ db: deps.db, epoch: fence.epoch }, 'lease lost to another node');
      fence.close('lease-lost');
      return;
    } else {
      deps.logger.warn({ db: deps.db, remainingMs: Math.round(fence.remainingMs()) }, 'lease renewal unconfirmed');
      next = clock.now() + Math.max(MIN_RETRY_MS, Math.min(timing.renewIntervalMs, fence.remainingMs() / 3));
    }
  }
}

/**
 * Reads back the renewal's store timestamp (bounded by the request timeout and the fence) and
 * feeds it to `monitor`. A failed read, or a record that is no longer the renewal's version,
 * gives no sample.
 */
async function checkClockRate(
  deps: {
    readonly db: string;
    readonly lease: DbLease;
    readonly fence: TermFence;
    readonly timing: LeaseTiming;
    readonly logger: Logger;
  },
  monitor: ClockRateMonitor,
  renewal: Extract<RenewOutcome, { kind: 'renewed' }>,
  resolutionMs: number,
): Promise<ClockRateVerdict | undefined> {
  const budget = Math.min(deps.timing.requestTimeoutMs, deps.fence.remainingMs());
  if (budget <= 0) return undefined;
  let observed: Awaited<ReturnType<DbLease['read']>>;
  try {
    observed = await deps.lease.read(deps.fence.signal, budget);
  } catch (err) {
    deps.logger.debug({ db: deps.db, err: describeError(err) }, 'clock-rate read failed; no sample');
    return undefined;
  }
  if (observed === null || observed.etag !== renewal.etag || observed.serverTimeMs === undefined) return undefined;
  return monitor.add({
    sentAt: renewal.sentAt,
    confirmedAt: renewal.confirmedAt,
    serverMs: observed.serverTimeMs,
    resolutionMs,
  });
}

function stepDownForClockRate(
  deps: {
    readonly db: string;
    readonly lease: DbLease;
    readonly fence: TermFence;
    readonly timing: LeaseTiming;
    readonly clock: Clock;
    readonly logger: Logger;
    readonly metrics: CoordinatorMetrics;
  },
  verdict: ClockRateVerdict,
): void {
  const { fence, timing, clock } = deps;
  deps.metrics.inc('demotionsClockRate');
  const detail =
    `clock runs ${verdict.direction} against the lease store: ${verdict.rate.toFixed(3)}x ` +
    `(between ${verdict.low.toFixed(3)} and ${verdict.high.toFixed(3)}) over ${Math.round(verdict.windowMs)} ms, ` +
    `tolerance ${(timing.clockRateTolerance * 100).toFixed(1)} %`;
  deps.logger.error(
    {
      db: deps.db,
      epoch: fence.epoch,
      rate: verdict.rate,
      low: verdict.low,
      high: verdict.high,
      windowMs: verdict.windowMs,
      tolerance: timing.clockRateTolerance,
    },
    'clock rate outside the tolerance; stepping down',
  );
  deps.lease.refuseClaimsUntil(clock.now() + CLOCK_RATE_HOLD_OFF_TTLS * timing.ttlMs);
  fence.close('clock-rate', detail);
}
