import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '@hadb/core';
import { HaDuckError, isHaDuckError } from '../errors.js';
import type { ExecuteResult, QueryResult } from '../sql.js';
import { paramsFromWire, toWire, type HaParams } from '../values.js';
import { PATHS, statusFor, type Durability } from './protocol.js';

/** What the forwarding server calls; implemented by the leader side of `HaDuck`. */
export interface ForwardTarget {
  /** Runs a write as leader only (refusing with `HADB_HADUCK_NOT_LEADER` under the write lock otherwise). */
  leaderExecute(sql: string, params: HaParams | undefined, token: string, durability: Durability): Promise<ExecuteResult>;
  leaderBatch(statements: { sql: string; params: HaParams | undefined }[], token: string, durability: Durability): Promise<ExecuteResult>;
  /** Runs a read as leader only. */
  leaderQuery(sql: string, params: HaParams | undefined): Promise<QueryResult>;
}

/** Options of {@link ForwardingServer.listen}. */
export interface ForwardingServerOptions {
  readonly target: ForwardTarget;
  /** Interface to bind. Default `127.0.0.1`. */
  readonly host?: string | undefined;
  /** Port; `0` picks a free one. */
  readonly port: number;
  /** Shared bearer secret; when set, every request must carry `Authorization: Bearer <secret>`. */
  readonly secret?: string | undefined;
  /** Largest request body accepted, in bytes. Default 16 MiB. */
  readonly maxBodyBytes?: number | undefined;
  /** Logs requests that failed with an unexpected (non-`HaDuckError`) error. Never given the secret. */
  readonly logger?: Pick<Logger, 'warn'> | undefined;
}

const TOKEN = /^[A-Za-z0-9._:-]{8,128}$/;

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** A request body over the limit: answered 413, and the connection is closed after the answer. */
class BodyTooLarge extends HaDuckError {
  readonly status = 413;
  constructor(limit: number) {
    super('HADB_HADUCK_PROTOCOL', `request body exceeds ${limit} bytes`);
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
    throw new HaDuckError('HADB_HADUCK_PROTOCOL', 'request body is not JSON');
  }
}

function str(body: Record<string, unknown>, key: string): string {
  const v = body[key];
  if (typeof v !== 'string') throw new HaDuckError('HADB_HADUCK_PROTOCOL', `field "${key}" must be a string`);
  return v;
}

function durabilityOf(body: Record<string, unknown>): Durability {
  const d = body.durability ?? 'committed';
  if (d !== 'committed' && d !== 'shipped') throw new HaDuckError('HADB_HADUCK_PROTOCOL', 'durability must be "committed" or "shipped"');
  return d;
}

function tokenOf(body: Record<string, unknown>): string {
  const t = str(body, 'idempotency_token');
  if (!TOKEN.test(t)) throw new HaDuckError('HADB_HADUCK_PROTOCOL', 'idempotency_token must be 8-128 characters of [A-Za-z0-9._:-]');
  return t;
}

function send(res: ServerResponse, status: number, body: unknown, close = false): void {
  const text = JSON.stringify(body);
  const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) };
  if (close) headers.connection = 'close';
  res.writeHead(status, headers);
  res.end(text);
}

/**
 * The leader's forwarding endpoint (`node:http`). Followers POST writes here; the server runs them
 * through the same write lock as local writes and answers 421 when this node is not the leader.
 * The secret is compared in constant time and never logged or echoed.
 */
export class ForwardingServer implements AsyncDisposable {
  readonly #server: Server;
  readonly #options: ForwardingServerOptions;
  readonly #secretDigest: Buffer | undefined;

  private constructor(server: Server, options: ForwardingServerOptions) {
    this.#server = server;
    this.#options = options;
    this.#secretDigest = options.secret === undefined ? undefined : digest(`Bearer ${options.secret}`);
  }

  /** Starts listening; resolves once bound. */
  static async listen(options: ForwardingServerOptions): Promise<ForwardingServer> {
    let self: ForwardingServer | undefined;
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

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (req.method !== 'POST') return send(res, 405, { error: { code: 'HADB_HADUCK_PROTOCOL', message: 'use POST' } });
      if (!this.#authorized(req)) {
        req.resume();
        return send(res, 401, { error: { code: 'HADB_HADUCK_UNAUTHORIZED', message: 'unauthorized' } });
      }
      const body = await readBody(req, this.#options.maxBodyBytes ?? 16 * 1024 * 1024);
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        throw new HaDuckError('HADB_HADUCK_PROTOCOL', 'request body must be a JSON object');
      }
      const b = body as Record<string, unknown>;
      const target = this.#options.target;
      switch (req.url) {
        case PATHS.execute: {
          const r = await target.leaderExecute(str(b, 'sql'), paramsFromWire(b.params), tokenOf(b), durabilityOf(b));
          return send(res, 200, { rows_changed: r.rowsChanged });
        }
        case PATHS.batch: {
          if (!Array.isArray(b.statements)) throw new HaDuckError('HADB_HADUCK_PROTOCOL', 'statements must be an array');
          const statements = b.statements.map((s: unknown) => {
            if (typeof s !== 'object' || s === null) throw new HaDuckError('HADB_HADUCK_PROTOCOL', 'malformed statement');
            const st = s as Record<string, unknown>;
            return { sql: str(st, 'sql'), params: paramsFromWire(st.params) };
          });
          const r = await target.leaderBatch(statements, tokenOf(b), durabilityOf(b));
          return send(res, 200, { rows_changed: r.rowsChanged });
        }
        case PATHS.query: {
          const r = await target.leaderQuery(str(b, 'sql'), paramsFromWire(b.params));
          return send(res, 200, { columns: r.columns, column_types: r.columnTypes, rows: r.rows.map((row) => row.map(toWire)) });
        }
        default:
          return send(res, 404, { error: { code: 'HADB_HADUCK_PROTOCOL', message: 'unknown path' } });
      }
    } catch (err) {
      if (err instanceof BodyTooLarge) {
        // Stop reading: answer, then drop the connection rather than drain an oversized body.
        res.once('finish', () => req.destroy());
        if (!res.headersSent) send(res, 413, { error: { code: err.code, message: err.message } }, true);
        return;
      }
      if (!isHaDuckError(err)) this.#options.logger?.warn({ path: req.url, err: err instanceof Error ? err.message : String(err) }, 'haduck forwarding: request failed');
      const status = isHaDuckError(err) ? statusFor(err.code) : 500;
      // Only typed errors carry their message (DuckDB's, or the protocol's); anything else stays internal.
      const body = isHaDuckError(err) ? { code: err.code, message: err.message } : { code: 'HADB_HADUCK_INTERNAL', message: 'internal error' };
      if (!res.headersSent) send(res, status, { error: body });
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
