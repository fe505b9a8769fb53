import { mkdtemp, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { applyPhysical, isChangesetError, newPhysical, type PhysicalChangeset } from '../src/index.js';
import { fill } from './support/bytes.js';
import { rejection } from '@hadb/testkit';

// Counterparts of hadb-changeset/src/apply.rs tests, on real files.
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hadb-apply-'));
});
afterEach(async () => {
  vi.restoreAllMocks();
  await rm(dir, { recursive: true, force: true });
});

describe('applyPhysical', () => {
  it('writes each page at id * pageSize (0-based) into a new file, returns the checksum', async () => {
    const path = join(dir, 'db');
    const cs = newPhysical(1n, 0n, 8, 4096, [
      { pageId: 2n, data: fill(0x22, 4096) },
      { pageId: 0n, data: fill(0x00 + 0x10, 4096) },
      { pageId: 5n, data: fill(0x55, 100) },
    ]);
    expect(await applyPhysical(path, cs, 0n)).toBe(cs.checksum);
    const file = await readFile(path);
    expect(file.length).toBe(5 * 4096 + 100);
    expect(file.subarray(0, 4096).every((b) => b === 0x10)).toBe(true);
    expect(file.subarray(4096, 8192).every((b) => b === 0)).toBe(true);
    expect(file.subarray(8192, 12288).every((b) => b === 0x22)).toBe(true);
    expect(file.subarray(20480).every((b) => b === 0x55)).toBe(true);
  });

  it('does not truncate and chains across applies', async () => {
    const path = join(dir, 'db');
    await writeFile(path, fill(0xee, 3 * 4096));
    const cs1 = newPhysical(1n, 0n, 4, 4096, [{ pageId: 1n, data: fill(0x01, 4096) }]);
    const cs2 = newPhysical(2n, cs1.checksum, 4, 4096, [{ pageId: 0n, data: fill(0x02, 10) }]);
    const c1 = await applyPhysical(path, cs1, 0n);
    expect(await applyPhysical(path, cs2, c1)).toBe(cs2.checksum);
    const file = await readFile(path);
    expect(file.length).toBe(3 * 4096);
    expect(file.subarray(0, 10).every((b) => b === 0x02)).toBe(true);
    expect(file.subarray(10, 4096).every((b) => b === 0xee)).toBe(true);
    expect(file.subarray(4096, 8192).every((b) => b === 0x01)).toBe(true);
    expect(file.subarray(8192).every((b) => b === 0xee)).toBe(true);
  });

  it('fsyncs the file after writing', async () => {
    const path = join(dir, 'db');
    const probe = await open(path, 'w');
    const proto = Object.getPrototypeOf(probe) as { sync: () => Promise<void> };
    await probe.close();
    const sync = vi.spyOn(proto, 'sync');
    const cs = newPhysical(1n, 0n, 4, 4096, [{ pageId: 0n, data: fill(1, 8) }]);
    await applyPhysical(path, cs, 0n);
    expect(sync).toHaveBeenCalledTimes(1);
  });

  it('empty changeset returns its checksum without touching (or creating) the file', async () => {
    const path = join(dir, 'missing');
    const cs = newPhysical(1n, 0n, 4, 4096, []);
    expect(await applyPhysical(path, cs, 0n)).toBe(cs.checksum);
    await expect(stat(path)).rejects.toThrow();
  });

  it.each([
    ['chain broken', (cs: PhysicalChangeset) => ({ cs, prev: 999n }), 'HADB_CHANGESET_CHAIN_BROKEN'],
    [
      'checksum mismatch',
      (cs: PhysicalChangeset) => ({ cs: { ...cs, checksum: cs.checksum ^ 1n }, prev: 0n }),
      'HADB_CHANGESET_CHECKSUM_MISMATCH',
    ],
  ] as const)('%s: writes nothing (bytes and mtime unchanged)', async (_name, make, code) => {
    const path = join(dir, 'db');
    const original = fill(0x77, 4096 * 2);
    await writeFile(path, original);
    const before = await stat(path);
    await new Promise((r) => setTimeout(r, 20));
    const { cs, prev } = make(newPhysical(1n, 0n, 4, 4096, [{ pageId: 0n, data: fill(0x11, 4096) }]));
    const err = await rejection(applyPhysical(path, cs, prev));
    expect(isChangesetError(err, code)).toBe(true);
    const after = await stat(path);
    expect(after.mtimeMs).toBe(before.mtimeMs);
    expect(new Uint8Array(await readFile(path))).toEqual(original);
  });

  it('I/O failures are HADB_CHANGESET_IO', async () => {
    const cs = newPhysical(1n, 0n, 4, 4096, [{ pageId: 0n, data: fill(1, 1) }]);
    const err = await rejection(applyPhysical(join(dir, 'no', 'such', 'dir', 'db'), cs, 0n));
    expect(isChangesetError(err, 'HADB_CHANGESET_IO')).toBe(true);
  });

  it('offsets past 2^53 are refused before anything is written', async () => {
    const path = join(dir, 'db');
    const cs = newPhysical(1n, 0n, 8, 4096, [
      { pageId: 0n, data: fill(1, 1) },
      { pageId: 1n << 60n, data: fill(1, 1) },
    ]);
    const err = await rejection(applyPhysical(path, cs, 0n));
    expect(isChangesetError(err, 'HADB_CHANGESET_IO')).toBe(true);
    await expect(stat(path)).rejects.toThrow();
  });

  it('an aborted signal stops before writing', async () => {
    const path = join(dir, 'db');
    const cs = newPhysical(1n, 0n, 4, 4096, [{ pageId: 0n, data: fill(1, 1) }]);
    const err = await rejection(applyPhysical(path, cs, 0n, { signal: AbortSignal.abort() }));
    expect(isChangesetError(err, 'HADB_CHANGESET_ABORTED')).toBe(true);
    await expect(stat(path)).rejects.toThrow();
  });

  describe('upstream apply.rs counterparts', () => {
    const read = async (path: string) => new Uint8Array(await readFile(path));
    const all = (bytes: Uint8Array, value: number) => bytes.every((b) => b === value);

    it('single changeset (u64 ids, 256 KiB pages)', async () => {
      const path = join(dir, 'db');
      const cs = newPhysical(1n, 0n, 8, 262144, [
        { pageId: 0n, data: fill(0xaa, 64) },
        { pageId: 1n, data: fill(0xbb, 128) },
      ]);
      expect(await applyPhysical(path, cs, 0n)).toBe(cs.checksum);
      const c = await read(path);
      expect(all(c.subarray(0, 64), 0xaa)).toBe(true);
      expect(all(c.subarray(262144, 262144 + 128), 0xbb)).toBe(true);
    });

    it('chain, overwrite of a page', async () => {
      const path = join(dir, 'db');
      const ck1 = await applyPhysical(path, newPhysical(1n, 0n, 8, 262144, [{ pageId: 0n, data: fill(0xaa, 64) }]), 0n);
      const ck2 = await applyPhysical(
        path,
        newPhysical(2n, ck1, 8, 262144, [{ pageId: 0n, data: fill(0xbb, 64) }]),
        ck1,
      );
      expect(ck2).not.toBe(ck1);
      expect(all((await read(path)).subarray(0, 64), 0xbb)).toBe(true);
    });

    it('bad chain writes nothing to an empty file; creates and extends files', async () => {
      const empty = join(dir, 'empty');
      await writeFile(empty, new Uint8Array(0));
      const cs = newPhysical(1n, 0n, 8, 262144, [{ pageId: 0n, data: fill(0xaa, 64) }]);
      expect((await rejection(applyPhysical(empty, cs, 999n))).code).toBe('HADB_CHANGESET_CHAIN_BROKEN');
      expect((await read(empty)).length).toBe(0);

      const created = join(dir, 'new.duckdb');
      await applyPhysical(created, newPhysical(1n, 0n, 8, 262144, [{ pageId: 10n, data: fill(0xff, 64) }]), 0n);
      const c = await read(created);
      expect(c.length).toBe(10 * 262144 + 64);
      expect(all(c.subarray(10 * 262144), 0xff)).toBe(true);
    });

    it('u32 ids with 4 KiB pages, and a partial page', async () => {
      const path = join(dir, 'db');
      await applyPhysical(
        path,
        newPhysical(1n, 0n, 4, 4096, [
          { pageId: 1n, data: fill(0xaa, 4096) },
          { pageId: 2n, data: fill(0xbb, 4096) },
        ]),
        0n,
      );
      const c = await read(path);
      expect(all(c.subarray(4096, 8192), 0xaa) && all(c.subarray(8192, 12288), 0xbb)).toBe(true);
      const partial = join(dir, 'partial');
      await applyPhysical(partial, newPhysical(1n, 0n, 4, 4096, [{ pageId: 1n, data: fill(0xdd, 1000) }]), 0n);
      expect((await read(partial)).length).toBe(4096 + 1000);
    });
  });
});
