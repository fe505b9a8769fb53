import { createHash } from 'node:crypto';
import { decodeLeaseData, encodeLeaseData, type LeaseData, type LeaseStore } from '@hadb/lease';
import {
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
}

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
 * One live process per instance id and database. The process holds a lease-store record (the
 * lease record's format: `session_id` is this process's incarnation) renewed every
 * `renewIntervalMs` and deleted on release.
 *
 * A process that finds the record held watches it: if the record changes twice (another live
 * process renews it every `renewIntervalMs`; one change alone may be a crashed writer's last
 * renewal landing late), {@link acquire} fails with `HADB_CORE_DUPLICATE_INSTANCE` before
 * anything else happens; if it stays unchanged for `ttl + margin`, its writer is gone (a crash: a
 * restart of the same node) and the record is taken over. A clean restart (`release` ran)
 * starts at once; a restart after a crash waits one `ttl + margin`, like a lease takeover.
 */
export class InstanceClaim {
  readonly #o: InstanceClaimOptions;
  readonly #key: string;
  readonly #incarnation: string;
  #etag: string | undefined;
  #timer: Timer | undefined;
  #released = false;

  constructor(options: InstanceClaimOptions) {
    this.#o = options;
    this.#key = options.store.keyFor(instanceClaimScope(options.db, options.instanceId));
    this.#incarnation = options.newId();
  }

  #call<T>(what: string, fn: (signal: AbortSignal) => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    return withTimeout(this.#o.clock, this.#o.timing.requestTimeoutMs, what, CORE_DEADLINE, fn, { signal });
  }

  #record(): Uint8Array {
    const data: LeaseData = {
      instanceId: this.#o.instanceId,
      address: '',
      claimedAt: wallSeconds(this.#o.clock),
      ttlSecs: this.#o.timing.ttlSecs,
      sessionId: this.#incarnation,
      sleeping: false,
      nonce: this.#o.newId(),
    };
    return encodeLeaseData(data);
  }

  /**
   * Takes the claim, then keeps it renewed until {@link release}. Throws
   * `HADB_CORE_DUPLICATE_INSTANCE` when another live process holds it, or the store's error.
   */
  async acquire(signal: AbortSignal): Promise<void> {
    const { store, timing, clock } = this.#o;
    let watched: string | undefined;
    let since = 0;
    let changes = 0;
    for (;;) {
      const current = await this.#call('instance claim read', (s) => store.read(this.#key, { signal: s }), signal);
      let free = current === null;
      if (current !== null) {
        let data: LeaseData | undefined;
        try {
          data = decodeLeaseData(current.data);
        } catch {
          data = undefined; // held by a stranger: watched like any held record
        }
        free = data !== undefined && data.ttlSecs === 0;
        if (!free) {
          if (watched !== current.etag) {
            if (watched !== undefined && ++changes >= 2) throw this.#duplicate();
            watched = current.etag;
            since = clock.now();
          }
          free = clock.now() - since >= timing.ttlMs + timing.skewMarginMs;
        }
      }
      if (free) {
        const bytes = this.#record();
        const out = await this.#call(
          'instance claim write',
          (s) =>
            current === null
              ? store.writeIfNotExists(this.#key, bytes, { signal: s })
              : store.writeIfMatch(this.#key, bytes, current.etag, { signal: s }),
          signal,
        );
        if (out.success) {
          this.#etag = out.etag;
          this.#schedule();
          return;
        }
        // Someone else wrote it between our read and write: the next read sees the change.
        continue;
      }
      await sleepUnlessAborted(clock, timing.pollIntervalMs, signal);
      if (signal.aborted) throw signal.reason;
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
    this.#timer = this.#o.clock.timer(this.#o.timing.renewIntervalMs, () => void this.#renew());
  }

  async #renew(): Promise<void> {
    const etag = this.#etag;
    if (this.#released || etag === undefined) return;
    try {
      const out = await this.#call(
        'instance claim renew',
        (s) => this.#o.store.writeIfMatch(this.#key, this.#record(), etag, { signal: s }),
        undefined,
      );
      if (this.#released) return;
      if (!out.success) {
        this.#etag = undefined;
        this.#o.logger.error(
          { db: this.#o.db, instanceId: this.#o.instanceId },
          'instance id taken over by another process (duplicate instanceId, or this process stalled past the TTL)',
        );
        return;
      }
      this.#etag = out.etag;
    } catch (err) {
      this.#o.logger.debug({ db: this.#o.db, err: describeError(err) }, 'instance claim renewal failed; retrying');
    }
    this.#schedule();
  }

  /** Stops renewing and deletes the record if this process still holds it. Never throws. */
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
