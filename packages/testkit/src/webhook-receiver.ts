import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { eventually, type PollOptions } from './polling.js';

/** One request the {@link webhookReceiver} got. */
export interface ReceivedHook {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  /** The raw body. */
  readonly body: string;
  /** The body parsed as JSON (`undefined` when it is not JSON). */
  readonly json: Record<string, unknown> | undefined;
  /**
   * Whether `X-Hadb-Signature` is `sha256=<hex HMAC-SHA256 of the raw body>` under the receiver's
   * secret, checked here with `node:crypto` (independently of the sender's code); `false` without
   * a secret or a header.
   */
  readonly verified: boolean;
}

/** A running receiver (see {@link webhookReceiver}). */
export interface WebhookReceiver extends AsyncDisposable {
  /** `http://127.0.0.1:<port>/hook`. */
  readonly url: string;
  readonly received: readonly ReceivedHook[];
  /** Waits for a request whose JSON `event` is `event` and returns it (`PollOptions` default timeout 10 s). */
  waitFor(event: string, options?: PollOptions): Promise<ReceivedHook>;
  close(): Promise<void>;
}

/**
 * A real HTTP webhook receiver on loopback: records every request, parses JSON bodies and
 * verifies hadb's signature header against `secret`. Answers `status(request, n)` (default 204).
 */
export async function webhookReceiver(
  options: { readonly secret?: string; readonly status?: (r: ReceivedHook, n: number) => number } = {},
): Promise<WebhookReceiver> {
  const received: ReceivedHook[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const body = raw.toString('utf8');
      let json: Record<string, unknown> | undefined;
      try {
        json = JSON.parse(body) as Record<string, unknown>;
      } catch {
        json = undefined;
      }
      const header = req.headers['x-hadb-signature'];
      let verified = false;
      if (options.secret !== undefined && typeof header === 'string') {
        const expected = Buffer.from(`sha256=${createHmac('sha256', options.secret).update(raw).digest('hex')}`);
        const given = Buffer.from(header);
        verified = given.length === expected.length && timingSafeEqual(given, expected);
      }
      const r: ReceivedHook = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body,
        json,
        verified,
      };
      received.push(r);
      res.writeHead(options.status?.(r, received.length) ?? 204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const close = (): Promise<void> =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    waitFor: (event, o = {}) =>
      eventually(() => received.find((r) => r.json?.event === event), {
        timeoutMs: 10_000,
        what: `webhook ${event}`,
        ...o,
      }),
    close,
    [Symbol.asyncDispose]: close,
  };
}
