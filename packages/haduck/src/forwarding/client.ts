import { HaDuckError, isHaDuckError } from '../errors.js';
import type { ExecuteResult, QueryResult } from '../sql.js';
import { fromWire, paramsToWire, type HaParams } from '../values.js';
import { errorFromBody, isRetryableForward, PATHS, type Durability } from './protocol.js';

/** Default delays before each forwarding attempt: four attempts at 0, +100, +400, +1600 ms. */
export const DEFAULT_FORWARD_DELAYS_MS: readonly number[] = [0, 100, 400, 1600];

/** Options of {@link ForwardingClient}. */
export interface ForwardingClientOptions {
  /** Bearer secret sent to the leader (never logged). */
  readonly secret?: string | undefined;
  /** Per-request timeout in ms. Default 5000. */
  readonly timeoutMs?: number | undefined;
}

/**
 * Sends one forwarding request to a known leader address (`http://host:port`). One attempt: the
 * retry loop (which re-reads the leader's address between attempts) lives in `HaDuck`.
 */
export class ForwardingClient {
  readonly #secret: string | undefined;
  readonly #timeoutMs: number;

  constructor(options: ForwardingClientOptions = {}) {
    this.#secret = options.secret;
    this.#timeoutMs = options.timeoutMs ?? 5000;
  }

  async #post(address: string, path: string, body: unknown, signal: AbortSignal | undefined): Promise<unknown> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.#secret !== undefined) headers.authorization = `Bearer ${this.#secret}`;
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const combined = signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
    let res: Response;
    try {
      res = await fetch(new URL(path, address), { method: 'POST', headers, body: JSON.stringify(body), signal: combined });
    } catch (cause) {
      if (signal?.aborted) throw new HaDuckError('HADB_HADUCK_ABORTED', 'forwarding aborted', { cause: signal.reason });
      // The address comes from the lease; the message names neither it nor any header.
      throw new HaDuckError('HADB_HADUCK_FORWARD_FAILED', `forwarding request failed: ${(cause as Error)?.name ?? 'error'}`, { cause });
    }
    let parsed: unknown;
    try {
      parsed = await res.json();
    } catch (cause) {
      throw new HaDuckError(res.status >= 500 ? 'HADB_HADUCK_FORWARD_FAILED' : 'HADB_HADUCK_PROTOCOL', `leader answered HTTP ${res.status} without JSON`, { cause });
    }
    if (res.status !== 200) throw errorFromBody(res.status, parsed);
    return parsed;
  }

  async execute(
    address: string,
    sql: string,
    params: HaParams | undefined,
    token: string,
    durability: Durability,
    signal?: AbortSignal,
  ): Promise<ExecuteResult> {
    const r = await this.#post(address, PATHS.execute, { sql, params: paramsToWire(params), idempotency_token: token, durability }, signal);
    return { rowsChanged: rowsChanged(r) };
  }

  async batch(
    address: string,
    statements: readonly { readonly sql: string; readonly params?: HaParams | undefined }[],
    token: string,
    durability: Durability,
    signal?: AbortSignal,
  ): Promise<ExecuteResult> {
    const wire = statements.map((s) => ({ sql: s.sql, params: paramsToWire(s.params) }));
    const r = await this.#post(address, PATHS.batch, { statements: wire, idempotency_token: token, durability }, signal);
    return { rowsChanged: rowsChanged(r) };
  }

  async query(address: string, sql: string, params: HaParams | undefined, signal?: AbortSignal): Promise<QueryResult> {
    const r = (await this.#post(address, PATHS.query, { sql, params: paramsToWire(params) }, signal)) as Record<string, unknown>;
    if (!Array.isArray(r.columns) || !Array.isArray(r.column_types) || !Array.isArray(r.rows)) {
      throw new HaDuckError('HADB_HADUCK_PROTOCOL', 'malformed query response');
    }
    return {
      columns: r.columns.map(String),
      columnTypes: r.column_types.map(String),
      rows: r.rows.map((row: unknown) => {
        if (!Array.isArray(row)) throw new HaDuckError('HADB_HADUCK_PROTOCOL', 'malformed row');
        return row.map((v) => fromWire(v));
      }),
    };
  }
}

function rowsChanged(r: unknown): number {
  const n = (r as { rows_changed?: unknown } | null)?.rows_changed;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw new HaDuckError('HADB_HADUCK_PROTOCOL', 'malformed write response');
  return n;
}

/** Options of {@link withForwardRetries}. */
export interface ForwardRetryOptions {
  /** Delays before each attempt, ms. Default {@link DEFAULT_FORWARD_DELAYS_MS}. */
  readonly delaysMs?: readonly number[] | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Called before every attempt after the first. */
  readonly onRetry?: ((attempt: number) => void) | undefined;
}

/**
 * Runs `attempt` after each delay (default 0, 100, 400, 1600 ms) until it succeeds or fails with a
 * non-retryable error (see `isRetryableForward`). The last retryable error is rethrown as a
 * retryable `HADB_HADUCK_FORWARD_FAILED` (or as itself when it is `HADB_HADUCK_NO_LEADER`); an abort is
 * `HADB_HADUCK_ABORTED`.
 */
export async function withForwardRetries<T>(attempt: (n: number) => Promise<T>, options: ForwardRetryOptions = {}): Promise<T> {
  const delaysMs = options.delaysMs ?? DEFAULT_FORWARD_DELAYS_MS;
  let last: HaDuckError | undefined;
  for (let n = 0; n < delaysMs.length; n++) {
    const delay = delaysMs[n]!;
    if (delay > 0) await sleep(delay, options.signal);
    if (options.signal?.aborted) throw new HaDuckError('HADB_HADUCK_ABORTED', 'forwarding aborted', { cause: options.signal.reason });
    if (n > 0) options.onRetry?.(n);
    try {
      return await attempt(n);
    } catch (err) {
      if (!isHaDuckError(err) || !isRetryableForward(err)) throw err;
      last = err;
    }
  }
  if (last?.code === 'HADB_HADUCK_NO_LEADER') throw last;
  throw new HaDuckError('HADB_HADUCK_FORWARD_FAILED', `forwarding failed after ${delaysMs.length} attempts: ${last?.message ?? 'no attempt'}`, {
    cause: last,
  });
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
}

/**
 * Runs a call on the current leader, retrying through failovers: before every attempt it runs the
 * call locally if this node leads, else re-reads the leader's address and sends it there. Retries
 * 421 (not leader), 5xx and transport errors; `HADB_HADUCK_NO_LEADER` when no leader is known after the
 * last attempt. The caller keeps one idempotency token across all attempts of a write.
 */
export function forwardToLeader<T>(route: LeaderRoute<T>, options: ForwardToLeaderOptions): Promise<T> {
  return withForwardRetries(async () => {
    const here = await route.local();
    if (here !== undefined) return here.value;
    const address = options.leaderAddress();
    if (address === undefined || address === '') {
      throw new HaDuckError('HADB_HADUCK_NO_LEADER', 'no leader is known (no lease, expired lease, or a lease without an address)');
    }
    if (address === options.selfAddress) throw new HaDuckError('HADB_HADUCK_NOT_LEADER', 'the lease names this node but it is not leading yet');
    return route.remote(address);
  }, options);
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new HaDuckError('HADB_HADUCK_ABORTED', 'aborted', { cause: signal.reason }));
    const onAbort = (): void => {
      clearTimeout(t);
      reject(new HaDuckError('HADB_HADUCK_ABORTED', 'aborted', { cause: signal?.reason }));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
