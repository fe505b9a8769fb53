import { childController, describeError, sleepUnlessAborted, withTimeout } from '@hadb/io';
import { DbLease, type LeaseGrant, type ObservedLease } from './db-lease.js';
import { EpochGate } from './epoch-gate.js';
import { CORE_DEADLINE, CoordinatorError, isCoordinatorError } from './errors.js';
import type { RoleEventHub } from './events.js';
import { TermFence, type FenceReason, type WriteFence } from './fence.js';
import type { FollowerContext } from './follower-behavior.js';
import { ClaimTracker, watchLease } from './follower-monitor.js';
import { FollowerRegistration } from './follower-registration.js';
import type { CoordinatorMetrics } from './metrics.js';
import type { ResolvedOptions } from './options.js';
import { ProgressTracker } from './progress.js';
import type { LeaderTerm } from './replicator.js';
import type { Role } from './role.js';
import { detachedSignal, startLeaderTerm, type TermStart, type TermStartDeps } from './term-start.js';

/**
 * Everything the coordinator does for one joined database: the initial role decision, the
 * follower phase (follower loop + lease monitor), promotion (catch-up, caught-up check, replicator
 * start), the leader term (renewals + fence) and the way back to following. One sequential driver
 * loop per database; `leave` and `handoff` steer it through the term fence and an AbortSignal.
 */
export class DatabaseDriver {
  readonly db: string;
  readonly path: string;
  readonly progress: ProgressTracker;
  readonly gate = new EpochGate();
  readonly #options: ResolvedOptions;
  readonly #hub: RoleEventHub;
  readonly #metrics: CoordinatorMetrics;
  readonly #lease: DbLease | undefined;
  readonly #life = new AbortController();
  #roleValue: Role | undefined;
  #leaderAddr: string | undefined;
  #leaderSessionId: string | undefined;
  #fence: TermFence | undefined;
  #loop: Promise<void> | undefined;
  #leaving: Promise<void> | undefined;
  #holdOff = 0;
  #sleeping = false;
  #addressRejected = false;
  readonly #registration: FollowerRegistration;
  #termEndWaiters: Array<() => void> = [];

  constructor(db: string, path: string, options: ResolvedOptions, hub: RoleEventHub, metrics: CoordinatorMetrics) {
    this.db = db;
    this.path = path;
    this.#options = options;
    this.#hub = hub;
    this.#metrics = metrics;
    this.#registration = new FollowerRegistration(db, options, (what, fn, signal) => this.#bounded(what, fn, signal));
    this.progress = new ProgressTracker((caughtUp, position) => metrics.follower(db, caughtUp, position));
    const lease = options.lease;
    this.#lease =
      lease === undefined
        ? undefined
        : new DbLease({
            store: lease.store,
            db,
            instanceId: lease.instanceId,
            address: lease.address,
            addressKey: lease.addressKey,
            timing: lease,
            clock: options.clock,
            newId: options.newId,
            logger: options.logger,
            metrics,
          });
  }

  get role(): Role | undefined {
    return this.#roleValue;
  }

  get leaderAddress(): string | undefined {
    return this.#roleValue === 'leader' ? this.#options.lease?.address : this.#leaderAddr;
  }

  /** The live record's address failed authentication (see `Coordinator.leaderAddressRejected`). */
  get leaderAddressRejected(): boolean {
    return this.#roleValue !== 'leader' && this.#addressRejected;
  }

  /** Session id of the current lease holder as last seen (own session while leading). */
  get currentLeaderSession(): string | undefined {
    return this.#roleValue === 'leader' ? this.#lease?.grant?.sessionId : this.#leaderSessionId;
  }

  /** Epoch of the current term while leading. */
  get epoch(): number | undefined {
    return this.#roleValue === 'leader' ? this.#fence?.epoch : undefined;
  }

  /** The fence of the current term; throws `HADB_CORE_NOT_LEADER` / `HADB_CORE_FENCED`. */
  checkWrite(): WriteFence {
    const fence = this.#fence;
    if (this.#roleValue !== 'leader' || fence === undefined) {
      throw new CoordinatorError('HADB_CORE_NOT_LEADER', `this node is not the leader of ${this.db}`);
    }
    fence.check();
    return fence;
  }

  /** Decides the initial role and starts the driver loop. Rejects with `HADB_CORE_JOIN_FAILED`. */
  async join(signal: AbortSignal | undefined): Promise<Role> {
    const { controller, dispose } = childController(signal);
    const onLeave = (): void => controller.abort(this.#life.signal.reason);
    this.#life.signal.addEventListener('abort', onLeave, { once: true });
    try {
      return await this.#decide(controller.signal);
    } catch (err) {
      if (isCoordinatorError(err, 'HADB_CORE_JOIN_FAILED')) throw err;
      throw new CoordinatorError('HADB_CORE_JOIN_FAILED', `joining ${this.db} failed`, { cause: err });
    } finally {
      this.#life.signal.removeEventListener('abort', onLeave);
      dispose();
    }
  }

  async #decide(signal: AbortSignal): Promise<Role> {
    const o = this.#options;
    if (this.#lease === undefined || o.lease === undefined) {
      if (o.requestedRole === 'client') return this.#joinFollowing('client', signal);
      return this.#joinWithoutLease(signal);
    }
    if (o.requestedRole === 'client') return this.#joinFollowing('client', signal);
    const observed = await this.#lease.read(signal);
    this.#onObserved(observed);
    if (new ClaimTracker(o.lease, this.#lease.ownSessions).observe(observed, o.clock.now()) === 0) {
      const head = await this.#bounded(
        'durable head',
        (s) => o.followerBehavior.durableHead(this.db, { signal: s }),
        signal,
      );
      const grant = await this.#lease.claim(observed, Math.max(head.epoch, this.gate.highest), signal);
      if (grant !== undefined) {
        const started = await this.#startTerm(grant, 'join', signal);
        if (!started.ok) {
          throw new CoordinatorError('HADB_CORE_JOIN_FAILED', `joining ${this.db} as leader failed`, {
            cause: started.error,
          });
        }
        this.#loop = this.#run(started.done);
        return 'leader';
      }
    }
    return this.#joinFollowing('follower', signal);
  }

  async #joinWithoutLease(signal: AbortSignal): Promise<Role> {
    const fence = new TermFence({
      db: this.db,
      epoch: 0,
      clock: this.#options.clock,
      sentAt: this.#options.clock.now(),
      windowMs: Infinity,
    });
    const term: LeaderTerm = { db: this.db, epoch: 0, instanceId: '', sessionId: '', fence };
    await this.#bounded(
      'replicator startLineage',
      (s) => this.#options.replicator.startLineage(this.db, this.path, term, { signal: s }),
      signal,
    );
    this.#fence = fence;
    this.#roleValue = 'leader';
    this.progress.setCaughtUp(true);
    this.#hub.emit({ type: 'joined', db: this.db, role: 'leader' });
    return 'leader';
  }

  async #joinFollowing(role: 'follower' | 'client', signal: AbortSignal): Promise<Role> {
    const position = await this.#bounded(
      'pull',
      (s) => this.#options.replicator.pull(this.db, this.path, { signal: s }),
      signal,
    );
    if (position > this.progress.position) this.progress.report(position);
    this.#roleValue = role;
    this.#hub.emit({ type: 'joined', db: this.db, role });
    this.#loop = this.#run(undefined);
    return role;
  }

  /** The driver: finish the running term (if any), then follow → promote → lead → follow ... */
  async #run(termDone: Promise<FenceReason> | undefined): Promise<void> {
    try {
      if (termDone !== undefined) await this.#finishTerm(await termDone);
      while (!this.#life.signal.aborted) {
        const grant = await this.#followPhase();
        if (grant === undefined) break;
        if (this.#life.signal.aborted) {
          await this.#lease?.release(detachedSignal());
          break;
        }
        this.#metrics.inc('promotionsAttempted');
        const started = await this.#startTerm(grant, 'promotion');
        if (started.ok) await this.#finishTerm(await started.done);
      }
    } catch (err) {
      this.#options.logger.error({ db: this.db, err: describeError(err) }, 'database driver failed');
    }
  }

  async #followPhase(): Promise<LeaseGrant | undefined> {
    if (this.#roleValue !== 'client') this.#roleValue = 'follower';
    const phase = childController(this.#life.signal);
    const signal = phase.controller.signal;
    const follower = this.#superviseFollower(signal);
    let grant: LeaseGrant | undefined;
    try {
      if (this.#lease === undefined || this.#options.lease === undefined) {
        await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
        return undefined;
      }
      grant = await watchLease({
        db: this.db,
        lease: this.#lease,
        timing: this.#options.lease,
        clock: this.#options.clock,
        logger: this.#options.logger,
        signal,
        claiming: this.#roleValue !== 'client',
        holdOffUntil: () => this.#holdOff,
        onObserved: (observed) => this.#onObserved(observed),
        readyToLead: (s) => this.#readyToLead(s),
      });
    } finally {
      phase.controller.abort(new CoordinatorError('HADB_CORE_ABORTED', 'follower phase ended'));
      phase.dispose();
    }
    const stopped = await withTimeout(
      this.#options.clock,
      this.#options.replicatorTimeoutMs,
      'follower loop stop',
      CORE_DEADLINE,
      () => follower.then(() => true),
    ).catch(() => false);
    await this.#registration.deregister();
    if (grant !== undefined && !stopped) {
      this.#options.logger.error({ db: this.db }, 'follower loop did not stop; giving the lease back');
      await this.#lease?.release(detachedSignal());
      this.#holdOff = this.#options.clock.now() + (this.#options.lease?.pollIntervalMs ?? 0);
      return this.#life.signal.aborted ? undefined : this.#followPhase();
    }
    return grant;
  }

  async #superviseFollower(signal: AbortSignal): Promise<void> {
    this.progress.setCaughtUp(false);
    const ctx: FollowerContext = {
      db: this.db,
      path: this.path,
      prefix: this.#options.prefix,
      replicator: this.#options.replicator,
      pollIntervalMs: this.#options.followerPullIntervalMs,
      clock: this.#options.clock,
      signal,
      progress: this.progress,
      epochGate: this.gate,
      metrics: this.#metrics.followerMetrics,
      logger: this.#options.logger,
    };
    while (!signal.aborted) {
      try {
        await this.#options.followerBehavior.runFollowerLoop(ctx);
      } catch (err) {
        if (signal.aborted) break;
        this.#metrics.inc('followerPullsFailed');
        this.#options.logger.warn({ db: this.db, err: describeError(err) }, 'follower loop failed; restarting');
      }
      if (!(await sleepUnlessAborted(this.#options.clock, this.#options.followerPullIntervalMs, signal))) break;
    }
  }

  /** The caught-up gate: the epoch floor for a new term, or `undefined` while behind the durable head. */
  async #readyToLead(signal: AbortSignal): Promise<number | undefined> {
    const head = await this.#bounded(
      'durable head',
      (s) => this.#options.followerBehavior.durableHead(this.db, { signal: s }),
      signal,
    );
    if (this.progress.position < head.position) {
      this.#options.logger.debug(
        { db: this.db, position: this.progress.position.toString(), head: head.position.toString() },
        'not claiming: behind the durable head',
      );
      return undefined;
    }
    return Math.max(head.epoch, this.gate.highest);
  }

  /**
   * Starts a term on a won lease (see `term-start.ts`: fence and renewals, restore or catch-up,
   * the caught-up check, the replicator; a failure, or `signal` firing, gives the lease back);
   * success makes this node the leader ({@link enterTerm}).
   */
  async #startTerm(grant: LeaseGrant, how: 'join' | 'promotion', signal?: AbortSignal): Promise<TermStart> {
    const started = this.#options.clock.now();
    const result = await startLeaderTerm(this.#termDeps(), grant, how, signal);
    if (result.ok) this.#enterTerm(grant.epoch, how, started);
    return result;
  }

  /** What {@link startLeaderTerm} may use and set on this driver. */
  #termDeps(): TermStartDeps {
    return {
      db: this.db,
      path: this.path,
      options: this.#options,
      lease: this.#lease!,
      metrics: this.#metrics,
      hub: this.#hub,
      gate: this.gate,
      progress: this.progress,
      bounded: (what, fn, signal, onTimeout) => this.#bounded(what, fn, signal, onTimeout),
      setFence: (fence) => (this.#fence = fence),
      holdOffUntil: (ms) => (this.#holdOff = ms),
    };
  }

  /** The term started: this node leads. */
  #enterTerm(epoch: number, how: 'join' | 'promotion', started: number): void {
    const { clock, logger } = this.#options;
    this.#roleValue = 'leader';
    this.#leaderAddr = this.#options.lease!.address;
    this.progress.setCaughtUp(true);
    if (how === 'promotion') {
      this.#metrics.inc('promotionsSucceeded');
      this.#metrics.duration('lastPromotionDurationUs', clock.now() - started);
      logger.info({ db: this.db, epoch }, 'promoted to leader');
      this.#hub.emit({ type: 'promoted', db: this.db, epoch });
    } else {
      logger.info({ db: this.db, epoch }, 'joined as leader');
      this.#hub.emit({ type: 'joined', db: this.db, role: 'leader' });
    }
  }

  /** After the fence closed: stop the replicator, give the lease back if voluntary, follow again. */
  async #finishTerm(reason: FenceReason): Promise<void> {
    const fence = this.#fence;
    const epoch = fence?.epoch ?? 0;
    await this.#bounded(
      'replicator remove',
      (s) => this.#options.replicator.remove(this.db, { signal: s }),
      undefined,
    ).catch((err: unknown) =>
      this.#options.logger.warn({ db: this.db, err: describeError(err) }, 'replicator remove failed'),
    );
    if (reason === 'handoff' || reason === 'leave') await this.#lease?.release(detachedSignal());
    else this.#lease?.forget();
    this.#fence = undefined;
    if (reason === 'handoff') {
      const timing = this.#options.lease!;
      this.#holdOff = this.#options.clock.now() + timing.ttlMs + timing.skewMarginMs;
    }
    if (reason !== 'leave') {
      this.#roleValue = 'follower';
      this.#leaderAddr = undefined;
      this.progress.setCaughtUp(false);
      this.#options.logger.info({ db: this.db, epoch, reason }, 'demoted to follower');
      this.#hub.emit({ type: 'demoted', db: this.db, epoch, reason });
    }
    for (const wake of this.#termEndWaiters.splice(0)) wake();
  }

  #onObserved(observed: ObservedLease | null): void {
    const data = observed?.data;
    const sleeping = data?.sleeping === true;
    if (sleeping && !this.#sleeping) {
      this.#options.logger.info({ db: this.db }, 'cluster is sleeping');
      this.#hub.emit({ type: 'sleeping', db: this.db });
    }
    this.#sleeping = sleeping;
    this.#addressRejected = false;
    if (data === undefined || data.ttlSecs === 0 || sleeping) {
      this.#leaderAddr = undefined;
      this.#leaderSessionId = undefined;
      return;
    }
    this.#leaderAddr = this.#lease?.addressOf(data);
    this.#addressRejected = this.#leaderAddr === undefined && data.address !== '';
    this.#leaderSessionId = data.sessionId;
    if (this.#roleValue !== 'leader') this.#registration.heartbeat(data.sessionId, this.#life.signal);
  }

  /** Ends the current term voluntarily so another node can lead. See `Coordinator.handoff`. */
  async handoff(options: { readonly flush?: boolean | undefined } = {}): Promise<boolean> {
    const fence = this.#fence;
    if (this.#roleValue !== 'leader' || fence === undefined || !fence.isValid() || this.#options.lease === undefined)
      return false;
    if (options.flush !== false) {
      try {
        await this.#bounded(
          'replicator sync',
          (s) => this.#options.replicator.sync(this.db, { signal: s }),
          fence.signal,
        );
      } catch (err) {
        this.#options.logger.warn({ db: this.db, err: describeError(err) }, 'sync before handoff failed');
      }
    }
    if (fence.reason !== undefined || this.#fence !== fence) return false;
    const ended = new Promise<void>((resolve) => this.#termEndWaiters.push(resolve));
    fence.close('handoff');
    await ended;
    return true;
  }

  /** Stops everything for this database; a leader stops replicating and releases the lease. Idempotent. */
  leave(): Promise<void> {
    this.#leaving ??= this.#doLeave();
    return this.#leaving;
  }

  async #doLeave(): Promise<void> {
    this.#life.abort(new CoordinatorError('HADB_CORE_ABORTED', `${this.db} was left`));
    this.#fence?.close('leave');
    if (this.#loop !== undefined) await this.#loop;
    else if (this.#roleValue === 'leader') {
      await this.#bounded(
        'replicator remove',
        (s) => this.#options.replicator.remove(this.db, { signal: s }),
        undefined,
      ).catch((err: unknown) =>
        this.#options.logger.warn({ db: this.db, err: describeError(err) }, 'replicator remove failed'),
      );
    }
    this.#roleValue = undefined;
    this.#metrics.forget(this.db);
  }

  /**
   * Runs a replicator/follower/registry call under `replicatorTimeoutMs`. After a timeout or abort
   * it still waits for the call to settle, so no continuation of it overlaps the next call for
   * this database (both may touch the local file).
   */
  #bounded<T>(
    what: string,
    fn: (signal: AbortSignal) => Promise<T>,
    signal: AbortSignal | undefined,
    onTimeout?: () => void,
  ): Promise<T> {
    return withTimeout(this.#options.clock, this.#options.replicatorTimeoutMs, what, CORE_DEADLINE, fn, {
      signal,
      settle: {
        onTimeout,
        onSlowSettle: () =>
          this.#options.logger.error(
            { db: this.db, call: what },
            'call ignores its abort signal; still waiting for it',
          ),
      },
    });
  }
}
