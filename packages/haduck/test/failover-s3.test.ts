import { randomUUID } from 'node:crypto';
import { EtcdLeaseStore } from '@hadb/lease-etcd';
import { S3StorageBackend } from '@hadb/storage-s3';
import { testService } from '@hadb/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { Cluster, eventually, type Node } from './helpers.js';

// Real servers from scripts/services (pnpm test): Ceph RGW for storage, NATS JetStream or etcd for
// the lease. Loud skip locally without them, failure under CI=true.
const s3 = testService('s3');
const nats = testService('nats');
const etcd = testService('etcd');

const run = randomUUID().slice(0, 8);
const prefix = `haduck-test/${run}/`;
let cluster: Cluster | undefined;

function s3Storage(): S3StorageBackend {
  return new S3StorageBackend({
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
}

afterEach(async () => {
  await cluster?.dispose();
  cluster = undefined;
  if (etcd.available) {
    // The etcd run's lease record (a killed leader does not release it).
    const store = await EtcdLeaseStore.open({ hosts: etcd.env.HADB_TEST_ETCD_URL!, prefix: `${prefix}leases/` });
    await store.delete(store.keyFor(`ha-${run}-etcd`)).finally(() => store.close());
  }
  const storage = s3Storage();
  try {
    await storage.deleteMany(await storage.list(''));
  } finally {
    await storage.close();
  }
});

async function seqsOf(node: Node, writer: string): Promise<number[]> {
  const r = await node.call<[string][]>('query', {
    sql: 'SELECT seq FROM rows WHERE writer = $1 ORDER BY seq',
    params: [writer],
  });
  return r.map((row) => Number(row[0]));
}

const leases = [
  {
    name: 'NATS',
    available: nats.available,
    env: (): Record<string, string> => ({ NODE_NATS_URL: nats.env.HADB_TEST_NATS_URL! }),
  },
  {
    name: 'etcd',
    available: etcd.available,
    env: (): Record<string, string> => ({
      NODE_ETCD_URL: etcd.env.HADB_TEST_ETCD_URL!,
      NODE_ETCD_PREFIX: `${prefix}leases/`,
    }),
  },
];

describe.each(leases)('haduck with real processes on Ceph S3 storage and a $name lease (2 s TTL)', (lease) => {
  if (!s3.available || !lease.available) return void it.skip(`needs the s3 and ${lease.name} servers`, () => undefined);
  it('two nodes: writes acknowledged as shipped survive a leader SIGKILL exactly once; the old leader rejoins as follower', async () => {
    cluster = new Cluster({
      NODE_DB: `ha-${run}-${lease.name.toLowerCase()}`,
      NODE_S3_BUCKET: s3.env.HADB_TEST_S3_BUCKET!,
      NODE_S3_PREFIX: prefix,
      NODE_S3_ENDPOINT: s3.env.HADB_TEST_S3_ENDPOINT!,
      NODE_S3_ACCESS_KEY_ID: s3.env.HADB_TEST_S3_ACCESS_KEY_ID!,
      NODE_S3_SECRET_ACCESS_KEY: s3.env.HADB_TEST_S3_SECRET_ACCESS_KEY!,
      NODE_S3_UNQUOTED_IF_MATCH: process.env.HADB_TEST_S3_UNQUOTED_IF_MATCH ?? '',
      ...lease.env(),
      NODE_TTL_MS: '2000',
    });
    const a = cluster.start('a');
    expect((await a.waitFor((e) => e.event === 'open')).role).toBe('leader');
    await a.call('execute', { sql: 'CREATE TABLE IF NOT EXISTS rows (writer VARCHAR, seq BIGINT)' });
    const b = cluster.start('b');
    expect((await b.waitFor((e) => e.event === 'open')).role).toBe('follower');

    const aAcked = await a.call<number[]>('writeLoop', {
      writer: 'a',
      from: 1,
      count: 10,
      durability: 'shipped',
      perSecond: 50,
    });
    expect(aAcked).toHaveLength(10);
    await eventually(async () => (await seqsOf(b, 'a')).length === 10);

    // b forwards its writes; the leader is killed while they are in flight.
    const forwarded = b.call<number[]>('writeLoop', {
      writer: 'b',
      from: 1,
      count: 30,
      durability: 'shipped',
      perSecond: 20,
    });
    await eventually(async () => (await seqsOf(b, 'b')).length >= 5);
    a.kill();
    await a.exited;
    await b.waitFor((e) => e.event === 'promoted');
    const bAcked = await forwarded;
    expect(bAcked).toHaveLength(30);
    const aRows = await seqsOf(b, 'a');
    const bRows = await seqsOf(b, 'b');
    expect(aRows).toEqual(aAcked);
    expect(bRows).toEqual(bAcked);

    // The killed leader restarts on its old file and follows the new leader.
    const a2 = cluster.start('a');
    expect((await a2.waitFor((e) => e.event === 'open')).role).toBe('follower');
    await b.call('execute', { sql: "INSERT INTO rows VALUES ('b', 1000)", durability: 'shipped' });
    await eventually(async () => (await seqsOf(a2, 'b')).includes(1000));
    expect(await seqsOf(a2, 'b')).toEqual([...bAcked, 1000]);
  }, 90_000);
});
