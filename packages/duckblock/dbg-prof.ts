import { join } from 'node:path';
import { rmSync, mkdirSync, existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { LocalStorageBackend } from '@hadb/storage-local';
import { uploadSnapshot, restoreSnapshot } from './src/index.js';
import { openLeader } from './test/helpers.js';
const dir = '/tmp/dbg/p';
const leaderPath = join(dir, 'leader.duckdb'); const followerPath = join(dir, 'follower.duckdb');
if (!existsSync(leaderPath)) { mkdirSync(dir, { recursive: true }); const l = await openLeader(leaderPath); await l.conn.run(`create table big as select range::BIGINT id, hash(range) h, hash(range + 1) h2 from range(8000000)`); await l.conn.run('CHECKPOINT'); l.close(); }
rmSync(join(dir, 'bucket'), { recursive: true, force: true }); rmSync(followerPath, { force: true }); rmSync(followerPath + '.hadb-position', { force: true });
const storage = await LocalStorageBackend.open({ root: join(dir, 'bucket'), fsync: false });
let t = performance.now();
const lap = (m: string) => { const n = performance.now(); console.log(m, (n - t).toFixed(0), 'ms'); t = n; };
const h = await open(leaderPath, 'r');
await uploadSnapshot(storage, 'snap', h, { seq: 1n, anchor: 1n, epoch: 1n }); lap('upload');
await restoreSnapshot(storage, 'snap', followerPath); lap('restore');
