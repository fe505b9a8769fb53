import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isIP } from 'node:net';
import { describeError, type Logger } from '@hadb/io';
import type { WireCodec } from '../engine.js';
import { HaError, checkConfig, isHaError } from '../errors.js';
import { HEAD_WAIT_PATH, TOKEN_PATTERN, parseHeadWait, statusFor, type Durability } from './protocol.js';

/** What the forwarding server calls: the leader side of a node. */
export interface ForwardTarget<W, R, WR, RR> {
  /** Runs a write as leader only (refusing with `HADB_HA_NOT_LEADER` under the write lock otherwise). */
  write(write: W, token: string, durability: Durability): Promise<WR>;
  /** Runs a read as leader only. */
  read(read: R): Promise<RR>;
  /** True for the engine's client errors (answered 400 with their code and message). */
  isClientError(error: unknown): boolean;
  /**
   * A follower's head long poll (`wait_head`, see the protocol): resolves with the shipped head
   * once it differs from `after`, or after `holdMs`; `signal` fires when the follower hangs up.
   * Refuses with `HADB_HA_NOT_LEADER` on a node that does not lead. Absent: answered 404.
   */
  waitHead?: ((after: string | null, holdMs: number, signal: AbortSignal) => Promise<string>) | undefined;
}

/** Options of {@link ForwardingServer.listen}. */
export interface ForwardingServerOptions<W, R, WR, RR> {
  readonly target: ForwardTarget<W, R, WR, RR>;
  readonly codec: WireCodec<W, R, WR, RR>;
  /**
   * Interface to bind. Default `127.0.0.1`. Any address other than a loopback one (`127.0.0.0/8`,
   * `::1`, `localhost`) requires a `secret` (`HADB_HA_INVALID_CONFIG` otherwise).
   */
  readonly host?: string | undefined;
  /** Port; `0` picks a free one. */
  readonly port: number;
  /** Shared bearer secret; when set, every request must carry `Authorization: Bearer <secret>`. */
  readonly secret?: string | undefined;
  /** Largest request body accepted, in bytes. Default 16 MiB. */
  readonly maxBodyBytes?: number | undefined;
  /** Largest answer sent, in bytes; a larger result is refused (`HADB_HA_PROTOCOL`, 400). Default 64 MiB. */
  readonly maxResponseBytes?: number | undefined;
  /** Requests run at once; more are answered 503 `HADB_HA_OVERLOADED` (retryable). Default 32. */
  readonly maxConcurrentRequests?: number | undefined;
  /** Open connections; more are refused by the server. Default 256. */
  readonly maxConnections?: number | undefined;
  /** Time to receive a request's headers, ms. Default 10000. */
  readonly headersTimeoutMs?: number | undefined;
  /** Time to receive a whole request (headers and body), ms. Default 30000. */
  readonly requestTimeoutMs?: number | undefined;
  /** Logs requests that failed with an unexpected (untyped) error. Never given the secret. */
  readonly logger?: Pick<Logger, 'warn'> | undefined;
  /** Called for each request refused 401 (missing or wrong bearer secret); must not block. */
  readonly onUnauthorized?: (() => void) | undefined;
}

/** How long `close()` lets requests being handled finish before it drops their connections, ms. */
const CLOSE_GRACE_MS = 1000;

/** True for a loopback interface: the only ones that may be bound without a secret. */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (isIP(bare) === 6) return bare === '::1' || /^::ffff:127\./i.test(bare);
  return false;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** A request body over the limit: answered 413, and the connection is closed after the answer. */
class BodyTooLarge extends HaError {
  readonly status = 413;
  constructor(limit: number) {
    super('HADB_HA_PROTOCOL', `request body exceeds ${limit} bytes`);
  }
}

async function readBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw new BodyTooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new BodyTooLarge(limit);
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HaError('HADB_HA_PROTOCOL', 'request body is not JSON');
  }
}

function durabilityOf(body: Record<string, unknown>): Durability {
  const d = body.durability ?? 'committed';
  if (d !== 'committed' && d !== 'shipped')
    throw new HaError('HADB_HA_PROTOCOL', 'durability must be "committed" or "shipped"');
  return d;
}

function tokenOf(body: Record<string, unknown>): string {
  const t = body.idempotency_token;
  if (typeof t !== 'string') throw new HaError('HADB_HA_PROTOCOL', 'field "idempotency_token" must be a string');
  if (!TOKEN_PATTERN.test(t))
    throw new HaError('HADB_HA_PROTOCOL', 'idempotency_token must be 8-128 characters of [A-Za-z0-9._:-]');
  return t;
}

/** The request fields without the reserved write fields. */
function withoutReserved(body: Record<string, unknown>): Record<string, unknown> {
  const { idempotency_token: _t, durability: _d, ...rest } = body;
  return rest;
}

function send(res: ServerResponse, status: number, body: unknown, close = false): void {
  const text = JSON.stringify(body);
  const headers: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  };
  if (close) headers.connection = 'close';
  res.writeHead(status, headers);
  res.end(text);
}

/**
 * The leader's forwarding endpoint (`node:http`). Followers POST writes and strong reads here; the
 * target runs them through the same write lock as local writes and answers 421 when this node is
 * not the leader. The secret is compared in constant time and never logged or echoed.
 */
export class ForwardingServer<W, R, WR, RR> implements AsyncDisposable {
  readonly #server: Server;
  readonly #options: ForwardingServerOptions<W, R, WR, RR>;
  readonly #secretDigest: Buffer | undefined;
  readonly #writeOps: ReadonlySet<string>;
  readonly #readOps: ReadonlySet<string>;
  readonly #maxConcurrent: number;
  #active = 0;
  /** Set by `close()`: answers from then on close their connection (no keep-alive to wait out). */
  #closing = false;
  /** Head long polls being held: answered at once by `close()`. */
  readonly #held = new Set<AbortController>();
  /** Requests being handled (forwarded calls and held polls); `close()` waits for them. */
  #inFlight = 0;
  #drained: (() => void) | undefined;

  private constructor(server: Server, options: ForwardingServerOptions<W, R, WR, RR>) {
    this.#server = server;
    this.#options = options;
    this.#secretDigest = options.secret === undefined ? undefined : digest(`Bearer ${options.secret}`);
    this.#writeOps = new Set(options.codec.writeOps);
    this.#readOps = new Set(options.codec.readOps);
    this.#maxConcurrent = options.maxConcurrentRequests ?? 32;
  }

  /**
   * Starts listening; resolves once bound. Throws `HADB_HA_INVALID_CONFIG` for a non-loopback
   * `host` without a `secret`, or a limit that is not a positive integer.
   */
  static async listen<W, R, WR, RR>(
    options: ForwardingServerOptions<W, R, WR, RR>,
  ): Promise<ForwardingServer<W, R, WR, RR>> {
    const host = options.host ?? '127.0.0.1';
    checkConfig.require(
      (options.secret !== undefined && options.secret !== '') || isLoopbackHost(host),
      `the forwarding server may listen on ${host} (not a loopback address) only with a secret`,
    );
    for (const name of [
      'maxBodyBytes',
      'maxResponseBytes',
      'maxConcurrentRequests',
      'maxConnections',
      'headersTimeoutMs',
      'requestTimeoutMs',
    ] as const) {
      const v = options[name];
      checkConfig.require(v === undefined || (Number.isSafeInteger(v) && v >= 1), `${name} must be a positive integer`);
    }
    let self: ForwardingServer<W, R, WR, RR> | undefined;
    const headersTimeout = options.headersTimeoutMs ?? 10_000;
    const requestTimeout = Math.max(options.requestTimeoutMs ?? 30_000, headersTimeout);
    // Timeouts are checked every `connectionsCheckingInterval` (Node's default, 30 s, would let a
    // slow body hold a connection that long past them).
    const connectionsCheckingInterval = Math.min(1000, headersTimeout);
    const server = createServer({ headersTimeout, requestTimeout, connectionsCheckingInterval }, (req, res) => {
      void self!.#admit(req, res);
    });
    server.keepAliveTimeout = 5000;
    server.maxConnections = options.maxConnections ?? 256;
    self = new ForwardingServer(server, options);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return self;
  }

  /** The bound port (useful with `port: 0`). */
  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  #authorized(req: IncomingMessage): boolean {
    if (this.#secretDigest === undefined) return true;
    const header = req.headers.authorization;
    if (typeof header !== 'string') return false;
    return timingSafeEqual(digest(header), this.#secretDigest);
  }

  /** The operation named by the URL (`{basePath}/{op}`), or `undefined`. */
  #operation(url: string | undefined): { kind: 'write' | 'read'; op: string } | undefined {
    const base = `${this.#options.codec.basePath}/`;
    if (url === undefined || !url.startsWith(base)) return undefined;
    const op = url.slice(base.length);
    if (this.#writeOps.has(op)) return { kind: 'write', op };
    if (this.#readOps.has(op)) return { kind: 'read', op };
    return undefined;
  }

  /** Admission control: at most `maxConcurrentRequests` requests run; the rest get 503 at once. */
  async #admit(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.#inFlight++;
    try {
      await this.#admitCounted(req, res);
    } finally {
      if (--this.#inFlight === 0) this.#drained?.();
    }
  }

  async #admitCounted(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Head long polls are held, not run: they do not take a request slot (the connection limit bounds them).
    if (req.url === HEAD_WAIT_PATH && this.#options.target.waitHead !== undefined) return this.#handle(req, res);
    if (this.#active >= this.#maxConcurrent) {
      res.once('finish', () => req.destroy());
      return send(
        res,
        503,
        { error: { code: 'HADB_HA_OVERLOADED', message: 'too many forwarded requests at once' } },
        true,
      );
    }
    this.#active++;
    try {
      await this.#handle(req, res);
    } finally {
      this.#active--;
    }
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { target, codec } = this.#options;
    try {
      if (req.method !== 'POST') {
        res.once('finish', () => req.destroy());
        return send(res, 405, { error: { code: 'HADB_HA_PROTOCOL', message: 'use POST' } }, true);
      }
      if (!this.#authorized(req)) {
        // Never read the body of an unauthenticated request: answer, then drop the connection.
        res.once('finish', () => req.destroy());
        this.#options.onUnauthorized?.();
        return send(res, 401, { error: { code: 'HADB_HA_UNAUTHORIZED', message: 'unauthorized' } }, true);
      }
      const body = await readBody(req, this.#options.maxBodyBytes ?? 16 * 1024 * 1024);
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        throw new HaError('HADB_HA_PROTOCOL', 'request body must be a JSON object');
      }
      const b = body as Record<string, unknown>;
      if (req.url === HEAD_WAIT_PATH && target.waitHead !== undefined) {
        const { after, holdMs } = parseHeadWait(b);
        const hangUp = new AbortController();
        const onClose = (): void => hangUp.abort();
        res.once('close', onClose);
        this.#held.add(hangUp);
        try {
          if (this.#closing) hangUp.abort();
          return this.#sendResult(res, { head: await target.waitHead(after, holdMs, hangUp.signal) });
        } finally {
          this.#held.delete(hangUp);
          res.off('close', onClose);
        }
      }
      const operation = this.#operation(req.url);
      if (operation === undefined)
        return send(res, 404, { error: { code: 'HADB_HA_PROTOCOL', message: 'unknown path' } });
      if (operation.kind === 'write') {
        const write = codec.decodeWrite(operation.op, withoutReserved(b));
        const result = await target.write(write, tokenOf(b), durabilityOf(b));
        return this.#sendResult(res, codec.encodeWriteResult(result));
      }
      const result = await target.read(codec.decodeRead(operation.op, b));
      return this.#sendResult(res, codec.encodeReadResult(result));
    } catch (err) {
      if (err instanceof BodyTooLarge) {
        // Stop reading: answer, then drop the connection rather than drain an oversized body.
        res.once('finish', () => req.destroy());
        if (!res.headersSent) send(res, 413, { error: { code: err.code, message: err.message } }, true);
        return;
      }
      const typed = isHaError(err) || target.isClientError(err);
      if (!typed)
        this.#options.logger?.warn({ path: req.url, err: describeError(err) }, 'hadb forwarding: request failed');
      const status = isHaError(err) ? statusFor(err.code) : typed ? 400 : 500;
      // Only typed errors carry their message (the engine's, or the protocol's); anything else stays internal.
      const code = (err as { code?: unknown }).code;
      const answer = typed
        ? { code: String(code), message: (err as Error).message }
        : { code: 'HADB_HA_INTERNAL', message: 'internal error' };
      if (!res.headersSent) send(res, status, { error: answer }, this.#closing);
      else res.destroy();
    }
  }

  /** Sends a 200 answer, or refuses one larger than `maxResponseBytes` (400 `HADB_HA_PROTOCOL`). */
  #sendResult(res: ServerResponse, body: unknown): void {
    const text = JSON.stringify(body);
    const limit = this.#options.maxResponseBytes ?? 64 * 1024 * 1024;
    if (Buffer.byteLength(text) > limit)
      throw new HaError('HADB_HA_PROTOCOL', `the answer exceeds ${limit} bytes (maxResponseBytes)`);
    const headers: Record<string, string | number> = {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
    };
    if (this.#closing) headers.connection = 'close';
    res.writeHead(200, headers);
    res.end(text);
  }

  /**
   * Stops accepting connections, answers held head polls at once, lets the requests being handled
   * finish (for at most 1 s), then closes every connection (a client's aborted request can leave
   * one open). Idempotent.
   */
  async close(): Promise<void> {
    if (!this.#server.listening) return;
    this.#closing = true;
    for (const poll of this.#held) poll.abort();
    const closed = new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeIdleConnections();
    });
    if (this.#inFlight > 0) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise<void>((resolve) => (this.#drained = resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_GRACE_MS))),
      ]);
      clearTimeout(timer);
    }
    this.#server.closeAllConnections();
    await closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
