import { describeError, wallSeconds } from '@hadb/io';
import type { ResolvedOptions } from './options.js';

/** Runs a registry call under the driver's bound (replicator timeout, waits for the call to settle). */
type Bounded = <T>(
  what: string,
  fn: (signal: AbortSignal) => Promise<T>,
  signal: AbortSignal | undefined,
) => Promise<T>;

/**
 * A follower's entry in the node registry: written when it first sees a leader session and again
 * every `registryHeartbeatMs` while it follows that session; removed when the follower phase ends.
 * Failures are logged at debug level and retried at the next observation (the registry is a
 * discovery hint, never a safety input).
 */
export class FollowerRegistration {
  readonly #db: string;
  readonly #options: ResolvedOptions;
  readonly #bounded: Bounded;
  #session: string | undefined;
  #at = -Infinity;

  constructor(db: string, options: ResolvedOptions, bounded: Bounded) {
    this.#db = db;
    this.#options = options;
    this.#bounded = bounded;
  }

  /** Registers (or refreshes) this follower under `leaderSessionId` when due. Never throws. */
  heartbeat(leaderSessionId: string, signal: AbortSignal): void {
    const { nodeRegistry: registry, lease, clock, registryHeartbeatMs, prefix, logger } = this.#options;
    if (registry === undefined || lease === undefined) return;
    const now = clock.now();
    if (this.#session === leaderSessionId && now - this.#at < registryHeartbeatMs) return;
    this.#session = leaderSessionId;
    this.#at = now;
    const registration = {
      instanceId: lease.instanceId,
      address: lease.address,
      role: 'follower',
      leaderSessionId,
      lastSeen: wallSeconds(clock),
    };
    void this.#bounded(
      'register',
      (s) => registry.register(prefix, this.#db, registration, { signal: s }),
      signal,
    ).catch((err: unknown) => {
      this.#at = -Infinity;
      logger.debug({ db: this.#db, err: describeError(err) }, 'node registration failed');
    });
  }

  /** Removes the entry if one was written. Never throws. */
  async deregister(): Promise<void> {
    const { nodeRegistry: registry, lease, prefix, logger } = this.#options;
    if (this.#session === undefined || registry === undefined) return;
    this.#session = undefined;
    const instanceId = lease?.instanceId ?? '';
    await this.#bounded(
      'deregister',
      (s) => registry.deregister(prefix, this.#db, instanceId, { signal: s }),
      undefined,
    ).catch((err: unknown) => logger.debug({ db: this.#db, err: describeError(err) }, 'deregister failed'));
  }
}
