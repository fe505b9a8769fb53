import { readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { JournalShipper, param } from '@hadb/graphstream';
import { LocalStorageBackend } from '@hadb/storage-local';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from './fixtures.js';
import { hadb } from './harness.js';

let dir: string;
let cleanup: () => Promise<void>;
let url: string;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('graph'));
  const storage = await LocalStorageBackend.open({ root: join(dir, 'bucket') });
  const shipper = await JournalShipper.open({
    storage,
    prefix: '',
    db: 'social',
    dir: join(dir, 'journal'),
    uploadIntervalMs: 0,
    compactionThreshold: 0,
  });
  try {
    for (let s = 0; s < 3; s++) {
      for (let i = 0; i < 10; i++)
        await shipper.appendQuery('CREATE (:Person {name: $name})', [['name', param.string(`p${s}-${i}`)]]);
      await shipper.sync();
    }
  } finally {
    await shipper.close();
    await storage.close();
  }
  url = `file://${join(dir, 'bucket')}`;
}, 60_000);

afterAll(async () => {
  await cleanup();
});

describe('graphstream journals', () => {
  it('ls shows the journal segments with their seq ranges; verify passes; restore refuses (exit 3)', async () => {
    const ls = JSON.parse((await hadb(['ls', 'social', '--json', '-s', url])).stdout);
    expect(ls.engine).toBe('graphstream');
    const ranges = ls.objects.map((o: { type: string; seq: string; lastSeq: string }) => [o.type, o.seq, o.lastSeq]);
    expect(ranges).toEqual([
      ['journal', '1', '10'],
      ['journal', '11', '20'],
      ['journal', '21', '30'],
    ]);
    const verify = await hadb(['verify', 'social', '-s', url]);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout).toContain('restorable up to seq 30');
    const restore = await hadb(['restore', 'social', join(dir, 'x.db'), '-s', url]);
    expect(restore.code).toBe(3);
    expect(restore.stderr).toContain('social is a graphstream database');
  });

  it('verify exits 5 on a flipped byte and on a missing middle segment', async () => {
    const segDir = join(dir, 'bucket', 'social', '0000');
    const names = (await readdir(segDir)).sort();
    const middle = join(segDir, names[1]!);
    const original = await readFile(middle);
    const bad = Buffer.from(original);
    bad[bad.length - 40] = bad[bad.length - 40]! ^ 0x10;
    await writeFile(middle, bad);
    try {
      const r = await hadb(['verify', 'social', '-s', url]);
      expect(r.code).toBe(5);
      expect(r.stderr).toContain(`failed at social/0000/${names[1]}`);
    } finally {
      await writeFile(middle, original);
    }
    await rm(middle);
    const gap = await hadb(['verify', 'social', '-s', url]);
    expect(gap.code).toBe(5);
    expect(gap.stderr).toContain('gap: seq 11..20 missing');
  });
});
