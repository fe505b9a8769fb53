import { createHash } from 'node:crypto';
import { decodeLeaseData, encodeLeaseData, type LeaseData, type LeaseStore } from '@hadb/lease';
import {
  abortReason,
  type Clock,
  describeError,
  type Logger,
  sleepUnlessAborted,
  type Timer,
  wallSeconds,
  withTimeout,
} from '@hadb/io';
import { CORE_DEADLINE, CoordinatorError } from './errors.js';
import type { LeaseTiming } from './options.js';

/** What an {@link InstanceClaim} needs. */
export interface InstanceClaimOptions {
  readonly store: LeaseStore;
  readonly db: string;
  readonly instanceId: string;
  readonly timing: LeaseTiming;
  readonly clock: Clock;
  readonly newId: () => string;
  readonly logger: Logger;
  /**
   * How often the holder reads its record to answer a challenge, ms; also how long a starting
   * process waits for that answer (plus two request deadlines and the margin) before it takes a
   * record over. The holder's only idle cost is one read per interval. Default `4 × ttlMs`.
   */
  readonly checkIntervalMs?: number | undefined;
  /**
   * The incarnation (`InstanceClaim.incarnation`) of a process known to be dead — for example one
   * whose local lock on the same database path was found stale. A record it still holds is taken
   * over at once, without a challenge or the wait for an answer. A record held by any other
   * incarnation is challenged as usual.
   */
  readonly deadIncarnation?: string | undefined;
}

/** The `address` of a challenge record (claim records leave it empty). */
const CHALLENGE = 'instance-claim:challenge';

/**
 * The lease scope of the claim on `instanceId` in `db`: `{db}.instance-{instanceId}`, or (when
 * that exceeds the 128 characters a scope may have) a hash of both after a short `db` prefix.
 */
export function instanceClaimScope(db: string, instanceId: string): string {
  const plain = `${db}.instance-${instanceId}`;
  if (plain.length <= 128) return plain;
  const digest = createHash('sha256').update(`${db}/${instanceId}`).digest('hex').slice(0, 40);
  return `${db.slice(0, 64)}.instance-${digest}`;
}

/**
 * One live process per instance id and database. The holder keeps a lease-store record (the lease
 * record's format: `session_id` is this process's incarnation) and reads it every
 * `checkIntervalMs`; it deletes it (a free record) on release. Idle it writes nothing.
 *
 * A starting process that finds the record held writes a challenge over it (a conditional write)
 * and waits: a live holder answers by writing its own record back at its next check, and the
 * challenger then fails with `HADB_CORE_DUPLICATE_INSTANCE` before anything else happens. No
 * answer within `checkIntervalMs` + two request deadlines + the margin means the holder is gone
 * (a crash: a restart of the same node) and the record is taken over. Two processes starting at
 * once see each other's challenge: the one that sees the other's fails. A clean restart
 * (`release` ran) starts at once; a restart after a crash waits about one check interval, unless
 * the caller can name the dead process's incarnation (`deadIncarnation`).
 * A holder that finds its record taken over (it stalled past the wait) logs an error and stops.
 */
export class InstanceClaim {
  readonly #o: InstanceClaimOptions;
  readonly #key: string;
  readonly #incarnation: string;
  readonly #checkMs: number;
  #etag: string | undefined;
  #timer: Timer | undefined;
  #released = false;

  constructor(options: InstanceClaimOptions) {
    const checkMs = options.checkIntervalMs ?? 4 * options.timing.ttlMs;
    if (!Number.isSafeInteger(checkMs) || checkMs <= 0) {
      throw new CoordinatorError('HADB_CORE_INVALID_CONFIG', 'checkIntervalMs must be a positive integer');
    }
    this.#o = options;
    this.#checkMs = checkMs;
    this.#key = options.store.keyFor(instanceClaimScope(options.db, options.instanceId));
    this.#incarnation = options.newId();
  }

  /** This process's incarnation: the `session_id` of the records it writes. */
  get incarnation(): string {
    return this.#incarnation;
  }

  /** How long a challenger waits for the holder's answer before taking the record over, ms. */
  get answerWaitMs(): number {
    const { requestTimeoutMs, skewMarginMs, pollIntervalMs } = this.#o.timing;
    return this.#checkMs + 2 * requestTimeoutMs + skewMarginMs + pollIntervalMs;
  }

  #call<T>(what: string, fn: (signal: AbortSignal) => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    return withTimeout(this.#o.clock, this.#o.timing.requestTimeoutMs, what, CORE_DEADLINE, fn, { signal });
  }

  #record(address = ''): Uint8Array {
    const data: LeaseData = {
      instanceId: this.#o.instanceId,
      address,
      claimedAt: wallSeconds(this.#o.clock),
      ttlSecs: Math.min(86_400, Math.ceil(this.#checkMs / 1000)),
      sessionId: this.#incarnation,
      sleeping: false,
      nonce: this.#o.newId(),
    };
    return encodeLeaseData(data);
  }

  /**
   * Takes the claim, then keeps answering challenges until {@link release}. Throws
   * `HADB_CORE_DUPLICATE_INSTANCE` when another live process holds it (or is starting with the
   * same id), the store's error, or `HADB_CORE_ABORTED` (or the hadb error given as the reason)
   * once `signal` fires — also during the wait for a holder's answer. After a throw nothing is held
   * and nothing runs; a challenge already written stays for the holder to answer.
   */
  async acquire(signal: AbortSignal): Promise<void> {
    const { store, clock } = this.#o;
    /** The etag of our challenge and when it was written. */
    let challenge: { readonly etag: string; readonly at: number } | undefined;
    for (;;) {
      const current = await this.#call('instance claim read', (s) => store.read(this.#key, { signal: s }), signal);
      let data: LeaseData | undefined;
      if (current !== null) {
        try {
          data = decodeLeaseData(current.data);
        } catch {
          data = undefined; // held by a stranger: challenged like any held record
        }
      }
      const free = current === null || (data !== undefined && data.ttlSecs === 0);
      // Held by a process known to be dead (never a challenge: those carry the challenger's id).
      const orphaned =
        challenge === undefined &&
        data !== undefined &&
        this.#o.deadIncarnation !== undefined &&
        data.sessionId === this.#o.deadIncarnation &&
        data.address !== CHALLENGE;
      let take = free || orphaned;
      if (!free && challenge !== undefined) {
        if (current.etag === challenge.etag) {
          take = clock.now() - challenge.at >= this.answerWaitMs;
        } else {
          // Changed after our challenge: the holder answered, or another process challenged too.
          throw this.#duplicate();
        }
      }
      if (take) {
        const out = await this.#call(
          'instance claim write',
          (s) =>
            current === null
              ? store.writeIfNotExists(this.#key, this.#record(), { signal: s })
              : store.writeIfMatch(this.#key, this.#record(), current.etag, { signal: s }),
          signal,
        );
        if (out.success) {
          this.#etag = out.etag;
          this.#schedule();
          return;
        }
        if (challenge !== undefined) throw this.#duplicate();
        continue; // Someone wrote it between our read and write: the next read sees it.
      }
      if (challenge === undefined && current !== null) {
        const out = await this.#call(
          'instance claim challenge',
          (s) => store.writeIfMatch(this.#key, this.#record(CHALLENGE), current.etag, { signal: s }),
          signal,
        );
        if (!out.success) continue;
        challenge = { etag: out.etag, at: clock.now() };
      }
      await sleepUnlessAborted(clock, this.#o.timing.pollIntervalMs, signal);
      if (signal.aborted) throw abortReason(signal, CORE_DEADLINE.aborted);
    }
  }

  #duplicate(): CoordinatorError {
    return new CoordinatorError(
      'HADB_CORE_DUPLICATE_INSTANCE',
      `another live process uses instance id ${this.#o.instanceId} for ${this.#o.db}; give every node its own instanceId`,
    );
  }

  #schedule(): void {
    if (this.#released) return;
    this.#timer = this.#o.clock.timer(this.#checkMs, () => void this.#check());
  }

  /** Reads the record; answers a challenge by writing this process's record back. */
  async #check(): Promise<void> {
    const etag = this.#etag;
    if (this.#released || etag === undefined) return;
    try {
      const current = await this.#call(
        'instance claim check',
        (s) => this.#o.store.read(this.#key, { signal: s }),
        undefined,
      );
      if (this.#released) return;
      if (current !== null && current.etag !== etag) {
        let data: LeaseData | undefined;
        try {
          data = decodeLeaseData(current.data);
        } catch {
          data = undefined;
        }
        if (data === undefined || data.address !== CHALLENGE || data.sessionId === this.#incarnation) {
          this.#etag = undefined;
          this.#o.logger.error(
            { db: this.#o.db, instanceId: this.#o.instanceId },
            'instance id taken over by another process (duplicate instanceId, or this process stalled past the check interval)',
          );
          return;
        }
        const out = await this.#call(
          'instance claim answer',
          (s) => this.#o.store.writeIfMatch(this.#key, this.#record(), current.etag, { signal: s }),
          undefined,
        );
        if (this.#released) return;
        if (out.success) {
          this.#etag = out.etag;
          this.#o.logger.warn(
            { db: this.#o.db, instanceId: this.#o.instanceId },
            'another process tried to start with this instance id; it was refused',
          );
        }
      } else if (current === null) {
        // Deleted behind our back: write it again so a duplicate still finds it held.
        const out = await this.#call(
          'instance claim rewrite',
          (s) => this.#o.store.writeIfNotExists(this.#key, this.#record(), { signal: s }),
          undefined,
        );
        if (out.success) this.#etag = out.etag;
      }
    } catch (err) {
      this.#o.logger.debug({ db: this.#o.db, err: describeError(err) }, 'instance claim check failed; retrying');
    }
    this.#schedule();
  }
  /** Stops checking and frees the record if this process still holds it. Never throws. */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    this.#timer?.cancel();
    const etag = this.#etag;
    this.#etag = undefined;
    if (etag === undefined) return;
    const released: LeaseData = {
      instanceId: this.#o.instanceId,
      address: '',
      claimedAt: 0,
      ttlSecs: 0,
      sessionId: this.#incarnation,
      sleeping: false,
    };
    await this.#call(
      'instance claim release',
      (s) => this.#o.store.writeIfMatch(this.#key, encodeLeaseData(released), etag, { signal: s }),
      undefined,
    ).catch((err: unknown) =>
      this.#o.logger.debug({ db: this.#o.db, err: describeError(err) }, 'instance claim release failed'),
    );
  }
}
