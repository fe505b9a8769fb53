import { type AddressInfo, type Server, type Socket, connect, createServer } from 'node:net';

/**
 * What the proxy does with one client connection (the tests' clients do not keep connections
 * alive, so one connection carries one HTTP request):
 * - `forward`: relays both ways;
 * - `drop-request`: reads the start of the request, then resets the connection without forwarding
 *   (the server never sees it, but the client cannot know);
 * - `drop-response`: forwards the request, waits until the server starts answering, then resets
 *   the client connection (the server has acted on the request; the client gets no answer);
 * - `fake-500`: answers 500 itself without forwarding (the server never sees the request);
 * - `forward-then-500`: forwards the request, waits for the server's answer, and replaces it with
 *   a 500 (the server has acted on the request; the client sees a 5xx);
 * - `truncate-response`: forwards, but cuts the response off after `truncateAfter` bytes.
 */
export type ProxyAction =
  | 'forward'
  | 'drop-request'
  | 'drop-response'
  | 'fake-500'
  | 'forward-then-500'
  | 'truncate-response';

const FAKE_500 =
  'HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/xml\r\nContent-Length: 0\r\nConnection: close\r\n\r\n';

/** A TCP proxy on 127.0.0.1 in front of the real server, failing connections on a plan. */
export class FaultProxy {
  readonly #server: Server;
  readonly #target: { host: string; port: number };
  readonly #sockets = new Set<Socket>();
  #plan: ProxyAction[] = [];
  /** Actions taken, in connection order. */
  readonly log: ProxyAction[] = [];
  truncateAfter = 400;

  private constructor(target: { host: string; port: number }) {
    this.#target = target;
    this.#server = createServer((client) => this.#handle(client));
  }

  static async start(targetUrl: string): Promise<FaultProxy> {
    const url = new URL(targetUrl);
    const proxy = new FaultProxy({ host: url.hostname, port: Number(url.port || 80) });
    await new Promise<void>((resolve) => proxy.#server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  /** The next connections' actions; later connections are forwarded. */
  plan(...actions: ProxyAction[]): void {
    this.#plan = [...actions];
    this.log.length = 0;
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #track(socket: Socket): Socket {
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', () => undefined);
    return socket;
  }

  #handle(client: Socket): void {
    this.#track(client);
    const action = this.#plan.shift() ?? 'forward';
    this.log.push(action);
    if (action === 'drop-request') {
      client.once('data', () => client.resetAndDestroy());
      return;
    }
    if (action === 'fake-500') {
      client.once('data', () => {
        // Let the rest of the request arrive, then answer without forwarding anything.
        setTimeout(() => client.end(FAKE_500), 20);
      });
      return;
    }
    const upstream = this.#track(connect(this.#target.port, this.#target.host));
    client.pipe(upstream);
    if (action === 'forward') {
      upstream.pipe(client);
      upstream.on('close', () => client.destroy());
      client.on('close', () => upstream.destroy());
      return;
    }
    if (action === 'truncate-response') {
      let sent = 0;
      upstream.on('data', (chunk: Buffer) => {
        const room = this.truncateAfter - sent;
        if (room <= 0) return;
        client.write(chunk.subarray(0, room));
        sent += Math.min(room, chunk.length);
        if (sent >= this.truncateAfter) {
          client.resetAndDestroy();
          upstream.destroy();
        }
      });
      return;
    }
    // drop-response / forward-then-500: the server answers; the client never sees that answer.
    upstream.once('data', () => {
      upstream.destroy();
      if (action === 'drop-response') client.resetAndDestroy();
      else client.end(FAKE_500);
    });
  }
}
