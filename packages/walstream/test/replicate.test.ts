import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Walstream, restore, isWalstreamError } from '../src/index.js';
import { cli, cliIntegrity, committedHash, fileHash, prng, randomTxn, localApp } from './helpers.js';

describe('replicate and restore (storage-local)', () => {
  const cleanups: Array<() => void | Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('restores every sequence of a random workload to exactly the committed state (page hashes)', async () => {
    const { storage, path, app, dir } = await localApp(cleanups, 'proof', 'app.db', 0);
    const ws = await Walstream.open({ storage, autoSync: false, checkpoint: { minPages: 50 } });
    cleanups.push(() => ws.close());
    const r = await ws.add(path, { name: 'proof' });
    const rnd = prng(7);
    const hashes = new Map<bigint, string>();
    hashes.set(r.status().seq, await committedHash(app, join(dir, 'scratch.db')));
    for (let i = 0; i < 40; i++) {
      randomTxn(app, rnd);
      if (i === 12) app.exec('CREATE TABLE u (a TEXT, b INTEGER); CREATE INDEX tk ON t(k)');
      if (i === 20) app.exec('DROP INDEX tk; ALTER TABLE u ADD COLUMN c BLOB');
      if (i === 25) app.exec('DELETE FROM t WHERE id % 2 = 0');
      if (i === 26) app.exec('VACUUM');
      const res = await r.sync();
      hashes.set(res.seq, await committedHash(app, join(dir, 'scratch.db')));
      if (i % 9 === 8) await r.checkpoint('PASSIVE');
    }
    expect(hashes.size).toBeGreaterThan(30);
    for (const [seq, hash] of hashes) {
      const out = join(dir, `r-${seq}.db`);
      const res = await restore({ storage, name: 'proof', output: out, seq });
      expect(res.skipped).toBe(false);
      expect(fileHash(out), `seq ${seq}`).toBe(hash);
    }
    const last = join(dir, `r-${[...hashes.keys()].pop()}.db`);
    expect(cliIntegrity(last)).toBe('ok');
  });

  it("keeps this process's SQLite locks: another process closing the database cannot checkpoint the WAL away", async () => {
    const { storage, path, app } = await localApp(cleanups, 'locks', 'l.db');
    randomTxn(app, prng(1), 20);
    const ws = await Walstream.open({ storage, autoSync: false });
    cleanups.push(() => ws.close());
    const r = await ws.add(path); // snapshots: reads the database file
    await r.snapshot();
    randomTxn(app, prng(2), 20);
    expect(cli(path, 'SELECT count(*) > 0 FROM t;')).toBe('1'); // a second process opens and closes
    expect(existsSync(`${path}-wal`)).toBe(true);
    const res = await r.sync();
    expect(res.shipped).toBe(1);
    expect(r.status().lastSnapshotSeq).toBe(1n);
  });

  it('refuses to overwrite, honours ifNotExists, and reports NOT_FOUND', async () => {
    const { storage, path, dir } = await localApp(cleanups, 'misc', 'a.db');
    const ws = await Walstream.open({ storage, autoSync: false });
    cleanups.push(() => ws.close());
    const r = await ws.add(path);
    await r.sync();
    const out = join(dir, 'out.db');
    await restore({ storage, name: 'a.db', output: out });
    await expect(restore({ storage, name: 'a.db', output: out })).rejects.toMatchObject({
      code: 'HADB_WALSTREAM_EXISTS',
    });
    expect(await restore({ storage, name: 'a.db', output: out, ifNotExists: true })).toEqual({ skipped: true });
    const err = await restore({ storage, name: 'nope', output: join(dir, 'x.db') }).catch((e: unknown) => e);
    expect(isWalstreamError(err, 'HADB_WALSTREAM_NOT_FOUND')).toBe(true);
  });
});
