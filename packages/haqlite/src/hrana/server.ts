import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { silentLogger, systemClock, type Clock, type Logger } from '@hadb/io';
import { checkConfig } from '../errors.js';
import type { HaQLite } from '../ha-qlite.js';
import { hranaError, hranaStreams, RequestError } from './streams.js';
import { relayPipeline } from './relay.js';
import { tokenCheck } from './token.js';
import { hranaSockets } from './websocket.js';

export { splitStatements } from './streams.js';

/** Options of {@link serve}. */
export interface ServeOptions {
  /** Interface to bind. Default `127.0.0.1`. A non-loopback address requires `authToken`. */
  readonly host?: string | undefined;
  /** Port; `0` picks a free one. Default 8080. */
  readonly port?: number | undefined;
  /** Bearer token clients must send (`Authorization: Bearer …`). Never logged. */
  readonly authToken?: string | undefined;
  /** Largest request body, bytes. Default 16 MiB. */
  readonly maxBodyBytes?: number | undefined;
  /** A stream (and its open transaction) idle this long is closed (rolled back), ms. Default 10000. */
  readonly streamIdleMs?: number | undefined;
  /** Deadline of one HTTP request, ms. Default 30000. A WebSocket client must say `hello` within it. */
  readonly requestTimeoutMs?: number | undefined;
  /** Open streams per WebSocket connection at most. Default 128. */
  readonly maxStreamsPerConnection?: number | undefined;
  readonly logger?: Logger | undefined;
  /** Time source for statement timings and stream expiry. Default: the system clock. */
  readonly clock?: Clock | undefined;
}

/** A running Hrana server (over HTTP and WebSocket, on one port). */
export interface HranaServer extends AsyncDisposable {
  /** `http://host:port` (`ws://host:port` reaches the same server over WebSocket). */
  readonly url: string;
  readonly port: number;
  /** Stops accepting requests and rolls back open streams. Does not close the database. */
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/**
 * Serves `db` over Hrana (the libSQL remote protocol, JSON encodings) on one port: over HTTP,
 * `GET /v2`, `GET /v3`, `POST /v2/pipeline`, `POST /v3/pipeline` with `execute`, `batch`,
 * `sequence`, `describe`, `store_sql`, `close_sql`, `get_autocommit` and `close`, streams held by
 * batons; over WebSocket (subprotocols `hrana3`, `hrana2`, `hrana1`; `ws:` and `libsql:` URLs of
 * `@libsql/client`), the same requests on numbered streams plus cursors, after a `hello` carrying
 * the token. Interactive transactions work on any node (a follower forwards autocommit writes and
 * libSQL client batches, and relays a stream that begins a transaction to the leader, see
 * `relay.ts`). Refuses a non-loopback `host` without `authToken` (`HADB_HAQLITE_INVALID_CONFIG`).
 */
export async function serve(db: HaQLite, options: ServeOptions = {}): Promise<HranaServer> {
  const host = checkConfig.string('host', options.host, '127.0.0.1');
  const port = checkConfig.int('port', options.port, { min: 0, max: 65535, default: 8080 });
  const maxBody = checkConfig.int('maxBodyBytes', options.maxBodyBytes, { min: 1, default: 16 * 1024 * 1024 });
  const idleMs = checkConfig.int('streamIdleMs', options.streamIdleMs, { min: 1, default: 10_000 });
  const requestTimeoutMs = checkConfig.int('requestTimeoutMs', options.requestTimeoutMs, { min: 1, default: 30_000 });
  const maxStreams = checkConfig.int('maxStreamsPerConnection', options.maxStreamsPerConnection, {
    min: 1,
    default: 128,
  });
  const token = options.authToken;
  checkConfig.require(
    token === undefined || (typeof token === 'string' && token.length > 0),
    'authToken must be a non-empty string',
  );
  checkConfig.require(
    token !== undefined || LOOPBACK.has(host),
    `refusing to serve on ${host} without authToken (only loopback addresses may run without one)`,
  );
  const logger = options.logger ?? silentLogger;
  const clock = options.clock ?? systemClock;
  const tokenOk = tokenCheck(token);
  const local = hranaStreams(db, { idleMs, clock });
  const sockets = hranaSockets(db, local, {
    tokenOk,
    maxMessageBytes: maxBody,
    maxStreams,
    helloTimeoutMs: requestTimeoutMs,
    logger,
  });

  const authorized = (req: IncomingMessage): boolean => {
    const header = req.headers.authorization;
    return tokenOk(header?.startsWith('Bearer ') === true ? header.slice('Bearer '.length) : undefined);
  };

  const readBody = (req: IncomingMessage): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > maxBody) {
          reject(new RequestError(413, `request body exceeds ${maxBody} bytes`, 'HADB_HAQLITE_BODY_TOO_LARGE'));
          req.destroy();
          return;
        }
        chunks.push(c);
      });
      req.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch {
          reject(new RequestError(400, 'the body is not JSON', 'HADB_HAQLITE_PROTOCOL'));
        }
      });
      req.on('error', reject);
    });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const send = (status: number, body: unknown): void => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    try {
      const path = (req.url ?? '/').split('?')[0]!;
      if (!authorized(req)) {
        // Reported as the node's `unauthorized` event (the admin server's `auth_failure`).
        db.emit('unauthorized', { via: 'hrana' });
        throw new RequestError(401, 'missing or wrong bearer token', 'UNAUTHORIZED');
      }
      if (req.method === 'GET' && (path === '/v2' || path === '/v3' || path === '/health'))
        return send(200, { ok: true, role: db.role });
      if (req.method === 'POST' && (path === '/v2/pipeline' || path === '/v3/pipeline')) {
        const body = await readBody(req);
        const relayed = await relayPipeline(db, local, body);
        return send(200, relayed ?? (await local.handle(body)));
      }
      throw new RequestError(404, `no route ${req.method} ${path}`, 'NOT_FOUND');
    } catch (err) {
      if (err instanceof RequestError) return send(err.status, { message: err.message, code: err.code });
      logger.warn({ err: hranaError(err) }, 'haqlite serve: request failed');
      return send(500, hranaError(err));
    }
  };

  const server: Server = createServer((req, res) => void handle(req, res));
  // Hrana over WebSocket: any path (`@libsql/client` connects to the URL as given); the token is
  // checked in the client's `hello`.
  server.on('upgrade', (req, socket, head) => sockets.upgrade(req, socket, head));
  server.requestTimeout = requestTimeoutMs;
  server.headersTimeout = Math.min(requestTimeoutMs, 60_000);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${bound}`;
  logger.info({ url }, 'haqlite serve: listening');
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closed ??= (async () => {
      const socketsClosed = sockets.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await socketsClosed;
      await local.close();
    })());
  return { url, port: bound, close, [Symbol.asyncDispose]: close };
}
