import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@libsql/client';
import { StorageLeaseStore } from '@hadb/lease';
import { LocalStorageBackend } from '@hadb/storage-local';
import { webhookReceiver } from '@hadb/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { HaQLite, serve, type HaQLiteOptions } from '../src/index.js';

const SECRET = 'hook-secret-0123456789';
let dir: string;
let storage: LocalStorageBackend;
let lease: StorageLeaseStore;
const cleanup: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
  await lease?.close();
  await storage?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

async function node(id: string, extra: Partial<HaQLiteOptions> = {}): Promise<HaQLite> {
  const db = await HaQLite.open({
    path: join(dir, `${id}.db`),
    name: 'app',
    storage,
    lease: { store: lease, ttlMs: 1000, renewIntervalMs: 400, pollIntervalMs: 200, skewMarginMs: 200 },
    instanceId: id,
    shipIntervalMs: 100,
    followerPullIntervalMs: 50,
    ...extra,
  });
  cleanup.push(() => db.close());
  return db;
}

describe('HaQLite admin events', () => {
  it('a wrong Hrana token sends auth_failure; a follower restoring the walstream snapshot sends restore_completed', async () => {
    dir = mkdtempSync(join(tmpdir(), 'haqlite-events-'));
    storage = await LocalStorageBackend.open({ root: join(dir, 'storage') });
    lease = new StorageLeaseStore(storage, { prefix: 'leases/' });
    const hooks = await webhookReceiver({ secret: SECRET });
    cleanup.push(() => hooks.close());
    const admin = { port: 0, webhooks: { targets: [{ url: hooks.url, secret: SECRET }] } };

    const a = await node('a', { admin });
    const server = await serve(a, { port: 0, authToken: 'right-token-0123456789' });
    cleanup.push(() => server.close());
    const good = createClient({ url: server.url, authToken: 'right-token-0123456789' });
    const bad = createClient({ url: server.url, authToken: 'wrong-token-0123456789' });
    cleanup.push(() => good.close());
    cleanup.push(() => bad.close());
    await good.execute('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    await good.execute("INSERT INTO t (v) VALUES ('one')");
    await expect(bad.execute('SELECT 1')).rejects.toThrow();
    const denied = await hooks.waitFor('auth_failure');
    expect(denied.verified).toBe(true);
    expect(denied.json).toMatchObject({ event: 'auth_failure', database: 'app', context: { via: 'hrana', node: 'a' } });
    expect(denied.body).not.toContain('token-0123456789');
    await a.sync();

    await node('b', { admin: { ...admin, port: 0 } });
    const restored = await hooks.waitFor('restore_completed');
    expect(restored.verified).toBe(true);
    expect(restored.json).toMatchObject({ event: 'restore_completed', database: 'app', context: { node: 'b' } });
  }, 60_000);
});
