import { decodeLeaseData, encodeLeaseData, type LeaseData, type LeaseStore } from '@hadb/lease';
import type { CasResult } from '@hadb/storage';
import { wallSeconds, withTimeout, type Clock } from '@hadb/io';
import { CORE_DEADLINE } from './errors.js';
import { describeError, type Logger } from '@hadb/io';
import { openAddress, sealAddress } from './lease-address.js';
import { leaseRecordProblem } from './lease-record-check.js';
import type { CoordinatorMetrics } from './metrics.js';
import type { LeaseTiming } from './options.js';

/** One read of the lease record. */
export interface ObservedLease {
  readonly etag: string;
  /** The parsed record, or `undefined` if it could not be parsed (treated as held by a stranger). */
  readonly data: LeaseData | undefined;
  /** Monotonic time at which the read's reply arrived (never earlier than the write it shows). */
  readonly at: number;
  /** The store's time of the version's write, Unix ms, when the store reports it. */
  readonly serverTimeMs?: number | undefined;
}

/** The lease as held by this node. */
export interface LeaseGrant {
  readonly sessionId: string;
  readonly epoch: number;
  readonly etag: string;
  readonly record: LeaseData;
  /** Monotonic time at which the confirmed write was sent. */
  readonly sentAt: number;
  /** Monotonic time at which it was confirmed (its reply, or the re-read that found it). */
  readonly confirmedAt: number;
}

/** Outcome of a renewal. `unknown`: not confirmed either way; the fence deadline stays where it was. */
export type RenewOutcome =
  | {
      readonly kind: 'renewed';
      readonly sentAt: number;
      /** Monotonic time at which the renewal was confirmed (its reply, or the re-read that found it). */
      readonly confirmedAt: number;
      /** The renewal's etag (the version it wrote). */
      readonly etag: string;
    }
  | { readonly kind: 'lost' }
  | { readonly kind: 'unknown' };

interface PendingWrite {
  readonly sentAt: number;
  /** Session of the record written: only writes of the operation's own session can resolve it. */
  readonly sessionId: string;
  /** Precondition of the write: an etag, or `null` for create-if-absent. */
  readonly ifEtag: string | null;
}

type WriteOutcome =
  | {
      readonly kind: 'ours';
      readonly etag: string;
      readonly sentAt: number;
      readonly confirmedAt: number;
      readonly record: LeaseData;
    }
  | { readonly kind: 'not-ours'; readonly current: ObservedLease | null }
  | { readonly kind: 'unknown' };

/** How many reads an ambiguous write gets to be resolved before it counts as unknown. */
const RESOLVE_ATTEMPTS = 3;

/**
 * One database's lease: reads, claims, renewals and release against a {@link LeaseStore}.
 *
 * Every write carries a fresh `nonce`. A write whose outcome is not known (an error after the
 * request may have been sent, `HADB_LEASE_AMBIGUOUS`, or a conflict that an internal retry of our
 * own write could explain) is resolved by re-reading the record: our nonce in it means the write
 * landed — and the write's *send* time is what counts for the fence. Nothing is ever guessed: an
 * unresolved renewal leaves the fence deadline unchanged, an unresolved claim is not a win.
 */
export class DbLease {
  readonly #store: LeaseStore;
  readonly key: string;
  readonly #instanceId: string;
  readonly #address: string;
  readonly #addressKey: string | undefined;
  readonly #timing: LeaseTiming;
  readonly #clock: Clock;
  readonly #newId: () => string;
  readonly #logger: Logger;
  readonly #metrics: CoordinatorMetrics;
  readonly #db: string;
  readonly #pending = new Map<string, PendingWrite>();
  #held: LeaseGrant | undefined;
  #maxEpoch = 0;
  /** Session of the last record whose address failed authentication (logged once per session). */
  #rejectedAddress: string | undefined;
  /** Etag of the last out-of-bounds record logged (logged once per version). */
  #rejectedEtag: string | undefined;
  /** Sessions this process created for this database (a record of one of them may be taken at once). */
  readonly ownSessions = new Set<string>();
  /** Monotonic time before which {@link claim} refuses (after a clock-rate step-down). */
  #claimsRefusedUntil = Number.NEGATIVE_INFINITY;

  constructor(options: {
    store: LeaseStore;
    db: string;
    instanceId: string;
    address: string;
    addressKey?: string | undefined;
    timing: LeaseTiming;
    clock: Clock;
    newId: () => string;
    logger: Logger;
    metrics: CoordinatorMetrics;
  }) {
    this.#store = options.store;
    this.#db = options.db;
    this.key = options.store.keyFor(options.db);
    this.#instanceId = options.instanceId;
    this.#address = options.address;
    this.#addressKey = options.addressKey;
    this.#timing = options.timing;
    this.#clock = options.clock;
    this.#newId = options.newId;
    this.#logger = options.logger;
    this.#metrics = options.metrics;
  }

  /**
   * Where the holder of `data` takes forwarded writes: its address when authenticated (see
   * `LeaseOptions.addressKey`), else `undefined`.
   */
  addressOf(data: LeaseData): string | undefined {
    const address = openAddress(this.#addressKey, this.#db, data.sessionId, data.epoch ?? 0, data.address);
    if (address === undefined && this.#rejectedAddress !== data.sessionId) {
      this.#rejectedAddress = data.sessionId;
      this.#logger.warn(
        { db: this.#db, instanceId: data.instanceId },
        'lease record address is not authenticated; not forwarding to it',
      );
    }
    return address;
  }

  /** The lease as this node holds it, if it does. */
  get grant(): LeaseGrant | undefined {
    return this.#held;
  }

  /** Highest epoch seen in any record read or written. */
  get highestEpochSeen(): number {
    return this.#maxEpoch;
  }

  /**
   * Resolution of the store's clock in {@link ObservedLease.serverTimeMs}, or `undefined` when the
   * store reports no server time.
   */
  get serverTimeResolutionMs(): number | undefined {
    return this.#store.capabilities.serverTimeResolutionMs;
  }

  /**
   * Makes {@link claim} refuse (without writing) until monotonic time `until`: a node that stepped
   * down because its clock rate was outside the tolerance must not take the lease straight back.
   */
  refuseClaimsUntil(until: number): void {
    if (until > this.#claimsRefusedUntil) this.#claimsRefusedUntil = until;
  }

  /**
   * Reads the record (`null` when absent) under `timeoutMs` (default `requestTimeoutMs`; a
   * timeout is `HADB_CORE_TIMEOUT`). Throws the store's error.
   */
  async read(signal: AbortSignal, timeoutMs = this.#timing.requestTimeoutMs): Promise<ObservedLease | null> {
    const record = await withTimeout(
      this.#clock,
      Math.max(1, timeoutMs),
      'lease read',
      CORE_DEADLINE,
      (s) => this.#store.read(this.key, { signal: s }),
      { signal },
    );
    const at = this.#clock.now();
    if (record === null) return null;
    let data: LeaseData | undefined;
    try {
      data = decodeLeaseData(record.data);
    } catch (err) {
      this.#logger.warn({ db: this.#db, err: describeError(err) }, 'unparseable lease record; treating it as held');
    }
    if (data !== undefined) {
      const problem = leaseRecordProblem(data, this.#timing);
      if (problem !== undefined) {
        // Never acted on, never remembered: taken over after this node's own TTL with a sane epoch.
        if (this.#rejectedEtag !== record.etag) {
          this.#rejectedEtag = record.etag;
          this.#logger.warn({ db: this.#db, problem }, 'lease record out of bounds; treating it as held by a stranger');
        }
        data = undefined;
      } else if (data.epoch !== undefined && data.epoch > this.#maxEpoch) {
        this.#maxEpoch = data.epoch;
      }
    }
    return { etag: record.etag, data, at, serverTimeMs: record.serverTimeMs };
  }

  /**
   * Claims the lease: creates it when `observed` is `null`, otherwise replaces exactly the observed
   * version (compare-and-swap on its etag). The new term's epoch is `max(floorEpoch, observed
   * epoch, any epoch seen) + 1`. Returns the grant on a confirmed win, `undefined` otherwise.
   */
  async claim(
    observed: ObservedLease | null,
    floorEpoch: number,
    signal: AbortSignal,
  ): Promise<LeaseGrant | undefined> {
    if (this.#clock.now() < this.#claimsRefusedUntil) {
      this.#logger.debug({ db: this.#db }, 'not claiming: clock rate was outside the tolerance');
      return undefined;
    }
    this.#metrics.inc('leaseClaimsAttempted');
    const epoch = Math.max(floorEpoch, observed?.data?.epoch ?? 0, this.#maxEpoch) + 1;
    const sessionId = this.#newId();
    this.ownSessions.add(sessionId);
    const record: LeaseData = {
      instanceId: this.#instanceId,
      address: sealAddress(this.#addressKey, this.#db, sessionId, epoch, this.#address),
      claimedAt: wallSeconds(this.#clock),
      ttlSecs: this.#timing.ttlSecs,
      sessionId,
      sleeping: false,
      epoch,
      nonce: this.#newId(),
    };
    const out = await this.#write(record, observed?.etag ?? null, signal, 'claim');
    if (out.kind !== 'ours') {
      this.#metrics.inc('leaseClaimsFailed');
      return undefined;
    }
    this.#metrics.inc('leaseClaimsSucceeded');
    this.#held = {
      sessionId,
      epoch: out.record.epoch ?? epoch,
      etag: out.etag,
      record: out.record,
      sentAt: out.sentAt,
      confirmedAt: out.confirmedAt,
    };
    if (this.#held.epoch > this.#maxEpoch) this.#maxEpoch = this.#held.epoch;
    this.#logger.info({ db: this.#db, epoch: this.#held.epoch }, 'lease claimed');
    return this.#held;
  }

  /**
   * Renews the held lease (same session and epoch, new `claimedAt` and nonce). `renewed` carries
   * the send time to extend the fence with; `lost` means another session holds the record (or it
   * was removed); `unknown` means neither could be confirmed.
   */
  async renew(signal: AbortSignal, timeoutMs: number): Promise<RenewOutcome> {
    const held = this.#held;
    if (held === undefined) return { kind: 'lost' };
    const record: LeaseData = { ...held.record, claimedAt: wallSeconds(this.#clock), nonce: this.#newId() };
    const out = await this.#write(record, held.etag, signal, 'renew', timeoutMs);
    if (out.kind === 'ours') {
      this.#metrics.inc('leaseRenewalsSucceeded');
      this.#held = { ...held, etag: out.etag, record: out.record, sentAt: out.sentAt, confirmedAt: out.confirmedAt };
      return { kind: 'renewed', sentAt: out.sentAt, confirmedAt: out.confirmedAt, etag: out.etag };
    }
    if (out.kind === 'unknown') {
      this.#metrics.inc('leaseRenewalsError');
      return out;
    }
    const current = out.current;
    if (current !== null && current.data?.sessionId === held.sessionId && current.data.nonce === held.record.nonce) {
      // Our last confirmed record is still there: this renewal did not land (yet). Not lost.
      this.#metrics.inc('leaseRenewalsError');
      this.#held = { ...held, etag: current.etag };
      return { kind: 'unknown' };
    }
    this.#metrics.inc('leaseRenewalsCasConflict');
    this.#held = undefined;
    return { kind: 'lost' };
  }

  /**
   * Gives the lease up: replaces our record (compare-and-swap) with a *released* one — same session
   * and epoch, `ttlSecs: 0`, no address — so the next claimer can take it at once and continues
   * the epoch sequence (Rust readers see it as expired). Best effort: failures are logged; an
   * unreleased lease simply expires. Call only after the term's writes have stopped.
   */
  async release(signal: AbortSignal): Promise<void> {
    const held = this.#held;
    this.#held = undefined;
    if (held === undefined) return;
    const record: LeaseData = {
      ...held.record,
      address: '',
      claimedAt: wallSeconds(this.#clock),
      ttlSecs: 0,
      nonce: this.#newId(),
    };
    try {
      const out = await this.#write(record, held.etag, signal, 'release');
      this.#logger.info({ db: this.#db, epoch: held.epoch, released: out.kind === 'ours' }, 'lease released');
    } catch (err) {
      this.#logger.warn({ db: this.#db, err: describeError(err) }, 'lease release failed');
    }
  }

  /** Forgets the grant without writing (after the term ended involuntarily). */
  forget(): void {
    this.#held = undefined;
    this.#pending.clear();
  }

  async #write(
    record: LeaseData,
    ifEtag: string | null,
    signal: AbortSignal,
    what: string,
    timeoutMs = this.#timing.requestTimeoutMs,
  ): Promise<WriteOutcome> {
    const nonce = record.nonce as string;
    const data = encodeLeaseData(record);
    const sentAt = this.#clock.now();
    this.#pending.set(nonce, { sentAt, ifEtag, sessionId: record.sessionId });
    let result: CasResult;
    try {
      result = await withTimeout(
        this.#clock,
        Math.max(1, timeoutMs),
        `lease ${what}`,
        CORE_DEADLINE,
        (s) =>
          ifEtag === null
            ? this.#store.writeIfNotExists(this.key, data, { signal: s })
            : this.#store.writeIfMatch(this.key, data, ifEtag, { signal: s }),
        { signal },
      );
    } catch (err) {
      this.#logger.debug(
        { db: this.#db, op: what, err: describeError(err) },
        'lease write outcome unknown; re-reading',
      );
      return this.#resolve(signal, what, record.sessionId);
    }
    if (result.success) {
      this.#pending.clear();
      return { kind: 'ours', etag: result.etag, sentAt, confirmedAt: this.#clock.now(), record };
    }
    // A conflict. Usually someone else's write; but a client-side retry of *our* earlier attempt
    // would also report one, so the record decides.
    return this.#resolve(signal, what, record.sessionId);
  }

  /** Re-reads until the record shows whether one of our pending writes landed. */
  async #resolve(signal: AbortSignal, what: string, sessionId: string): Promise<WriteOutcome> {
    for (let attempt = 0; attempt < RESOLVE_ATTEMPTS && !signal.aborted; attempt++) {
      let current: ObservedLease | null;
      try {
        current = await this.read(signal);
      } catch (err) {
        this.#logger.debug({ db: this.#db, op: what, err: describeError(err) }, 'lease re-read failed');
        continue;
      }
      const nonce = current?.data?.nonce;
      const pending = nonce === undefined ? undefined : this.#pending.get(nonce);
      const mine = pending?.sessionId === sessionId ? pending : undefined;
      if (current !== null && current.data !== undefined && mine !== undefined) {
        this.#pending.clear();
        this.#metrics.inc('leaseAmbiguousResolved');
        return { kind: 'ours', etag: current.etag, sentAt: mine.sentAt, confirmedAt: current.at, record: current.data };
      }
      // Writes conditioned on a version that is no longer current can never land; keep the rest.
      const currentEtag = current === null ? null : current.etag;
      for (const [n, p] of this.#pending) if (p.ifEtag !== currentEtag) this.#pending.delete(n);
      return { kind: 'not-ours', current };
    }
    this.#metrics.inc('leaseAmbiguousUnresolved');
    return { kind: 'unknown' };
  }
}
