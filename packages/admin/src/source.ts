import type { OpOptions } from '@hadb/io';

/**
 * What a node reports to the admin server. One source describes one node (one coordinator, one
 * engine instance); an admin server can serve several (for example every node of an in-process
 * cluster). Engines implement it directly; `coordinatorSource` adapts a `@hadb/core` Coordinator.
 *
 * Contract:
 * - {@link status} is cheap enough to call every few seconds, never throws for a single bad
 *   database (report it with `errors` instead), honours `signal`, and returns nothing secret
 *   (no credentials, tokens or signed URLs).
 * - Counters (`*Bytes`, `*Segments`, `retries`, `errors`) only grow while the source lives.
 * - Times are wall-clock milliseconds since the Unix epoch of this node (`Clock.wallMs()`).
 */
export interface AdminSource {
  /** This node's stable identity (the lease `instanceId`). */
  readonly nodeId: string;
  /** The node's current view of every database it has joined. */
  status(options?: OpOptions): Promise<NodeStatus>;
  /**
   * Extra Prometheus families (the engine's own counters, for example `@hadb/core`'s
   * `hadb_lease_*`). Every sample gets a `node` label added by the server.
   */
  metrics?(options?: OpOptions): Promise<readonly MetricFamily[]> | readonly MetricFamily[];
  /**
   * Subscribes to operational events (see {@link AdminEventType}); returns the unsubscribe
   * function. Listeners are called synchronously and must not block; the server only enqueues.
   */
  subscribe?(listener: (event: AdminEvent) => void): () => void;
}

/** A node's role for one database; `none` when the database is not joined (any more). */
export type AdminRole = 'leader' | 'follower' | 'client' | 'none';

/** A circuit breaker's state, as `@hadb/io`'s `CircuitBreaker` reports it. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/** What {@link AdminSource.status} returns. */
export interface NodeStatus {
  readonly nodeId: string;
  /** How other nodes reach this one (lease address); never contains credentials. */
  readonly address?: string | undefined;
  readonly databases: readonly DatabaseStatus[];
  /** Set by the admin server when the source failed or timed out (log-safe message). */
  readonly error?: string | undefined;
}

/** One database on one node. `undefined`/`null` fields are unknown to the source and left out of `/metrics`. */
export interface DatabaseStatus {
  readonly db: string;
  readonly role: AdminRole;
  /** Epoch (fencing token) of the current term: own while leading, else the newest seen. */
  readonly epoch?: number | undefined;
  /** Instance id of the lease holder as last seen. */
  readonly leaseHolder?: string | undefined;
  /** Address of the leader as last seen in the lease record. */
  readonly leaderAddress?: string | undefined;
  /** While leading: whether this node holds a valid write fence (its lease is current). */
  readonly leaseValid?: boolean | undefined;
  /**
   * Followers and clients: seconds between now and the commit time of the newest change applied
   * locally (0 when nothing newer exists in storage). `null` when unknown.
   */
  readonly lagSeconds?: number | null | undefined;
  /** Whether {@link lagSeconds} is measured from commit times or estimated (see the adapter). */
  readonly lagSource?: 'commit-time' | 'estimate' | undefined;
  /** Leaders: wall ms of the last successful ship of a change to storage. */
  readonly lastShipAtMs?: number | null | undefined;
  /**
   * Wall ms of the last moment this database was known to be in sync: a leader's last successful
   * ship or idle flush check, a follower's last poll that found nothing newer. Heartbeats use it.
   */
  readonly syncedAtMs?: number | null | undefined;
  /** Replication position (sequence of the newest applied or shipped segment). */
  readonly position?: bigint | number | undefined;
  readonly shippedBytes?: number | undefined;
  readonly shippedSegments?: number | undefined;
  readonly appliedBytes?: number | undefined;
  readonly appliedSegments?: number | undefined;
  /** Retried storage operations. */
  readonly retries?: number | undefined;
  readonly breaker?: BreakerState | undefined;
  /** Failures by error code (`HADB_*`), totals since start. */
  readonly errors?: Readonly<Record<string, number>> | undefined;
  /** Other members of the cluster as this node sees them (registry, lease). */
  readonly cluster?: readonly ClusterMember[] | undefined;
}

/** A member of a database's cluster as seen from one node. */
export interface ClusterMember {
  readonly nodeId: string;
  readonly address?: string | undefined;
  readonly role: AdminRole;
  /** Wall ms when this member last advertised itself (registry heartbeat), if known. */
  readonly lastSeenMs?: number | undefined;
}

/** The events webhooks carry. */
export const ADMIN_EVENT_TYPES = [
  'ship_failed',
  'auth_failure',
  'corruption_detected',
  'circuit_breaker_open',
  'fenced',
  'promoted',
  'demoted',
  'restore_completed',
  'restore_failed',
] as const;

/**
 * - `ship_failed`: a change could not be shipped after every retry.
 * - `auth_failure`: storage or the lease store refused credentials, or a client of this node (the
 *   forwarding server, haqlite's Hrana server) sent a missing or wrong token.
 * - `corruption_detected`: a downloaded object failed verification.
 * - `circuit_breaker_open`: the storage circuit breaker opened (`@hadb/storage-s3`'s; engines
 *   have none of their own).
 * - `fenced`: this node's term ended involuntarily (writes refused from then on).
 * - `promoted` / `demoted`: this node became leader / stopped leading.
 * - `restore_completed`: a local copy was restored from storage (a full snapshot applied).
 * - `restore_failed`: a restore from storage failed, so no usable local copy was made (`error` is
 *   `<code>: <message>`, `context.code` the typed code; see {@link restoreFailedEvent}).
 *
 * Failure events (`auth_failure`, `corruption_detected`, `circuit_breaker_open`) are sent at most
 * once a minute per database and kind ({@link EventThrottle}).
 */
export type AdminEventType = (typeof ADMIN_EVENT_TYPES)[number];

/** One operational event. */
export interface AdminEvent {
  readonly type: AdminEventType;
  readonly db: string;
  /** Node that reported it (set by the server from the source when missing). */
  readonly nodeId?: string | undefined;
  /** What went wrong (log-safe: error code and message, no secrets); empty for role changes. */
  readonly error?: string | undefined;
  /** Attempts made (retries + 1) when the event ends a retried operation. */
  readonly attempts?: number | undefined;
  /** Extra JSON-safe context (epoch, reason, …). */
  readonly context?: Readonly<Record<string, unknown>> | undefined;
}

/** A Prometheus metric family: name, help, type and samples. */
export interface MetricFamily {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'untyped';
  readonly samples: readonly MetricSample[];
}

/** One sample of a {@link MetricFamily}. */
export interface MetricSample {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}
