import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { codeOf, freePort, testService } from '@hadb/testkit';
import { leaseBytes } from '@hadb/testkit/lease';
import { Etcd3 } from 'etcd3';
import { afterAll, describe, expect, it } from 'vitest';
import { EtcdLeaseStore } from '../src/index.js';

const etcd = testService('etcd');
const hosts = etcd.env.HADB_TEST_ETCD_URL ?? '';
const prefix = `hadb-test-specific/${process.pid}-${Date.now().toString(36)}/`;

/**
 * Sends SIGSTOP and waits until every thread of the process is stopped: `kill` returns before the
 * kernel has stopped a multi-threaded server, which can still answer a request sent right after.
 */
async function freeze(proc: ChildProcess): Promise<void> {
  proc.kill('SIGSTOP');
  const taskDir = `/proc/${proc.pid}/task`;
  for (let i = 0; i < 400; i++) {
    const states = readdirSync(taskDir).map((t) => readFileSync(join(taskDir, t, 'stat'), 'utf8').split(') ')[1]?.[0]);
    if (states.every((s) => s === 'T' || s === 't')) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`process ${proc.pid} did not stop after SIGSTOP`);
}

/**
 * A private single-member etcd (for fault injection) on ports it picks itself (read back from its
 * log, so no other process can race for them), torn down by `stop`.
 */
async function privateEtcd(): Promise<{ url: string; proc: ChildProcess; stop: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'hadb-etcd-'));
  const log = join(dir, 'etcd.log');
  const proc = spawn(
    'etcd',
    [
      '--name',
      'fault',
      '--data-dir',
      join(dir, 'data'),
      '--listen-client-urls',
      'http://127.0.0.1:0',
      '--advertise-client-urls',
      'http://127.0.0.1:2379',
      '--listen-peer-urls',
      'http://127.0.0.1:0',
      '--initial-advertise-peer-urls',
      'http://127.0.0.1:2380',
      '--initial-cluster',
      'fault=http://127.0.0.1:2380',
      '--initial-cluster-state',
      'new',
      '--logger',
      'zap',
      '--log-outputs',
      log,
    ],
    { stdio: 'ignore' },
  );
  const stop = () => {
    proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 200 && proc.exitCode === null; i++) {
    const text = existsSync(log) ? readFileSync(log, 'utf8') : '';
    const address = /"msg":"serving client traffic[^\n]*"address":"([^"]+)"/.exec(text)?.[1];
    if (address !== undefined) {
      const url = `http://${address}`;
      const healthy = await fetch(`${url}/health`).then(
        async (r) => (await r.text()).includes('"health":"true"'),
        () => false,
      );
      if (healthy) return { url, proc, stop };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  stop();
  throw new Error('private etcd did not start');
}

describe.skipIf(!etcd.available)('EtcdLeaseStore specifics', () => {
  const raw = new Etcd3({ hosts });
  afterAll(async () => {
    await raw.delete().prefix(prefix).exec();
    raw.close();
  });

  it('stores `{prefix}{scope}` with the bytes given; etag = mod_revision = txn revision', async () => {
    await using store = await EtcdLeaseStore.open({ hosts, prefix });
    const key = store.keyFor('layout-db');
    expect(key).toBe('layout-db');
    const body = leaseBytes('node-a');
    const created = await store.writeIfNotExists(key, body);
    if (!created.success) throw new Error('create failed');
    const response = await raw.get(`${prefix}layout-db`).exec();
    const kv = response.kvs[0]!;
    expect(Buffer.from(kv.value).equals(Buffer.from(body))).toBe(true);
    expect(kv.mod_revision).toBe(created.etag);
    expect((await store.read(key))!.etag).toBe(kv.mod_revision);
    await store.delete(key);
    expect((await raw.get(`${prefix}layout-db`).exec()).kvs).toHaveLength(0);
  });

  it('defaults the prefix to "hadb-leases/" and rejects a prefix without a trailing slash', async () => {
    await using store = await EtcdLeaseStore.open({ hosts });
    expect(store.prefix).toBe('hadb-leases/');
    expect(await codeOf(() => EtcdLeaseStore.open({ hosts, prefix: 'no-slash' }))).toBe('HADB_LEASE_INVALID_KEY');
  });

  it('rejects bad options with HADB_LEASE_INVALID_CONFIG before connecting', async () => {
    const nowhere = 'http://127.0.0.1:9';
    for (const options of [{ requestTimeoutMs: 0 }, { requestTimeoutMs: Number.NaN }, { name: '' }]) {
      expect(await codeOf(() => EtcdLeaseStore.open({ hosts: nowhere, ...options }))).toBe('HADB_LEASE_INVALID_CONFIG');
    }
    expect(await codeOf(() => EtcdLeaseStore.open({}))).toBe('HADB_LEASE_INVALID_CONFIG');
  });

  it('leaves a client it was given open', async () => {
    const client = new Etcd3({ hosts });
    try {
      const store = await EtcdLeaseStore.open({ client, prefix });
      await store.close();
      expect((await client.get(`${prefix}absent`).exec()).kvs).toHaveLength(0);
    } finally {
      client.close();
    }
  });

  it('fails to connect with HADB_LEASE_UNAVAILABLE when no server listens', async () => {
    const port = await freePort();
    const started = Date.now();
    const code = await codeOf(() => EtcdLeaseStore.open({ hosts: `http://127.0.0.1:${port}`, requestTimeoutMs: 500 }));
    expect(code).toBe('HADB_LEASE_UNAVAILABLE');
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('reports a write whose reply never came as HADB_LEASE_AMBIGUOUS, a read as HADB_LEASE_TIMEOUT', async () => {
    const server = await privateEtcd();
    try {
      await using store = await EtcdLeaseStore.open({ hosts: server.url, requestTimeoutMs: 300 });
      const key = store.keyFor('frozen');
      const created = await store.writeIfNotExists(key, leaseBytes('node-a'));
      if (!created.success) throw new Error('create failed');
      await freeze(server.proc);
      expect(await codeOf(() => store.writeIfMatch(key, leaseBytes('node-b'), created.etag))).toBe(
        'HADB_LEASE_AMBIGUOUS',
      );
      expect(await codeOf(() => store.read(key))).toBe('HADB_LEASE_TIMEOUT');
      server.proc.kill('SIGCONT');
    } finally {
      server.stop();
    }
  });
});
