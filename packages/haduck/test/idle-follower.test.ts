import { describe, expect, it } from 'vitest';
import { localNodes } from './local-nodes.js';

const nodes = localNodes('idle');
const { node } = nodes;

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
    await new Promise((r) => setTimeout(r, 4000));
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
});
