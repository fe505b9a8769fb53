import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describeError, type Logger } from '@hadb/io';
import type { WireCodec } from '../engine.js';
import { HaError, isHaError } from '../errors.js';
import { TOKEN_PATTERN, statusFor, type Durability } from './protocol.js';

/** What the forwarding server calls: the leader side of a node. */
export interface ForwardTarget<W, R, WR, RR> {
  /** Runs a write as leader only (refusing with `HADB_HA_NOT_LEADER` under the write lock otherwise). */
  write(write: W, token: string, durability: Durability): Promise<WR>;
  /** Runs a read as leader only. */
  read(read: R): Promise<RR>;
  /** True for the engine's client errors (answered 400 with their code and message). */
  isClientError(error: unknown): boolean;
}

/** Options of {@link ForwardingServer.listen}. */
export interface ForwardingServerOptions<W, R, WR, RR> {
  readonly target: ForwardTarget<W, R, WR, RR>;
  readonly codec: WireCodec<W, R, WR, RR>;
  /** Interface to bind. Default `127.0.0.1`. */
  readonly host?: string | undefined;
  /** Port; `0` picks a free one. */
  readonly port: number;
  /** Shared bearer secret; when set, every request must carry `Authorization: Bearer <secret>`. */
  readonly secret?: string | undefined;
  /** Largest request body accepted, in bytes. Default 16 MiB. */
  readonly maxBodyBytes?: number | undefined;
  /** Logs requests that failed with an unexpected (untyped) error. Never given the secret. */
  readonly logger?: Pick<Logger, 'warn'> | undefined;
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
  if (d !== 'committed' && d !== 'shipped') throw new HaError('HADB_HA_PROTOCOL', 'durability must be "committed" or "shipped"');
  return d;
}

function tokenOf(body: Record<string, unknown>): string {
  const t = body.idempotency_token;
  if (typeof t !== 'string') throw new HaError('HADB_HA_PROTOCOL', 'field "idempotency_token" must be a string');
  if (!TOKEN_PATTERN.test(t)) throw new HaError('HADB_HA_PROTOCOL', 'idempotency_token must be 8-128 characters of [A-Za-z0-9._:-]');
  return t;
}

/** The request fields without the reserved write fields. */
function withoutReserved(body: Record<string, unknown>): Record<string, unknown> {
  const { idempotency_token: _t, durability: _d, ...rest } = body;
  return rest;
}

function send(res: ServerResponse, status: number, body: unknown, close = false): void {
  const text = JSON.stringify(body);
  const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) };
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

  private constructor(server: Server, options: ForwardingServerOptions<W, R, WR, RR>) {
    this.#server = server;
    this.#options = options;
    this.#secretDigest = options.secret === undefined ? undefined : digest(`Bearer ${options.secret}`);
    this.#writeOps = new Set(options.codec.writeOps);
    this.#readOps = new Set(options.codec.readOps);
  }

  /** Starts listening; resolves once bound. */
  static async listen<W, R, WR, RR>(options: ForwardingServerOptions<W, R, WR, RR>): Promise<ForwardingServer<W, R, WR, RR>> {
    let self: ForwardingServer<W, R, WR, RR> | undefined;
    const server = createServer((req, res) => {
      void self!.#handle(req, res);
    });
    server.keepAliveTimeout = 5000;
    self = new ForwardingServer(server, options);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host ?? '127.0.0.1', () => {
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

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { target, codec } = this.#options;
    try {
      if (req.method !== 'POST') return send(res, 405, { error: { code: 'HADB_HA_PROTOCOL', message: 'use POST' } });
      if (!this.#authorized(req)) {
        req.resume();
        return send(res, 401, { error: { code: 'HADB_HA_UNAUTHORIZED', message: 'unauthorized' } });
      }
      const body = await readBody(req, this.#options.maxBodyBytes ?? 16 * 1024 * 1024);
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        throw new HaError('HADB_HA_PROTOCOL', 'request body must be a JSON object');
      }
      const b = body as Record<string, unknown>;
      const operation = this.#operation(req.url);
      if (operation === undefined) return send(res, 404, { error: { code: 'HADB_HA_PROTOCOL', message: 'unknown path' } });
      if (operation.kind === 'write') {
        const write = codec.decodeWrite(operation.op, withoutReserved(b));
        const result = await target.write(write, tokenOf(b), durabilityOf(b));
        return send(res, 200, codec.encodeWriteResult(result));
      }
      const result = await target.read(codec.decodeRead(operation.op, b));
      return send(res, 200, codec.encodeReadResult(result));
    } catch (err) {
      if (err instanceof BodyTooLarge) {
        // Stop reading: answer, then drop the connection rather than drain an oversized body.
        res.once('finish', () => req.destroy());
        if (!res.headersSent) send(res, 413, { error: { code: err.code, message: err.message } }, true);
        return;
      }
      const typed = isHaError(err) || target.isClientError(err);
      if (!typed) this.#options.logger?.warn({ path: req.url, err: describeError(err) }, 'hadb forwarding: request failed');
      const status = isHaError(err) ? statusFor(err.code) : typed ? 400 : 500;
      // Only typed errors carry their message (the engine's, or the protocol's); anything else stays internal.
      const code = (err as { code?: unknown }).code;
      const answer = typed ? { code: String(code), message: (err as Error).message } : { code: 'HADB_HA_INTERNAL', message: 'internal error' };
      if (!res.headersSent) send(res, status, { error: answer });
      else res.destroy();
    }
  }

  /** Stops accepting connections and closes idle ones. Idempotent. */
  async close(): Promise<void> {
    if (!this.#server.listening) return;
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeIdleConnections();
    });
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
