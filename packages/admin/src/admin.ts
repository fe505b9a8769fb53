import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  configChecker,
  type ConfigChecker,
  describeError,
  silentLogger,
  systemClock,
  withTimeout,
  type Clock,
  type Logger,
  type OpOptions,
  type Timer,
} from '@hadb/io';
import { bearerMatches, tokenDigest } from './auth.js';
import { statusFamilies } from './catalog.js';
import { AdminError, aborted, invalidConfig } from './errors.js';
import { PROMETHEUS_CONTENT_TYPE, renderPrometheus, withLabels } from './exposition.js';
import { Heartbeat, type HeartbeatOptions } from './heartbeat.js';
import { History } from './history.js';
import { statusPage } from './page.js';
import { databaseReadiness, nodeReadiness, type Readiness } from './readiness.js';
import type { AdminEvent, AdminSource, MetricFamily, NodeStatus } from './source.js';
import { WebhookNotifier, type WebhookOptions } from './webhooks.js';

/** Options of {@link AdminHandler} (and of `startAdminServer`). */
export interface AdminOptions {
  /** The nodes this server reports (usually one: this process's node). */
  readonly sources: readonly AdminSource[];
  /**
   * Bearer token required for `/metrics`, `/status` and `/history` (at least 16 characters).
   * Required when binding a non-loopback address. Compared in constant time; never logged.
   */
  readonly token?: string | undefined;
  /** A follower is ready while its lag is at most this. Default 10 s. */
  readonly maxLagSeconds?: number | undefined;
  /** How often sources are sampled for the plots (and the core adapter's lag estimate). Default 2000 ms. */
  readonly sampleIntervalMs?: number | undefined;
  /** How much history the plots keep. Default 600000 ms (10 minutes). */
  readonly historyMs?: number | undefined;
  /** Bound on one source's `status()`. Default 5000 ms. */
  readonly sourceTimeoutMs?: number | undefined;
  /** Mount point inside an existing server, e.g. `/admin`. Default `""` (root). */
  readonly basePath?: string | undefined;
  /** Title of the status page. Default `hadb`. */
  readonly title?: string | undefined;
  /** Signed webhooks for {@link AdminEvent}s. */
  readonly webhooks?: WebhookOptions | undefined;
  /** Heartbeat pings while every database is synced. */
  readonly heartbeat?: HeartbeatOptions | undefined;
  readonly clock?: Clock | undefined;
  readonly logger?: Logger | undefined;
}

/** A recent event as `/status` lists it. */
export interface RecentEvent extends AdminEvent {
  readonly atMs: number;
}

const RECENT_EVENTS = 50;

/**
 * The admin endpoints as a request handler, usable inside any `node:http` server:
 * `GET /` status page, `/health` liveness, `/ready` readiness (200/503), `/metrics` Prometheus
 * text, `/status` JSON, `/history` plot samples. {@link handle} answers requests under
 * `basePath` and returns `false` for others, so an app can fall through to its own routes.
 *
 * It also samples the sources every `sampleIntervalMs`, forwards their events to webhooks and
 * runs the heartbeat. Output never contains the token or webhook secrets.
 */
export class AdminHandler implements AsyncDisposable {
  readonly sources: readonly AdminSource[];
  readonly #tokenDigest: Buffer | undefined;
  readonly #maxLagSeconds: number;
  readonly #sampleIntervalMs: number;
  readonly #sourceTimeoutMs: number;
  readonly #basePath: string;
  readonly #title: string;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #history: History;
  readonly #recent: RecentEvent[] = [];
  readonly #unsubscribe: Array<() => void> = [];
  readonly #closing = new AbortController();
  readonly webhooks: WebhookNotifier | undefined;
  readonly heartbeat: Heartbeat | undefined;
  #sampler: Timer | undefined;
  #sampling: Promise<unknown> | undefined;
  #inFlight: Promise<NodeStatus[]> | undefined;
  #closed = false;

  constructor(options: AdminOptions) {
    const check: ConfigChecker = configChecker(invalidConfig);
    check.require(Array.isArray(options.sources), 'sources must be an array of AdminSource');
    const ids = new Set<string>();
    options.sources.forEach((s, i) => {
      check.require(typeof s?.status === 'function', `sources[${i}] must implement status()`);
      check.string(`sources[${i}].nodeId`, s.nodeId);
      check.require(!ids.has(s.nodeId), `sources[${i}].nodeId '${s.nodeId}' is not unique`);
      ids.add(s.nodeId);
    });
    if (options.token !== undefined) {
      check.require(
        typeof options.token === 'string' && options.token.length >= 16,
        'token must be a string of at least 16 characters',
      );
      check.require(!/\s/.test(options.token), 'token must not contain whitespace');
    }
    this.sources = options.sources;
    this.#tokenDigest = options.token === undefined ? undefined : tokenDigest(options.token);
    this.#maxLagSeconds = check.number('maxLagSeconds', options.maxLagSeconds, { min: 0, default: 10 });
    this.#sampleIntervalMs = check.number('sampleIntervalMs', options.sampleIntervalMs, { min: 10, default: 2000 });
    const historyMs = check.number('historyMs', options.historyMs, { min: this.#sampleIntervalMs, default: 600_000 });
    this.#sourceTimeoutMs = check.number('sourceTimeoutMs', options.sourceTimeoutMs, { min: 1, default: 5000 });
    const basePath = options.basePath ?? '';
    check.require(
      basePath === '' || /^\/[A-Za-z0-9._~\-/]*[^/]$/.test(basePath),
      "basePath must be '' or start with '/' and not end with '/'",
    );
    this.#basePath = basePath;
    this.#title = check.string('title', options.title, 'hadb');
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger ?? silentLogger;
    this.#history = new History(historyMs);
    this.webhooks =
      options.webhooks === undefined
        ? undefined
        : new WebhookNotifier({ clock: this.#clock, logger: this.#logger, ...options.webhooks });
    this.heartbeat =
      options.heartbeat === undefined
        ? undefined
        : new Heartbeat({ clock: this.#clock, logger: this.#logger, ...options.heartbeat }, () => this.collect());
    for (const source of this.sources) {
      const off = source.subscribe?.((event) => this.#onEvent(source, event));
      if (off !== undefined) this.#unsubscribe.push(off);
    }
    this.heartbeat?.start();
    this.#scheduleSample(0);
  }

  /** The `(req, res)` listener (answers 404 outside `basePath`). */
  readonly listener = (req: IncomingMessage, res: ServerResponse): void => {
    if (!this.handle(req, res)) send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
  };

  /**
   * Answers `req` if its path is one of the admin endpoints under `basePath` and returns `true`;
   * returns `false` (and leaves `res` alone) otherwise.
   */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const url = new URL(req.url ?? '/', 'http://admin.invalid');
    let path = url.pathname;
    if (this.#basePath !== '') {
      if (path === this.#basePath) {
        res.writeHead(308, { location: `${this.#basePath}/` }).end();
        return true;
      }
      if (!path.startsWith(`${this.#basePath}/`)) return false;
      path = path.slice(this.#basePath.length);
    }
    const route = ROUTES[path];
    if (route === undefined) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
      return true;
    }
    const authorized = this.#tokenDigest === undefined || bearerMatches(req, this.#tokenDigest);
    if (route.protected && !authorized) {
      res.setHeader('www-authenticate', 'Bearer realm="hadb-admin"');
      send(res, 401, 'text/plain; charset=utf-8', 'unauthorized\n');
      return true;
    }
    route.run(this, res, authorized).catch((err: unknown) => {
      this.#logger.error({ path, err: describeError(err) }, 'admin request failed');
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    });
    return true;
  }

  /**
   * Every source's status, each bounded by `sourceTimeoutMs`; a failing source is reported with
   * `error` and no databases. Concurrent callers share one collection.
   */
  collect(options: OpOptions = {}): Promise<NodeStatus[]> {
    if (this.#closed) return Promise.reject(new AdminError('HADB_ADMIN_CLOSED', 'admin handler is closed'));
    if (options.signal === undefined && this.#inFlight !== undefined) return this.#inFlight;
    const p = Promise.all(this.sources.map((s) => this.#statusOf(s, options.signal)));
    if (options.signal === undefined) {
      this.#inFlight = p;
      void p.finally(() => {
        if (this.#inFlight === p) this.#inFlight = undefined;
      });
    }
    return p;
  }

  /** `/ready` of the whole server: every node ready. */
  async readiness(options: OpOptions = {}): Promise<Readiness> {
    return this.#readinessOf(await this.collect(options));
  }

  #readinessOf(nodes: readonly NodeStatus[]): Readiness {
    if (nodes.length === 0) return { ready: false, reason: 'no source' };
    for (const n of nodes) {
      if (n.error !== undefined) return { ready: false, reason: `${n.nodeId}: ${n.error}` };
      const r = nodeReadiness(n, this.#maxLagSeconds);
      if (!r.ready) return { ready: false, reason: `${n.nodeId}/${r.reason}` };
    }
    return { ready: true, reason: 'ready' };
  }

  /** `/metrics` body: the sources' own families and the status-derived `hadb_*` families. */
  async prometheus(options: OpOptions = {}): Promise<string> {
    return renderPrometheus(await this.families(options));
  }

  /** The families behind {@link prometheus} (also used by the prom-client bridge). */
  async families(options: OpOptions = {}): Promise<MetricFamily[]> {
    const nodes = await this.collect(options);
    const out: MetricFamily[] = [];
    for (const source of this.sources) {
      if (source.metrics === undefined) continue;
      try {
        out.push(...withLabels(await source.metrics(options), { node: source.nodeId }));
      } catch (err) {
        this.#logger.warn({ node: source.nodeId, err: describeError(err) }, 'source metrics failed');
      }
    }
    out.push(...statusFamilies(nodes, this.#clock.wallMs(), this.#maxLagSeconds));
    out.push(...this.#ownFamilies(nodes));
    return out;
  }

  /** `/status` body. */
  async statusJson(options: OpOptions = {}): Promise<unknown> {
    const nodes = await this.collect(options);
    const readiness = this.#readinessOf(nodes);
    return {
      title: this.#title,
      generatedAtMs: this.#clock.wallMs(),
      maxLagSeconds: this.#maxLagSeconds,
      ready: readiness.ready,
      readyReason: readiness.reason,
      nodes: nodes.map((n) => ({
        ...n,
        ready: n.error === undefined && nodeReadiness(n, this.#maxLagSeconds).ready,
        databases: n.databases.map((d) => {
          const r = databaseReadiness(d, this.#maxLagSeconds);
          return {
            ...d,
            position: d.position === undefined ? undefined : String(d.position),
            ready: r.ready,
            readyReason: r.reason,
          };
        }),
      })),
      events: this.#recent.slice().reverse(),
      webhooks: this.webhooks?.stats() ?? null,
      heartbeat: this.heartbeat?.stats() ?? null,
    };
  }

  /** `/history` body: the plot samples. */
  historyJson(): unknown {
    return { sampleIntervalMs: this.#sampleIntervalMs, series: this.#history.snapshot() };
  }

  /** The status page's HTML. */
  page(): string {
    return statusPage({ title: this.#title, refreshMs: Math.min(this.#sampleIntervalMs, 5000) });
  }

  /** Stops sampling, webhooks and the heartbeat; unsubscribes from sources (sources stay open). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing.abort(new AdminError('HADB_ADMIN_CLOSED', 'admin handler closed'));
    this.#sampler?.cancel();
    for (const off of this.#unsubscribe.splice(0)) off();
    await this.#sampling?.catch(() => {});
    await Promise.all([this.webhooks?.close(), this.heartbeat?.close()]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #statusOf(source: AdminSource, signal: AbortSignal | undefined): Promise<NodeStatus> {
    try {
      const status = await withTimeout(
        this.#clock,
        this.#sourceTimeoutMs,
        `status of ${source.nodeId}`,
        { timeout: (m) => new AdminError('HADB_ADMIN_TIMEOUT', m), aborted },
        (s) => source.status({ signal: s }),
        { signal: signal === undefined ? this.#closing.signal : AbortSignal.any([signal, this.#closing.signal]) },
      );
      return { ...status, nodeId: source.nodeId };
    } catch (err) {
      if (signal?.aborted === true) throw err;
      const d = describeError(err);
      this.#logger.warn({ node: source.nodeId, err: d }, 'admin source failed');
      return { nodeId: source.nodeId, databases: [], error: d.code ?? d.message };
    }
  }

  #scheduleSample(delayMs: number): void {
    if (this.#closed) return;
    this.#sampler = this.#clock.timer(delayMs, () => {
      this.#sampling = this.collect()
        .then((nodes) => this.#history.record(nodes, this.#clock.wallMs()))
        .catch((err: unknown) => {
          if (!this.#closed) this.#logger.warn({ err: describeError(err) }, 'admin sampling failed');
        })
        .finally(() => this.#scheduleSample(this.#sampleIntervalMs));
    });
  }

  #onEvent(source: AdminSource, event: AdminEvent): void {
    const e: AdminEvent = event.nodeId === undefined ? { ...event, nodeId: source.nodeId } : event;
    this.#recent.push({ ...e, atMs: this.#clock.wallMs() });
    if (this.#recent.length > RECENT_EVENTS) this.#recent.shift();
    this.#logger.info({ event: e.type, db: e.db, node: e.nodeId }, 'hadb event');
    this.webhooks?.notify(e);
  }

  #ownFamilies(nodes: readonly NodeStatus[]): MetricFamily[] {
    const out: MetricFamily[] = [
      {
        name: 'hadb_admin_source_up',
        type: 'gauge',
        help: 'Whether the source answered its last status call (1=yes, 0=no)',
        samples: nodes.map((n) => ({ labels: { node: n.nodeId }, value: n.error === undefined ? 1 : 0 })),
      },
    ];
    const w = this.webhooks?.stats();
    if (w !== undefined) {
      out.push(
        {
          name: 'hadb_webhook_deliveries_total',
          type: 'counter',
          help: 'Webhook deliveries by result (sent, failed after retries, dropped on a full queue)',
          samples: (['sent', 'failed', 'dropped'] as const).map((result) => ({ labels: { result }, value: w[result] })),
        },
        {
          name: 'hadb_webhook_retries_total',
          type: 'counter',
          help: 'Webhook delivery retries',
          samples: [{ labels: {}, value: w.retries }],
        },
        {
          name: 'hadb_webhook_queue_depth',
          type: 'gauge',
          help: 'Webhook deliveries waiting',
          samples: [{ labels: {}, value: w.queued }],
        },
      );
    }
    const h = this.heartbeat?.stats();
    if (h !== undefined) {
      out.push({
        name: 'hadb_heartbeats_total',
        type: 'counter',
        help: 'Heartbeat intervals by result (sent, skipped because not synced, failed)',
        samples: (['sent', 'skipped', 'failed'] as const).map((result) => ({ labels: { result }, value: h[result] })),
      });
    }
    return out;
  }
}

interface Route {
  readonly protected: boolean;
  run(admin: AdminHandler, res: ServerResponse, authorized: boolean): Promise<void>;
}

const JSON_TYPE = 'application/json; charset=utf-8';

const ROUTES: Readonly<Record<string, Route>> = {
  '/': {
    protected: false,
    run: async (admin, res) => {
      res.setHeader(
        'content-security-policy',
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; connect-src 'self'",
      );
      send(res, 200, 'text/html; charset=utf-8', admin.page());
    },
  },
  '/health': { protected: false, run: async (_a, res) => send(res, 200, JSON_TYPE, '{"status":"ok"}\n') },
  '/ready': {
    protected: false,
    run: async (admin, res, authorized) => {
      const r = await admin.readiness();
      // The reason names databases; only authorized callers see it.
      const body = authorized ? { ready: r.ready, reason: r.reason } : { ready: r.ready };
      send(res, r.ready ? 200 : 503, JSON_TYPE, `${JSON.stringify(body)}\n`);
    },
  },
  '/metrics': {
    protected: true,
    run: async (admin, res) => send(res, 200, PROMETHEUS_CONTENT_TYPE, await admin.prometheus()),
  },
  '/status': {
    protected: true,
    run: async (admin, res) => send(res, 200, JSON_TYPE, `${JSON.stringify(await admin.statusJson())}\n`),
  },
  '/history': {
    protected: true,
    run: async (admin, res) => send(res, 200, JSON_TYPE, `${JSON.stringify(admin.historyJson())}\n`),
  },
};

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
  res.end(res.req?.method === 'HEAD' ? undefined : body);
}
