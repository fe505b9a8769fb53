import {
  configChecker,
  describeError,
  silentLogger,
  systemClock,
  type Clock,
  type ConfigChecker,
  type Logger,
  type Timer,
} from '@hadb/io';
import { invalidConfig } from './errors.js';
import type { NodeStatus } from './source.js';
import { postOnce, safeUrl } from './webhooks.js';

/** Options of {@link Heartbeat}. */
export interface HeartbeatOptions {
  /** URL pinged with `GET` (healthchecks.io, Uptime Kuma, Better Stack, …). */
  readonly url: string;
  /** Ping interval. Default 60000 ms. */
  readonly intervalMs?: number | undefined;
  /**
   * A database counts as synced when its `syncedAtMs` is at most this old. Default `intervalMs`
   * (every database synced within the interval).
   */
  readonly maxSyncAgeMs?: number | undefined;
  /** Per-ping timeout. Default 10000 ms. */
  readonly timeoutMs?: number | undefined;
  readonly clock?: Clock | undefined;
  readonly logger?: Logger | undefined;
}

/** Counters of {@link Heartbeat}. */
export interface HeartbeatStats {
  readonly sent: number;
  readonly skipped: number;
  readonly failed: number;
  /** Why the last interval was skipped (database and age), or `undefined` after a ping. */
  readonly lastSkipReason: string | undefined;
}

/**
 * Pings a URL every `intervalMs`, but only while every joined database of every node was synced
 * within `maxSyncAgeMs` — so the monitoring service alerts when pings stop. A database with no
 * known sync time, or a node with no database, counts as not synced. Ping failures are logged
 * and counted, not retried (the next interval pings again).
 */
export class Heartbeat implements AsyncDisposable {
  readonly #url: string;
  readonly #intervalMs: number;
  readonly #maxSyncAgeMs: number;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #collect: () => Promise<readonly NodeStatus[]>;
  readonly #stop = new AbortController();
  #timer: Timer | undefined;
  #inFlight: Promise<void> | undefined;
  #counts = { sent: 0, skipped: 0, failed: 0 };
  #lastSkipReason: string | undefined;
  #closed = false;

  constructor(options: HeartbeatOptions, collect: () => Promise<readonly NodeStatus[]>) {
    const check: ConfigChecker = configChecker(invalidConfig);
    const url = parseUrl(check.string('heartbeat.url', options.url));
    if (url === undefined) check.fail('heartbeat.url is not a valid URL');
    check.require(url.protocol === 'http:' || url.protocol === 'https:', 'heartbeat.url must be http: or https:');
    this.#url = options.url;
    this.#intervalMs = check.number('heartbeat.intervalMs', options.intervalMs, { min: 10, default: 60_000 });
    this.#maxSyncAgeMs = check.number('heartbeat.maxSyncAgeMs', options.maxSyncAgeMs, {
      min: 1,
      default: this.#intervalMs,
    });
    this.#timeoutMs = check.number('heartbeat.timeoutMs', options.timeoutMs, { min: 1, default: 10_000 });
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? silentLogger;
    this.#collect = collect;
  }

  /** Starts the interval (the first check runs after one interval). */
  start(): void {
    if (this.#closed || this.#timer !== undefined) return;
    const tick = (): void => {
      this.#timer = this.#clock.timer(this.#intervalMs, () => {
        this.#inFlight = this.beat()
          .then(
            () => undefined,
            () => undefined,
          )
          .finally(() => {
            this.#inFlight = undefined;
            if (!this.#closed) tick();
          });
      });
    };
    tick();
  }

  stats(): HeartbeatStats {
    return { ...this.#counts, lastSkipReason: this.#lastSkipReason };
  }

  /** One check-and-ping, as the interval runs it. Resolves `true` when a ping was sent. */
  async beat(): Promise<boolean> {
    let nodes: readonly NodeStatus[];
    try {
      nodes = await this.#collect();
    } catch (err) {
      this.#skip(`status unavailable: ${describeError(err).message}`);
      return false;
    }
    const reason = unsyncedReason(nodes, this.#clock.wallMs(), this.#maxSyncAgeMs);
    if (reason !== undefined) {
      this.#skip(reason);
      return false;
    }
    try {
      await postOnce(
        this.#url,
        { 'user-agent': 'hadb-admin heartbeat' },
        undefined,
        this.#timeoutMs,
        this.#stop.signal,
        'GET',
        this.#clock,
      );
      this.#counts.sent++;
      this.#lastSkipReason = undefined;
      return true;
    } catch (err) {
      if (this.#closed) return false;
      this.#counts.failed++;
      this.#logger.warn({ url: safeUrl(this.#url), err: describeError(err) }, 'heartbeat ping failed');
      return false;
    }
  }

  /** Stops the interval and aborts a running ping. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#timer?.cancel();
    this.#stop.abort();
    await this.#inFlight?.catch(() => {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #skip(reason: string): void {
    this.#counts.skipped++;
    this.#lastSkipReason = reason;
    this.#logger.info({ reason }, 'heartbeat skipped: not every database synced');
  }
}

function parseUrl(s: string): URL | undefined {
  try {
    return new URL(s);
  } catch {
    return undefined;
  }
}

/** Why the nodes are not all synced within `maxAgeMs` of `nowMs`, or `undefined` when they are. */
export function unsyncedReason(nodes: readonly NodeStatus[], nowMs: number, maxAgeMs: number): string | undefined {
  let databases = 0;
  for (const node of nodes) {
    for (const d of node.databases) {
      databases++;
      if (d.syncedAtMs === null || d.syncedAtMs === undefined) return `${node.nodeId}/${d.db}: never synced`;
      const age = nowMs - d.syncedAtMs;
      if (age > maxAgeMs) return `${node.nodeId}/${d.db}: last synced ${Math.round(age)} ms ago`;
    }
  }
  return databases === 0 ? 'no database joined' : undefined;
}
