import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { applyPhysical, decodePhysical } from '@hadb/changeset';
import { afterEach, describe, expect, it } from 'vitest';
import {
  PAGE_SIZE,
  block,
  decode,
  duckdbBlockPages,
  encode,
  firstPageOfBlock,
  headerPage,
  isDuckblockError,
  newSegment,
} from '../src/index.js';
import { tempDir } from './helpers.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

function filled(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

describe('segment API', () => {
  it('addresses DuckDB blocks at 4 KiB pages: header slots 0..2, block N at 3 + 64N', () => {
    expect(firstPageOfBlock(0, 262_144)).toBe(3);
    expect(firstPageOfBlock(5, 262_144)).toBe(3 + 64 * 5);
    // Every block starts on a page boundary of its file offset 12288 + N * 262144.
    for (const n of [0, 1, 7, 4491]) expect(firstPageOfBlock(n, 262_144) * PAGE_SIZE).toBe(12_288 + n * 262_144);
    // Smaller DuckDB block sizes line up too.
    expect(firstPageOfBlock(3, 16_384) * PAGE_SIZE).toBe(12_288 + 3 * 16_384);
    const pages = duckdbBlockPages(2, filled(262_144, 1), 262_144);
    expect(pages).toHaveLength(64);
    expect(pages[0]!.pageId).toBe(131n);
    expect(pages[63]!.pageId).toBe(194n);
  });

  it('round-trips with u64 ids, 4 KiB pages and the epoch marker inside the checksum', () => {
    const seg = newSegment(
      7n,
      0x1234n,
      [headerPage(1, filled(4096, 2)), ...duckdbBlockPages(0, filled(262_144, 3), 262_144)],
      {
        epoch: 42n,
        createdMs: 1n,
      },
    );
    const bytes = encode(seg);
    // 40-byte header, 65 data entries + marker of 8+4 bytes, 8-byte trailer.
    expect(bytes.length).toBe(40 + 66 * 12 + 65 * 4096 + 8);
    expect(bytes[7]).toBe(8);
    const back = decode(bytes);
    expect(back.epoch).toBe(42n);
    expect(back.pages).toHaveLength(65);
    expect(back.changeset.checksum).toBe(seg.checksum);
    expect(back.changeset.header.seq).toBe(7n);
    // The same pages under another epoch give another checksum: the epoch is covered.
    const other = newSegment(7n, 0x1234n, back.pages, { epoch: 43n, createdMs: 1n });
    expect(other.checksum).not.toBe(seg.checksum);
    // The generic decoder of @hadb/changeset reads it as a plain .hadbp changeset.
    expect(decodePhysical(bytes).pages).toHaveLength(66);
    // Epoch (even id) and exact file size (odd id) markers are zero-length entries.
    const sized = decode(encode(newSegment(8n, seg.checksum, [], { epoch: 42n, fileSize: 12_288 + 5 * 262_144 })));
    expect(sized.epoch).toBe(42n);
    expect(sized.fileSize).toBe(12_288 + 5 * 262_144);
    expect(sized.pages).toHaveLength(0);
    expect(sized.changeset.pages.map((p) => p.pageId)).toEqual([84n, 2n * 323n + 1n]);
  });

  it('applies with the standard hadbp rule (offset = id * page_size) to the same bytes', async () => {
    const { dir, cleanup } = await tempDir('seg');
    cleanups.push(cleanup);
    const file = join(dir, 'db');
    const header = filled(12_288, 9);
    const blk = filled(262_144, 5);
    await writeFile(file, Buffer.concat([header, filled(262_144 * 2, 7)]));
    const seg = newSegment(2n, 99n, [headerPage(2, header.subarray(8192)), ...duckdbBlockPages(1, blk, 262_144)], {
      epoch: 5n,
    });
    const checksum = await applyPhysical(file, decodePhysical(encode(seg)), 99n);
    expect(checksum).toBe(seg.checksum);
    const after = await readFile(file);
    expect(after.length).toBe(12_288 + 2 * 262_144);
    expect(Buffer.compare(after.subarray(12_288 + 262_144), Buffer.from(blk))).toBe(0);
    expect(Buffer.compare(after.subarray(8192, 12_288), Buffer.from(header.subarray(8192)))).toBe(0);
  });

  it('refuses a flipped byte with a typed error', () => {
    const bytes = encode(newSegment(1n, 0n, [block(3, filled(4096, 1))], { epoch: 1n }));
    bytes[40 + 12 + 100]! ^= 0x01;
    let caught: unknown;
    try {
      decode(bytes);
    } catch (err) {
      caught = err;
    }
    expect(isDuckblockError(caught, 'HADB_DUCKBLOCK_CORRUPT')).toBe(true);
  });

  it('rejects segments that are not duckblock-shaped and empty pages', () => {
    expect(() => block(1, new Uint8Array(0))).toThrow(/1\.\.4096/);
    expect(() => block(1, new Uint8Array(4097))).toThrow(/1\.\.4096/);
  });
});
