import { type AddressInfo, type Server, type Socket, connect, createServer } from 'node:net';

/**
 * A TCP server on 127.0.0.1 that accepts connections and never answers: a network partition that
 * neither refuses nor resets, so only a client's own deadline can end its request. With a
 * `target` it starts as a transparent relay to that server (so a client can connect and
 * handshake for real), and {@link swallow} turns it into a black hole for live connections (bytes
 * in both directions are dropped, sockets stay open) and for new ones.
 */
export class BlackHole {
  readonly #server: Server;
  readonly #target: { readonly host: string; readonly port: number } | undefined;
  readonly #sockets = new Set<Socket>();
  #swallowing: boolean;

  private constructor(target: { host: string; port: number } | undefined) {
    this.#target = target;
    this.#swallowing = target === undefined;
    this.#server = createServer((client) => this.#accept(client));
  }

  /**
   * Listens on a free port. Without `target` every connection is swallowed from the start; with
   * it connections are relayed until {@link swallow}.
   */
  static async start(target?: { host: string; port: number } | string): Promise<BlackHole> {
    const parsed = typeof target === 'string' ? parseTarget(target) : target;
    const hole = new BlackHole(parsed);
    await new Promise<void>((resolve, reject) => {
      hole.#server.once('error', reject);
      hole.#server.listen(0, '127.0.0.1', () => resolve());
    });
    return hole;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  /** `host:port` of the listener. */
  get hostPort(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Connections accepted so far that are still open. */
  get openConnections(): number {
    return this.#sockets.size;
  }

  /** From now on drops every byte of live and new connections without closing them. */
  swallow(): void {
    this.#swallowing = true;
  }

  /** Closes the listener and destroys every connection. */
  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #track(socket: Socket): void {
    this.#sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => this.#sockets.delete(socket));
  }

  #accept(client: Socket): void {
    this.#track(client);
    if (this.#swallowing || this.#target === undefined) {
      client.on('data', () => undefined);
      return;
    }
    const upstream = connect(this.#target.port, this.#target.host);
    this.#track(upstream);
    const relay = (from: Socket, to: Socket): void => {
      from.on('data', (chunk: Buffer) => {
        if (!this.#swallowing) to.write(chunk);
      });
      from.on('close', () => {
        if (!this.#swallowing) to.destroy();
      });
    };
    relay(client, upstream);
    relay(upstream, client);
  }
}

function parseTarget(url: string): { host: string; port: number } {
  const parsed = new URL(url.includes('://') ? url : `tcp://${url}`);
  return { host: parsed.hostname, port: Number(parsed.port) };
}
