import { failoverScenarios } from '@hadb/testkit';
import { expect } from 'vitest';
import { Cluster } from './helpers.js';

failoverScenarios({
  engine: 'haqlite',
  cluster: () => new Cluster(),
  createRows: 'CREATE TABLE IF NOT EXISTS rows (writer TEXT, seq INTEGER)',
  seqsOfWriter: 'SELECT seq FROM rows WHERE writer = ? ORDER BY seq',
  bulkInsert:
    "WITH RECURSIVE r(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM r WHERE i < 199999) INSERT INTO rows SELECT 'bulk', i FROM r",
  checkFollowerStats: (stats) =>
    expect(Number(stats.appliedSegments) + Number(stats.restoredSnapshots)).toBeGreaterThan(0),
});
