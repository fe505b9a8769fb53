import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * What a {@link FaultProxy} does to traffic:
 * - `pass`: forwards both ways;
 * - `blackhole`: a network partition — new connections are accepted and held, and every byte in
 *   either direction (also on connections opened before) is dropped. A connection that lost bytes
 *   stays dead after healing (its stream is broken), so its client sees a hanging request until its
 *   own deadline, as over a real partitioned link;
 * - `reset`: every connection, open or new, is reset (RST);
 * - `delay`: forwards each chunk after `delayMs` (order kept).
 */
export type FaultMode = 'pass' | 'blackhole' | 'reset' | 'delay';

/** Options of {@link FaultProxy.listen}. */
export interface FaultProxyOptions {
  /**
   * Where traffic goes: `host:port`, or a URL whose host and port are used (`http://127.0.0.1:7480`).
   * Omitted: a pure black hole — the proxy stays in `blackhole` (a server that accepts connections
   * and never answers, neither refusing nor resetting, so only a client's own deadline ends its
   * request), and {@link FaultProxy.setMode} accepts no other mode.
   */
  readonly target?: string | undefined;
  /** The starting mode. Default `pass` (`blackhole` without a `target`). */
  readonly mode?: FaultMode | undefined;
  /** Listen host. Default `127.0.0.1`. */
  readonly host?: string | undefined;
  /** Listen port. Default 0 (a free port). */
  readonly port?: number | undefined;
}

/** Counters of a {@link FaultProxy}. */
export interface FaultProxyCounters {
  /** Connections accepted. */
  readonly connections: number;
  /** Connections open now. */
  readonly open: number;
  /** Bytes forwarded in both directions. */
  readonly forwardedBytes: number;
  /** Bytes dropped (blackhole) in both directions. */
  readonly droppedBytes: number;
  /** Connections reset by the proxy. */
  readonly resets: number;
}

interface Link {
  readonly client: Socket;
  upstream: Socket | undefined;
  /** Lost bytes: never forwards again. */
  broken: boolean;
  /** Delay queue tail (clock ms at which the last scheduled chunk is written). */
  nextAt: number;
}

/**
 * A TCP proxy for fault injection between one process and one server (for example a node and its
 * S3 endpoint): point the node at {@link url} (or {@link hostPort}) and switch {@link setMode} from
 * the test. Without a target it is a black hole from the start.
 */
export class FaultProxy {
  readonly #server: Server;
  readonly #target: { host: string; port: number } | undefined;
  readonly #links = new Set<Link>();
  #mode: FaultMode = 'pass';
  #delayMs = 0;
  #connections = 0;
  #forwarded = 0;
  #dropped = 0;
  #resets = 0;

  private constructor(server: Server, target: { host: string; port: number } | undefined) {
    this.#server = server;
    this.#target = target;
  }

  /** Starts a proxy to `options.target` in `options.mode` (default `pass`); without a target, a black hole. */
  static async listen(options: FaultProxyOptions = {}): Promise<FaultProxy> {
    const target = options.target === undefined ? undefined : parseTarget(options.target);
    const holder: { proxy?: FaultProxy } = {};
    const server = createServer((socket) => {
      const p = holder.proxy;
      if (p !== undefined) p.#accept(socket);
    });
    const proxy = new FaultProxy(server, target);
    proxy.setMode(options.mode ?? (target === undefined ? 'blackhole' : 'pass'));
    holder.proxy = proxy;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    return proxy;
  }

  /** The bound port. */
  get port(): number {
    const address = this.#server.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  }

  /** `http://<host>:<port>` of the proxy. */
  get url(): string {
    const address = this.#server.address();
    const host = typeof address === 'object' && address !== null ? address.address : '127.0.0.1';
    return `http://${host.includes(':') ? `[${host}]` : host}:${this.port}`;
  }

  /** `<host>:<port>` of the proxy, for clients that take no URL (or another scheme: `nats://${hostPort}`). */
  get hostPort(): string {
    const url = new URL(this.url);
    return url.host;
  }

  get mode(): FaultMode {
    return this.#mode;
  }

  /**
   * Switches the mode (`delayMs` for `delay`); `reset` also resets every open connection now.
   * Throws a `TypeError` for a mode other than `blackhole` on a proxy without a target.
   */
  setMode(mode: FaultMode, options: { readonly delayMs?: number | undefined } = {}): void {
    if (this.#target === undefined && mode !== 'blackhole')
      throw new TypeError(`a fault proxy without a target is a black hole; it cannot ${mode}`);
    this.#mode = mode;
    this.#delayMs = options.delayMs ?? 0;
    if (mode === 'reset') for (const link of [...this.#links]) this.#reset(link);
  }

  get counters(): FaultProxyCounters {
    return {
      connections: this.#connections,
      open: this.#links.size,
      forwardedBytes: this.#forwarded,
      droppedBytes: this.#dropped,
      resets: this.#resets,
    };
  }

  /** Stops listening and destroys every connection. */
  async close(): Promise<void> {
    for (const link of [...this.#links]) {
      link.client.destroy();
      link.upstream?.destroy();
    }
    this.#links.clear();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: Socket): void {
    this.#connections++;
    const link: Link = { client, upstream: undefined, broken: false, nextAt: 0 };
    this.#links.add(link);
    const forget = (): void => {
      this.#links.delete(link);
      client.destroy();
      link.upstream?.destroy();
    };
    client.on('error', forget);
    client.on('close', forget);
    if (this.#mode === 'reset') {
      this.#reset(link);
      return;
    }
    if (this.#mode === 'blackhole') link.broken = true;
    else this.#connectUpstream(link, forget);
    client.on('data', (chunk: Buffer) => this.#relay(link, chunk, 'up', forget));
  }

  #connectUpstream(link: Link, forget: () => void): void {
    const target = this.#target;
    if (target === undefined) return;
    const upstream = connect(target.port, target.host);
    link.upstream = upstream;
    // Across a partition the client never learns that the server closed (no FIN gets through).
    const upstreamGone = (): void => {
      if (link.broken) upstream.destroy();
      else forget();
    };
    upstream.on('error', upstreamGone);
    upstream.on('close', upstreamGone);
    upstream.on('data', (chunk: Buffer) => this.#relay(link, chunk, 'down', forget));
  }

  #relay(link: Link, chunk: Buffer, direction: 'up' | 'down', forget: () => void): void {
    if (this.#mode === 'reset') {
      this.#reset(link);
      return;
    }
    if (this.#mode === 'blackhole') link.broken = true;
    if (link.broken) {
      this.#dropped += chunk.length;
      return;
    }
    if (link.upstream === undefined) this.#connectUpstream(link, forget);
    const to = direction === 'up' ? link.upstream : link.client;
    if (to === undefined) return;
    const write = (): void => {
      if (link.broken || to.destroyed) return;
      this.#forwarded += chunk.length;
      to.write(chunk);
    };
    if (this.#mode !== 'delay' || this.#delayMs <= 0) {
      write();
      return;
    }
    const at = Math.max(Date.now() + this.#delayMs, link.nextAt);
    link.nextAt = at;
    setTimeout(write, at - Date.now());
  }

  #reset(link: Link): void {
    this.#resets++;
    this.#links.delete(link);
    link.broken = true;
    link.client.resetAndDestroy();
    link.upstream?.resetAndDestroy();
  }
}

function parseTarget(target: string): { host: string; port: number } {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(target)) {
    const url = new URL(target);
    const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
    return { host: url.hostname.replace(/^\[|\]$/g, ''), port };
  }
  const i = target.lastIndexOf(':');
  if (i <= 0) throw new TypeError(`fault proxy target must be host:port or a URL, got ${target}`);
  return { host: target.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(target.slice(i + 1)) };
}
