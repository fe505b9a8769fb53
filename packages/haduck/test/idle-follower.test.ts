import { FaultProxy, freePort, until } from '@hadb/testkit';
import { countRequests } from '@hadb/testkit/storage';
import { describe, expect, it } from 'vitest';
import { localNodes } from './local-nodes.js';

const nodes = localNodes('idle');
const { node } = nodes;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A follower of an idle leader waits for the leader's notice, not for storage: that wait is not a
 * hung pull. Its pull watchdog (on from the first pull: `reportsPulls`) reports nothing.
 */
describe('HaDuck idle follower', () => {
  it('waits past pullTimeoutMs for the leader notice without a pull stall, then applies a new write', async () => {
    const a = await node('a', { pullTimeoutMs: 1500 });
    await a.execute('CREATE TABLE t (id INTEGER)', [], { durability: 'shipped' });
    const b = await node('b', { pullTimeoutMs: 1500 });
    const errors: unknown[] = [];
    b.on('error', (err) => errors.push(err));
    await b.sync();
    await sleep(4000);
    const stats = b.stats();
    expect(stats.role).toBe('follower');
    expect(stats.pullStalls).toBe(0);
    expect(stats.pullFailures).toBe(0);
    expect(stats.lastPullError).toBeUndefined();
    expect(errors).toEqual([]);
    await a.execute('INSERT INTO t VALUES (1)', [], { durability: 'shipped' });
    await b.sync();
    expect((await b.query('SELECT count(*) FROM t')).rows).toEqual([[1n]]);
  }, 30_000);

  it('makes no storage request over several pull timeouts while the leader answers its notice polls', async () => {
    const a = await node('a', { pullTimeoutMs: 1500 });
    await a.execute('CREATE TABLE t (id INTEGER)', [], { durability: 'shipped' });
    const counted = countRequests(nodes.storage);
    const b = await node('b', { pullTimeoutMs: 1500, storage: counted.storage });
    await b.sync();
    await sleep(500);
    counted.reset();
    await sleep(4 * 1500);
    expect(counted.count().byOperation).toEqual({});
    // Still told of a new write by the leader.
    await a.execute('INSERT INTO t VALUES (1)', [], { durability: 'shipped' });
    await until(async () => (await b.query('SELECT count(*) FROM t')).rows[0]?.[0] === 1n, { timeoutMs: 10_000 });
    expect(counted.count().total).toBeGreaterThan(0);
  }, 30_000);

  it('looks at storage within a pull timeout once the leader named by the lease goes silent', async () => {
    // The leader advertises a relay that later swallows every byte: its notice polls hang (they
    // would end only after forwardTimeoutMs, 60 s, here), so only the watchdog's cut finds the write.
    const port = await freePort();
    const relay = await FaultProxy.listen({ target: `127.0.0.1:${port}` });
    try {
      const a = await node('a', { listen: { port }, address: `http://${relay.hostPort}`, pullTimeoutMs: 1500 });
      await a.execute('CREATE TABLE t (id INTEGER)', [], { durability: 'shipped' });
      const b = await node('b', { pullTimeoutMs: 1500, forwardTimeoutMs: 60_000 });
      await b.sync();
      await sleep(300);
      relay.setMode('blackhole');
      await a.execute('INSERT INTO t VALUES (1)', [], { durability: 'shipped' });
      await until(async () => (await b.query('SELECT count(*) FROM t')).rows[0]?.[0] === 1n, { timeoutMs: 15_000 });
      expect(b.stats().role).toBe('follower');
    } finally {
      await relay.close();
    }
  }, 40_000);
});
