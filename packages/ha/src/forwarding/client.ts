import { sleep, systemClock, type Clock, type OpOptions } from '@hadb/io';
import type { WireCodec } from '../engine.js';
import { HaError, haAborted, isHaError } from '../errors.js';
import { errorFromBody, isRetryableForward, type Durability } from './protocol.js';

/** Options of {@link ForwardingClient}. */
export interface ForwardingClientOptions<W, R, WR, RR> {
  /** The engine's wire codec (paths, request and result encodings, its client errors). */
  readonly codec: WireCodec<W, R, WR, RR>;
  /** Bearer secret sent to the leader (never logged). */
  readonly secret?: string | undefined;
  /** Per-request timeout in ms. Default 5000. */
  readonly timeoutMs?: number | undefined;
  /** Time source of the timeout. Default: the system clock. */
  readonly clock?: Clock | undefined;
}

/**
 * Sends one forwarding request to a known leader address (`http://host:port`). One attempt: the
 * retry loop, which re-reads the leader's address between attempts, is {@link forwardToLeader}.
 */
export class ForwardingClient<W, R, WR, RR> {
  readonly #codec: WireCodec<W, R, WR, RR>;
  readonly #secret: string | undefined;
  readonly #timeoutMs: number;
  readonly #clock: Clock;

  constructor(options: ForwardingClientOptions<W, R, WR, RR>) {
    this.#codec = options.codec;
    this.#secret = options.secret;
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#clock = options.clock ?? systemClock;
  }

  async #post(address: string, op: string, body: unknown, signal: AbortSignal | undefined): Promise<unknown> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.#secret !== undefined) headers.authorization = `Bearer ${this.#secret}`;
    const timeout = new AbortController();
    const timer = this.#clock.timer(this.#timeoutMs, () => timeout.abort(new Error('forwarding request timed out')));
    const combined = signal === undefined ? timeout.signal : AbortSignal.any([signal, timeout.signal]);
    let res: Response;
    let parsed: unknown;
    try {
      try {
        res = await fetch(new URL(`${this.#codec.basePath}/${op}`, address), {
          method: 'POST',
          headers,
          body: JSON.stringify(body),
          signal: combined,
          // Never re-send the SQL (or the secret) to wherever a redirect points.
          redirect: 'manual',
        });
      } catch (cause) {
        if (signal?.aborted === true) throw haAborted('forwarding aborted', signal.reason);
        // The address comes from the lease; the message names neither it nor any header.
        throw new HaError('HADB_HA_FORWARD_FAILED', `forwarding request failed: ${(cause as Error)?.name ?? 'error'}`, {
          cause,
        });
      }
      if (res.status >= 300 && res.status < 400) {
        void res.body?.cancel().catch(() => undefined);
        throw new HaError('HADB_HA_PROTOCOL', `leader answered HTTP ${res.status} (a redirect, not followed)`);
      }
      try {
        parsed = await res.json();
      } catch (cause) {
        throw new HaError(
          res.status >= 500 ? 'HADB_HA_FORWARD_FAILED' : 'HADB_HA_PROTOCOL',
          `leader answered HTTP ${res.status} without JSON`,
          {
            cause,
          },
        );
      }
    } finally {
      timer.cancel();
    }
    if (res.status !== 200)
      throw errorFromBody(res.status, parsed, (code, message) => this.#codec.decodeError(code, message));
    return parsed;
  }

  /** Runs `write` on the leader at `address` under `token` (see the protocol). */
  async write(address: string, write: W, token: string, durability: Durability, signal?: AbortSignal): Promise<WR> {
    const { op, body } = this.#codec.encodeWrite(write);
    const answer = await this.#post(address, op, { ...body, idempotency_token: token, durability }, signal);
    return this.#codec.decodeWriteResult(answer);
  }

  /** Runs `read` on the leader at `address`. */
  async read(address: string, read: R, signal?: AbortSignal): Promise<RR> {
    const { op, body } = this.#codec.encodeRead(read);
    return this.#codec.decodeReadResult(await this.#post(address, op, body, signal));
  }
}

/** Options of {@link withForwardRetries}. */
export interface ForwardRetryOptions extends OpOptions {
  /**
   * A fixed schedule: the delay before each attempt, ms. When set, {@link budgetMs} is ignored.
   * Default: a time budget (see {@link budgetMs}).
   */
  readonly delaysMs?: readonly number[] | undefined;
  /**
   * Keep retrying until this much clock time has passed since the first attempt, ms, backing off
   * from {@link initialDelayMs} (doubling) to at most {@link maxDelayMs}. Used when
   * {@link delaysMs} is not set; default {@link DEFAULT_FORWARD_RETRY_BUDGET_MS}.
   */
  readonly budgetMs?: number | undefined;
  /** First backoff delay of the budget mode, ms. Default 50. */
  readonly initialDelayMs?: number | undefined;
  /** Largest backoff delay of the budget mode, ms. Default 1000. */
  readonly maxDelayMs?: number | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Called before every attempt after the first. */
  readonly onRetry?: ((attempt: number) => void) | undefined;
  /** Time source of the delays and the budget. Default: the system clock. */
  readonly clock?: Clock | undefined;
}

/**
 * Budget of {@link withForwardRetries} when neither delays nor a budget are given: 12 s, a failover
 * at core's default lease timing (TTL 5 s + margin 1 s + poll 1 s) plus one TTL for the promotion.
 */
export const DEFAULT_FORWARD_RETRY_BUDGET_MS = 12_000;

/**
 * Runs `attempt` until it succeeds or fails with a non-retryable error (see `isRetryableForward`):
 * after each delay of `delaysMs`, or — the default — with exponential backoff until `budgetMs` of
 * clock time is spent (an attempt is not started if its delay would end past the budget; a
 * `HADB_HA_SHIP_FAILED` or `HADB_HA_OVERLOADED` answer starts the budget again, once). The last
 * retryable error is rethrown as a retryable `HADB_HA_FORWARD_FAILED` (or as itself when it is
 * `HADB_HA_NO_LEADER`); an abort is `HADB_HA_ABORTED`.
 */
export async function withForwardRetries<T>(
  attempt: (n: number) => Promise<T>,
  options: ForwardRetryOptions = {},
): Promise<T> {
  const { signal, delaysMs } = options;
  const clock = options.clock ?? systemClock;
  const budgetMs = options.budgetMs ?? DEFAULT_FORWARD_RETRY_BUDGET_MS;
  const maxDelayMs = options.maxDelayMs ?? 1000;
  let started = clock.now();
  let restarted = false;
  let backoff = options.initialDelayMs ?? 50;
  // Time spent: the clock's, but never less than the delays slept (also under fake timers).
  let slept = 0;
  const spentMs = (): number => Math.max(clock.now() - started, slept);
  let last: HaError | undefined;
  let n = 0;
  for (;;) {
    let delay: number;
    if (delaysMs !== undefined) {
      if (n >= delaysMs.length) break;
      delay = delaysMs[n]!;
    } else if (n === 0) {
      delay = 0;
    } else {
      delay = Math.min(backoff, maxDelayMs);
      backoff *= 2;
      if (spentMs() + delay > budgetMs) break;
    }
    if (delay > 0) {
      try {
        await sleep(delay, { signal, clock });
        slept += delay;
      } catch (cause) {
        throw haAborted('forwarding aborted', signal?.reason ?? cause);
      }
    }
    if (signal?.aborted === true) throw haAborted('forwarding aborted', signal.reason);
    if (n > 0) options.onRetry?.(n);
    try {
      return await attempt(n);
    } catch (err) {
      if (!isHaError(err) || !isRetryableForward(err)) throw err;
      last = err;
      // A leader that answers "shipping failed" is handing its lease off (a failover starts now);
      // one that answers "overloaded" is alive and busy (a failover's backlog): either way the
      // budget starts again, once per call.
      if ((err.code === 'HADB_HA_SHIP_FAILED' || err.code === 'HADB_HA_OVERLOADED') && !restarted) {
        restarted = true;
        started = clock.now();
        slept = 0;
        backoff = options.initialDelayMs ?? 50;
      }
    }
    n++;
  }
  if (last?.code === 'HADB_HA_NO_LEADER') throw last;
  const spent = delaysMs === undefined ? ` in ${Math.round(spentMs())} ms` : '';
  throw new HaError(
    'HADB_HA_FORWARD_FAILED',
    `forwarding failed after ${n} attempts${spent}: ${last?.message ?? 'no attempt'}`,
    {
      cause: last,
    },
  );
}

/** Where one attempt of a forwarded call runs: here when this node leads, else on the leader. */
export interface LeaderRoute<T> {
  /** Runs the call on this node if it leads right now; resolves `undefined` when it does not. */
  readonly local: () => Promise<{ readonly value: T } | undefined>;
  /** Runs the call on the leader at `address`. */
  readonly remote: (address: string) => Promise<T>;
}

/** Options of {@link forwardToLeader}. */
export interface ForwardToLeaderOptions extends ForwardRetryOptions {
  /** The leader's forwarding address as this node knows it now (from the lease). Re-read before every attempt. */
  readonly leaderAddress: () => string | undefined;
  /** This node's own address: a lease naming it while it is not leading yet means "retry". */
  readonly selfAddress?: string | undefined;
  /**
   * True when the lease names a live leader whose address did not authenticate with this node's
   * secret: `HADB_HA_UNAUTHORIZED` at once (a wrong secret here, or a forged record), not retried.
   */
  readonly leaderAddressRejected?: (() => boolean) | undefined;
}

/**
 * Runs a call on the current leader, retrying through failovers: before every attempt it runs the
 * call locally if this node leads, else re-reads the leader's address and sends it there. Retries
 * 421 (not leader), 5xx and transport errors; `HADB_HA_NO_LEADER` when no leader is known after the
 * last attempt. The caller keeps one idempotency token across all attempts of a write.
 */
export function forwardToLeader<T>(route: LeaderRoute<T>, options: ForwardToLeaderOptions): Promise<T> {
  return withForwardRetries(async () => {
    const here = await route.local();
    if (here !== undefined) return here.value;
    const address = options.leaderAddress();
    if ((address === undefined || address === '') && options.leaderAddressRejected?.() === true) {
      throw new HaError(
        'HADB_HA_UNAUTHORIZED',
        "the leader's address in the lease is not authenticated with this node's secret (a wrong secret, or a forged lease record)",
      );
    }
    if (address === undefined || address === '') {
      throw new HaError(
        'HADB_HA_NO_LEADER',
        'no leader is known (no lease, expired lease, or a lease without an address)',
      );
    }
    if (address === options.selfAddress)
      throw new HaError('HADB_HA_NOT_LEADER', 'the lease names this node but it is not leading yet');
    return route.remote(address);
  }, options);
}
