/**
 * Fencing between writer terms, against real storage (local files and the Ceph RGW S3 server):
 * a new lineage claims its sequence in the incremental key space, so a deposed writer's late
 * incremental at that sequence is refused by storage; and a follower refuses a changeset of an
 * older epoch than one it has applied, even one that continues its chain.
 */
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { PageIdSize, downloadPhysical, encodePhysical, newPhysical } from '@hadb/changeset';
import type { StorageBackend } from '@hadb/storage';
import { testService } from '@hadb/testkit';
import Database from 'better-sqlite3';
import {
  Follower,
  Walstream,
  claimLineage,
  isWalstreamError,
  readDurableHead,
  readRemoteMeta,
  restore,
  type WriterTerm,
} from '../src/index.js';
import { metaEntry } from '../src/meta.js';
import { incrementalKey } from '../src/remote.js';
import { openApp, openLocal, openS3, runPrefix, tempDir } from './helpers.js';

const s3 = testService('s3');

/** A writer term like `@hadb/core`'s fence: records trips, refuses writes once tripped. */
function term(epoch: number): WriterTerm & { tripped: string[] } {
  const controller = new AbortController();
  const tripped: string[] = [];
  return {
    epoch,
    tripped,
    signal: controller.signal,
    check() {
      if (tripped.length > 0) throw new Error(`term ${epoch} is fenced`);
    },
    trip(reason) {
      tripped.push(reason);
      controller.abort(new Error(reason));
    },
  };
}

function rows(path: string): string[] {
  const db = new Database(path, { readonly: true });
  try {
    return (db.prepare('SELECT v FROM t ORDER BY id').all() as { v: string }[]).map((r) => r.v);
  } finally {
    db.close();
  }
}

const backends: Array<
  [string, boolean, (env: Readonly<Record<string, string>>, dir: string) => Promise<StorageBackend>]
> = [
  ['storage-local', true, (_env, dir) => openLocal(dir)],
  ['S3 (Ceph RGW)', s3.available, (env) => openS3(env)],
];

describe.each(backends)('writer fencing on %s', (label, available, open) => {
  const cleanups: Array<() => void | Promise<void>> = [];
  const prefix = runPrefix(`fence-${label.replace(/\W+/g, '')}`);
  const opened: StorageBackend[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  afterAll(async () => {
    for (const storage of opened) {
      const keys = await storage.list(prefix);
      if (keys.length > 0) await storage.deleteMany(keys);
      await storage.close();
    }
  });

  it.skipIf(!available)("refuses a deposed writer's late incremental at the new lineage's sequence", async () => {
    const t = tempDir('fence');
    cleanups.push(t.cleanup);
    const storage = await open(s3.env, t.dir);
    opened.push(storage);
    const name = 'late';
    // Term 1 writes and ships.
    const aPath = join(t.dir, 'a.db');
    const a = openApp(aPath);
    cleanups.push(() => void a.close());
    a.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    const termA = term(1);
    const wsA = await Walstream.open({ storage, prefix, autoSync: false });
    cleanups.push(() => wsA.close({ final: false }).catch(() => {}));
    const ra = await wsA.add(aPath, { name, term: termA });
    for (let i = 0; i < 3; i++) a.prepare('INSERT INTO t (v) VALUES (?)').run(`a${i}`);
    const { seq: head } = await ra.sync();
    // Term 2 starts from the durable state (a caught-up follower's copy) and claims head + 1.
    const bPath = join(t.dir, 'b.db');
    await restore({ storage, prefix, name, output: bPath });
    const termB = term(2);
    const wsB = await Walstream.open({ storage, prefix, autoSync: false });
    cleanups.push(() => wsB.close({ final: false }).catch(() => {}));
    const rb = await wsB.add(bPath, { name, term: termB });
    expect(rb.status().seq).toBe(head + 1n);

    // The deposed writer commits and ships late: its incremental would be head + 1.
    a.prepare('INSERT INTO t (v) VALUES (?)').run('late');
    const late = await ra.sync().then(
      () => null,
      (err: unknown) => err,
    );
    expect(isWalstreamError(late, 'HADB_WALSTREAM_FENCED')).toBe(true);
    expect(termA.tripped).toEqual([expect.stringContaining('epoch 2')]);
    // Storage holds term 2's claim there, and term 1 writes nothing more.
    const claim = await readRemoteMeta(storage, incrementalKey(prefix, name, head + 1n));
    expect(claim).toMatchObject({ seq: head + 1n, epoch: 2n, claim: true });
    a.prepare('INSERT INTO t (v) VALUES (?)').run('later');
    await expect(ra.sync()).rejects.toThrow();

    // Term 2 continues; a restore and a new follower see term 2's history only.
    const b = openApp(bPath);
    cleanups.push(() => void b.close());
    b.prepare('INSERT INTO t (v) VALUES (?)').run('b0');
    const { seq: bHead } = await rb.sync();
    expect(bHead).toBe(head + 2n);
    const out = join(t.dir, 'restored.db');
    const result = await restore({ storage, prefix, name, output: out });
    expect(result).toMatchObject({ seq: bHead, epoch: 2n });
    expect(rows(out)).toEqual(['a0', 'a1', 'a2', 'b0']);
    const f = await Follower.open({ storage, prefix, name, output: join(t.dir, 'replica.db'), intervalMs: 2 ** 30 });
    cleanups.push(() => f.close());
    expect(f.seq).toBe(bHead);
    expect(f.epoch).toBe(2n);
    expect(rows(join(t.dir, 'replica.db'))).toEqual(['a0', 'a1', 'a2', 'b0']);
  });

  it.skipIf(!available)(
    'a follower refuses an older epoch that continues its chain, then moves to the new lineage',
    async () => {
      const t = tempDir('fence-follow');
      cleanups.push(t.cleanup);
      const storage = await open(s3.env, t.dir);
      opened.push(storage);
      const name = 'stale';
      const bPath = join(t.dir, 'b.db');
      const b = openApp(bPath);
      cleanups.push(() => void b.close());
      b.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
      const termB = term(5);
      const ws = await Walstream.open({ storage, prefix, autoSync: false });
      cleanups.push(() => ws.close({ final: false }).catch(() => {}));
      const rb = await ws.add(bPath, { name, term: termB });
      b.prepare('INSERT INTO t (v) VALUES (?)').run('b0');
      const { seq: head } = await rb.sync();
      const replica = join(t.dir, 'replica.db');
      const errors: unknown[] = [];
      const f = await Follower.open({
        storage,
        prefix,
        name,
        output: replica,
        intervalMs: 2 ** 30,
        onError: (e) => errors.push(e),
      });
      cleanups.push(() => f.close());
      expect(f.seq).toBe(head);
      expect(f.epoch).toBe(5n);

      // A deposed writer of epoch 4 that knows the chain writes head + 1 first, with its own row.
      const last = await downloadPhysical(storage, incrementalKey(prefix, name, head));
      const pageSize = last.header.pageSize;
      const x = openApp(join(t.dir, 'x.db'));
      x.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
      x.exec("INSERT INTO t (v) VALUES ('b0'), ('zombie')");
      x.pragma('wal_checkpoint(TRUNCATE)');
      const file = x.serialize();
      x.close();
      const pages = [];
      for (let i = 0; i < file.byteLength / pageSize; i++)
        pages.push({ pageId: BigInt(i + 1), data: file.subarray(i * pageSize, (i + 1) * pageSize) });
      const stale = newPhysical(
        head + 1n,
        last.checksum,
        PageIdSize.U32,
        pageSize,
        [metaEntry(file.byteLength / pageSize, 4n), ...pages],
        {},
      );
      const put = await storage.putIfAbsent(incrementalKey(prefix, name, head + 1n), encodePhysical(stale));
      expect(put.success).toBe(true);

      await f.poll();
      expect(f.seq).toBe(head);
      expect(rows(replica)).toEqual(['b0']);
      expect(errors.some((e) => isWalstreamError(e, 'HADB_WALSTREAM_STALE_EPOCH'))).toBe(true);

      // Term 5's next changeset finds the sequence taken by a lower epoch: it starts a new lineage.
      b.prepare('INSERT INTO t (v) VALUES (?)').run('b1');
      await expect(rb.sync()).rejects.toSatisfy((e: unknown) => isWalstreamError(e, 'HADB_WALSTREAM_CONFLICT'));
      const { seq: next } = await rb.sync();
      expect(next).toBeGreaterThan(head + 1n);
      expect(termB.tripped).toEqual([]);
      await f.poll();
      expect(f.seq).toBe(next);
      expect(rows(replica)).toEqual(['b0', 'b1']);
      // A fresh restore skips the stale changeset too.
      const out = join(t.dir, 'restored.db');
      await restore({ storage, prefix, name, output: out });
      expect(rows(out)).toEqual(['b0', 'b1']);
    },
  );

  it.skipIf(!available)(
    'an abandoned claim holds no data: the durable head skips it and the next term claims above it',
    async () => {
      const t = tempDir('fence-abandon');
      cleanups.push(t.cleanup);
      const storage = await open(s3.env, t.dir);
      opened.push(storage);
      const name = 'abandoned';
      const aPath = join(t.dir, 'a.db');
      const a = openApp(aPath);
      cleanups.push(() => void a.close());
      a.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
      const ws = await Walstream.open({ storage, prefix, autoSync: false });
      cleanups.push(() => ws.close({ final: false }).catch(() => {}));
      const ra = await ws.add(aPath, { name, term: term(1) });
      a.prepare('INSERT INTO t (v) VALUES (?)').run('a0');
      const { seq: head } = await ra.sync();
      expect(await readDurableHead(storage, prefix, name)).toEqual({ seq: head, epoch: 1n });
      // Term 2 claims head + 1 and dies before its snapshot.
      const got = await claimLineage({ storage, prefix, name, seq: head + 1n, term: term(2), createdMs: 0 });
      expect(got.kind).toBe('claimed');
      expect(await readDurableHead(storage, prefix, name)).toEqual({ seq: head, epoch: 2n });
      // A claim of the same sequence by a later term finds the abandoned one (no data).
      expect(await claimLineage({ storage, prefix, name, seq: head + 1n, term: term(3), createdMs: 0 })).toEqual({
        kind: 'taken',
        epoch: 2n,
        claim: true,
      });
      // A follower at head waits there; term 3's lineage (claimed above) moves it on.
      const replica = join(t.dir, 'replica.db');
      const f = await Follower.open({ storage, prefix, name, output: replica, intervalMs: 2 ** 30 });
      cleanups.push(() => f.close());
      expect(f.seq).toBe(head);
      const bPath = join(t.dir, 'b.db');
      await restore({ storage, prefix, name, output: bPath });
      const ws3 = await Walstream.open({ storage, prefix, autoSync: false });
      cleanups.push(() => ws3.close({ final: false }).catch(() => {}));
      const r3 = await ws3.add(bPath, { name, term: term(3) });
      expect(r3.status().seq).toBe(head + 2n);
      const b = openApp(bPath);
      cleanups.push(() => void b.close());
      b.prepare('INSERT INTO t (v) VALUES (?)').run('b0');
      const { seq: bHead } = await r3.sync();
      await f.poll();
      expect(f.seq).toBe(bHead);
      expect(f.epoch).toBe(3n);
      expect(rows(replica)).toEqual(['a0', 'b0']);
      expect(await readDurableHead(storage, prefix, name)).toEqual({ seq: bHead, epoch: 3n });
    },
  );
});
