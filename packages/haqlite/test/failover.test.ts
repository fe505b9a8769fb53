import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalStorageBackend } from '@hadb/storage-local';
import { listRemote, readRemoteMeta } from '@hadb/walstream';
import { Cluster, eventually, type Node } from './helpers.js';

let cluster: Cluster;
afterEach(async () => {
  await cluster?.dispose();
});

const CREATE = 'CREATE TABLE IF NOT EXISTS rows (writer TEXT, seq INTEGER)';

async function rowsOf(node: Node, writer: string): Promise<number[]> {
  const r = await node.call<[string, string][]>('query', {
    sql: 'SELECT seq FROM rows WHERE writer = ? ORDER BY seq',
    params: [writer],
  });
  return r.map((row) => Number(row[0]));
}

function dupes(seqs: number[]): number {
  return seqs.length - new Set(seqs).size;
}

/**
 * The fencing record in storage: each incremental's writer epoch and whether it is a lineage
 * claim, in sequence order.
 */
async function epochsInStorage(dir: string): Promise<{ seq: bigint; epoch: bigint; claim: boolean }[]> {
  const storage = await LocalStorageBackend.open({ root: join(dir, 'storage') });
  try {
    const remote = await listRemote(storage, 'haqlite/', 'ha');
    const out = [];
    for (const inc of remote.incrementals) {
      const meta = (await readRemoteMeta(storage, inc.key))!;
      out.push({ seq: inc.seq, epoch: meta.epoch, claim: meta.claim });
    }
    return out;
  } finally {
    await storage.close();
  }
}

describe('haqlite with real processes (local storage, StorageLeaseStore, 2 s TTL)', () => {
  it('two nodes: forwarded writes survive a leader SIGKILL exactly once; the old leader rejoins as follower', async () => {
    cluster = new Cluster();
    const a = cluster.start('a');
    expect((await a.waitFor((e) => e.event === 'open')).role).toBe('leader');
    await a.call('execute', { sql: CREATE });
    const b = cluster.start('b');
    expect((await b.waitFor((e) => e.event === 'open')).role).toBe('follower');

    // Writes by the leader itself, acknowledged once shipped.
    const leaderAcked = await a.call<number[]>('writeLoop', {
      writer: 'a',
      from: 1,
      count: 20,
      durability: 'shipped',
      perSecond: 100,
    });
    expect(leaderAcked).toHaveLength(20);
    // The follower applies them and serves them locally.
    await eventually(async () => (await rowsOf(b, 'a')).length === 20);

    // The follower forwards its writes; kill the leader in the middle of them.
    const forwarded = b.call<number[]>('writeLoop', {
      writer: 'b',
      from: 1,
      count: 60,
      durability: 'shipped',
      perSecond: 20,
    });
    await eventually(async () => (await rowsOf(b, 'b')).length >= 10);
    a.kill();
    await a.exited;
    await b.waitFor((e) => e.event === 'promoted');
    const bAcked = await forwarded;
    // Every logical write was retried until acknowledged, through the failover.
    expect(bAcked).toHaveLength(60);

    const aRows = await rowsOf(b, 'a');
    const bRows = await rowsOf(b, 'b');
    for (const s of leaderAcked) expect(aRows).toContain(s);
    for (const s of bAcked) expect(bRows).toContain(s);
    expect(dupes(bRows)).toBe(0);
    expect(dupes(aRows)).toBe(0);
    // Fencing: each term opened with a claim of its first sequence; epochs never go back.
    const record = await epochsInStorage(cluster.dir);
    const claims = record.filter((r) => r.claim);
    expect(claims.length).toBeGreaterThanOrEqual(2);
    expect(claims[1]!.epoch).toBeGreaterThan(claims[0]!.epoch);
    for (let i = 1; i < record.length; i++) {
      expect(record[i]!.seq).toBe(record[i - 1]!.seq + 1n);
      expect(record[i]!.epoch).toBeGreaterThanOrEqual(record[i - 1]!.epoch);
    }
    // Every changeset after the new term's claim is the new term's.
    for (const r of record.filter((x) => x.seq > claims[1]!.seq)) expect(r.epoch).toBe(claims[1]!.epoch);

    // The old leader restarts on its old file and follows the new leader.
    const a2 = cluster.start('a');
    expect((await a2.waitFor((e) => e.event === 'open')).role).toBe('follower');
    await b.call('execute', { sql: "INSERT INTO rows VALUES ('b', 1000)", durability: 'shipped' });
    await eventually(async () => (await rowsOf(a2, 'b')).includes(1000));
    expect(await rowsOf(a2, 'b')).toEqual(await rowsOf(b, 'b'));
    // Strong reads from the follower go to the leader.
    const strong = await a2.call<[string][]>('query', { sql: 'SELECT count(*) FROM rows', consistency: 'strong' });
    const local = await b.call<[string][]>('query', { sql: 'SELECT count(*) FROM rows' });
    expect(strong).toEqual(local);
    const stats = await a2.call<{ appliedSegments: number; restoredSnapshots: number }>('stats');
    expect(stats.appliedSegments + stats.restoredSnapshots).toBeGreaterThan(0);
  }, 120_000);

  it('three nodes: one survivor is promoted, the other follows it, and a new node cold-starts from the snapshot', async () => {
    cluster = new Cluster();
    const a = cluster.start('a');
    await a.waitFor((e) => e.event === 'open');
    await a.call('execute', { sql: CREATE });
    await a.call('execute', {
      sql: "WITH RECURSIVE r(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM r WHERE i < 199999) INSERT INTO rows SELECT 'bulk', i FROM r",
      durability: 'shipped',
    });
    const b = cluster.start('b');
    const c = cluster.start('c');
    await Promise.all([b.waitFor((e) => e.event === 'open'), c.waitFor((e) => e.event === 'open')]);
    const acked = await a.call<number[]>('writeLoop', {
      writer: 'a',
      from: 1,
      count: 10,
      durability: 'shipped',
      perSecond: 50,
    });
    await eventually(async () => (await rowsOf(b, 'a')).length === 10 && (await rowsOf(c, 'a')).length === 10);

    a.kill();
    await a.exited;
    const winner = await Promise.race([
      b.waitFor((e) => e.event === 'promoted').then(() => b),
      c.waitFor((e) => e.event === 'promoted').then(() => c),
    ]);
    const other = winner === b ? c : b;
    await winner.call('execute', { sql: "INSERT INTO rows VALUES ('w', 1)", durability: 'shipped' });
    await eventually(async () => (await rowsOf(other, 'w')).includes(1));
    expect(other.events.some((e) => e.event === 'promoted')).toBe(false);
    expect(await rowsOf(winner, 'a')).toEqual(acked);

    // A node with an empty directory restores the latest snapshot and catches up.
    const d = cluster.start('d');
    expect((await d.waitFor((e) => e.event === 'open')).role).toBe('follower');
    const count = 'SELECT count(*), sum(seq) FROM rows';
    await eventually(
      async () =>
        JSON.stringify(await d.call('query', { sql: count })) ===
        JSON.stringify(await winner.call('query', { sql: count })),
    );
    const dStats = await d.call<{ restoredSnapshots: number }>('stats');
    expect(dStats.restoredSnapshots).toBeGreaterThanOrEqual(1);
  }, 120_000);
});
