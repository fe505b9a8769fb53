import { request } from 'node:http';
import { describe, expect, it } from 'vitest';

/** Options of {@link forwardingLimitScenarios}. */
export interface ForwardingLimitScenarioOptions {
  /** Named in the `describe` title and the forwarding path (`/<engine>/v1/execute`), e.g. `haduck`. */
  readonly engine: string;
  /** Opens one leader node with these forwarding limits; resolves to its forwarding address. */
  readonly open: (forwarding: Record<string, number>) => Promise<{ readonly address: string }>;
  /** The engine's `INVALID_CONFIG` code, e.g. `HADB_HADUCK_INVALID_CONFIG`. */
  readonly invalidConfigCode: string;
}

/** POSTs `size` bytes (spaces, sent as JSON) to `address` + `path`; resolves to the HTTP status. */
export function postBytes(address: string, path: string, size: number): Promise<number> {
  const url = new URL(`${address}${path}`);
  return new Promise((resolve, reject) => {
    const req = request({
      host: url.hostname,
      port: url.port,
      method: 'POST',
      path: url.pathname,
      headers: { 'content-type': 'application/json', 'content-length': String(size) },
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end(Buffer.alloc(size, 0x20));
  });
}

/**
 * Registers the tests every database adapter on `@hadb/ha` must pass for its `forwarding` option:
 * a configured body limit reaches the node's forwarding server (413), and a bad limit is refused
 * at `open` with the engine's typed `INVALID_CONFIG` naming the option.
 */
export function forwardingLimitScenarios(o: ForwardingLimitScenarioOptions): void {
  describe(`${o.engine} forwarding limits`, () => {
    it('a configured body limit reaches the forwarding server', async () => {
      const node = await o.open({ maxBodyBytes: 1024 });
      expect(await postBytes(node.address, `/${o.engine}/v1/execute`, 4096)).toBe(413);
    });

    it(`a bad limit is refused at open with ${o.invalidConfigCode}`, async () => {
      const err = await o.open({ maxConnections: 0 }).catch((e: unknown) => e);
      expect((err as { code?: string }).code).toBe(o.invalidConfigCode);
      expect((err as Error).message).toMatch(/forwarding\.maxConnections/);
    });
  });
}
