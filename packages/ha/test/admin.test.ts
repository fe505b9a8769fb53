import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemLeaseStore } from '@hadb/lease-mem';
import { MemStorageBackend } from '@hadb/storage-mem';
import { webhookReceiver } from '@hadb/testkit';
import { withFaults } from '@hadb/testkit/storage';
import { afterEach, describe, expect, it } from 'vitest';
import { HaNode } from '../src/index.js';
import { kvEngine, type KvRead, type KvWrite } from './kv-engine.js';

type KvNode = HaNode<KvWrite, KvRead, number, string | null>;

let dir: string | undefined;
const nodes: KvNode[] = [];
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.close().catch(() => undefined);
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('HaNode admin option', () => {
  it('starts an admin server after joining, counts ships, reports a failed ship as ship_failed, and closes it first', async () => {
    dir = mkdtempSync(join(tmpdir(), 'ha-admin-'));
    await using hooks = await webhookReceiver();
    const hook = hooks.url;

    // Uploads (putIfAbsent) fail while the fault rate is 1, and work again once it is healed.
    const storage = withFaults(new MemStorageBackend(), { seed: 1, operations: ['putIfAbsent'] });
    const node: KvNode = await HaNode.open({
      engine: kvEngine(storage),
      path: join(dir, 'a.json'),
      name: 'kv',
      instanceId: 'a',
      lease: { store: new MemLeaseStore(), ttlMs: 1000, renewIntervalMs: 400, pollIntervalMs: 100, skewMarginMs: 200 },
      shipIntervalMs: 50,
      admin: { port: 0, webhooks: { targets: [{ url: hook }] } },
    });
    nodes.push(node);
    expect(node.role).toBe('leader');
    const url = node.adminUrl!;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);

    await node.write({ set: 'x', value: '1' }, { durability: 'shipped' });
    let text = await (await fetch(`${url}metrics`)).text();
    expect(text).toMatch(/^hadb_shipped_segments_total\{db="kv",node="a"\} [1-9]\d*$/m);
    expect(text).toMatch(/^hadb_is_leader\{db="kv",node="a"\} 1$/m);
    expect((await fetch(`${url}ready`)).status).toBe(200);

    // Uploads fail: the periodic ship gives up, is counted by code and becomes a `ship_failed` webhook.
    storage.setFaults({ errorRate: 1 });
    await node.write({ set: 'y', value: '2' });
    const failed = (await hooks.waitFor('ship_failed')).json as { event: string; database: string; error: string };
    storage.setFaults({ errorRate: 0 });
    expect(failed).toMatchObject({ event: 'ship_failed', database: 'kv' });
    expect(failed.error).toContain('HADB_HA_SHIP_FAILED');
    text = await (await fetch(`${url}metrics`)).text();
    expect(text).toMatch(/^hadb_errors_total\{code="HADB_HA_SHIP_FAILED",db="kv",node="a"\} [1-9]\d*$/m);

    await node.close();
    await expect(fetch(`${url}health`)).rejects.toThrow();
  });
});

describe('HaNode admin events', () => {
  it('sends signed restore_completed (a follower applied a snapshot) and auth_failure (a wrong forwarding secret, once a minute)', async () => {
    dir = mkdtempSync(join(tmpdir(), 'ha-admin-events-'));
    await using hooks = await webhookReceiver({ secret: 'hook-secret-0123456789' });
    const storage = new MemStorageBackend();
    const store = new MemLeaseStore();
    const lease = { store, ttlMs: 1000, renewIntervalMs: 400, pollIntervalMs: 100, skewMarginMs: 200 };
    const a: KvNode = await HaNode.open({
      engine: kvEngine(storage),
      path: join(dir, 'a.json'),
      name: 'kv',
      instanceId: 'a',
      lease,
      shipIntervalMs: 50,
      secret: 'kv-secret-0123456789',
    });
    nodes.push(a);
    await a.write({ set: 'x', value: '1' }, { durability: 'shipped' });
    const b: KvNode = await HaNode.open({
      engine: kvEngine(storage),
      path: join(dir, 'b.json'),
      name: 'kv',
      instanceId: 'b',
      lease,
      followerPullIntervalMs: 50,
      secret: 'kv-secret-0123456789',
      admin: { port: 0, webhooks: { targets: [{ url: hooks.url, secret: 'hook-secret-0123456789' }] } },
    });
    nodes.push(b);
    expect(b.role).toBe('follower');

    // The join-time restore happened before the admin server started: held, then sent.
    const restored = await hooks.waitFor('restore_completed');
    expect(restored.verified).toBe(true);
    expect(restored.json).toMatchObject({ event: 'restore_completed', database: 'kv', context: { node: 'b' } });
    expect(Number((restored.json!.context as { seq: string }).seq)).toBeGreaterThan(0);

    // Two requests with a wrong secret to b's forwarding server: 401 each, one webhook.
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${b.address}/kv/v1/set`, {
        method: 'POST',
        headers: { authorization: 'Bearer wrong-secret-wrong-secret', 'content-type': 'application/json' },
        body: '{}',
      });
      expect(res.status).toBe(401);
    }
    const denied = await hooks.waitFor('auth_failure');
    expect(denied.verified).toBe(true);
    expect(denied.json).toMatchObject({
      event: 'auth_failure',
      database: 'kv',
      context: { via: 'forwarding', node: 'b' },
    });
    expect(denied.body).not.toContain('wrong-secret');
    expect(denied.body).not.toContain('kv-secret');
    await new Promise((r) => setTimeout(r, 300));
    expect(hooks.received.filter((r) => r.json?.event === 'auth_failure')).toHaveLength(1);
  });
});
