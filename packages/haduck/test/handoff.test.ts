import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { S3StorageBackend } from '@hadb/storage-s3';
import { FaultProxy, ProcessCluster, testService, type NodeProcess } from '@hadb/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from './helpers.js';

// Hand-off and failover with real node processes (test/fixtures/handoff-node.ts):
// - a clean SIGKILL failover gives no error to writes forwarded from followers (the forwarding
//   retry budget covers the failover), each acknowledged write stored exactly once;
// - a leader cut from S3 by its own fault proxy (the lease store still reachable) hands its lease
//   to a follower within 3 TTLs, the cluster keeps acknowledging `shipped` writes, and no
//   acknowledged write is lost after healing.
// Each test prints its measured times (`[handoff]` lines).

const TTL_MS = 2000;

type WriteLoopResult = { acked: number[]; ackedAt: number[]; errors: { seq: number; code: string; at: number }[] };

class Cluster extends ProcessCluster {
  constructor(env: Record<string, string>) {
    super(
      {
        fixture: fileURLToPath(new URL('./fixtures/handoff-node.ts', import.meta.url)),
        cwd: fileURLToPath(new URL('..', import.meta.url)),
        tmpPrefix: 'haduck-handoff-',
        fileSuffix: '.duckdb',
      },
      { NODE_TTL_MS: String(TTL_MS), ...env },
    );
  }
}

let cluster: Cluster | undefined;
const proxies: FaultProxy[] = [];
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await cluster?.dispose();
  cluster = undefined;
  for (const p of proxies.splice(0)) await p.close();
  for (const c of cleanups.splice(0)) await c();
});

async function seqsOf(node: NodeProcess, writer: string, consistency: 'local' | 'strong' = 'local'): Promise<number[]> {
  const r = await node.call<[string][]>('query', {
    sql: 'SELECT seq FROM rows WHERE writer = $1 ORDER BY seq',
    params: [writer],
    consistency,
  });
  return r.map((row) => Number(row[0]));
}

async function roleOf(node: NodeProcess): Promise<string> {
  return (await node.call<{ role: string }>('stats')).role;
}

function report(line: string): void {
  process.stderr.write(`[handoff] ${line}\n`);
}

describe('haduck failover with real processes (local storage, storage lease, 2 s TTL)', () => {
  it('a SIGKILLed leader: writes forwarded from followers see no error and are stored exactly once', async () => {
    cluster = new Cluster({ NODE_DB: 'kill' });
    const a = cluster.start('a');
    expect((await a.waitFor((e) => e.event === 'open')).role).toBe('leader');
    await a.call('execute', { sql: 'CREATE TABLE rows (writer VARCHAR, seq BIGINT)', durability: 'shipped' });
    const b = cluster.start('b');
    const c = cluster.start('c');
    await b.waitFor((e) => e.event === 'open');
    await c.waitFor((e) => e.event === 'open');

    // One call per write, no retry in the caller: every error would reach the application.
    const loops = [b, c].map((n) =>
      n.call<WriteLoopResult>('writeLoop', {
        writer: n.id,
        from: 1,
        count: 120,
        durability: 'shipped',
        perSecond: 15,
        retry: false,
      }),
    );
    for (const l of loops) l.catch(() => undefined);
    await eventually(async () => (await seqsOf(b, 'b', 'strong')).length >= 10);
    const killedAt = Date.now();
    a.kill();
    await a.exited;
    const promoted = await Promise.race([
      b.waitFor((e) => e.event === 'promoted').then((e) => ({ node: b, at: e.at as number })),
      c.waitFor((e) => e.event === 'promoted').then((e) => ({ node: c, at: e.at as number })),
    ]);
    const results = await Promise.all(loops);
    const errors = results.flatMap((r) => r.errors);
    report(
      `SIGKILL failover: ${promoted.node.id} promoted ${promoted.at - killedAt} ms after the kill; ` +
        `${results.reduce((n, r) => n + r.acked.length, 0)} forwarded writes acknowledged, ${errors.length} client errors`,
    );
    expect(errors).toEqual([]);
    const leader = promoted.node;
    for (const [i, n] of [b, c].entries()) {
      expect(results[i]!.acked).toHaveLength(120);
      // Exactly once: every acknowledged seq is stored once, nothing else.
      expect(await seqsOf(leader, n.id, 'strong')).toEqual(results[i]!.acked);
    }
  }, 120_000);
});

// Real servers from scripts/services: Ceph RGW for storage (through one fault proxy per node),
// NATS JetStream or etcd for the lease (reached directly). Loud skip without them.
const s3 = testService('s3');
const nats = testService('nats');
const etcd = testService('etcd');
const leases = [
  {
    name: 'NATS',
    available: nats.available,
    env: (): Record<string, string> => ({ NODE_NATS_URL: nats.env.HADB_TEST_NATS_URL! }),
  },
  {
    name: 'etcd',
    available: etcd.available,
    env: (prefix: string): Record<string, string> => ({
      NODE_ETCD_URL: etcd.env.HADB_TEST_ETCD_URL!,
      NODE_ETCD_PREFIX: `${prefix}leases/`,
    }),
  },
];
const lease = leases.find((l) => l.available);

describe('haduck leader partitioned from S3 (Ceph RGW through per-node fault proxies, 3 nodes, 2 s TTL)', () => {
  if (!s3.available || lease === undefined)
    return void it.skip('needs the s3 server and a NATS or etcd server', () => undefined);

  it('the cut-off leader hands its lease off within 3 TTLs; shipped writes continue; nothing acknowledged is lost after healing', async () => {
    const run = randomUUID().slice(0, 8);
    const prefix = `haduck-partition/${run}/`;
    cleanups.push(async () => {
      const storage = new S3StorageBackend({
        bucket: s3.env.HADB_TEST_S3_BUCKET!,
        prefix,
        endpoint: s3.env.HADB_TEST_S3_ENDPOINT,
        region: 'us-east-1',
        credentials: {
          accessKeyId: s3.env.HADB_TEST_S3_ACCESS_KEY_ID!,
          secretAccessKey: s3.env.HADB_TEST_S3_SECRET_ACCESS_KEY!,
        },
        unquotedIfMatch: process.env.HADB_TEST_S3_UNQUOTED_IF_MATCH === '1',
      });
      try {
        await storage.deleteMany(await storage.list(''));
      } finally {
        await storage.close();
      }
    });
    cluster = new Cluster({
      NODE_DB: `partition-${run}`,
      NODE_S3_BUCKET: s3.env.HADB_TEST_S3_BUCKET!,
      NODE_S3_PREFIX: prefix,
      NODE_S3_ACCESS_KEY_ID: s3.env.HADB_TEST_S3_ACCESS_KEY_ID!,
      NODE_S3_SECRET_ACCESS_KEY: s3.env.HADB_TEST_S3_SECRET_ACCESS_KEY!,
      NODE_S3_UNQUOTED_IF_MATCH: process.env.HADB_TEST_S3_UNQUOTED_IF_MATCH ?? '',
      ...lease.env(prefix),
    });
    const nodes = new Map<string, { node: NodeProcess; proxy: FaultProxy }>();
    for (const id of ['a', 'b', 'c']) {
      const proxy = await FaultProxy.listen({ target: s3.env.HADB_TEST_S3_ENDPOINT! });
      proxies.push(proxy);
      const node = cluster.start(id, { NODE_S3_ENDPOINT: proxy.url });
      nodes.set(id, { node, proxy });
      const opened = await node.waitFor((e) => e.event === 'open');
      if (id === 'a') {
        expect(opened.role).toBe('leader');
        await node.call('execute', { sql: 'CREATE TABLE rows (writer VARCHAR, seq BIGINT)', durability: 'shipped' });
      }
    }
    const a = nodes.get('a')!;
    const followers = ['b', 'c'].map((id) => nodes.get(id)!.node);

    // Each follower forwards `shipped` writes; a retryable failure is retried with its token.
    const loops = followers.map((n) =>
      n.call<WriteLoopResult>('writeLoop', {
        writer: n.id,
        from: 1,
        count: 200,
        durability: 'shipped',
        perSecond: 10,
        retry: true,
      }),
    );
    // A failed test disposes the cluster while the loops run.
    for (const l of loops) l.catch(() => undefined);
    await eventually(async () => (await seqsOf(followers[0]!, 'b', 'strong')).length >= 10);

    const cutAt = Date.now();
    a.proxy.setMode('blackhole');
    const demoted = await a.node.waitFor((e) => e.event === 'demoted', 30_000);
    const promoted = await Promise.race(
      followers.map((n) =>
        n.waitFor((e) => e.event === 'promoted', 30_000).then((e) => ({ node: n, at: e.at as number })),
      ),
    );
    const stalled = a.node.events.find((e) => e.event === 'error' && e.code === 'HADB_HA_SHIP_STALLED');
    const handOffMs = (demoted.at as number) - cutAt;
    const promotedMs = promoted.at - cutAt;
    expect(stalled).toBeDefined();
    expect(handOffMs).toBeLessThan(3 * TTL_MS);
    const stats = await a.node.call<{ role: string; demotions: number; lastShipError: string | undefined }>('stats');
    expect(stats.role).toBe('follower');
    expect(stats.demotions).toBe(1);
    // A follower keeps its last term's ship error.
    expect(stats.lastShipError).toMatch(/no ship succeeded/);

    // The new leader acknowledges shipped writes while the old one is still cut off.
    const leader = promoted.node;
    const before = (await seqsOf(leader, 'b', 'strong')).length;
    await eventually(async () => (await seqsOf(leader, 'b', 'strong')).length >= before + 10, 30_000);
    const healedAt = Date.now();
    a.proxy.setMode('pass');
    // The old leader follows again: it reaches what the new leader had at the heal.
    const atHeal = await seqsOf(leader, 'b', 'strong');
    await eventually(async () => (await seqsOf(a.node, 'b')).length >= atHeal.length, 60_000);
    const recoveredMs = Date.now() - healedAt;

    const results = await Promise.all(loops);
    const errors = results.flatMap((r) => r.errors);
    const firstAckAfterCut = Math.min(...results.flatMap((r) => r.ackedAt.filter((t) => t > (stalled!.at as number))));
    for (const [i, n] of followers.entries()) {
      expect(results[i]!.acked).toHaveLength(200);
      expect(await seqsOf(leader, n.id, 'strong')).toEqual(results[i]!.acked);
    }
    // The healed old leader follows again and has every acknowledged write.
    const lastSeqs = results.map((r) => r.acked);
    await eventually(async () => {
      const [b, c] = await Promise.all([seqsOf(a.node, 'b'), seqsOf(a.node, 'c')]);
      return b.length === lastSeqs[0]!.length && c.length === lastSeqs[1]!.length;
    }, 60_000);
    expect(await seqsOf(a.node, 'b')).toEqual(lastSeqs[0]);
    expect(await seqsOf(a.node, 'c')).toEqual(lastSeqs[1]);
    expect(await roleOf(a.node)).toBe('follower');
    report(
      `S3 partition of the leader (${lease.name} lease): hand-off ${handOffMs} ms after the cut, ` +
        `${promoted.node.id} promoted at ${promotedMs} ms, first shipped write acknowledged after the stall at ` +
        `${firstAckAfterCut - cutAt} ms; ${errors.length} retried client errors ` +
        `(${[...new Set(errors.map((e) => e.code))].join(', ') || 'none'}); old leader caught up ${recoveredMs} ms after healing`,
    );
  }, 180_000);
});
