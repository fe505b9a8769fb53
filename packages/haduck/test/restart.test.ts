import { fileURLToPath } from 'node:url';
import { ProcessCluster } from '@hadb/testkit';
import { afterEach, describe, expect, it } from 'vitest';

// A node SIGKILLed and started again on the same path with the same instance id, at the S3 lease
// store's timing (TTL 20 s): the instance claim of the dead process is taken over at once, as its
// path lock names it, instead of after the wait for an answer from a live holder (check interval
// 4 × TTL + deadlines + margins ≈ 100 s, beyond this test's timeout).
const TTL_MS = 20_000;

let cluster: ProcessCluster | undefined;
afterEach(async () => {
  await cluster?.dispose();
  cluster = undefined;
});

describe('restart after a crash (real processes, local storage, storage lease, 20 s TTL)', () => {
  it('a SIGKILLed node restarted on its path serves its acknowledged writes without the claim wait', async () => {
    cluster = new ProcessCluster(
      {
        fixture: fileURLToPath(new URL('./fixtures/handoff-node.ts', import.meta.url)),
        cwd: fileURLToPath(new URL('..', import.meta.url)),
        tmpPrefix: 'haduck-restart-',
        fileSuffix: '.duckdb',
      },
      { NODE_TTL_MS: String(TTL_MS), NODE_DB: 'restart' },
    );
    const first = cluster.start('a');
    expect((await first.waitFor((e) => e.event === 'open')).role).toBe('leader');
    await first.call('execute', { sql: 'CREATE TABLE t (v INTEGER)', durability: 'shipped' });
    await first.call('execute', { sql: 'INSERT INTO t VALUES (42)', durability: 'shipped' });
    first.kill();
    await first.exited;

    const started = Date.now();
    const second = cluster.start('a');
    await second.waitFor((e) => e.event === 'open', 75_000);
    const openedMs = Date.now() - started;
    process.stderr.write(`[restart] reopened ${openedMs} ms after the SIGKILL (claim wait would be ~100 s)\n`);
    // Leader again once the dead process's lease lapses (at most one TTL plus the margin).
    await second.waitFor((e) => e.event === 'promoted' || (e.event === 'open' && e.role === 'leader'), 45_000);
    expect(await second.call('query', { sql: 'SELECT v FROM t', consistency: 'strong' })).toEqual([[42]]);
    expect(openedMs).toBeLessThan(60_000);
  }, 120_000);
});
