import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Whether a Debian-installed binary the suite drives is present. Missing: a loud warning and
 * `false` (the caller skips); under `CI=true` it throws instead, so CI never passes by skipping.
 */
export function requireBinary(path: string, debianPackage: string, env: NodeJS.ProcessEnv = process.env): boolean {
  if (existsSync(path)) return true;
  const message = `${path} not installed (apt-get install -y --no-install-recommends ${debianPackage})`;
  if (env.CI === 'true' || env.CI === '1') throw new Error(`${message} — failing because CI=true`);
  process.stderr.write(`\n!!! SKIPPING suites that need ${debianPackage}: ${message}\n\n`);
  return false;
}

/** A free loopback TCP port (bound and released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A received HTTP request: method, path, headers and raw body. */
export interface Received {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

/** A real HTTP receiver on loopback that records requests and answers with `status()`. */
export async function receiver(status: (r: Received, n: number) => number = () => 204): Promise<{
  url: string;
  received: Received[];
  server: Server;
  close(): Promise<void>;
}> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      received.push(r);
      res.writeHead(status(r, received.length)).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Polls `pred` every 20 ms until it holds or `ms` passes. */
export async function until(pred: () => boolean | Promise<boolean>, ms = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`${what} not reached within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
