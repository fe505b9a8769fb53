import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { StorageBackend } from '@hadb/storage';
import { afterEach, describe, expect, it } from 'vitest';
import { Walstream } from '../src/index.js';
import { openApp, openLocal, tempDir } from './helpers.js';

/** Storage whose writes (`put*`) fail while `failing.on` is set. */
function flaky(inner: StorageBackend): { storage: StorageBackend; failing: { on: boolean } } {
  const failing = { on: false };
  const storage = new Proxy(inner, {
    get(target, prop) {
      if (typeof prop === 'string' && prop.startsWith('put') && failing.on)
        return () => Promise.reject(new Error('upload refused (test)'));
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { storage, failing };
}

describe('walstream with the admin option', () => {
  const cleanups: Array<() => void | Promise<void>> = [];
  let receiver: Server | undefined;
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
    receiver?.close();
  });

  it('serves per-database shipping metrics and readiness, and reports a failed sync as ship_failed', async () => {
    const events: { event: string; database: string; error: string }[] = [];
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        events.push(JSON.parse(body) as { event: string; database: string; error: string });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver!.listen(0, '127.0.0.1', resolve));
    const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;

    const t = tempDir('admin');
    cleanups.push(t.cleanup);
    const { storage, failing } = flaky(await openLocal(t.dir));
    const path = join(t.dir, 'app.db');
    const app = openApp(path);
    cleanups.push(() => void app.close());
    app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    const ws = await Walstream.open({
      storage,
      autoSync: false,
      admin: { port: 0, nodeId: 'box-1', webhooks: { targets: [{ url: hook }] } },
    });
    cleanups.push(() => ws.close().catch(() => undefined));
    const url = ws.adminUrl!;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    // No database yet: not ready.
    expect((await fetch(`${url}ready`)).status).toBe(503);

    const r = await ws.add(path, { name: 'orders' });
    for (let i = 0; i < 3; i++) {
      app.prepare('INSERT INTO t (v) VALUES (?)').run(`row ${i}`);
      await r.sync();
    }
    expect((await fetch(`${url}ready`)).status).toBe(200);
    let text = await (await fetch(`${url}metrics`)).text();
    expect(text).toMatch(/^hadb_role\{db="orders",node="box-1",role="leader"\} 1$/m);
    expect(text).toMatch(/^hadb_shipped_segments_total\{db="orders",node="box-1"\} ([4-9]|\d\d+)$/m); // snapshot + 3 changesets
    expect(text).toMatch(/^hadb_shipped_bytes_total\{db="orders",node="box-1"\} [1-9]\d*$/m);
    expect(text).toMatch(/^hadb_seconds_since_last_ship\{db="orders",node="box-1"\} \d/m);
    expect(text).toMatch(/^hadb_seconds_since_last_sync\{db="orders",node="box-1"\} \d/m);

    // Uploads fail: the sync rejects, is counted by code and becomes a `ship_failed` webhook.
    failing.on = true;
    app.prepare('INSERT INTO t (v) VALUES (?)').run('lost for now');
    await expect(r.sync()).rejects.toThrow();
    const deadline = Date.now() + 10_000;
    while (!events.some((e) => e.event === 'ship_failed') && Date.now() < deadline)
      await new Promise((res) => setTimeout(res, 50));
    expect(events.find((e) => e.event === 'ship_failed')).toMatchObject({ event: 'ship_failed', database: 'orders' });
    text = await (await fetch(`${url}metrics`)).text();
    expect(text).toMatch(/^hadb_errors_total\{code="[A-Z_]+",db="orders",node="box-1"\} 1$/m);

    // Storage recovers: the next sync ships the change.
    failing.on = false;
    expect((await r.sync()).shipped).toBe(1);
    await ws.close();
    await expect(fetch(`${url}health`)).rejects.toThrow();
  });
});
