import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { downloadPhysical } from '@hadb/changeset';
import { countRequests } from '@hadb/testkit/storage';
import { Follower, ReplicaWriter, Walstream, listRemote, prepareReplicaFile, restore } from '../src/index.js';
import { incrementalKey } from '../src/remote.js';
import { cli, cliIntegrity, committedHash, fileHash, openApp, openLocal, prng, randomTxn, tempDir } from './helpers.js';

describe('follow mode (read replica)', () => {
  const cleanups: Array<() => void | Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  /** A scratch directory with local storage and an app writing `<name>.db`, replicated as `name` (autoSync off); closed after the test. */
  async function source(label: string, name: string) {
    const t = tempDir(label);
    cleanups.push(t.cleanup);
    const storage = await openLocal(t.dir);
    const path = join(t.dir, `${name}.db`);
    const app = openApp(path);
    cleanups.push(() => void app.close());
    app.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, k INTEGER, v BLOB)');
    const ws = await Walstream.open({ storage, autoSync: false });
    cleanups.push(() => ws.close());
    const r = await ws.add(path, { name });
    return { t, storage, path, app, ws, r };
  }

  it('keeps a read-only replica up to date through VACUUM and a new lineage while readers read', async () => {
    const src = await source('follow', 'src');
    const { t, storage, path, app } = src;
    let { ws, r } = src;
    const rnd = prng(77);
    randomTxn(app, rnd, 50);
    await r.sync();
    const replica = join(t.dir, 'replica.db');
    const applied: Array<{ seq: bigint; restored: boolean }> = [];
    const follower = await Follower.open({
      storage,
      name: 'src',
      output: replica,
      intervalMs: 10,
      onApply: (i) => applied.push(i),
    });
    cleanups.push(() => follower.close());
    const reader = new Database(replica, { readonly: true });
    reader.pragma('busy_timeout = 5000');
    cleanups.push(() => void reader.close());
    let reads = 0;
    const readLoop = (async () => {
      while (reads >= 0) {
        const row = reader.prepare('SELECT count(*) AS n, coalesce(sum(length(v)), 0) AS b FROM t').get() as {
          n: number;
        };
        expect(row.n).toBeGreaterThanOrEqual(0);
        reads++;
        await new Promise((res) => setTimeout(res, 1));
      }
    })();
    for (let i = 0; i < 15; i++) {
      randomTxn(app, rnd);
      if (i === 8) {
        app.exec('DELETE FROM t WHERE id % 3 <> 0');
        app.exec('VACUUM');
      }
      const res = await r.sync();
      await follower.waitFor(res.seq);
      expect(fileHash(replica), `seq ${res.seq}`).toBe(await committedHash(app, join(t.dir, 's.db')));
    }
    // A new lineage (walstream restarted without its state file): the follower restores again.
    await ws.close();
    const { rmSync } = await import('node:fs');
    rmSync(`${path}-walstream.json`);
    ws = await Walstream.open({ storage, autoSync: false });
    cleanups.push(() => ws.close());
    r = await ws.add(path, { name: 'src' });
    randomTxn(app, rnd);
    const res = await r.sync();
    await follower.waitFor(res.seq);
    expect(applied.some((a) => a.restored)).toBe(true);
    expect(fileHash(replica)).toBe(await committedHash(app, join(t.dir, 's.db')));
    const fresh = new Database(replica, { readonly: true });
    expect((fresh.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n).toBe(
      (app.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n,
    );
    fresh.close();
    reads = -1e9;
    await readLoop;
    expect(cliIntegrity(replica)).toBe('ok');
  });

  it('follows a continuing chain by key (no listing), and lists only when the next key is missing', async () => {
    const { t, storage, app, r } = await source('requests', 'q');
    const rnd = prng(5);
    randomTxn(app, rnd, 10);
    await r.sync();
    const counted = countRequests(storage);
    const replica = join(t.dir, 'replica.db');
    // No background polling: every request below comes from an explicit poll.
    const follower = await Follower.open({ storage: counted.storage, name: 'q', output: replica, intervalMs: 2 ** 30 });
    cleanups.push(() => follower.close());
    for (let i = 0; i < 5; i++) {
      randomTxn(app, rnd);
      const res = await r.sync();
      counted.reset();
      expect(await follower.poll()).toBe(res.seq);
      // The changeset at the next key, then the key after it (missing): no LIST.
      expect(counted.count().byOperation).toEqual({ get: 2 });
      expect(fileHash(replica)).toBe(await committedHash(app, join(t.dir, 's.db')));
    }
    // Two changesets stored before one poll: both read by key.
    randomTxn(app, rnd);
    await r.sync();
    randomTxn(app, rnd);
    const two = await r.sync();
    counted.reset();
    expect(await follower.poll()).toBe(two.seq);
    expect(counted.count().byOperation).toEqual({ get: 3 });
    // Nothing new: the missing next key, then one LIST of the snapshots (a new lineage or a
    // retention gap would show there).
    counted.reset();
    expect(await follower.poll()).toBe(two.seq);
    expect(counted.count().byOperation).toEqual({ get: 1, list: 1 });
    // A gap as retention leaves it (a newer snapshot, the incrementals up to it deleted): the
    // missing next key leads to the listing, and the replica is restored from the snapshot.
    randomTxn(app, rnd);
    const gapStart = (await r.sync()).seq;
    randomTxn(app, rnd);
    await r.sync();
    const snap = await r.snapshot();
    for (let seq = gapStart; seq <= snap.seq; seq++) await storage.delete(incrementalKey('', 'q', seq));
    randomTxn(app, rnd);
    const after = await r.sync();
    expect(after.seq).toBe(snap.seq + 1n);
    expect(await follower.poll()).toBe(after.seq);
    expect(fileHash(replica)).toBe(await committedHash(app, join(t.dir, 's.db')));
  });

  it('a crash mid-apply leaves a hot SQLite journal that rolls the replica back; re-applying finishes it', async () => {
    const { t, storage, path, app, r } = await source('journal', 'j');
    randomTxn(app, prng(1), 40);
    const base = await r.sync();
    const baseContent = cli(path, 'SELECT count(*), sum(length(v)) FROM t;');
    app.exec('DELETE FROM t WHERE id % 2 = 0');
    app.exec('VACUUM'); // shrinks the file: the rollback must also restore its size
    randomTxn(app, prng(2), 30);
    const next = await r.sync();
    const nextContent = cli(path, 'SELECT count(*), sum(length(v)) FROM t;');
    expect(next.seq).toBe(base.seq + 1n);

    const replica = join(t.dir, 'rep.db');
    const res = await restore({ storage, name: 'j', output: replica, seq: base.seq });
    prepareReplicaFile(replica);
    const remote = await listRemote(storage, '', 'j');
    const cs = await downloadPhysical(storage, remote.incrementals.find((e) => e.seq === next.seq)!.key);
    const writer = new ReplicaWriter(replica);
    expect(() =>
      writer.apply(cs, res.skipped ? 0n : res.checksum, {
        afterPages: () => {
          throw new Error('crash');
        },
      }),
    ).toThrow('crash');
    writer.close();
    expect(existsSync(`${replica}-journal`)).toBe(true);
    // Any read-write SQLite open (here the Debian CLI) rolls the hot journal back.
    expect(cli(replica, 'SELECT count(*), sum(length(v)) FROM t;')).toBe(baseContent);
    expect(existsSync(`${replica}-journal`)).toBe(false);
    expect(cliIntegrity(replica)).toBe('ok');
    const again = new ReplicaWriter(replica);
    again.apply(cs, res.skipped ? 0n : res.checksum);
    again.close();
    expect(cli(replica, 'SELECT count(*), sum(length(v)) FROM t;')).toBe(nextContent);
    expect(cliIntegrity(replica)).toBe('ok');
  });

  it('a crash mid-apply of a changeset that shrinks the file rolls back the truncated tail pages too', async () => {
    const { t, storage, path, app, r } = await source('shrink', 's');
    // Deterministic contents (no randomblob): the base file has many pages with live rows.
    const insert = app.prepare('INSERT INTO t (k, v) VALUES (?, zeroblob(?) || ?)');
    app.transaction(() => {
      for (let i = 0; i < 400; i++) insert.run(i, 800 + (i % 13) * 50, `row-${i}`);
    })();
    const base = await r.sync();
    const baseContent = cli(path, 'SELECT count(*), sum(length(v)), group_concat(k) FROM t;');
    // Most rows go and VACUUM shrinks the file: the changeset holds none of the tail pages.
    app.exec('DELETE FROM t WHERE k % 10 <> 0');
    app.exec('VACUUM');
    const next = await r.sync();
    expect(next.seq).toBe(base.seq + 1n);

    const replica = join(t.dir, 'rep.db');
    const res = await restore({ storage, name: 's', output: replica, seq: base.seq });
    prepareReplicaFile(replica);
    const before = { size: statSync(replica).size, hash: fileHash(replica) };
    const remote = await listRemote(storage, '', 's');
    const cs = await downloadPhysical(storage, remote.incrementals.find((e) => e.seq === next.seq)!.key);
    const pageSize = cs.header.pageSize;
    const newPages = new DataView(cs.pages[0]!.data.buffer, cs.pages[0]!.data.byteOffset, 4).getUint32(0, false);
    const tail = before.size / pageSize - newPages;
    expect(tail).toBeGreaterThan(10);
    expect(cs.pages.some((p) => Number(p.pageId) > newPages)).toBe(false);

    const writer = new ReplicaWriter(replica);
    expect(() =>
      writer.apply(cs, res.skipped ? 0n : res.checksum, {
        afterPages: () => {
          throw new Error('crash');
        },
      }),
    ).toThrow('crash');
    writer.close();
    expect(statSync(replica).size).toBe(newPages * pageSize);
    expect(existsSync(`${replica}-journal`)).toBe(true);
    expect(cli(replica, 'SELECT count(*), sum(length(v)), group_concat(k) FROM t;')).toBe(baseContent);
    expect(existsSync(`${replica}-journal`)).toBe(false);
    // Every page is back, byte for byte (header counters masked), not just the file size.
    expect(statSync(replica).size).toBe(before.size);
    expect(fileHash(replica)).toBe(before.hash);
    expect(cliIntegrity(replica)).toBe('ok');
  });
  it('rewrites its position file in place and resumes from it when reopened', async () => {
    const { t, storage, app, r } = await source('follow-position', 'pos');
    const rnd = prng(31);
    randomTxn(app, rnd, 20);
    await r.sync();
    const replica = join(t.dir, 'replica.db');
    const positionFile = `${replica}-walstream-follow.json`;
    const applied: Array<{ seq: bigint; restored: boolean }> = [];
    const options = {
      storage,
      name: 'pos',
      output: replica,
      intervalMs: 60_000,
      onApply: (i: (typeof applied)[0]) => applied.push(i),
    };
    let follower = await Follower.open(options);
    const first = statSync(positionFile);
    expect(first.size).toBe(512);
    let seq = follower.seq;
    for (let i = 0; i < 5; i++) {
      randomTxn(app, rnd, 5);
      seq = (await r.sync()).seq;
      expect(await follower.poll()).toBe(seq);
    }
    expect(statSync(positionFile).ino).toBe(first.ino);
    expect(JSON.parse(readFileSync(positionFile, 'utf8')).seq).toBe(String(seq));
    await follower.close();
    // Reopened, it continues from the recorded position: no restore, only the new changeset.
    randomTxn(app, rnd, 5);
    const next = (await r.sync()).seq;
    applied.length = 0;
    follower = await Follower.open(options);
    cleanups.push(() => follower.close());
    expect(follower.seq).toBe(next);
    expect(applied).toEqual([expect.objectContaining({ seq: next, restored: false })]);
    expect(fileHash(replica)).toBe(await committedHash(app, join(t.dir, 's.db')));
  });
});
