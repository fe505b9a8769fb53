import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { configChecker, raceAbort, type ConfigChecker, type OpOptions } from '@hadb/io';
import { AdminHandler, type AdminOptions } from './admin.js';
import { isLoopbackHost } from './auth.js';
import { AdminError, aborted, invalidConfig } from './errors.js';

/** Options of {@link startAdminServer}. */
export interface AdminServerOptions extends AdminOptions, OpOptions {
  /**
   * Address to bind. Default `127.0.0.1`. Any non-loopback address (including `0.0.0.0` and `::`)
   * requires `token`, or {@link startAdminServer} rejects with `HADB_ADMIN_INSECURE_BIND`.
   */
  readonly host?: string | undefined;
  /** Port; `0` picks a free one (see {@link AdminServer.port}). */
  readonly port: number;
}

/**
 * The `admin` option an engine (haduck, haqlite, walstream, the CLI's `replicate`) accepts: every
 * server option except `sources`, which the engine supplies (its own node).
 */
export type EngineAdminOptions = Omit<AdminServerOptions, 'sources' | 'signal'>;

/** A running admin server. */
export interface AdminServer extends AsyncDisposable {
  /** `http://host:port` (IPv6 hosts bracketed), plus `basePath` and a trailing `/`. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** The endpoints (for `collect()`, `prometheus()`, webhook stats). */
  readonly handler: AdminHandler;
  /** Stops listening (open connections are closed) and closes the handler. Idempotent. */
  close(): Promise<void>;
}

/**
 * Starts an HTTP server with the admin endpoints (see {@link AdminHandler}). Rejects with
 * `HADB_ADMIN_INVALID_CONFIG` for bad options, `HADB_ADMIN_INSECURE_BIND` for a non-loopback
 * `host` without `token`, `HADB_ADMIN_LISTEN_FAILED` when the port cannot be bound, and
 * `HADB_ADMIN_ABORTED` when `signal` fires first.
 *
 * @example
 * const admin = await startAdminServer({ port: 9464, sources: [coordinatorSource(coordinator, { nodeId: 'a' })] });
 * // curl http://127.0.0.1:9464/metrics
 * await admin.close();
 */
export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const check: ConfigChecker = configChecker(invalidConfig);
  const host = check.string('host', options.host, '127.0.0.1');
  const port = check.int('port', options.port, { min: 0, max: 65535 });
  if (!isLoopbackHost(host) && options.token === undefined) {
    throw new AdminError(
      'HADB_ADMIN_INSECURE_BIND',
      `refusing to bind the admin server to non-loopback address ${host} without a token`,
    );
  }
  const handler = new AdminHandler(options);
  const server = createServer(handler.listener);
  server.keepAliveTimeout = 5000;
  try {
    await raceAbort(listen(server, host, port), options.signal, aborted);
  } catch (err) {
    server.close();
    await handler.close();
    throw err;
  }
  const bound = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await handler.close();
    })());
  return {
    url: `http://${shownHost}:${bound}${options.basePath ?? ''}/`,
    host,
    port: bound,
    handler,
    close,
    [Symbol.asyncDispose]: close,
  };
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(
        new AdminError('HADB_ADMIN_LISTEN_FAILED', `cannot listen on ${host}:${port} (${err.code ?? err.message})`, {
          cause: err,
        }),
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
