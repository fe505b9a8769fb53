import type { Clock, OpOptions } from '@hadb/io';
import { HaError, haAborted } from '../errors.js';
import { HEAD_WAIT_PATH, errorFromBody } from './protocol.js';

/** Options of {@link waitLeaderHead}. */
export interface WaitLeaderHeadOptions extends OpOptions {
  /** Bearer secret sent to the leader (never logged). */
  readonly secret?: string | undefined;
  /** The last head this follower was told, `null` for none (answered at once). */
  readonly after: string | null;
  /** How long the leader may hold the poll, ms (at most `MAX_HEAD_HOLD_MS`). */
  readonly holdMs: number;
  /** Extra time over `holdMs` before the poll counts as failed, ms. */
  readonly graceMs: number;
  readonly clock: Clock;
}

/**
 * One head long poll (`POST /_hadb/v1/wait_head`) to the leader at `address`: resolves with the
 * leader's head. Rejects with `HADB_HA_NOT_LEADER` (421), `HADB_HA_UNAUTHORIZED` (401),
 * `HADB_HA_FORWARD_FAILED` (transport, timeout, 5xx), `HADB_HA_PROTOCOL` (anything else), or
 * `HADB_HA_ABORTED` when `signal` fires. Follows no redirects.
 */
export async function waitLeaderHead(address: string, options: WaitLeaderHeadOptions): Promise<string> {
  const { signal, clock } = options;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (options.secret !== undefined) headers.authorization = `Bearer ${options.secret}`;
  const timeout = new AbortController();
  const timer = clock.timer(options.holdMs + options.graceMs, () => timeout.abort(new Error('head poll timed out')));
  const combined = signal === undefined ? timeout.signal : AbortSignal.any([signal, timeout.signal]);
  try {
    let res: Response;
    let parsed: unknown;
    try {
      res = await fetch(new URL(HEAD_WAIT_PATH, address), {
        method: 'POST',
        headers,
        body: JSON.stringify({ after: options.after, hold_ms: options.holdMs }),
        signal: combined,
        redirect: 'manual',
      });
      parsed = await res.json();
    } catch (cause) {
      if (signal?.aborted === true) throw haAborted('head poll aborted', signal.reason);
      throw new HaError('HADB_HA_FORWARD_FAILED', `head poll failed: ${(cause as Error)?.name ?? 'error'}`, { cause });
    }
    if (res.status !== 200) throw errorFromBody(res.status, parsed, () => undefined);
    const head = (parsed as { head?: unknown } | null)?.head;
    if (typeof head !== 'string') throw new HaError('HADB_HA_PROTOCOL', 'malformed wait_head answer');
    return head;
  } finally {
    timer.cancel();
  }
}
