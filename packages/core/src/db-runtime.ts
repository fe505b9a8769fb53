import { childController, sleepUnlessAborted, withTimeout } from '@hadb/io';
import { DbLease, type Holding, type ObservedLease } from './db-lease.js';
import { EpochGate } from './epoch-gate.js';
import { CORE_DEADLINE, CoordinatorError, isCoordinatorError } from './errors.js';
import type { RoleEventHub } from './events.js';
import { TermFence, type FenceReason, type WriteFence } from './fence.js';
import type { FollowerContext } from './follower-behavior.js';
import { ClaimTracker, watchLease } from './follower-monitor.js';
import { runLeaderTerm } from './leader-renewal.js';
import { describeError } from '@hadb/io';
import type { CoordinatorMetrics } from './metrics.js';
import type { ResolvedOptions } from './options.js';
import { ProgressTracker } from './progress.js';
import type { LeaderTerm } from './replicator.js';
import type { Role } from './role.js';

const INVOLUNTARY: ReadonlySet<FenceReason> = new Set(['deadline', 'lease-lost', 'deposed']);

type TermStart = { readonly ok: true; readonly done: Promise<FenceReason> } | { readonly ok: false; readonly error: unknown };

/**
 * Everything the coordinator does for one joined database: the initial role decision, the
 * follower phase (follower loop + lease monitor), promotion (catch-up, caught-up check, replicator
 * start), the leader term (renewals + fence) and the way back to following. One sequential driver
 * loop per database; `leave` and `handoff` steer it through the term fence and an AbortSignal.
 */
export class DbRuntime {
  readonly db: string;
  readonly path: string;
  readonly progress: ProgressTracker;
  readonly gate = new EpochGate();
  private readonly o: ResolvedOptions;
  private readonly hub: RoleEventHub;
  private readonly metrics: CoordinatorMetrics;
  private readonly lease: DbLease | undefined;
  private readonly life = new AbortController();
  private roleValue: Role | undefined;
  private leaderAddr: string | undefined;
  private leaderSessionId: string | undefined;
  private fence: TermFence | undefined;
  private loop: Promise<void> | undefined;
  private leaving: Promise<void> | undefined;
  private holdOff = 0;
  private sleeping = false;
  private registeredSession: string | undefined;
  private registeredAt = -Infinity;
  private termEndWaiters: Array<() => void> = [];

  constructor(db: string, path: string, options: ResolvedOptions, hub: RoleEventHub, metrics: CoordinatorMetrics) {
    this.db = db;
    this.path = path;
    this.o = options;
    this.hub = hub;
    this.metrics = metrics;
    this.progress = new ProgressTracker((caughtUp, position) => metrics.follower(db, caughtUp, position));
    const lease = options.lease;
    this.lease =
      lease === undefined
        ? undefined
        : new DbLease({
            store: lease.store,
            db,
            instanceId: lease.instanceId,
            address: lease.address,
            timing: lease,
            clock: options.clock,
            newId: options.newId,
            logger: options.logger,
            metrics,
          });
  }

  get role(): Role | undefined {
    return this.roleValue;
  }

  get leaderAddress(): string | undefined {
    return this.roleValue === 'leader' ? this.o.lease?.address : this.leaderAddr;
  }

  /** Session id of the current lease holder as last seen (own session while leading). */
  get currentLeaderSession(): string | undefined {
    return this.roleValue === 'leader' ? this.lease?.holding?.sessionId : this.leaderSessionId;
  }

  /** Epoch of the current term while leading. */
  get epoch(): number | undefined {
    return this.roleValue === 'leader' ? this.fence?.epoch : undefined;
  }

  /** The fence of the current term; throws `HADB_CORE_NOT_LEADER` / `HADB_CORE_FENCED`. */
  checkWrite(): WriteFence {
    const fence = this.fence;
    if (this.roleValue !== 'leader' || fence === undefined) {
      throw new CoordinatorError('HADB_CORE_NOT_LEADER', `this node is not the leader of ${this.db}`);
    }
    fence.check();
    return fence;
  }

  /** Decides the initial role and starts the driver loop. Rejects with `HADB_CORE_JOIN_FAILED`. */
  async join(signal: AbortSignal | undefined): Promise<Role> {
    const { controller, dispose } = childController(signal);
    const onLeave = (): void => controller.abort(this.life.signal.reason);
    this.life.signal.addEventListener('abort', onLeave, { once: true });
    try {
      return await this.decide(controller.signal);
    } catch (err) {
      if (isCoordinatorError(err, 'HADB_CORE_JOIN_FAILED')) throw err;
      throw new CoordinatorError('HADB_CORE_JOIN_FAILED', `joining ${this.db} failed`, { cause: err });
    } finally {
      this.life.signal.removeEventListener('abort', onLeave);
      dispose();
    }
  }

  private async decide(signal: AbortSignal): Promise<Role> {
    const o = this.o;
    if (this.lease === undefined || o.lease === undefined) {
      if (o.requestedRole === 'client') return this.joinFollowing('client', signal);
      return this.joinWithoutLease(signal);
    }
    if (o.requestedRole === 'client') return this.joinFollowing('client', signal);
    const observed = await this.lease.read(signal);
    this.onObserved(observed);
    if (new ClaimTracker(o.lease, this.lease.ownSessions).observe(observed, o.clock.now()) === 0) {
      const head = await this.bounded('durable head', (s) => o.followerBehavior.durableHead(this.db, { signal: s }), signal);
      const holding = await this.lease.claim(observed, Math.max(head.epoch, this.gate.highest), signal);
      if (holding !== undefined) {
        const started = await this.startTerm(holding, 'join');
        if (!started.ok) {
          throw new CoordinatorError('HADB_CORE_JOIN_FAILED', `joining ${this.db} as leader failed`, { cause: started.error });
        }
        this.loop = this.run(started.done);
        return 'leader';
      }
    }
    return this.joinFollowing('follower', signal);
  }

  private async joinWithoutLease(signal: AbortSignal): Promise<Role> {
    const fence = new TermFence({ db: this.db, epoch: 0, clock: this.o.clock, sentAt: this.o.clock.now(), windowMs: Infinity });
    const term: LeaderTerm = { db: this.db, epoch: 0, instanceId: '', sessionId: '', fence };
    await this.bounded('replicator add', (s) => this.o.replicator.add(this.db, this.path, term, { signal: s }), signal);
    this.fence = fence;
    this.roleValue = 'leader';
    this.progress.setCaughtUp(true);
    this.hub.emit({ type: 'joined', db: this.db, role: 'leader' });
    return 'leader';
  }

  private async joinFollowing(role: 'follower' | 'client', signal: AbortSignal): Promise<Role> {
    const position = await this.bounded('pull', (s) => this.o.replicator.pull(this.db, this.path, { signal: s }), signal);
    if (position > this.progress.position) this.progress.report(position);
    this.roleValue = role;
    this.hub.emit({ type: 'joined', db: this.db, role });
    this.loop = this.run(undefined);
    return role;
  }

  /** The driver: finish the running term (if any), then follow → promote → lead → follow ... */
  private async run(termDone: Promise<FenceReason> | undefined): Promise<void> {
    try {
      if (termDone !== undefined) await this.finishTerm(await termDone);
      while (!this.life.signal.aborted) {
        const holding = await this.followPhase();
        if (holding === undefined) break;
        if (this.life.signal.aborted) {
          await this.lease?.release(detachedSignal());
          break;
        }
        this.metrics.inc('promotionsAttempted');
        const started = await this.startTerm(holding, 'promotion');
        if (started.ok) await this.finishTerm(await started.done);
      }
    } catch (err) {
      this.o.logger.error({ db: this.db, err: describeError(err) }, 'database driver failed');
    }
  }

  private async followPhase(): Promise<Holding | undefined> {
    if (this.roleValue !== 'client') this.roleValue = 'follower';
    const phase = childController(this.life.signal);
    const signal = phase.controller.signal;
    const follower = this.superviseFollower(signal);
    let holding: Holding | undefined;
    try {
      if (this.lease === undefined || this.o.lease === undefined) {
        await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
        return undefined;
      }
      holding = await watchLease({
        db: this.db,
        lease: this.lease,
        timing: this.o.lease,
        clock: this.o.clock,
        logger: this.o.logger,
        signal,
        claiming: this.roleValue !== 'client',
        holdOffUntil: () => this.holdOff,
        onObserved: (observed) => this.onObserved(observed),
        readyToLead: (s) => this.readyToLead(s),
      });
    } finally {
      phase.controller.abort(new CoordinatorError('HADB_CORE_ABORTED', 'follower phase ended'));
      phase.dispose();
    }
    const stopped = await withTimeout(this.o.clock, this.o.replicatorTimeoutMs, 'follower loop stop', CORE_DEADLINE, () =>
      follower.then(() => true),
    ).catch(() => false);
    if (this.registeredSession !== undefined && this.o.nodeRegistry !== undefined) {
      const instanceId = this.o.lease?.instanceId ?? '';
      this.registeredSession = undefined;
      await this.bounded('deregister', (s) => this.o.nodeRegistry!.deregister(this.o.prefix, this.db, instanceId, { signal: s }), undefined).catch(
        (err: unknown) => this.o.logger.debug({ db: this.db, err: describeError(err) }, 'deregister failed'),
      );
    }
    if (holding !== undefined && !stopped) {
      this.o.logger.error({ db: this.db }, 'follower loop did not stop; giving the lease back');
      await this.lease?.release(detachedSignal());
      this.holdOff = this.o.clock.now() + (this.o.lease?.pollIntervalMs ?? 0);
      return this.life.signal.aborted ? undefined : this.followPhase();
    }
    return holding;
  }

  private async superviseFollower(signal: AbortSignal): Promise<void> {
    this.progress.setCaughtUp(false);
    const ctx: FollowerContext = {
      db: this.db,
      path: this.path,
      prefix: this.o.prefix,
      replicator: this.o.replicator,
      pollIntervalMs: this.o.followerPullIntervalMs,
      clock: this.o.clock,
      signal,
      progress: this.progress,
      epochGate: this.gate,
      metrics: this.metrics.followerMetrics,
      logger: this.o.logger,
    };
    while (!signal.aborted) {
      try {
        await this.o.followerBehavior.runFollowerLoop(ctx);
      } catch (err) {
        if (signal.aborted) break;
        this.metrics.inc('followerPullsFailed');
        this.o.logger.warn({ db: this.db, err: describeError(err) }, 'follower loop failed; restarting');
      }
      if (!(await sleepUnlessAborted(this.o.clock, this.o.followerPullIntervalMs, signal))) break;
    }
  }

  /** The caught-up gate: the epoch floor for a new term, or `undefined` while behind the durable head. */
  private async readyToLead(signal: AbortSignal): Promise<number | undefined> {
    const head = await this.bounded('durable head', (s) => this.o.followerBehavior.durableHead(this.db, { signal: s }), signal);
    if (this.progress.position < head.position) {
      this.o.logger.debug(
        { db: this.db, position: this.progress.position.toString(), head: head.position.toString() },
        'not claiming: behind the durable head',
      );
      return undefined;
    }
    return Math.max(head.epoch, this.gate.highest);
  }

  /**
   * Starts a term on a won lease: fence + renewals first, then catch-up (promotion) or restore
   * (join), the caught-up check against the durable head, and the replicator. Any failure ends the
   * term and gives the lease back.
   */
  private async startTerm(holding: Holding, how: 'join' | 'promotion'): Promise<TermStart> {
    const o = this.o;
    const lease = this.lease!;
    const timing = o.lease!;
    const clock = o.clock;
    const fence = new TermFence({
      db: this.db,
      epoch: holding.epoch,
      clock,
      sentAt: holding.sentAt,
      windowMs: timing.ttlMs - timing.skewMarginMs,
    });
    let active = false;
    fence.onClose((reason, detail) => {
      if (!active || !INVOLUNTARY.has(reason)) return;
      this.metrics.inc('fences');
      o.logger.warn({ db: this.db, epoch: fence.epoch, reason, detail }, 'leader fenced');
      this.hub.emit({ type: 'fenced', db: this.db, epoch: fence.epoch, reason });
    });
    this.fence = fence;
    const done = runLeaderTerm({ db: this.db, lease, fence, timing, clock, logger: o.logger, metrics: this.metrics });
    const term: LeaderTerm = {
      db: this.db,
      epoch: holding.epoch,
      instanceId: timing.instanceId,
      sessionId: holding.sessionId,
      fence,
    };
    const started = clock.now();
    let stage: 'catchup' | 'replicator' = 'catchup';
    // A timed-out step ends the term at once (renewals stop, the lease can expire for others)
    // while the step itself is still awaited before anything else touches the local copy.
    const giveUp = (): void => fence.close('aborted', `${stage} timed out`);
    try {
      const catchupStarted = clock.now();
      const position =
        how === 'join'
          ? await this.bounded('pull', (s) => o.replicator.pull(this.db, this.path, { signal: s }), fence.signal, giveUp)
          : await this.bounded(
              'catch-up',
              (s) =>
                o.followerBehavior.catchupOnPromotion({
                  db: this.db,
                  path: this.path,
                  prefix: o.prefix,
                  replicator: o.replicator,
                  position: this.progress.position,
                  epochGate: this.gate,
                  clock,
                  signal: s,
                  logger: o.logger,
                }),
              fence.signal,
              giveUp,
            );
      this.metrics.duration('lastCatchupDurationUs', clock.now() - catchupStarted);
      const head = await this.bounded('durable head', (s) => o.followerBehavior.durableHead(this.db, { signal: s }), fence.signal, giveUp);
      if (position < head.position) {
        throw new CoordinatorError(
          'HADB_CORE_NOT_CAUGHT_UP',
          `${this.db}: local position ${position} is behind the durable head ${head.position}`,
        );
      }
      if (position > this.progress.position) this.progress.report(position);
      stage = 'replicator';
      fence.check();
      await this.bounded(
        how === 'join' ? 'replicator add' : 'replicator addContinuing',
        (s) =>
          how === 'join'
            ? o.replicator.add(this.db, this.path, term, { signal: s })
            : o.replicator.addContinuing(this.db, this.path, term, { signal: s }),
        fence.signal,
        giveUp,
      );
      fence.check();
    } catch (error) {
      if (how === 'promotion') {
        this.metrics.inc(
          isCoordinatorError(error, 'HADB_CORE_TIMEOUT')
            ? 'promotionsAbortedTimeout'
            : stage === 'catchup'
              ? 'promotionsAbortedCatchup'
              : 'promotionsAbortedReplicator',
        );
      }
      o.logger.warn({ db: this.db, epoch: holding.epoch, how, stage, err: describeError(error) }, 'could not start the term');
      fence.close('aborted', stage);
      await done;
      await this.bounded('replicator remove', (s) => o.replicator.remove(this.db, { signal: s }), undefined).catch(() => {});
      if (fence.reason === 'aborted' || fence.reason === 'leave') await lease.release(detachedSignal());
      else lease.forget();
      this.fence = undefined;
      this.holdOff = clock.now() + timing.pollIntervalMs;
      return { ok: false, error };
    }
    active = true;
    this.roleValue = 'leader';
    this.leaderAddr = timing.address;
    this.progress.setCaughtUp(true);
    if (how === 'promotion') {
      this.metrics.inc('promotionsSucceeded');
      this.metrics.duration('lastPromotionDurationUs', clock.now() - started);
      o.logger.info({ db: this.db, epoch: holding.epoch }, 'promoted to leader');
      this.hub.emit({ type: 'promoted', db: this.db, epoch: holding.epoch });
    } else {
      o.logger.info({ db: this.db, epoch: holding.epoch }, 'joined as leader');
      this.hub.emit({ type: 'joined', db: this.db, role: 'leader' });
    }
    return { ok: true, done };
  }

  /** After the fence closed: stop the replicator, give the lease back if voluntary, follow again. */
  private async finishTerm(reason: FenceReason): Promise<void> {
    const fence = this.fence;
    const epoch = fence?.epoch ?? 0;
    await this.bounded('replicator remove', (s) => this.o.replicator.remove(this.db, { signal: s }), undefined).catch(
      (err: unknown) => this.o.logger.warn({ db: this.db, err: describeError(err) }, 'replicator remove failed'),
    );
    if (reason === 'handoff' || reason === 'leave') await this.lease?.release(detachedSignal());
    else this.lease?.forget();
    this.fence = undefined;
    if (reason === 'handoff') {
      const timing = this.o.lease!;
      this.holdOff = this.o.clock.now() + timing.ttlMs + timing.skewMarginMs;
    }
    if (reason !== 'leave') {
      this.roleValue = 'follower';
      this.leaderAddr = undefined;
      this.progress.setCaughtUp(false);
      this.o.logger.info({ db: this.db, epoch, reason }, 'demoted to follower');
      this.hub.emit({ type: 'demoted', db: this.db, epoch, reason });
    }
    for (const wake of this.termEndWaiters.splice(0)) wake();
  }

  private onObserved(observed: ObservedLease | null): void {
    const data = observed?.data;
    const sleeping = data?.sleeping === true;
    if (sleeping && !this.sleeping) {
      this.o.logger.info({ db: this.db }, 'cluster is sleeping');
      this.hub.emit({ type: 'sleeping', db: this.db });
    }
    this.sleeping = sleeping;
    if (data === undefined || data.ttlSecs === 0 || sleeping) {
      this.leaderAddr = undefined;
      this.leaderSessionId = undefined;
      return;
    }
    this.leaderAddr = data.address;
    this.leaderSessionId = data.sessionId;
    this.heartbeat(data.sessionId);
  }

  private heartbeat(leaderSessionId: string): void {
    const registry = this.o.nodeRegistry;
    const lease = this.o.lease;
    if (registry === undefined || lease === undefined || this.roleValue === 'leader') return;
    const now = this.o.clock.now();
    if (this.registeredSession === leaderSessionId && now - this.registeredAt < this.o.registryHeartbeatMs) return;
    this.registeredSession = leaderSessionId;
    this.registeredAt = now;
    const registration = {
      instanceId: lease.instanceId,
      address: lease.address,
      role: 'follower',
      leaderSessionId,
      lastSeen: Math.floor(this.o.clock.wallMs() / 1000),
    };
    void this.bounded('register', (s) => registry.register(this.o.prefix, this.db, registration, { signal: s }), this.life.signal).catch(
      (err: unknown) => {
        this.registeredAt = -Infinity;
        this.o.logger.debug({ db: this.db, err: describeError(err) }, 'node registration failed');
      },
    );
  }

  /** Ends the current term voluntarily so another node can lead. See `Coordinator.handoff`. */
  async handoff(): Promise<boolean> {
    const fence = this.fence;
    if (this.roleValue !== 'leader' || fence === undefined || !fence.isValid() || this.o.lease === undefined) return false;
    try {
      await this.bounded('replicator sync', (s) => this.o.replicator.sync(this.db, { signal: s }), fence.signal);
    } catch (err) {
      this.o.logger.warn({ db: this.db, err: describeError(err) }, 'sync before handoff failed');
    }
    if (fence.reason !== undefined || this.fence !== fence) return false;
    const ended = new Promise<void>((resolve) => this.termEndWaiters.push(resolve));
    fence.close('handoff');
    await ended;
    return true;
  }

  /** Stops everything for this database; a leader stops replicating and releases the lease. Idempotent. */
  leave(): Promise<void> {
    this.leaving ??= this.doLeave();
    return this.leaving;
  }

  private async doLeave(): Promise<void> {
    this.life.abort(new CoordinatorError('HADB_CORE_ABORTED', `${this.db} was left`));
    this.fence?.close('leave');
    if (this.loop !== undefined) await this.loop;
    else if (this.roleValue === 'leader') {
      await this.bounded('replicator remove', (s) => this.o.replicator.remove(this.db, { signal: s }), undefined).catch(
        (err: unknown) => this.o.logger.warn({ db: this.db, err: describeError(err) }, 'replicator remove failed'),
      );
    }
    this.roleValue = undefined;
    this.metrics.forget(this.db);
  }

  /**
   * Runs a replicator/follower/registry call under `replicatorTimeoutMs`. After a timeout or abort
   * it still waits for the call to settle, so no continuation of it overlaps the next call for
   * this database (both may touch the local file).
   */
  private bounded<T>(
    what: string,
    fn: (signal: AbortSignal) => Promise<T>,
    signal: AbortSignal | undefined,
    onTimeout?: () => void,
  ): Promise<T> {
    return withTimeout(this.o.clock, this.o.replicatorTimeoutMs, what, CORE_DEADLINE, fn, {
      signal,
      settle: {
        onTimeout,
        onSlowSettle: () => this.o.logger.error({ db: this.db, call: what }, 'call ignores its abort signal; still waiting for it'),
      },
    });
  }
}

/** A signal that never aborts, for best-effort cleanup after the database's own signal fired. */
function detachedSignal(): AbortSignal {
  return new AbortController().signal;
}
