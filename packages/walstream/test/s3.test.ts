import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { testService } from '@hadb/testkit';
import type { StorageBackend } from '@hadb/storage';
import { Follower, Walstream, applyRetention, restore } from '../src/index.js';
import {
  cliIntegrity,
  committedHash,
  fileHash,
  openApp,
  openS3,
  prng,
  randomTxn,
  runPrefix,
  tempDir,
} from './helpers.js';

const s3 = testService('s3');

describe.skipIf(!s3.available)('against the real S3 server (Ceph RGW)', () => {
  const cleanups: Array<() => void | Promise<void>> = [];
  let storage: StorageBackend;
  const prefix = runPrefix('s3');
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  afterAll(async () => {
    if (storage === undefined) return;
    const keys = await storage.list(prefix);
    if (keys.length > 0) await storage.deleteMany(keys);
    await storage.close();
  });

  it('replicates, restores every sequence and a time, and a follower keeps up', async () => {
    storage = await openS3(s3.env);
    const t = tempDir('s3');
    cleanups.push(t.cleanup);
    const path = join(t.dir, 's3.db');
    const app = openApp(path);
    cleanups.push(() => void app.close());
    app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, k INTEGER, v BLOB)');
    const ws = await Walstream.open({ storage, prefix, autoSync: false });
    cleanups.push(() => ws.close());
    const r = await ws.add(path, { name: 's3db' });
    const rnd = prng(21);
    const hashes = new Map<bigint, string>();
    let midTime = 0;
    for (let i = 0; i < 12; i++) {
      randomTxn(app, rnd);
      if (i === 6) app.exec('VACUUM');
      const res = await r.sync();
      hashes.set(res.seq, await committedHash(app, join(t.dir, 's.db')));
      if (i === 7) {
        await new Promise((res2) => setTimeout(res2, 20));
        midTime = Date.now();
        await new Promise((res2) => setTimeout(res2, 20));
      }
      if (i === 4) await r.checkpoint();
    }
    for (const [seq, hash] of hashes) {
      const out = join(t.dir, `o${seq}.db`);
      await restore({ storage, prefix, name: 's3db', output: out, seq, concurrency: 4 });
      expect(fileHash(out), `seq ${seq}`).toBe(hash);
    }
    const timed = join(t.dir, 'timed.db');
    const res = await restore({ storage, prefix, name: 's3db', output: timed, time: new Date(midTime) });
    const seqAtMid = [...hashes.keys()][7]!;
    expect(res.skipped === false && res.seq).toBe(seqAtMid);
    expect(fileHash(timed)).toBe(hashes.get(seqAtMid));
    expect(cliIntegrity(timed)).toBe('ok');

    const replica = join(t.dir, 'replica.db');
    const follower = await Follower.open({ storage, prefix, name: 's3db', output: replica, intervalMs: 20 });
    cleanups.push(() => follower.close());
    randomTxn(app, rnd);
    const next = await r.sync();
    await follower.waitFor(next.seq);
    expect(fileHash(replica)).toBe(await committedHash(app, join(t.dir, 's.db')));

    const plan = await applyRetention({ storage, prefix, name: 's3db' });
    expect(plan.dryRun).toBe(true);
    expect(plan.plan.delete).toEqual([]);
  });
});
