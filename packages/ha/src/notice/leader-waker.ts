import type { FollowerContext } from '@hadb/core';
import type { Clock } from '@hadb/io';
import { haAborted, throwIfAborted } from '../errors.js';
import { waitLeaderHead } from '../forwarding/notice-client.js';

/** Why {@link FollowerWaker.wait} resolved. */
export type WakeReason =
  /** The leader announced a head this follower has not seen: poll storage now. */
  | 'notice'
  /** No leader answered (none known, unreachable, refusing): the fallback interval passed, poll storage. */
  | 'fallback';

/** What a follower's pull loop awaits between storage polls. */
export interface FollowerWaker {
  /**
   * Resolves when the follower should poll storage: as soon as the leader announces new segments,
   * or — while no leader answers — after the fallback interval. While the leader answers and has
   * nothing new it keeps waiting (no storage request), calling `onAnswered` after each such
   * answer (proof that the leader is alive and has shipped nothing new). Rejects with
   * `HADB_HA_ABORTED` when `signal` fires.
   */
  wait(signal: AbortSignal, onAnswered?: () => void): Promise<WakeReason>;
}

/** Options of {@link LeaderWaker}. */
export interface LeaderWakerOptions {
  readonly clock: Clock;
  /** The leader's forwarding address as this node knows it now (from the lease). */
  readonly leaderAddress: () => string | undefined;
  /** This node's own address (never polled). */
  readonly selfAddress: () => string;
  /** Bearer secret (never logged). */
  readonly secret?: string | undefined;
  /** Storage polling interval while no leader answers, ms. */
  readonly fallbackMs: number;
  /** How long the leader holds one long poll, ms. */
  readonly holdMs: number;
  /** Time over `holdMs` before a poll counts as failed, ms. */
  readonly graceMs: number;
  /** How often the lease's leader address is re-read during a hold (in memory), ms. Default 1000. */
  readonly addressCheckMs?: number | undefined;
}

/** Counters of one waker. */
export interface WakerCounters {
  /** Long polls sent to the leader. */
  readonly polls: number;
  /** Waits ended by a leader's notice. */
  readonly notices: number;
  /** Waits ended by the fallback interval. */
  readonly fallbacks: number;
}

/** Shortest time between two long polls that came back without news (a leader answering early). */
const MIN_POLL_GAP_MS = 50;

/**
 * The follower side of the head notice: long-polls the leader's `wait_head` over HTTP (the
 * forwarding endpoint) with the last head it was told, so a follower polls storage once per
 * shipped change instead of on a timer. Falls back to polling storage every `fallbackMs` while no
 * leader answers; a leader change (read from the lease) ends a held poll at once.
 */
export class LeaderWaker implements FollowerWaker {
  readonly #o: LeaderWakerOptions;
  #seen: string | null = null;
  #polls = 0;
  #notices = 0;
  #fallbacks = 0;

  constructor(options: LeaderWakerOptions) {
    this.#o = options;
  }

  get counters(): WakerCounters {
    return { polls: this.#polls, notices: this.#notices, fallbacks: this.#fallbacks };
  }

  async wait(signal: AbortSignal, onAnswered?: () => void): Promise<WakeReason> {
    const { clock } = this.#o;
    for (;;) {
      throwIfAborted(signal);
      const address = this.#o.leaderAddress();
      if (address === undefined || address === '' || address === this.#o.selfAddress()) return this.#fallback(signal);
      const started = clock.now();
      const moved = new AbortController();
      const watch = this.#watchAddress(address, moved);
      let head: string;
      try {
        this.#polls++;
        head = await waitLeaderHead(address, {
          after: this.#seen,
          holdMs: this.#o.holdMs,
          graceMs: this.#o.graceMs,
          secret: this.#o.secret,
          clock,
          signal: AbortSignal.any([signal, moved.signal]),
        });
      } catch {
        throwIfAborted(signal);
        if (moved.signal.aborted) continue;
        return this.#fallback(signal);
      } finally {
        watch.cancel();
      }
      if (head !== this.#seen) {
        this.#seen = head;
        this.#notices++;
        return 'notice';
      }
      onAnswered?.();
      const held = clock.now() - started;
      if (held < MIN_POLL_GAP_MS) await this.#sleep(MIN_POLL_GAP_MS - held, signal);
    }
  }

  async #fallback(signal: AbortSignal): Promise<WakeReason> {
    await this.#sleep(this.#o.fallbackMs, signal);
    this.#fallbacks++;
    return 'fallback';
  }

  async #sleep(ms: number, signal: AbortSignal): Promise<void> {
    try {
      await this.#o.clock.sleep(ms, signal);
    } catch (cause) {
      throw haAborted('follower wait aborted', cause);
    }
  }

  /** Aborts `moved` once the lease names another leader than `address`. */
  #watchAddress(address: string, moved: AbortController): { cancel(): void } {
    const every = this.#o.addressCheckMs ?? 1000;
    let timer = this.#o.clock.timer(every, check);
    const self = this;
    function check(): void {
      if (self.#o.leaderAddress() !== address) moved.abort();
      else timer = self.#o.clock.timer(every, check);
    }
    return { cancel: () => timer.cancel() };
  }
}

/**
 * A follower context whose sleeps between storage polls wait for `waker` instead: for an engine's
 * follower loop that sleeps `ctx.clock.sleep(ctx.pollIntervalMs)` after each pull (the core
 * contract). After a pull the loop reports as failed (`metrics.pullFailed`) the next sleep is a
 * plain one, so a failed pull is retried on the interval, not at the next notice. `onWake` hears
 * why each sleep ended (`retry`: the plain sleep after a failed pull).
 */
export function wakeOnNotice(
  ctx: FollowerContext,
  waker: FollowerWaker,
  onWake?: (reason: WakeReason | 'retry') => void,
): FollowerContext {
  let retry = false;
  const inner = ctx.clock;
  return {
    ...ctx,
    metrics: {
      pullSucceeded: () => ctx.metrics.pullSucceeded(),
      pullNoNewData: () => ctx.metrics.pullNoNewData(),
      pullFailed: () => {
        retry = true;
        ctx.metrics.pullFailed();
      },
    },
    clock: {
      now: () => inner.now(),
      wallMs: () => inner.wallMs(),
      timer: (ms, fn) => inner.timer(ms, fn),
      async sleep(ms, signal) {
        if (retry || signal === undefined) {
          retry = false;
          await inner.sleep(ms, signal);
          onWake?.('retry');
          return;
        }
        // Not `onWake?.(await …)`: an absent callback would skip the wait itself.
        const reason = await waker.wait(signal);
        onWake?.(reason);
      },
    },
  };
}
