import { sleepUnlessAborted, type Clock } from '@hadb/io';
import type { DbLease } from './db-lease.js';
import type { FenceReason, TermFence } from './fence.js';
import { describeError, type Logger } from '@hadb/io';
import type { CoordinatorMetrics } from './metrics.js';
import type { LeaseTiming } from './options.js';

/** Shortest pause between renewal attempts after an unconfirmed one. */
const MIN_RETRY_MS = 50;

/**
 * Keeps a leader term alive until its fence closes, and closes it on time. Two loops run side by
 * side:
 * - the deadline watcher sleeps until the fence deadline and closes the fence (`deadline`) if no
 *   renewal moved it — independently of whether renewals are failing, hanging or in flight;
 * - the renewal loop renews every `renewIntervalMs` after the last confirmed send (sooner after an
 *   unconfirmed attempt), cutting each attempt off at the deadline; a confirmed loss closes the
 *   fence (`lease-lost`).
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
