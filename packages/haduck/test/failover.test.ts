import { failoverScenarios } from '@hadb/testkit';
import { expect } from 'vitest';
import { Cluster } from './helpers.js';

failoverScenarios({
  engine: 'haduck',
  cluster: () => new Cluster(),
  createRows: 'CREATE TABLE IF NOT EXISTS rows (writer VARCHAR, seq BIGINT)',
  seqsOfWriter: 'SELECT seq FROM rows WHERE writer = $1 ORDER BY seq',
  bulkInsert: "INSERT INTO rows SELECT 'bulk', i FROM range(200000) r(i)",
  // The rejoined follower swapped its read-only DuckDB for applied checkpoints.
  checkFollowerStats: (stats) => expect(stats.swaps).toBeGreaterThan(0),
});
