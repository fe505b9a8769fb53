import {
  alertOf,
  EventThrottle,
  type AdminEvent,
  type AdminSource,
  type DatabaseStatus,
  type NodeStatus,
} from '@hadb/admin';
import { describeError, isHadbError, type Clock, type Logger } from '@hadb/io';
import type { WalstreamEvent } from './events.js';
import type { ReplicatorStatus } from './replicator.js';

interface DbCounters {
  shippedBytes: number;
  shippedSegments: number;
  lastShipAtMs: number | null;
  syncedAtMs: number | null;
  errors: Record<string, number>;
}

/**
 * The `@hadb/admin` source of a `Walstream`: one database entry per replicated database, as the
 * writer that ships it (`role: leader`, always ready: walstream holds no lease). Per database:
 * the last ship and the last successful sync (also one that found nothing new, so heartbeats keep
 * going on a quiet database), bytes and changesets (plus snapshots) shipped, and failures by
 * `HADB_*` code. A failed sync — a background step or a requested `sync()` — is also reported as
 * a `ship_failed` event, and as `auth_failure` / `corruption_detected` / `circuit_breaker_open`
 * when its cause is refused credentials, a failed verification or an open storage breaker (at
 * most once a minute each, see `@hadb/admin`'s `alertOf`). Fed by the `Walstream` it belongs to;
 * `nodeId` names the process.
 */
export class WalstreamAdminSource implements AdminSource {
  readonly nodeId: string;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #databases: () => readonly ReplicatorStatus[];
  readonly #counters = new Map<string, DbCounters>();
  readonly #listeners = new Set<(event: AdminEvent) => void>();
  readonly #throttle: EventThrottle;

  constructor(options: { nodeId: string; clock: Clock; logger: Logger; databases: () => readonly ReplicatorStatus[] }) {
    this.nodeId = options.nodeId;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#databases = options.databases;
    this.#throttle = new EventThrottle(options.clock);
  }

  #of(db: string): DbCounters {
    let c = this.#counters.get(db);
    if (c === undefined) {
      c = { shippedBytes: 0, shippedSegments: 0, lastShipAtMs: null, syncedAtMs: null, errors: {} };
      this.#counters.set(db, c);
    }
    return c;
  }

  /** Counts one walstream event (`shipped`, `snapshot`, `error`). */
  event(event: WalstreamEvent): void {
    if (event.type === 'shipped' || event.type === 'snapshot') {
      const c = this.#of(event.db);
      c.shippedBytes += event.bytes;
      c.shippedSegments++;
      c.lastShipAtMs = this.#clock.wallMs();
    } else if (event.type === 'error') {
      this.failed(event.db, event.error);
    }
  }

  /** A sync of `db` completed: it is in sync with storage now. */
  synced(db: string): void {
    this.#of(db).syncedAtMs = this.#clock.wallMs();
  }

  /** A sync of `db` failed: counted by code and reported as `ship_failed`. */
  failed(db: string, error: unknown): void {
    const code = isHadbError(error) ? error.code : 'HADB_WALSTREAM_UNKNOWN';
    const c = this.#of(db);
    c.errors[code] = (c.errors[code] ?? 0) + 1;
    const message = `${code}: ${describeError(error).message}`;
    this.report({ type: 'ship_failed', db, error: message });
    const alert = alertOf(error);
    if (alert !== undefined) this.alert({ type: alert, db, error: message });
  }

  /** Reports a failure event at most once a minute per type and database (see `EventThrottle`). */
  alert(event: AdminEvent): void {
    const passed = this.#throttle.pass(event);
    if (passed !== undefined) this.report(passed);
  }

  /** Sends an event to the admin server (webhooks, recent events). */
  report(event: AdminEvent): void {
    const e = event.nodeId === undefined ? { ...event, nodeId: this.nodeId } : event;
    for (const l of [...this.#listeners]) {
      try {
        l(e);
      } catch (err) {
        this.#logger.error({ err: describeError(err) }, 'admin event listener threw');
      }
    }
  }

  async status(): Promise<NodeStatus> {
    const databases = this.#databases()
      .filter((d) => !d.closed)
      .map((d): DatabaseStatus => {
        const c = this.#of(d.name);
        return {
          db: d.name,
          role: 'leader',
          position: d.seq,
          lastShipAtMs: c.lastShipAtMs,
          syncedAtMs: c.syncedAtMs,
          shippedBytes: c.shippedBytes,
          shippedSegments: c.shippedSegments,
          errors: { ...c.errors },
        };
      })
      .sort((a, b) => (a.db < b.db ? -1 : 1));
    return { nodeId: this.nodeId, databases };
  }

  subscribe(listener: (event: AdminEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): void {
    this.#listeners.clear();
  }
}
