import { describe, expect, it } from 'vitest';
import { isHaError } from '@hadb/ha';
import { isHaDuckError } from '../src/errors.js';
import { TestLeader } from './leader-fixture.js';

/**
 * Demotion closes the old DuckDB instance before anything reconciles the file (issue 12, item 4):
 * `close()` waits for running queries (bounded), interrupts the rest, and resolves only once none
 * is left running on the instance.
 */
const SLOW = 'SELECT count(*) FROM range(200000) a(i), range(200000) b(j) WHERE i * j % 7 = 3';

describe('leader close security', () => {
  it('lets a short query finish, interrupts a long one after the grace period, and leaves nothing running', async () => {
    const leader = await TestLeader.open({ maxStatements: 1000, maxResultRows: 1000, statementTimeoutMs: 120_000 });
    try {
      await leader.engine.execute('CREATE TABLE t AS SELECT range id FROM range(10)');
      let slowSettled = false;
      const slow = leader.side.query(SLOW).then(
        () => 'resolved',
        (err: unknown) => err,
      );
      void slow.then(() => (slowSettled = true));
      const quick = leader.side.query('SELECT count(*) FROM t');
      await new Promise((r) => setTimeout(r, 100));
      const started = Date.now();
      await leader.side.close(300);
      expect(slowSettled).toBe(true);
      expect(Date.now() - started).toBeLessThan(5000);
      expect((await quick).rows[0]![0]).toBe(10n);
      const outcome = await slow;
      expect(isHaDuckError(outcome)).toBe(true);
      // Closed: nothing new runs on the old instance.
      const after = await leader.side.query('SELECT 1').catch((e: unknown) => e);
      expect(isHaError(after, 'HADB_HA_CLOSED')).toBe(true);
    } finally {
      await leader.close();
    }
  }, 30_000);
});
