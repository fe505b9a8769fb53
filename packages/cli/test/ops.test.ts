import { existsSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StorageNodeRegistry } from '@hadb/core';
import { StorageLeaseStore, encodeLeaseData, newLeaseNonce, type LeaseStore } from '@hadb/lease';
import { EtcdLeaseStore } from '@hadb/lease-etcd';
import { NatsLeaseStore } from '@hadb/lease-nats';
import { LocalStorageBackend } from '@hadb/storage-local';
import { testService } from '@hadb/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countRows, tempDir, writeDuckDatabase, type Step } from './fixtures.js';
import { finished, hadb, spawnHadb } from './harness.js';

let dir: string;
let cleanup: () => Promise<void>;
let url: string;
let storage: LocalStorageBackend;
let steps: Step[];
const nats = testService('nats');
const etcd = testService('etcd');
const run = `${process.pid}-${Date.now().toString(36)}`;

function heldLease(instanceId: string, epoch: number, claimedAt = Math.floor(Date.now() / 1000)) {
  return encodeLeaseData({
    instanceId,
    address: `http://${instanceId}:8080`,
    claimedAt,
    ttlSecs: 60,
    sessionId: `session-${instanceId}`,
    sleeping: false,
    epoch,
    nonce: newLeaseNonce(),
  });
}

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('ops'));
  storage = await LocalStorageBackend.open({ root: join(dir, 'bucket') });
  steps = await writeDuckDatabase(storage, dir, 'app', { rounds: 3 });
  url = `file://${join(dir, 'bucket')}`;
}, 120_000);

afterAll(async () => {
  await storage.close();
  await cleanup();
});

async function leaseCycle(store: LeaseStore, args: readonly string[], db: string): Promise<void> {
  const key = store.keyFor(db);
  const none = await hadb(['lease', 'show', db, ...args]);
  expect(none.code, none.stderr).toBe(0);
  expect(none.stdout).toContain(`${db}: no lease`);
  const created = await store.writeIfNotExists(key, heldLease('node-a', 7));
  expect(created.success).toBe(true);
  const shown = await hadb(['lease', 'show', db, '--json', ...args]);
  expect(shown.code, shown.stderr).toBe(0);
  expect(JSON.parse(shown.stdout)).toMatchObject({
    database: db,
    state: 'held',
    holder: 'node-a',
    epoch: 7,
    ttlSecs: 60,
    address: 'http://node-a:8080',
  });
  const refused = await hadb(['lease', 'release', db, ...args]);
  expect(refused.code).toBe(2);
  expect(refused.stderr).toContain('pass --force');
  const released = await hadb(['lease', 'release', db, '--force', ...args]);
  expect(released.code, released.stderr).toBe(0);
  expect(released.stdout).toContain('released the lease of node-a (epoch 7)');
  const after = JSON.parse((await hadb(['lease', 'show', db, '--json', ...args])).stdout);
  expect(after).toMatchObject({ state: 'released', holder: 'node-a', epoch: 7 });
  const again = await hadb(['lease', 'release', db, ...args]);
  expect(again.stdout).toContain('already released');
}

describe('hadb lease', () => {
  it('shows and releases the lease object beside the data (default store)', async () => {
    const store = new StorageLeaseStore(storage);
    await leaseCycle(store, ['-s', url], 'leased');
    // An expired lease is released without --force.
    await store.writeIfNotExists(store.keyFor('old'), heldLease('node-b', 2, 1000));
    const r = await hadb(['lease', 'release', 'old', '-s', url]);
    expect(r.code, r.stderr).toBe(0);
  });

  it.skipIf(!nats.available)('shows and releases a lease in NATS JetStream KV', async () => {
    const bucket = `hadb-cli-${run}`.replace(/[^-_A-Za-z0-9]/g, '-');
    const store = await NatsLeaseStore.open({ servers: nats.env.HADB_TEST_NATS_URL!, bucket });
    try {
      const server = nats.env.HADB_TEST_NATS_URL!.replace(/^nats:\/\//, '');
      await leaseCycle(store, ['-s', url, '--lease', `nats://${server}?bucket=${bucket}`], 'app');
    } finally {
      await store.close();
    }
  });

  it.skipIf(!etcd.available)('shows and releases a lease in etcd', async () => {
    const prefix = `hadb-cli-${run}/`;
    const store = await EtcdLeaseStore.open({ hosts: etcd.env.HADB_TEST_ETCD_URL!, prefix });
    try {
      const host = etcd.env.HADB_TEST_ETCD_URL!.replace(/^https?:\/\//, '');
      await leaseCycle(store, ['-s', url, '--lease', `etcd://${host}?prefix=${encodeURIComponent(prefix)}`], 'app');
    } finally {
      await store.delete(store.keyFor('app'));
      await store.close();
    }
  });

  it('exits 4 when the lease server cannot be reached', async () => {
    const r = await hadb(['lease', 'show', 'app', '-s', url, '--lease', 'nats://127.0.0.1:1']);
    expect(r.code).toBe(4);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('hadb status', () => {
  it('shows the leader, the durable head and every registered node', async () => {
    const store = new StorageLeaseStore(storage);
    await store.writeIfNotExists(store.keyFor('app'), heldLease('node-a', 3));
    const registry = new StorageNodeRegistry(storage);
    const now = Math.floor(Date.now() / 1000);
    await registry.register('', 'app', {
      instanceId: 'node-b',
      address: 'http://node-b:8080',
      role: 'follower',
      leaderSessionId: 'session-node-a',
      lastSeen: now - 2,
    });
    await registry.register('', 'app', {
      instanceId: 'node-c',
      address: 'http://node-c:8080',
      role: 'follower',
      leaderSessionId: 'session-old',
      lastSeen: now - 900,
    });
    const r = await hadb(['status', 'app', '--json', '-s', url]);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.lease).toBe('held');
    expect(s.leader).toMatchObject({ instance: 'node-a', epoch: 3 });
    expect(s.head.seq).toBe(steps.at(-1)!.seq.toString());
    const byId = Object.fromEntries(s.nodes.map((n: { instance: string }) => [n.instance, n]));
    expect(byId['node-a']).toMatchObject({
      role: 'leader',
      position: steps.at(-1)!.seq.toString(),
      lag: 0,
      current: true,
    });
    expect(byId['node-b']).toMatchObject({ role: 'follower', current: true });
    expect(byId['node-b'].heartbeatAgeSecs).toBeGreaterThanOrEqual(2);
    expect(byId['node-c']).toMatchObject({ role: 'follower', current: false });
    const text = await hadb(['status', 'app', '-s', url]);
    expect(text.stdout).toMatch(/^INSTANCE\s+ROLE\s+ADDRESS\s+POSITION\s+LAG\s+HEARTBEAT\s+STATE$/m);
    expect(text.stdout).toMatch(/^node-c\s+follower\s+http:\/\/node-c:8080\s+-\s+-\s+\d+s ago\s+stale$/m);
  });
});

describe('hadb explain', () => {
  it('prints the resolved configuration with ${ENV} expanded and no secret', async () => {
    const secret = 'Sup3rS3cretValue/abc+xyz';
    const config = join(dir, 'hadb.yml');
    await writeFile(
      config,
      [
        'storage: s3://${BUCKET}/backups/?endpoint=${ENDPOINT:-http://127.0.0.1:7480}&region=eu-west-1',
        'lease: nats://127.0.0.1:4222',
        'retention:',
        '  daily: 3',
        '',
      ].join('\n'),
    );
    const env = { BUCKET: 'my-bucket', AWS_ACCESS_KEY_ID: 'AKIAEXAMPLEKEY123456', AWS_SECRET_ACCESS_KEY: secret };
    const r = await hadb(['explain', '--config', config], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('bucket: my-bucket');
    expect(r.stdout).toContain('prefix: backups/');
    expect(r.stdout).toContain('endpoint: http://127.0.0.1:7480');
    expect(r.stdout).toContain('region: eu-west-1');
    expect(r.stdout).toContain('from: config');
    expect(r.stdout).toMatch(/daily: 3/);
    expect(r.stdout).toContain('AWS_SECRET_ACCESS_KEY=****');
    expect(r.stdout + r.stderr).not.toContain(secret);
    expect(r.stdout + r.stderr).not.toContain('AKIAEXAMPLEKEY123456');
    const json = JSON.parse((await hadb(['explain', '--json', '-c', config, '-s', url], env)).stdout);
    expect(json.storage).toMatchObject({ kind: 'file', from: 'flag' });
    expect(json.lease).toMatchObject({ kind: 'nats', servers: ['nats://127.0.0.1:4222'], from: 'config' });
  });

  it('exits 2 on an unset variable, bad YAML, an unknown key, or credentials in the URL', async () => {
    const config = join(dir, 'bad.yml');
    await writeFile(config, 'storage: s3://${NOT_SET_ANYWHERE}/x\n');
    const unset = await hadb(['explain', '-c', config]);
    expect(unset.code).toBe(2);
    expect(unset.stderr.trim()).toBe(`hadb: ${config}.storage: environment variable NOT_SET_ANYWHERE is not set`);
    await writeFile(config, 'storage: [unclosed\n');
    expect((await hadb(['explain', '-c', config])).code).toBe(2);
    await writeFile(config, 'storrage: file:///tmp\n');
    const typo = await hadb(['explain', '-c', config]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('unknown key "storrage"');
    const creds = await hadb(['ls', '-s', 's3://AKIAX:hunter2secret@bucket/p']);
    expect(creds.code).toBe(2);
    expect(creds.stdout + creds.stderr).not.toContain('hunter2secret');
  });
});

describe('hadb follow', () => {
  it('keeps a replica restored until SIGTERM, then stops cleanly (exit 0)', async () => {
    const replica = join(dir, 'follower.duckdb');
    const child = spawnHadb(['follow', 'app', replica, '--interval', '100', '-s', url]);
    const done = finished(child);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const deadline = Date.now() + 30_000;
    while (!out.includes(`at seq ${steps.at(-1)!.seq}`) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    expect(out).toContain(`at seq ${steps.at(-1)!.seq}`);
    child.kill('SIGTERM');
    const r = await done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`stopped following at seq ${steps.at(-1)!.seq}`);
    expect(await countRows(replica)).toBe(steps.at(-1)!.rows);
  });

  it('SIGTERM during a restore exits 1 and leaves neither the file nor staging files', async () => {
    const bigDir = join(dir, 'big');
    const big = await LocalStorageBackend.open({ root: join(bigDir, 'bucket') });
    try {
      await writeDuckDatabase(big, dir, 'big', { rounds: 1, rowsPerRound: 1_500_000 });
    } finally {
      await big.close();
    }
    const path = join(bigDir, 'restored.duckdb');
    const child = spawnHadb(['restore', 'big', path, '--parallel', '1', '-s', `file://${join(bigDir, 'bucket')}`]);
    const done = finished(child);
    const staging = `${path}.hadb-cli-restore.hadb-restore`;
    const deadline = Date.now() + 30_000;
    while (!existsSync(staging) && Date.now() < deadline && child.exitCode === null)
      await new Promise((r) => setTimeout(r, 2));
    expect(existsSync(staging)).toBe(true);
    child.kill('SIGTERM');
    const r = await done;
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe('hadb: interrupted');
    expect((await readdir(bigDir)).filter((f) => f.startsWith('restored'))).toEqual([]);
  }, 120_000);
});
