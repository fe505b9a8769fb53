import { describeError, silentLogger, systemClock, type Clock, type Logger, type OpOptions } from '@hadb/io';
import { parsePrometheus } from './exposition.js';
import type {
  AdminEvent,
  AdminRole,
  AdminSource,
  ClusterMember,
  DatabaseStatus,
  MetricFamily,
  NodeStatus,
} from './source.js';

/**
 * The part of `@hadb/core`'s `Coordinator` public API the adapter reads (a structural type, so
 * this package does not load `@hadb/core`).
 */
export interface CoordinatorLike {
  databaseNames(): string[];
  role(db: string): 'leader' | 'follower' | 'client' | undefined;
  epoch(db: string): number | undefined;
  leaderAddress(db: string): string | undefined;
  progress(db: string): { readonly position: bigint; readonly caughtUp: boolean } | undefined;
  /** Throws unless this node holds a valid write fence for `db`. */
  checkWrite(db: string): { readonly epoch: number };
  prometheus(): string;
  on(type: '*', listener: (event: CoordinatorEventLike) => void): () => void;
}

/** The role events of `@hadb/core` the adapter turns into webhook events. */
export type CoordinatorEventLike =
  | { readonly type: 'joined'; readonly db: string; readonly role: string }
  | { readonly type: 'promoted'; readonly db: string; readonly epoch: number }
  | { readonly type: 'fenced'; readonly db: string; readonly epoch: number; readonly reason: string }
  | { readonly type: 'demoted'; readonly db: string; readonly epoch: number; readonly reason: string }
  | { readonly type: 'sleeping'; readonly db: string };

/** `@hadb/core`'s `NodeRegistry.discoverAll` (structural). */
export interface NodeRegistryLike {
  discoverAll(
    prefix: string,
    db: string,
    options?: OpOptions,
  ): Promise<
    ReadonlyArray<{
      readonly instanceId: string;
      readonly address: string;
      readonly role: string;
      readonly lastSeen: number;
    }>
  >;
}

/**
 * What an engine knows and the coordinator does not: commit times, shipping counters, retries,
 * breaker state, errors. Every field is optional; missing ones are reported as unknown.
 */
export interface ReplicationStats
  extends Omit<Partial<DatabaseStatus>, 'db' | 'role' | 'cluster' | 'lagSeconds' | 'lagSource' | 'leaseValid'> {
  /**
   * Wall ms at which the newest change applied on this node was committed on the leader (from
   * the segment's header or metadata). Gives `lagSeconds` exactly.
   */
  readonly lastAppliedCommitMs?: number | null | undefined;
}

/** Options of {@link coordinatorSource}. */
export interface CoordinatorSourceOptions {
  /** This node's id (the coordinator's `lease.instanceId`). */
  readonly nodeId: string;
  /** This node's address (the coordinator's `lease.address`). */
  readonly address?: string | undefined;
  /** Engine statistics per database (see {@link ReplicationStats}); called on every status. */
  readonly replication?: ((db: string) => ReplicationStats | undefined) | undefined;
  /** The node registry the coordinator writes, to list the cluster's followers. */
  readonly registry?: NodeRegistryLike | undefined;
  /**
   * Names the leader from its address when the registry does not (a leader that never followed
   * is not registered). Default: registry entries only, else the address itself is shown.
   */
  readonly nodeIdOfAddress?: ((address: string) => string | undefined) | undefined;
  /** The coordinator's `prefix`. Default `""`. */
  readonly registryPrefix?: string | undefined;
  /** How long registry listings are reused. Default 5000 ms. */
  readonly registryRefreshMs?: number | undefined;
  /** Registry entries older than this are not shown. Default 60000 ms. */
  readonly registryStaleMs?: number | undefined;
  readonly clock?: Clock | undefined;
  readonly logger?: Logger | undefined;
}

/** An {@link AdminSource} over a Coordinator, plus {@link report} for the engine's own events. */
export interface CoordinatorAdminSource extends AdminSource {
  /**
   * Reports an engine event (`ship_failed`, `auth_failure`, `corruption_detected`,
   * `circuit_breaker_open`, `restore_completed`, …) to subscribers. Never blocks or throws.
   */
  report(event: AdminEvent): void;
  /** Stops listening to the coordinator. The coordinator itself is left open. */
  close(): void;
}

/**
 * Adapts a `@hadb/core` Coordinator to {@link AdminSource}.
 *
 * Lag of a follower: `0` while its last poll found nothing newer in storage (`caughtUp`);
 * otherwise now minus `replication(db).lastAppliedCommitMs` when the engine supplies it
 * (`lagSource: 'commit-time'`), else now minus the last time the adapter saw the follower caught
 * up (`lagSource: 'estimate'`, an upper bound that needs {@link AdminSource.status} to be called
 * regularly — the admin server samples every `sampleIntervalMs`). The resolution is one poll interval.
 *
 * Cluster members: this node, the leader (named by its registry entry when it has one, else by
 * its address) and the registry's entries seen within `registryStaleMs`.
 *
 * Events: core's `promoted`, `demoted` and `fenced` are forwarded (with `epoch` and `reason` as
 * context); engine events come in through {@link CoordinatorAdminSource.report}.
 */
export function coordinatorSource(
  coordinator: CoordinatorLike,
  options: CoordinatorSourceOptions,
): CoordinatorAdminSource {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? silentLogger;
  const refreshMs = options.registryRefreshMs ?? 5000;
  const staleMs = options.registryStaleMs ?? 60_000;
  const prefix = options.registryPrefix ?? '';
  const listeners = new Set<(event: AdminEvent) => void>();
  const lastCaughtUpMs = new Map<string, number>();
  const registryCache = new Map<string, { at: number; members: ClusterMember[] }>();
  /** Instance ids by address, from every registry entry seen (to name the leader). */
  const addressIds = new Map<string, string>(options.address === undefined ? [] : [[options.address, options.nodeId]]);

  const emit = (event: AdminEvent): void => {
    const e = event.nodeId === undefined ? { ...event, nodeId: options.nodeId } : event;
    for (const l of [...listeners]) {
      try {
        l(e);
      } catch (err) {
        logger.error({ err: describeError(err) }, 'admin event listener threw');
      }
    }
  };
  const off = coordinator.on('*', (event) => {
    if (event.type === 'promoted') emit({ type: 'promoted', db: event.db, context: { epoch: event.epoch } });
    else if (event.type === 'demoted')
      emit({ type: 'demoted', db: event.db, context: { epoch: event.epoch, reason: event.reason } });
    else if (event.type === 'fenced') {
      emit({
        type: 'fenced',
        db: event.db,
        error: `term ${event.epoch} ended: ${event.reason}`,
        context: { epoch: event.epoch, reason: event.reason },
      });
    }
  });

  async function registryMembers(db: string, signal: AbortSignal | undefined): Promise<ClusterMember[] | undefined> {
    const registry = options.registry;
    if (registry === undefined) return undefined;
    const cached = registryCache.get(db);
    if (cached !== undefined && clock.now() - cached.at < refreshMs) return cached.members;
    try {
      const all = await registry.discoverAll(prefix, db, { signal });
      for (const r of all) addressIds.set(r.address, r.instanceId);
      const nowS = clock.wallMs() / 1000;
      const members = all
        .filter((r) => nowS - r.lastSeen <= staleMs / 1000)
        .map(
          (r): ClusterMember => ({
            nodeId: r.instanceId,
            address: r.address,
            role: r.role === 'leader' || r.role === 'client' ? r.role : 'follower',
            lastSeenMs: r.lastSeen * 1000,
          }),
        );
      registryCache.set(db, { at: clock.now(), members });
      return members;
    } catch (err) {
      logger.warn({ db, err: describeError(err) }, 'node registry listing failed');
      return cached?.members;
    }
  }

  async function database(db: string, signal: AbortSignal | undefined): Promise<DatabaseStatus> {
    const now = clock.wallMs();
    const role: AdminRole = coordinator.role(db) ?? 'none';
    const progress = coordinator.progress(db);
    const stats = safeStats(db);
    const leaderAddress = coordinator.leaderAddress(db);
    let leaseValid: boolean | undefined;
    let epoch = stats?.epoch;
    if (role === 'leader') {
      try {
        epoch = coordinator.checkWrite(db).epoch;
        leaseValid = true;
      } catch {
        leaseValid = false;
        epoch = coordinator.epoch(db) ?? epoch;
      }
    }
    let lagSeconds: number | null = null;
    let lagSource: DatabaseStatus['lagSource'];
    let syncedAtMs = stats?.syncedAtMs ?? (role === 'leader' ? stats?.lastShipAtMs : undefined) ?? null;
    if (role === 'follower' || role === 'client') {
      if (progress?.caughtUp === true) {
        lastCaughtUpMs.set(db, now);
        syncedAtMs = stats?.syncedAtMs ?? now;
        lagSeconds = 0;
        lagSource = typeof stats?.lastAppliedCommitMs === 'number' ? 'commit-time' : 'estimate';
      } else if (typeof stats?.lastAppliedCommitMs === 'number') {
        lagSeconds = Math.max(0, (now - stats.lastAppliedCommitMs) / 1000);
        lagSource = 'commit-time';
      } else {
        const seen = lastCaughtUpMs.get(db);
        lagSeconds = seen === undefined ? null : Math.max(0, (now - seen) / 1000);
        lagSource = 'estimate';
      }
    }
    const registered = (await registryMembers(db, signal)) ?? [];
    const self: ClusterMember = { nodeId: options.nodeId, address: options.address, role };
    const members = new Map<string, ClusterMember>([[self.nodeId, self]]);
    const leaseHolder =
      role === 'leader'
        ? options.nodeId
        : (stats?.leaseHolder ??
          (leaderAddress === undefined
            ? undefined
            : (addressIds.get(leaderAddress) ?? options.nodeIdOfAddress?.(leaderAddress))));
    if (role !== 'leader' && leaderAddress !== undefined) {
      const id = leaseHolder ?? leaderAddress;
      if (id !== options.nodeId) members.set(id, { nodeId: id, address: leaderAddress, role: 'leader' });
    }
    for (const m of registered) {
      if (members.has(m.nodeId)) continue;
      if (m.address !== undefined && m.address === leaderAddress) continue;
      members.set(m.nodeId, m);
    }
    return {
      ...withoutCommit(stats),
      db,
      role,
      epoch,
      leaseHolder,
      leaderAddress,
      leaseValid,
      lagSeconds,
      lagSource,
      syncedAtMs,
      position: progress?.position ?? stats?.position,
      cluster: [...members.values()],
    };
  }

  function safeStats(db: string): ReplicationStats | undefined {
    try {
      return options.replication?.(db);
    } catch (err) {
      logger.warn({ db, err: describeError(err) }, 'replication stats hook threw');
      return undefined;
    }
  }

  return {
    nodeId: options.nodeId,
    async status(opts: OpOptions = {}): Promise<NodeStatus> {
      const names = coordinator.databaseNames().sort();
      const databases = await Promise.all(names.map((db) => database(db, opts.signal)));
      return { nodeId: options.nodeId, address: options.address, databases };
    },
    metrics(): MetricFamily[] {
      return parsePrometheus(coordinator.prometheus());
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    report: emit,
    close() {
      off();
      listeners.clear();
    },
  };
}

function withoutCommit(stats: ReplicationStats | undefined): Omit<ReplicationStats, 'lastAppliedCommitMs'> {
  if (stats === undefined) return {};
  const { lastAppliedCommitMs: _ignored, ...rest } = stats;
  return rest;
}
