import { sleepUnlessAborted, type Clock } from '@hadb/io';
import type { DbLease, LeaseGrant, ObservedLease } from './db-lease.js';
import { describeError, type Logger } from '@hadb/io';
import type { LeaseTiming } from './options.js';

/** Pseudo-etag of "no record" (real etags are never empty). */
const ABSENT = '';

/**
 * The claim rule. A record may be taken:
 * - at once when it is *released* (`ttlSecs: 0`) or one of this process's own sessions (its term
 *   here has already ended), or absent when this node never saw it held;
 * - otherwise only after this node has seen the *same etag* for `max(ttl, record ttl) + margin`
 *   on its own monotonic clock, counted from the arrival of the first read that returned it. A
 *   record that vanished after being seen held (deleted by a Rust `leave`, or lost by the store)
 *   counts as one more version: its holder may still be inside its window.
 * A *sleeping* record (a parked cluster) is honoured like a held one and no longer: nobody is
 * promoted while it is fresh, but it is taken over once the same version has been seen for
 * `max(ttl, record ttl) + margin` (the record TTL is capped by `leaseRecordProblem`). Parking for
 * longer means rewriting the record, as a holder renews; one forged `sleeping: true` write cannot
 * leave the cluster leaderless. The holder's `claimedAt` (another machine's wall clock) is never
 * used.
 */
export class ClaimTracker {
  #etag: string | undefined;
  #since = 0;
  #sawHeld = false;
  readonly #timing: LeaseTiming;
  readonly #ownSessions: ReadonlySet<string>;

  constructor(timing: LeaseTiming, ownSessions: ReadonlySet<string>) {
    this.#timing = timing;
    this.#ownSessions = ownSessions;
  }

  /**
   * Feeds one read; returns the milliseconds until the record may be claimed (0 = now,
   * `Infinity` = not while it stays like this).
   */
  observe(observed: ObservedLease | null, now: number): number {
    if (observed === null) {
      if (!this.#sawHeld) return 0;
      if (this.#etag !== ABSENT) {
        this.#etag = ABSENT;
        this.#since = now;
      }
      return Math.max(0, this.#since + this.#timing.ttlMs + this.#timing.skewMarginMs - now);
    }
    if (observed.etag !== this.#etag) {
      this.#etag = observed.etag;
      this.#since = observed.at;
    }
    const data = observed.data;
    if (data !== undefined && (data.ttlSecs === 0 || this.#ownSessions.has(data.sessionId))) {
      this.#sawHeld = false;
      return 0;
    }
    this.#sawHeld = true;
    const ttlMs = Math.max(this.#timing.ttlMs, (data?.ttlSecs ?? 0) * 1000);
    return Math.max(0, this.#since + ttlMs + this.#timing.skewMarginMs - observed.at);
  }
}

/** What {@link watchLease} needs from the database runtime. */
export interface WatchDeps {
  readonly db: string;
  readonly lease: DbLease;
  readonly timing: LeaseTiming;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly signal: AbortSignal;
  /** `false` for read-only clients: observe, never claim. */
  readonly claiming: boolean;
  /** Monotonic time before which this node does not claim (after a handoff or aborted promotion). */
  holdOffUntil(): number;
  /** Called with every successful read (leader address, sleeping state, registry heartbeat). */
  onObserved(observed: ObservedLease | null): void;
  /**
   * The caught-up gate, run right before a claim: resolves with the epoch floor for the new term
   * when this node may lead, `undefined` when it is behind the durable head (or cannot tell).
   */
  readyToLead(signal: AbortSignal): Promise<number | undefined>;
}

/**
 * Follows the lease record every `pollIntervalMs` and claims it when the {@link ClaimTracker}
 * allows and the node is caught up. Resolves with the grant after a confirmed claim, or
 * `undefined` when `signal` aborts.
 */
export async function watchLease(deps: WatchDeps): Promise<LeaseGrant | undefined> {
  const { lease, timing, clock, signal } = deps;
  const tracker = new ClaimTracker(timing, lease.ownSessions);
  while (!signal.aborted) {
    let observed: ObservedLease | null;
    try {
      observed = await lease.read(signal);
    } catch (err) {
      if (signal.aborted) break;
      deps.logger.debug({ db: deps.db, err: describeError(err) }, 'lease read failed');
      await sleepUnlessAborted(clock, timing.pollIntervalMs, signal);
      continue;
    }
    deps.onObserved(observed);
    let waitMs = tracker.observe(observed, clock.now());
    if (deps.claiming && waitMs === 0) {
      const holdOff = deps.holdOffUntil() - clock.now();
      if (holdOff > 0) {
        waitMs = holdOff;
      } else {
        const floor = await deps.readyToLead(signal).catch((err: unknown) => {
          deps.logger.debug({ db: deps.db, err: describeError(err) }, 'caught-up check failed');
          return undefined;
        });
        if (signal.aborted) break;
        if (floor !== undefined) {
          const grant = await lease.claim(observed, floor, signal).catch((err: unknown) => {
            deps.logger.warn({ db: deps.db, err: describeError(err) }, 'lease claim failed');
            return undefined;
          });
          if (grant !== undefined) return grant;
        }
        waitMs = timing.pollIntervalMs;
      }
    }
    await sleepUnlessAborted(clock, Math.min(timing.pollIntervalMs, Math.max(1, waitMs)), signal);
  }
  return undefined;
}
