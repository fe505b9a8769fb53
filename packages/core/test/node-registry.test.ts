import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalStorageBackend } from '@hadb/storage-local';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  StorageNodeRegistry,
  decodeNodeRegistration,
  encodeNodeRegistration,
  isRegistrationValid,
  nodeKey,
  nodesPrefix,
} from '../src/node-registry.js';

describe('node registry', () => {
  let dir: string;
  let storage: LocalStorageBackend;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hadb-core-registry-'));
    storage = await LocalStorageBackend.open({ root: dir });
  });
  afterEach(async () => {
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('uses the Rust key layout and JSON encoding', () => {
    expect(nodeKey('prefix/', 'mydb', 'inst-1')).toBe('prefix/mydb/_nodes/inst-1.json');
    expect(nodeKey('', 'mydb', 'inst-1')).toBe('mydb/_nodes/inst-1.json');
    expect(nodesPrefix('prefix/', 'mydb')).toBe('prefix/mydb/_nodes/');
    const json =
      '{"instance_id":"test-instance","address":"localhost:9000","role":"Leader","leader_session_id":"session-123","last_seen":1234567890}';
    const reg = decodeNodeRegistration(new TextEncoder().encode(json));
    expect(reg).toEqual({
      instanceId: 'test-instance',
      address: 'localhost:9000',
      role: 'Leader',
      leaderSessionId: 'session-123',
      lastSeen: 1234567890,
    });
    expect(new TextDecoder().decode(encodeNodeRegistration(reg))).toBe(json);
  });

  it('registers, heartbeats, discovers and deregisters over a real storage backend', async () => {
    const registry = new StorageNodeRegistry(storage);
    const now = 1_800_000_000;
    for (const id of ['inst-1', 'inst-2']) {
      await registry.register('ha/', 'db1', {
        instanceId: id,
        address: `addr-${id}`,
        role: 'follower',
        leaderSessionId: 's1',
        lastSeen: now,
      });
    }
    await registry.register('ha/', 'db2', {
      instanceId: 'inst-9',
      address: 'x',
      role: 'follower',
      leaderSessionId: 's1',
      lastSeen: now,
    });
    await registry.register('ha/', 'db1', {
      instanceId: 'inst-1',
      address: 'addr-new',
      role: 'follower',
      leaderSessionId: 's2',
      lastSeen: now + 30,
    });
    const found = await registry.discoverAll('ha/', 'db1');
    expect(found.map((r) => r.instanceId).sort()).toEqual(['inst-1', 'inst-2']);
    expect(found.find((r) => r.instanceId === 'inst-1')).toMatchObject({ address: 'addr-new', leaderSessionId: 's2' });
    expect(found.filter((r) => isRegistrationValid(r, 's1', 30, now + 10)).map((r) => r.instanceId)).toEqual([
      'inst-2',
    ]);
    await registry.deregister('ha/', 'db1', 'inst-2');
    await registry.deregister('ha/', 'db1', 'never-registered');
    expect((await registry.discoverAll('ha/', 'db1')).map((r) => r.instanceId)).toEqual(['inst-1']);
  });

  it('skips corrupt and non-JSON entries', async () => {
    const warnings: string[] = [];
    const registry = new StorageNodeRegistry(storage, {
      logger: { debug() {}, info() {}, warn: (_o, msg) => warnings.push(msg), error() {} },
    });
    await registry.register('', 'db1', {
      instanceId: 'ok',
      address: 'a',
      role: 'follower',
      leaderSessionId: 's',
      lastSeen: 1,
    });
    await storage.put('db1/_nodes/bad.json', new TextEncoder().encode('{"instance_id":'));
    await storage.put('db1/_nodes/readme.txt', new TextEncoder().encode('hello'));
    expect((await registry.discoverAll('', 'db1')).map((r) => r.instanceId)).toEqual(['ok']);
    expect(warnings).toHaveLength(1);
  });

  it('rejects names that could escape the prefix', async () => {
    const registry = new StorageNodeRegistry(storage);
    const reg = { instanceId: 'ok', address: 'a', role: 'follower', leaderSessionId: 's', lastSeen: 1 };
    for (const db of ['../x', 'a/../../b', '/abs', 'a\u0000b', '']) {
      await expect(registry.register('ha/', db, reg)).rejects.toMatchObject({ code: 'HADB_STORAGE_INVALID_KEY' });
      await expect(registry.discoverAll('ha/', db)).rejects.toMatchObject({ code: 'HADB_STORAGE_INVALID_KEY' });
    }
    await expect(registry.register('ha/', 'db', { ...reg, instanceId: '../../etc/passwd' })).rejects.toMatchObject({
      code: 'HADB_STORAGE_INVALID_KEY',
    });
    await expect(registry.deregister('../', 'db', 'ok')).rejects.toMatchObject({ code: 'HADB_STORAGE_INVALID_KEY' });
  });
});
