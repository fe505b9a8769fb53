import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemStorageBackend } from '@hadb/storage-mem';
import { QUERIES, runDemo } from './demo.js';

const work = await mkdtemp(join(tmpdir(), 'graph-ha-'));
try {
  const { leader, follower, applied } = await runDemo(new MemStorageBackend(), work);
  console.log(`follower replayed ${applied} journal entries`);
  QUERIES.forEach((q, i) => {
    console.log(`\n${q}\n  leader:   ${JSON.stringify(leader[i])}\n  follower: ${JSON.stringify(follower[i])}`);
  });
  console.log(JSON.stringify(leader) === JSON.stringify(follower) ? '\nleader and follower agree' : '\nMISMATCH');
} finally {
  await rm(work, { recursive: true, force: true });
}
