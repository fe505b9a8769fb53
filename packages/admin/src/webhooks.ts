import {
  childController,
  configChecker,
  type ConfigChecker,
  describeError,
  retry,
  silentLogger,
  systemClock,
  type Clock,
  type Logger,
  type RetryFailure,
} from '@hadb/io';
import { AdminError, invalidConfig, isAdminError } from './errors.js';
import { ADMIN_EVENT_TYPES, type AdminEvent, type AdminEventType } from './source.js';
import { SIGNATURE_HEADER, signWebhookBody } from './signature.js';

/** One webhook endpoint. */
export interface WebhookTarget {
  /** `http:` or `https:` URL that receives `POST` requests. */
  readonly url: string;
  /** Events sent to this target. Default: every {@link AdminEventType}. */
  readonly events?: readonly AdminEventType[] | undefined;
  /** Signs each body (`X-Hadb-Signature: sha256=<hex>`). Never logged or echoed. */
  readonly secret?: string | undefined;
}

/** Options of {@link WebhookNotifier}. */
export interface WebhookOptions {
  readonly targets: readonly WebhookTarget[];
  /** Deliveries waiting at most; beyond it new ones are dropped and counted. Default 1000. */
  readonly queueSize?: number | undefined;
  /** Retries per delivery after the first attempt (full-jitter backoff from `@hadb/io`). Default 5. */
  readonly maxRetries?: number | undefined;
  /** First backoff delay. Default 200 ms. */
  readonly baseDelayMs?: number | undefined;
  /** Backoff cap. Default 30000 ms. */
  readonly maxDelayMs?: number | undefined;
  /** Per-request timeout. Default 10000 ms. */
  readonly timeoutMs?: number | undefined;
  /** `version` field of the payload and `User-Agent` suffix. Default the package version. */
  readonly version?: string | undefined;
  readonly clock?: Clock | undefined;
  readonly logger?: Logger | undefined;
}

/**
 * The JSON body, with the Rust `hadb-io` `WebhookPayload` fields in its order (`event`,
 * `database`, `error`, `attempts`, `timestamp` as RFC 3339, `version`, optional `context`) plus
 * `node` in `context`.
 */
export interface WebhookPayload {
  readonly event: string;
  readonly database: string;
  readonly error: string;
  readonly attempts: number;
  readonly timestamp: string;
  readonly version: string;
  readonly context?: Readonly<Record<string, unknown>>;
}

/** Delivery counters of {@link WebhookNotifier}. */
export interface WebhookStats {
  readonly sent: number;
  readonly failed: number;
  readonly dropped: number;
  readonly retries: number;
  readonly queued: number;
}

/** Package version written into payloads. */
export const ADMIN_VERSION = '0.1.0';

interface Delivery {
  readonly target: WebhookTarget;
  readonly body: string;
  readonly event: string;
}

/**
 * Sends {@link AdminEvent}s to webhook targets in the background. {@link notify} only enqueues
 * (never awaits the network), so it is safe to call from a write path or an event listener. One
 * delivery runs at a time, retried with full-jitter backoff; when the queue is full, new
 * deliveries are dropped and counted (`dropped`). Failures are logged (URL without query or
 * credentials) and counted, never thrown.
 */
export class WebhookNotifier implements AsyncDisposable {
  readonly #targets: readonly WebhookTarget[];
  readonly #queueSize: number;
  readonly #maxRetries: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #timeoutMs: number;
  readonly #version: string;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #queue: Delivery[] = [];
  readonly #stop = new AbortController();
  #running: Promise<void> | undefined;
  #counts = { sent: 0, failed: 0, dropped: 0, retries: 0 };
  #closed = false;

  constructor(options: WebhookOptions) {
    const check: ConfigChecker = configChecker(invalidConfig);
    check.require(Array.isArray(options.targets), 'webhooks.targets must be an array');
    options.targets.forEach((t, i) => {
      const url = typeof t.url === 'string' && URL.canParse(t.url) ? new URL(t.url) : undefined;
      if (url === undefined) check.fail(`webhooks.targets[${i}].url is not a valid URL`);
      check.require(
        url.protocol === 'http:' || url.protocol === 'https:',
        `webhooks.targets[${i}].url must be http: or https:`,
      );
      if (t.secret !== undefined) check.string(`webhooks.targets[${i}].secret`, t.secret);
      for (const e of t.events ?? []) check.oneOf(`webhooks.targets[${i}].events`, e, ADMIN_EVENT_TYPES);
    });
    this.#targets = options.targets;
    this.#queueSize = check.int('webhooks.queueSize', options.queueSize, { min: 1, default: 1000 });
    this.#maxRetries = check.int('webhooks.maxRetries', options.maxRetries, { min: 0, default: 5 });
    this.#baseDelayMs = check.number('webhooks.baseDelayMs', options.baseDelayMs, { min: 1, default: 200 });
    this.#maxDelayMs = check.number('webhooks.maxDelayMs', options.maxDelayMs, {
      min: this.#baseDelayMs,
      default: 30_000,
    });
    this.#timeoutMs = check.number('webhooks.timeoutMs', options.timeoutMs, { min: 1, default: 10_000 });
    this.#version = check.string('webhooks.version', options.version, ADMIN_VERSION);
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? silentLogger;
  }

  /** Delivery counters. */
  stats(): WebhookStats {
    return { ...this.#counts, queued: this.#queue.length };
  }

  /** The payload of `event` at `wallMs` (exposed for receivers' tests and docs). */
  payload(event: AdminEvent, wallMs: number = this.#clock.wallMs()): WebhookPayload {
    const context = { ...(event.context ?? {}), ...(event.nodeId === undefined ? {} : { node: event.nodeId }) };
    return {
      event: event.type,
      database: event.db,
      error: event.error ?? '',
      attempts: event.attempts ?? 0,
      timestamp: new Date(wallMs).toISOString(),
      version: this.#version,
      ...(Object.keys(context).length === 0 ? {} : { context }),
    };
  }

  /** Enqueues `event` for every target subscribed to its type. Returns at once. */
  notify(event: AdminEvent): void {
    if (this.#closed) return;
    const body = JSON.stringify(this.payload(event));
    for (const target of this.#targets) {
      if (target.events !== undefined && !target.events.includes(event.type)) continue;
      if (this.#queue.length >= this.#queueSize) {
        this.#counts.dropped++;
        this.#logger.warn({ event: event.type, url: safeUrl(target.url) }, 'webhook queue full; event dropped');
        continue;
      }
      this.#queue.push({ target, body, event: event.type });
    }
    this.#running ??= this.#drain().finally(() => (this.#running = undefined));
  }

  /** Resolves once the queue is empty (or `close` ran). */
  async flush(): Promise<void> {
    while (this.#running !== undefined) await this.#running;
  }

  /**
   * Stops delivering: a running delivery is aborted, queued ones are discarded (counted as
   * dropped). Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#counts.dropped += this.#queue.length;
    this.#queue.length = 0;
    this.#stop.abort(new AdminError('HADB_ADMIN_CLOSED', 'webhook notifier closed'));
    await this.#running?.catch(() => {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #drain(): Promise<void> {
    for (let d = this.#queue.shift(); d !== undefined; d = this.#queue.shift()) {
      try {
        await retry((ctx) => this.#deliver(d!, ctx.signal), {
          maxRetries: this.#maxRetries,
          baseDelayMs: this.#baseDelayMs,
          maxDelayMs: this.#maxDelayMs,
          clock: this.#clock,
          signal: this.#stop.signal,
          shouldRetry: retryableDelivery,
          onRetry: (e) => {
            this.#counts.retries++;
            this.#logger.debug(
              { url: safeUrl(d!.target.url), attempt: e.attempt, err: describeError(e.error) },
              'webhook retry',
            );
          },
        });
        this.#counts.sent++;
      } catch (err) {
        if (this.#closed) return;
        this.#counts.failed++;
        this.#logger.error(
          { event: d.event, url: safeUrl(d.target.url), err: describeError(err) },
          'webhook delivery failed',
        );
      }
    }
  }

  async #deliver(d: Delivery, signal: AbortSignal | undefined): Promise<void> {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': `hadb-admin/${this.#version}`,
    };
    if (d.target.secret !== undefined)
      headers[SIGNATURE_HEADER.toLowerCase()] = signWebhookBody(d.target.secret, d.body);
    await postOnce(d.target.url, headers, d.body, this.#timeoutMs, signal, 'POST', this.#clock);
  }
}

/**
 * One `POST` with a timeout. Network failures and timeouts become `HADB_ADMIN_UNAVAILABLE` /
 * `HADB_ADMIN_TIMEOUT`; a non-2xx answer becomes `HADB_ADMIN_UNAVAILABLE` with `status`.
 */
export async function postOnce(
  url: string,
  headers: Record<string, string>,
  body: string | undefined,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  method = 'POST',
  clock: Clock = systemClock,
): Promise<void> {
  const { controller, dispose } = childController(signal);
  let timedOut = false;
  const timer = clock.timer(timeoutMs, () => {
    timedOut = true;
    controller.abort();
  });
  let res: Response;
  try {
    res = await fetch(url, { method, headers, ...(body === undefined ? {} : { body }), signal: controller.signal });
    await res.arrayBuffer();
  } catch (err) {
    if (signal?.aborted === true) throw err;
    if (timedOut) throw new AdminError('HADB_ADMIN_TIMEOUT', `${safeUrl(url)} did not answer within ${timeoutMs} ms`);
    throw new AdminError('HADB_ADMIN_UNAVAILABLE', `${safeUrl(url)} unreachable`, { cause: err });
  } finally {
    timer.cancel();
    dispose();
  }
  if (!res.ok)
    throw new AdminError('HADB_ADMIN_UNAVAILABLE', `${safeUrl(url)} answered ${res.status}`, { status: res.status });
}

/** Retry network failures, timeouts, 408, 429 and 5xx; not other 4xx answers. */
export function retryableDelivery(failure: RetryFailure): boolean {
  const status = (failure.error as { status?: unknown }).status;
  if (typeof status === 'number') return status >= 500 || status === 429 || status === 408;
  return isAdminError(failure.error, 'HADB_ADMIN_UNAVAILABLE') || isAdminError(failure.error, 'HADB_ADMIN_TIMEOUT');
}

/** A URL fit for logs: origin and path only (no credentials, query or fragment). */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return '<invalid url>';
  }
}
