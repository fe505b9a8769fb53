/**
 * Starting a leader term on a won lease, for {@link DatabaseDriver}: the fence and renewals first,
 * then restore (join) or catch-up (promotion), the caught-up check against the durable head and
 * the replicator. Any failure ends the term and gives the lease back.
 */
import { describeError } from '@hadb/io';
import type { DbLease, LeaseGrant } from './db-lease.js';
import type { EpochGate } from './epoch-gate.js';
import { CoordinatorError, isCoordinatorError } from './errors.js';
import type { RoleEventHub } from './events.js';
import { TermFence, type FenceReason } from './fence.js';
import { runLeaderTerm } from './leader-renewal.js';
import type { CoordinatorMetrics } from './metrics.js';
import type { ResolvedOptions } from './options.js';
import type { ProgressTracker } from './progress.js';
import type { LeaderTerm } from './replicator.js';

const INVOLUNTARY: ReadonlySet<FenceReason> = new Set(['deadline', 'lease-lost', 'deposed', 'clock-rate']);

/** The outcome: the term runs until `done` resolves with the reason it ended; or it never started. */
export type TermStart =
  | { readonly ok: true; readonly done: Promise<FenceReason> }
  | { readonly ok: false; readonly error: unknown };

/** Where starting a term is: bringing the copy up to date, or starting the replicator. */
type TermStage = 'catchup' | 'replicator';

/** A term whose fence and renewals run; `activate` once it started (involuntary ends are reported from then on). */
interface OpenedTerm {
  readonly fence: TermFence;
  readonly term: LeaderTerm;
  readonly done: Promise<FenceReason>;
  activate(): void;
}

/** What starting a term uses from its database's driver. */
export interface TermStartDeps {
  readonly db: string;
  readonly path: string;
  readonly options: ResolvedOptions;
  readonly lease: DbLease;
  readonly metrics: CoordinatorMetrics;
  readonly hub: RoleEventHub;
  readonly gate: EpochGate;
  readonly progress: ProgressTracker;
  /** The driver's bounded call (replicator timeout, waits for the call to settle). */
  bounded<T>(
    what: string,
    fn: (signal: AbortSignal) => Promise<T>,
    signal: AbortSignal | undefined,
    onTimeout?: () => void,
  ): Promise<T>;
  /** The driver's current term fence. */
  setFence(fence: TermFence | undefined): void;
  /** No claim before this monotonic time. */
  holdOffUntil(ms: number): void;
}

/**
 * Starts a term on `grant`. Resolves `ok` once the replicator runs under the term (the caller
 * then makes the node leader), or `ok: false` after the term was ended and the lease given back.
 * `signal` (a join's) cuts the step running like the term's end does; the term is then abandoned.
 */
export async function startLeaderTerm(
  deps: TermStartDeps,
  grant: LeaseGrant,
  how: 'join' | 'promotion',
  signal?: AbortSignal,
): Promise<TermStart> {
  const opened = openTerm(deps, grant);
  const step: { stage: TermStage } = { stage: 'catchup' };
  const stepSignal = signal === undefined ? opened.fence.signal : AbortSignal.any([opened.fence.signal, signal]);
  try {
    await prepareTerm(deps, opened, how, step, stepSignal);
  } catch (error) {
    await abandonTerm(deps, opened, how, step.stage, error);
    return { ok: false, error };
  }
  opened.activate();
  return { ok: true, done: opened.done };
}

/** A signal that never aborts, for best-effort cleanup after the database's own signal fired. */
export function detachedSignal(): AbortSignal {
  return new AbortController().signal;
}

/** Creates the term's fence (reporting involuntary ends once active) and starts its renewals. */
function openTerm(deps: TermStartDeps, grant: LeaseGrant): OpenedTerm {
  const { clock, logger } = deps.options;
  const timing = deps.options.lease!;
  const fence = new TermFence({
    db: deps.db,
    epoch: grant.epoch,
    clock,
    sentAt: grant.sentAt,
    windowMs: timing.ttlMs - timing.skewMarginMs,
  });
  let active = false;
  fence.onClose((reason, detail) => {
    if (!active || !INVOLUNTARY.has(reason)) return;
    deps.metrics.inc('fences');
    logger.warn({ db: deps.db, epoch: fence.epoch, reason, detail }, 'leader fenced');
    deps.hub.emit({ type: 'fenced', db: deps.db, epoch: fence.epoch, reason });
  });
  deps.setFence(fence);
  const done = runLeaderTerm({ db: deps.db, lease: deps.lease, fence, timing, clock, logger, metrics: deps.metrics });
  const term: LeaderTerm = {
    db: deps.db,
    epoch: grant.epoch,
    instanceId: timing.instanceId,
    sessionId: grant.sessionId,
    fence,
  };
  return { fence, term, done, activate: () => (active = true) };
}

/**
 * Brings the local copy to the durable head (restore on join, catch-up on promotion), checks it
 * is caught up, and starts the replicator; each step runs under `signal` (the term's fence, or
 * that and the caller's). A timed-out step ends the term at once (renewals stop, the lease can
 * expire for others) while the step itself is still awaited before anything else touches the
 * local copy. `step.stage` tells a failure's stage.
 */
async function prepareTerm(
  deps: TermStartDeps,
  opened: OpenedTerm,
  how: 'join' | 'promotion',
  step: { stage: TermStage },
  signal: AbortSignal,
): Promise<void> {
  const { replicator, followerBehavior, clock, prefix, logger } = deps.options;
  const { fence, term } = opened;
  const giveUp = (): void => fence.close('aborted', `${step.stage} timed out`);
  const catchupStarted = clock.now();
  const position =
    how === 'join'
      ? await deps.bounded('pull', (s) => replicator.pull(deps.db, deps.path, { signal: s }), signal, giveUp)
      : await deps.bounded(
          'catch-up',
          (s) =>
            followerBehavior.catchupOnPromotion({
              db: deps.db,
              path: deps.path,
              prefix,
              replicator,
              position: deps.progress.position,
              epochGate: deps.gate,
              clock,
              signal: s,
              logger,
            }),
          signal,
          giveUp,
        );
  deps.metrics.duration('lastCatchupDurationUs', clock.now() - catchupStarted);
  const head = await deps.bounded(
    'durable head',
    (s) => followerBehavior.durableHead(deps.db, { signal: s }),
    signal,
    giveUp,
  );
  if (position < head.position) {
    throw new CoordinatorError(
      'HADB_CORE_NOT_CAUGHT_UP',
      `${deps.db}: local position ${position} is behind the durable head ${head.position}`,
    );
  }
  if (position > deps.progress.position) deps.progress.report(position);
  step.stage = 'replicator';
  fence.check();
  await deps.bounded(
    how === 'join' ? 'replicator startLineage' : 'replicator continueLineage',
    (s) =>
      how === 'join'
        ? replicator.startLineage(deps.db, deps.path, term, { signal: s })
        : replicator.continueLineage(deps.db, deps.path, term, { signal: s }),
    signal,
    giveUp,
  );
  fence.check();
}

/** A term that could not start: count it, end it, stop the replicator, give the lease back. */
async function abandonTerm(
  deps: TermStartDeps,
  opened: OpenedTerm,
  how: 'join' | 'promotion',
  stage: TermStage,
  error: unknown,
): Promise<void> {
  const { clock, logger, replicator } = deps.options;
  const { fence } = opened;
  if (how === 'promotion') {
    deps.metrics.inc(
      isCoordinatorError(error, 'HADB_CORE_TIMEOUT')
        ? 'promotionsAbortedTimeout'
        : stage === 'catchup'
          ? 'promotionsAbortedCatchup'
          : 'promotionsAbortedReplicator',
    );
  }
  logger.warn({ db: deps.db, epoch: fence.epoch, how, stage, err: describeError(error) }, 'could not start the term');
  fence.close('aborted', stage);
  await opened.done;
  await deps.bounded('replicator remove', (s) => replicator.remove(deps.db, { signal: s }), undefined).catch(() => {});
  if (fence.reason === 'aborted' || fence.reason === 'leave') await deps.lease.release(detachedSignal());
  else deps.lease.forget();
  deps.setFence(undefined);
  deps.holdOffUntil(clock.now() + deps.options.lease!.pollIntervalMs);
}
