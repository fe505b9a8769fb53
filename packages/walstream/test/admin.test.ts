import { join } from 'node:path';
import { webhookReceiver } from '@hadb/testkit';
import { WRITE_OPERATIONS, withFaults } from '@hadb/testkit/storage';
import { afterEach, describe, expect, it } from 'vitest';
import { Walstream } from '../src/index.js';
import { openApp, openLocal, tempDir } from './helpers.js';

describe('walstream with the admin option', () => {
  const cleanups: Array<() => void | Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('serves per-database shipping metrics and readiness, and reports a failed sync as ship_failed', async () => {
    const hooks = await webhookReceiver();
    cleanups.push(() => hooks.close());
    const hook = hooks.url;

    const t = tempDir('admin');
    cleanups.push(t.cleanup);
    // Writes fail while the fault rate is 1 (an outage), and work again once it is healed.
    const storage = withFaults(await openLocal(t.dir), { seed: 1, operations: WRITE_OPERATIONS });
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
    storage.setFaults({ errorRate: 1, operations: WRITE_OPERATIONS });
    app.prepare('INSERT INTO t (v) VALUES (?)').run('lost for now');
    await expect(r.sync()).rejects.toThrow();
    const failed = await hooks.waitFor('ship_failed');
    expect(failed.json).toMatchObject({ event: 'ship_failed', database: 'orders' });
    text = await (await fetch(`${url}metrics`)).text();
    expect(text).toMatch(/^hadb_errors_total\{code="[A-Z_]+",db="orders",node="box-1"\} 1$/m);

    // Storage recovers: the next sync ships the change.
    storage.setFaults({ errorRate: 0 });
    expect((await r.sync()).shipped).toBe(1);
    await ws.close();
    await expect(fetch(`${url}health`)).rejects.toThrow();
  });
});
