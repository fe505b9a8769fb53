import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemLeaseStore } from '@hadb/lease-mem';
import { MemStorageBackend } from '@hadb/storage-mem';
import { afterEach, describe, expect, it } from 'vitest';
import { HaNode, isHaError } from '../src/index.js';
import { kvEngine, type KvRead, type KvWrite } from './kv-engine.js';

type KvNode = HaNode<KvWrite, KvRead, number, string | null>;

let dir: string;
const nodes: KvNode[] = [];
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.close().catch(() => undefined);
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

async function start(id: string, storage: MemStorageBackend, store: MemLeaseStore): Promise<KvNode> {
  const node = await HaNode.open({
    engine: kvEngine(storage),
    path: join(dir, `${id}.json`),
    name: 'kv',
    instanceId: id,
    lease: { store, ttlMs: 1000, renewIntervalMs: 400, pollIntervalMs: 100, skewMarginMs: 200 },
    followerPullIntervalMs: 50,
    shipIntervalMs: 100,
    secret: 'kv-secret',
  });
  nodes.push(node);
  return node;
}

describe('HaNode with a second engine (a JSON key-value map)', () => {
  it('routes writes to the leader with one token, serves strong and local reads, and fails over', async () => {
    dir = mkdtempSync(join(tmpdir(), 'ha-kv-'));
    const storage = new MemStorageBackend();
    const store = new MemLeaseStore();
    const a = await start('a', storage, store);
    expect(a.role).toBe('leader');
    const b = await start('b', storage, store);
    expect(b.role).toBe('follower');

    // A follower's write is forwarded; a retry with the same token runs once.
    expect(await b.write({ set: 'x', value: '1' }, { idempotencyToken: 'tok-kv-0001', durability: 'shipped' })).toBe(1);
    expect(await b.write({ set: 'x', value: '2' }, { idempotencyToken: 'tok-kv-0001' })).toBe(1);
    expect(await a.read({ get: 'x' })).toBe('1');
    expect(await b.read({ get: 'x' }, { consistency: 'strong' })).toBe('1');
    expect(b.stats().forwardedWrites).toBe(2);

    // Event-driven sync: the follower has applied everything durable.
    await b.sync();
    expect(await b.read({ get: 'x' })).toBe('1');
    expect(b.stats().refreshes).toBeGreaterThan(0);

    // The leader leaves (ships and releases the lease): the follower is promoted and keeps the data.
    await a.close();
    await b.waitForRole('leader', { signal: AbortSignal.timeout(10_000) });
    expect(b.stats().promotions).toBe(1);
    expect(await b.read({ get: 'x' })).toBe('1');
    await b.write({ set: 'y', value: '3' }, { durability: 'shipped' });
    expect(await b.read({ get: 'y' })).toBe('3');
    const err = await a.write({ set: 'z', value: '4' }).catch((e: unknown) => e);
    expect(isHaError(err, 'HADB_HA_CLOSED')).toBe(true);
  });
});
