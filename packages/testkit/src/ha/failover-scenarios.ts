import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../polling.js';
import type { NodeProcess, ProcessCluster } from '../process-cluster.js';

/** Options of {@link failoverScenarios}: the engine's cluster and its SQL dialect. */
export interface FailoverScenarioOptions {
  /** Named in the `describe` title, e.g. `haduck`. */
  readonly engine: string;
  /** A new scratch cluster of the engine's `test/fixtures/node.ts` (see `serveNodeFixture`). */
  readonly cluster: () => ProcessCluster;
  /** `CREATE TABLE IF NOT EXISTS rows (writer <text>, seq <integer>)`. */
  readonly createRows: string;
  /** `SELECT seq FROM rows WHERE writer = <param 1> ORDER BY seq`. */
  readonly seqsOfWriter: string;
  /** Inserts 200,000 rows `('bulk', 0..199999)` in one statement. */
  readonly bulkInsert: string;
  /** Asserts that a rejoined follower's `stats` reply shows it applied something. */
  readonly checkFollowerStats: (stats: Record<string, unknown>) => void;
  /** Engine-specific checks of the storage after the two-node SIGKILL failover (cluster directory given). */
  readonly checkAfterFailover?: ((dir: string) => Promise<void>) | undefined;
}

const dupes = (seqs: number[]): number => seqs.length - new Set(seqs).size;
const POLL = { timeoutMs: 20_000, intervalMs: 100 };

/**
 * Registers the real-process failover tests every HA engine must pass (2 s TTL, local storage,
 * the storage lease): forwarded writes survive a leader SIGKILL exactly once and the old leader
 * rejoins as a follower; with three nodes one survivor is promoted, the other follows it, and a
 * node with an empty directory cold-starts from the snapshot.
 */
export function failoverScenarios(o: FailoverScenarioOptions): void {
  let cluster: ProcessCluster | undefined;
  afterEach(async () => {
    await cluster?.dispose();
    cluster = undefined;
  });
  const rowsOf = async (node: NodeProcess, writer: string): Promise<number[]> => {
    const r = await node.call<[string, string][]>('query', { sql: o.seqsOfWriter, params: [writer] });
    return r.map((row) => Number(row[0]));
  };
  const until = (fn: () => Promise<boolean>): Promise<true> => eventually(async () => (await fn()) || undefined, POLL);

  describe(`${o.engine} with real processes (local storage, StorageLeaseStore, 2 s TTL)`, () => {
    it('two nodes: forwarded writes survive a leader SIGKILL exactly once; the old leader rejoins as follower', async () => {
      cluster = o.cluster();
      const a = cluster.start('a');
      expect((await a.waitFor((e) => e.event === 'open')).role).toBe('leader');
      await a.call('execute', { sql: o.createRows });
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
      await until(async () => (await rowsOf(b, 'a')).length === 20);

      // The follower forwards its writes; kill the leader in the middle of them.
      const forwarded = b.call<number[]>('writeLoop', {
        writer: 'b',
        from: 1,
        count: 60,
        durability: 'shipped',
        perSecond: 20,
      });
      await until(async () => (await rowsOf(b, 'b')).length >= 10);
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
      await o.checkAfterFailover?.(cluster.dir);

      // The old leader restarts on its old file and follows the new leader.
      const a2 = cluster.start('a');
      expect((await a2.waitFor((e) => e.event === 'open')).role).toBe('follower');
      await b.call('execute', { sql: "INSERT INTO rows VALUES ('b', 1000)", durability: 'shipped' });
      await until(async () => (await rowsOf(a2, 'b')).includes(1000));
      expect(await rowsOf(a2, 'b')).toEqual(await rowsOf(b, 'b'));
      // Strong reads from the follower go to the leader.
      const strong = await a2.call<[string][]>('query', { sql: 'SELECT count(*) FROM rows', consistency: 'strong' });
      const local = await b.call<[string][]>('query', { sql: 'SELECT count(*) FROM rows' });
      expect(strong).toEqual(local);
      o.checkFollowerStats(await a2.call<Record<string, unknown>>('stats'));
    }, 120_000);

    it('three nodes: one survivor is promoted, the other follows it, and a new node cold-starts from the snapshot', async () => {
      cluster = o.cluster();
      const a = cluster.start('a');
      await a.waitFor((e) => e.event === 'open');
      await a.call('execute', { sql: o.createRows });
      await a.call('execute', { sql: o.bulkInsert, durability: 'shipped' });
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
      await until(async () => (await rowsOf(b, 'a')).length === 10 && (await rowsOf(c, 'a')).length === 10);

      a.kill();
      await a.exited;
      const winner = await Promise.race([
        b.waitFor((e) => e.event === 'promoted').then(() => b),
        c.waitFor((e) => e.event === 'promoted').then(() => c),
      ]);
      const other = winner === b ? c : b;
      await winner.call('execute', { sql: "INSERT INTO rows VALUES ('w', 1)", durability: 'shipped' });
      await until(async () => (await rowsOf(other, 'w')).includes(1));
      expect(other.events.some((e) => e.event === 'promoted')).toBe(false);
      expect(await rowsOf(winner, 'a')).toEqual(acked);

      // A node with an empty directory restores the latest snapshot and catches up.
      const d = cluster.start('d');
      expect((await d.waitFor((e) => e.event === 'open')).role).toBe('follower');
      const count = 'SELECT count(*), sum(seq) FROM rows';
      await until(
        async () =>
          JSON.stringify(await d.call('query', { sql: count })) ===
          JSON.stringify(await winner.call('query', { sql: count })),
      );
      const dStats = await d.call<{ restoredSnapshots: number }>('stats');
      expect(dStats.restoredSnapshots).toBeGreaterThanOrEqual(1);
    }, 120_000);
  });
}
