import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { decodePhysical } from '@hadb/changeset';
import { StorageError } from '@hadb/storage';
import { MemStorageBackend } from '@hadb/storage-mem';
import { atChunk } from '@hadb/testkit/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decode, isDuckblockError, readPosition, restoreSnapshot, uploadSnapshot } from '../src/index.js';
import { openLeader, sha256File, tempDir } from './helpers.js';

describe('snapshot streaming', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let source: string;

  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir('snap'));
    source = join(dir, 'source.duckdb');
    const db = await openLeader(source);
    await db.conn.run(`create table t as select range id, hash(range) h from range(400000)`);
    await db.conn.run('CHECKPOINT');
    db.close();
  });

  afterAll(async () => {
    await cleanup();
  });

  for (const epoch of [0n, 2n, 70n, 1_000_000_000n]) {
    it(`round-trips byte-identically with the epoch marker at page ${epoch}`, async () => {
      const storage = new MemStorageBackend();
      const handle = await open(source, 'r');
      try {
        const up = await uploadSnapshot(storage, `s/${epoch}.hadbp`, handle, { seq: 9n, anchor: 0xabcn, epoch });
        const bytes = (await storage.get(`s/${epoch}.hadbp`))!.data;
        expect(bytes.length).toBe(up.bytes);
        // A plain hadbp decoder accepts it (canonical order, checksum).
        const generic = decodePhysical(bytes);
        expect(generic.checksum).toBe(up.checksum);
        expect(decode(bytes).epoch).toBe(epoch);
        const target = join(dir, `restored-${epoch}.duckdb`);
        const position = await restoreSnapshot(storage, `s/${epoch}.hadbp`, target);
        expect(position.seq).toBe(9n);
        expect(position.checksum).toBe(0xabcn);
        expect(position.epoch).toBe(epoch);
        expect(await sha256File(target)).toBe(await sha256File(source));
        expect((await readPosition(target))?.seq).toBe(9n);
      } finally {
        await handle.close();
      }
    });
  }

  it('refuses a snapshot with a flipped byte and leaves the target untouched', async () => {
    const storage = new MemStorageBackend();
    const handle = await open(source, 'r');
    try {
      await uploadSnapshot(storage, 'x.hadbp', handle, { seq: 3n, anchor: 1n, epoch: 1n });
    } finally {
      await handle.close();
    }
    const good = (await storage.get('x.hadbp'))!.data;
    const bad = Uint8Array.from(good);
    bad[Math.floor(bad.length * 0.7)]! ^= 1;
    await storage.put('x.hadbp', bad);
    const target = join(dir, 'untouched.duckdb');
    let caught: unknown;
    try {
      await restoreSnapshot(storage, 'x.hadbp', target);
    } catch (err) {
      caught = err;
    }
    expect(isDuckblockError(caught, 'HADB_DUCKBLOCK_CORRUPT')).toBe(true);
    await expect(open(target, 'r')).rejects.toThrow(/ENOENT/);
    await expect(open(`${target}.hadb-restore`, 'r')).rejects.toThrow(/ENOENT/);
  });

  async function uploaded(key: string): Promise<MemStorageBackend> {
    const storage = new MemStorageBackend();
    const handle = await open(source, 'r');
    try {
      await uploadSnapshot(storage, key, handle, { seq: 4n, anchor: 2n, epoch: 3n });
    } finally {
      await handle.close();
    }
    return storage;
  }

  async function leftovers(prefix: string): Promise<string[]> {
    return (await readdir(dir)).filter((n) => n.startsWith(prefix));
  }

  it('restores byte-identically through many small ranged GETs (entries straddle range boundaries)', async () => {
    const storage = await uploaded('r.hadbp');
    const target = join(dir, 'ranged.duckdb');
    const position = await restoreSnapshot(storage, 'r.hadbp', target, { rangeBytes: 70_001, concurrency: 3 });
    expect(position).toMatchObject({ seq: 4n, checksum: 2n, epoch: 3n });
    expect(await sha256File(target)).toBe(await sha256File(source));
  });

  it('a flipped byte in any downloaded range is HADB_DUCKBLOCK_CORRUPT and leaves no file', async () => {
    const storage = await uploaded('f.hadbp');
    const good = (await storage.get('f.hadbp'))!.data;
    for (const at of [30, 50, 70_010, Math.floor(good.length / 2), good.length - 4]) {
      const bad = Uint8Array.from(good);
      bad[at]! ^= 0x40;
      await storage.put('f.hadbp', bad);
      const target = join(dir, `flip-${at}.duckdb`);
      const err = await restoreSnapshot(storage, 'f.hadbp', target, { rangeBytes: 70_001, concurrency: 4 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isDuckblockError(err, 'HADB_DUCKBLOCK_CORRUPT'), `byte ${at}: ${String(err)}`).toBe(true);
      expect(await leftovers(`flip-${at}`)).toEqual([]);
    }
  });

  it('an abort mid-restore is HADB_DUCKBLOCK_ABORTED and leaves no partial file', async () => {
    const controller = new AbortController();
    const storage = atChunk(await uploaded('a.hadbp'), 5, () => controller.abort());
    const target = join(dir, 'aborted.duckdb');
    const err = await restoreSnapshot(storage, 'a.hadbp', target, {
      rangeBytes: 70_001,
      concurrency: 4,
      signal: controller.signal,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isDuckblockError(err, 'HADB_DUCKBLOCK_ABORTED'), String(err)).toBe(true);
    expect(await leftovers('aborted')).toEqual([]);
  });

  it('a storage failure mid-range passes through as the storage error and leaves no partial file', async () => {
    const storage = atChunk(await uploaded('u.hadbp'), 4, () => {
      throw new StorageError('HADB_STORAGE_UNAVAILABLE', 'connection reset');
    });
    const target = join(dir, 'unavailable.duckdb');
    const err = await restoreSnapshot(storage, 'u.hadbp', target, { rangeBytes: 70_001, concurrency: 4 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as StorageError).code, String(err)).toBe('HADB_STORAGE_UNAVAILABLE');
    expect(await leftovers('unavailable')).toEqual([]);
  });
});
