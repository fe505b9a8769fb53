import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { codeOf, freePort, testService } from '@hadb/testkit';
import { leaseBytes } from '@hadb/testkit/lease';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NatsLeaseStore } from '../src/index.js';

const nats = testService('nats');
const servers = nats.env.HADB_TEST_NATS_URL ?? '';
const bucket = `hadb-test-specific-${process.pid}-${Date.now().toString(36)}`;

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
 * A private nats-server (for fault injection) on a port it picks itself (reported through its
 * ports file, so no other process can race for the port), torn down by `stop`.
 */
async function privateServer(jetStream: boolean): Promise<{ url: string; proc: ChildProcess; stop: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'hadb-nats-'));
  const args = ['-a', '127.0.0.1', '-p', '-1', '--ports_file_dir', dir, ...(jetStream ? ['-js', '-sd', dir] : [])];
  const proc = spawn('nats-server', args, { stdio: 'ignore' });
  const stop = () => {
    proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  const portsFile = join(dir, `nats-server_${proc.pid}.ports`);
  for (let i = 0; i < 200; i++) {
    if (proc.exitCode !== null) break;
    try {
      const ports = JSON.parse(readFileSync(portsFile, 'utf8')) as { nats: string[] };
      const url = ports.nats[0]!;
      const nc = await connect({ servers: url, reconnect: false });
      await nc.close();
      return { url, proc, stop };
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  stop();
  throw new Error('private nats-server did not start');
}

describe.skipIf(!nats.available)('NatsLeaseStore specifics', () => {
  let nc: NatsConnection;
  beforeAll(async () => {
    nc = await connect({ servers });
  });
  afterAll(async () => {
    await (await new Kvm(nc).open(bucket)).destroy().catch(() => undefined);
    await nc.close();
  });

  it('creates the bucket with history 1 and no TTL', async () => {
    await using store = await NatsLeaseStore.open({ servers, bucket });
    expect(store.bucket).toBe(bucket);
    const status = await (await new Kvm(nc).open(bucket)).status();
    expect(status.history).toBe(1);
    expect(status.ttl).toBe(0);
  });

  it('uses the scope as the KV key, the revision as etag, and purges on delete', async () => {
    await using store = await NatsLeaseStore.open({ servers, bucket });
    const kv = await new Kvm(nc).open(bucket);
    const key = store.keyFor(`raw-${Date.now()}`);
    const body = leaseBytes('node-a');
    const created = await store.writeIfNotExists(key, body);
    if (!created.success) throw new Error('create failed');
    const entry = await kv.get(key);
    expect(entry?.revision).toBe(Number(created.etag));
    expect(Buffer.from(entry!.value).equals(Buffer.from(body))).toBe(true);
    await store.delete(key);
    expect((await kv.get(key))?.operation).toBe('PURGE');
    expect(await store.read(key)).toBeNull();
  });

  it('rejects scopes that are database names but not NATS keys', async () => {
    await using store = await NatsLeaseStore.open({ servers, bucket });
    expect(() => store.keyFor('db.')).toThrow(/NATS KV key/);
    expect(store.keyFor('db.v2')).toBe('db.v2');
  });

  it('rejects bad bucket names before connecting', async () => {
    expect(await codeOf(() => NatsLeaseStore.open({ servers, bucket: 'no.dots' }))).toBe('HADB_LEASE_INVALID_KEY');
  });

  it('rejects bad options with HADB_LEASE_INVALID_CONFIG before connecting', async () => {
    // An address nothing listens on: only a check before connecting can answer INVALID_CONFIG.
    const nowhere = 'nats://127.0.0.1:9';
    for (const options of [{ requestTimeoutMs: 0 }, { requestTimeoutMs: 1.5 }, { replicas: 0 }, { name: '' }]) {
      expect(await codeOf(() => NatsLeaseStore.open({ servers: nowhere, bucket, ...options }))).toBe(
        'HADB_LEASE_INVALID_CONFIG',
      );
    }
    expect(await codeOf(() => NatsLeaseStore.open({ bucket }))).toBe('HADB_LEASE_INVALID_CONFIG');
  });

  it('leaves a connection it was given open', async () => {
    const store = await NatsLeaseStore.open({ connection: nc, bucket });
    await store.close();
    expect(nc.isClosed()).toBe(false);
    const again = await NatsLeaseStore.open({ connection: nc, bucket });
    expect(await again.read(again.keyFor('still-open'))).toBeNull();
    await again.close();
  });

  it('fails to connect with HADB_LEASE_UNAVAILABLE when no server listens', async () => {
    const port = await freePort();
    const code = await codeOf(() =>
      NatsLeaseStore.open({ servers: `nats://127.0.0.1:${port}`, bucket, requestTimeoutMs: 500 }),
    );
    expect(code).toBe('HADB_LEASE_UNAVAILABLE');
  });

  it('refuses a server without JetStream with HADB_LEASE_UNSUPPORTED', async () => {
    const server = await privateServer(false);
    try {
      expect(await codeOf(() => NatsLeaseStore.open({ servers: server.url, bucket, requestTimeoutMs: 1000 }))).toBe(
        'HADB_LEASE_UNSUPPORTED',
      );
    } finally {
      server.stop();
    }
  });

  it('reports a write whose reply never came as HADB_LEASE_AMBIGUOUS, a read as HADB_LEASE_TIMEOUT', async () => {
    const server = await privateServer(true);
    try {
      await using store = await NatsLeaseStore.open({ servers: server.url, bucket: 'faults', requestTimeoutMs: 300 });
      const key = store.keyFor('frozen');
      const created = await store.writeIfNotExists(key, leaseBytes('node-a'));
      if (!created.success) throw new Error('create failed');
      await freeze(server.proc);
      expect(await codeOf(() => store.writeIfMatch(key, leaseBytes('node-b'), created.etag))).toBe(
        'HADB_LEASE_AMBIGUOUS',
      );
      expect(await codeOf(() => store.writeIfNotExists(store.keyFor('other'), leaseBytes('node-b')))).toBe(
        'HADB_LEASE_AMBIGUOUS',
      );
      expect(await codeOf(() => store.read(key))).toBe('HADB_LEASE_TIMEOUT');
      server.proc.kill('SIGCONT');
    } finally {
      server.stop();
    }
  });

  it('aborts an in-flight write with HADB_LEASE_ABORTED', async () => {
    const server = await privateServer(true);
    try {
      await using store = await NatsLeaseStore.open({ servers: server.url, bucket: 'abort', requestTimeoutMs: 5000 });
      await freeze(server.proc);
      const controller = new AbortController();
      const pending = codeOf(() =>
        store.writeIfNotExists(store.keyFor('x'), leaseBytes('a'), { signal: controller.signal }),
      );
      setTimeout(() => controller.abort(), 50);
      expect(await pending).toBe('HADB_LEASE_ABORTED');
      server.proc.kill('SIGCONT');
    } finally {
      server.stop();
    }
  });
});
