import { join } from 'node:path';
import { LocalStorageBackend } from '@hadb/storage-local';
import { failoverScenarios } from '@hadb/testkit';
import { listRemote, readRemoteMeta } from '@hadb/walstream';
import { expect } from 'vitest';
import { Cluster } from './helpers.js';

/** Each incremental's writer epoch and whether it is a lineage claim, in sequence order. */
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

failoverScenarios({
  engine: 'haqlite',
  cluster: () => new Cluster(),
  createRows: 'CREATE TABLE IF NOT EXISTS rows (writer TEXT, seq INTEGER)',
  seqsOfWriter: 'SELECT seq FROM rows WHERE writer = ? ORDER BY seq',
  bulkInsert:
    "WITH RECURSIVE r(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM r WHERE i < 199999) INSERT INTO rows SELECT 'bulk', i FROM r",
  checkFollowerStats: (stats) =>
    expect(Number(stats.appliedSegments) + Number(stats.restoredSnapshots)).toBeGreaterThan(0),
  // Fencing: each term opened with a claim of its first sequence; epochs never go back, and every
  // changeset after the new term's claim is the new term's.
  checkAfterFailover: async (dir) => {
    const record = await epochsInStorage(dir);
    const claims = record.filter((r) => r.claim);
    expect(claims.length).toBeGreaterThanOrEqual(2);
    expect(claims[1]!.epoch).toBeGreaterThan(claims[0]!.epoch);
    for (let i = 1; i < record.length; i++) {
      expect(record[i]!.seq).toBe(record[i - 1]!.seq + 1n);
      expect(record[i]!.epoch).toBeGreaterThanOrEqual(record[i - 1]!.epoch);
    }
    for (const r of record.filter((x) => x.seq > claims[1]!.seq)) expect(r.epoch).toBe(claims[1]!.epoch);
  },
});
